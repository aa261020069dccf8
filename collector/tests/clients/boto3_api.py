"""Drives a running fluoro-collector with the real boto3 `xray` client.

Usage: python boto3_api.py ENDPOINT FIXTURES_DIR

Every check raises on failure; the script prints one `ok <check>` line per passed check and
exits non-zero on the first failure. The Rust test `collector/tests/real_clients.rs` starts the
collector and runs this script against it.
"""

import glob
import json
import os
import sys
import time
import urllib.request

import boto3
import botocore.config
from botocore.exceptions import ClientError

ENDPOINT, FIXTURES = sys.argv[1], sys.argv[2]


def client(key="AKIDEXAMPLE", secret="secret"):
    return boto3.client(
        "xray",
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )


xray = client()


def ok(name):
    print(f"ok {name}", flush=True)


def expect_error(fn, code, fragment=""):
    try:
        fn()
    except ClientError as e:
        got = e.response["Error"]["Code"]
        msg = e.response["Error"]["Message"]
        assert got == code, f"expected {code}, got {got}: {msg}"
        assert fragment in msg, f"expected {fragment!r} in {msg!r}"
        return e
    raise AssertionError(f"expected {code}, call succeeded")


def fixture_documents(sdk):
    """The document part of every captured datagram, in arrival order."""
    out = []
    for path in sorted(glob.glob(os.path.join(FIXTURES, sdk, "*.dgram"))):
        raw = open(path, "rb").read()
        out.append(raw.split(b"\n", 1)[1].decode())
    return out


def chunks(seq, n):
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


# --- PutTraceSegments: every captured document is accepted ------------------------------------
docs = fixture_documents("python") + fixture_documents("node")
for batch in chunks(docs, 50):
    resp = xray.put_trace_segments(TraceSegmentDocuments=batch)
    assert resp.get("UnprocessedTraceSegments", []) == [], resp
ok("put_trace_segments accepts every captured document")

trace_ids = sorted({json.loads(d)["trace_id"] for d in docs})

# --- Bad documents are reported one by one; the good ones in the same call are stored ------------
good = json.loads(docs[0])
bad_name = dict(good, id="1111111111111111", name="bad<name>")
no_end = {k: v for k, v in good.items() if k not in ("end_time", "in_progress")}
no_end["id"] = "2222222222222222"
resp = xray.put_trace_segments(
    TraceSegmentDocuments=[json.dumps(bad_name), "{not json", json.dumps(no_end), docs[1]]
)
by_id = {u.get("Id"): u for u in resp["UnprocessedTraceSegments"]}
assert len(resp["UnprocessedTraceSegments"]) == 3, resp
assert by_id["1111111111111111"]["ErrorCode"] == "InvalidName", by_id
assert by_id["2222222222222222"]["ErrorCode"] == "MissingEndTime", by_id
assert by_id[None]["ErrorCode"] == "InvalidJSON", by_id
assert by_id["1111111111111111"]["Message"].startswith("Invalid "), by_id
ok("put_trace_segments reports each bad document with AWS's codes")

expect_error(
    lambda: xray.put_trace_segments(TraceSegmentDocuments=[docs[0]] * 51),
    "InvalidRequestException",
    "Exceeding maximum segment count: 50",
)
ok("put_trace_segments refuses 51 documents")

# --- BatchGetTraces --------------------------------------------------------------------------
resp = xray.batch_get_traces(TraceIds=trace_ids[:5])
assert len(resp["Traces"]) == 5, resp
for t in resp["Traces"]:
    assert t["Id"] in trace_ids
    assert t["Duration"] >= 0
    assert t["Segments"], t
    for s in t["Segments"]:
        assert isinstance(s["Document"], str)
        doc = json.loads(s["Document"])
        assert doc["id"] == s["Id"]
        assert doc.get("trace_id", t["Id"]) == t["Id"]
ok("batch_get_traces returns documents as strings")

resp = xray.batch_get_traces(TraceIds=["1-00000000-000000000000000000000000", "nonsense"])
assert resp["Traces"] == [] and sorted(resp["UnprocessedTraceIds"]) == sorted(
    ["1-00000000-000000000000000000000000", "nonsense"]
), resp
ok("batch_get_traces lists unknown ids as unprocessed")

expect_error(
    lambda: xray.batch_get_traces(TraceIds=trace_ids[:6]), "InvalidRequestException", "TraceIds"
)
ok("batch_get_traces refuses more than 5 ids")

# --- GetTraceSummaries (boto3's paginator, so NextToken round-trips) ---------------------------
epochs = [int(t.split("-")[1], 16) for t in trace_ids]
start, end = min(epochs) - 60, max(epochs) + 60
seen = []
for page in xray.get_paginator("get_trace_summaries").paginate(StartTime=start, EndTime=end):
    assert "TracesProcessedCount" in page
    for s in page["TraceSummaries"]:
        seen.append(s["Id"])
        assert "Duration" in s and "ResponseTime" in s, s
        assert isinstance(s["HasFault"], bool), s
assert sorted(seen) == trace_ids, (len(seen), len(trace_ids))
ok("get_trace_summaries lists every trace exactly once across pages")

expect_error(
    lambda: xray.get_trace_summaries(
        StartTime=start, EndTime=end, FilterExpression='service("x"'
    ),
    "InvalidRequestException",
    "FilterExpression: filter expression:",
)
ok("get_trace_summaries refuses a malformed filter expression with its position")

all_summaries = [
    s for p in xray.get_paginator("get_trace_summaries").paginate(StartTime=start, EndTime=end)
    for s in p["TraceSummaries"]
]
faulted = sorted(s["Id"] for s in all_summaries if s["HasFault"])
assert faulted, "the captures hold faulted traces"
got = sorted(
    s["Id"]
    for p in xray.get_paginator("get_trace_summaries").paginate(
        StartTime=start, EndTime=end, FilterExpression="fault"
    )
    for s in p["TraceSummaries"]
)
assert got == faulted, (got, faulted)
ok("get_trace_summaries applies a filter expression")


def filtered(expr):
    return sorted(
        s["Id"]
        for p in xray.get_paginator("get_trace_summaries").paginate(
            StartTime=start, EndTime=end, FilterExpression=expr
        )
        for s in p["TraceSummaries"]
    )


# Expected ids read off the capture files by hand (as in collector/src/filter/tests.rs).
ALICE = sorted([
    "1-6b09abae-314d5315d17854b26f3024de",
    "1-6b09abae-a585cdb8d1451d2911d83be1",
    "1-6b09abaf-3ccb9aecaf99e92d2f04cea9",
    "1-6b09abaf-4c9f9994b78a872775222c44",
    "1-6b09abaf-e0642f501cbe5db69a5b62a6",
])
assert filtered('user = "alice"') == ALICE, filtered('user = "alice"')
assert filtered('service("inventory-service") { fault }') == ["1-6b09aba5-e51d6fb3253cb064452df5a4"]
assert filtered('edge("shop-frontend", "catalog-service") { fault }') == sorted([
    "1-6b09abae-7e3199acce603d0709881263",
    "1-6b09abaf-3ccb9aecaf99e92d2f04cea9",
])
assert filtered('http.status = 429 AND annotation.priority = true') == [
    "1-6b09aba6-342aa0327fcc3566a68097f0"
]
ok("get_trace_summaries with filter expressions over the SDK captures")

# --- GetServiceGraph: statistics are aggregated shortly after ingest ----------------------------
deadline = time.time() + 20
while True:
    graph = xray.get_service_graph(StartTime=start, EndTime=end)
    names = {(s.get("Name"), s.get("Type")) for s in graph["Services"]}
    if ("orders-fn", "AWS::Lambda::Function") in names or time.time() > deadline:
        break
    time.sleep(0.2)
assert ("orders-fn", "AWS::Lambda::Function") in names, names
refs = [s["ReferenceId"] for s in graph["Services"]]
assert len(refs) == len(set(refs)), refs
for s in graph["Services"]:
    for e in s.get("Edges", []):
        assert e["ReferenceId"] in refs, e
        assert "ResponseTimeHistogram" in e and "Aliases" in e, e
ok("get_service_graph draws the captured services")

resp = xray.get_trace_graph(TraceIds=trace_ids[:2])
assert resp["Services"], resp
ok("get_trace_graph")

# --- Sampling ----------------------------------------------------------------------------------
rules = xray.get_sampling_rules()["SamplingRuleRecords"]
default = [r for r in rules if r["SamplingRule"]["RuleName"] == "Default"]
assert len(default) == 1, rules
d = default[0]["SamplingRule"]
assert (d["Priority"], d["ReservoirSize"], d["FixedRate"]) == (10000, 1, 0.05), d
assert d["Attributes"] == {} and d["Version"] == 1, d
ok("get_sampling_rules has the Default rule")

rule = {
    "RuleName": "checkout",
    "ResourceARN": "*",
    "Priority": 10,
    "FixedRate": 0.5,
    "ReservoirSize": 4,
    "ServiceName": "orders-*",
    "ServiceType": "*",
    "Host": "*",
    "HTTPMethod": "POST",
    "URLPath": "/checkout*",
    "Version": 1,
}
rec = xray.create_sampling_rule(SamplingRule=rule, Tags=[{"Key": "team", "Value": "pay"}])
arn = rec["SamplingRuleRecord"]["SamplingRule"]["RuleARN"]
assert arn.endswith(":sampling-rule/checkout"), arn
expect_error(lambda: xray.create_sampling_rule(SamplingRule=rule), "InvalidRequestException", "already exists")
expect_error(
    lambda: xray.create_sampling_rule(SamplingRule=dict(rule, RuleName="x", FixedRate=1.5)),
    "InvalidRequestException",
    "FixedRate",
)
upd = xray.update_sampling_rule(SamplingRuleUpdate={"RuleName": "checkout", "FixedRate": 0.25})
assert upd["SamplingRuleRecord"]["SamplingRule"]["FixedRate"] == 0.25, upd
assert xray.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "team", "Value": "pay"}]
ok("sampling rule create, validate, update, tag")

now = time.time()
targets = xray.get_sampling_targets(
    SamplingStatisticsDocuments=[
        {"RuleName": "checkout", "ClientID": "a" * 24, "Timestamp": now, "RequestCount": 30, "SampledCount": 3, "BorrowCount": 1},
        {"RuleName": "nosuchrule", "ClientID": "a" * 24, "Timestamp": now, "RequestCount": 1, "SampledCount": 0},
    ]
)
t = targets["SamplingTargetDocuments"]
assert len(t) == 1 and t[0]["RuleName"] == "checkout" and t[0]["ReservoirQuota"] == 4, t
assert t[0]["FixedRate"] == 0.25 and t[0]["Interval"] == 10, t
assert targets["LastRuleModification"].timestamp() > 0, targets
assert targets["UnprocessedStatistics"][0]["RuleName"] == "nosuchrule", targets
second = xray.get_sampling_targets(
    SamplingStatisticsDocuments=[
        {"RuleName": "checkout", "ClientID": "b" * 24, "Timestamp": now, "RequestCount": 10, "SampledCount": 1}
    ]
)["SamplingTargetDocuments"][0]
assert second["ReservoirQuota"] == 1, second  # 4 split 30:10 between the two clients
ok("get_sampling_targets splits the reservoir among clients")

summaries = xray.get_sampling_statistic_summaries()["SamplingStatisticSummaries"]
assert any(s["RuleName"] == "checkout" and s["RequestCount"] >= 30 for s in summaries), summaries
ok("get_sampling_statistic_summaries")

deleted = xray.delete_sampling_rule(RuleName="checkout")
assert deleted["SamplingRuleRecord"]["SamplingRule"]["RuleName"] == "checkout"
expect_error(lambda: xray.delete_sampling_rule(RuleName="Default"), "InvalidRequestException", "Default")
ok("sampling rule delete")

# --- Groups --------------------------------------------------------------------------------------
g = xray.create_group(GroupName="payments")["Group"]
assert g["GroupName"] == "payments" and "/payments/" in g["GroupARN"], g
names = [x["GroupName"] for x in xray.get_groups()["Groups"]]
assert names[0] == "Default" and "payments" in names, names
assert xray.get_group(GroupARN=g["GroupARN"])["Group"]["GroupName"] == "payments"
u = xray.update_group(GroupName="payments", InsightsConfiguration={"InsightsEnabled": True})["Group"]
assert u["InsightsConfiguration"]["InsightsEnabled"] is True, u
xray.delete_group(GroupName="payments")
expect_error(lambda: xray.get_group(GroupName="payments"), "InvalidRequestException", "does not exist")
expect_error(lambda: xray.create_group(GroupName="Default"), "InvalidRequestException")
ok("groups create, list, get, update, delete")

expect_error(
    lambda: xray.create_group(GroupName="broken", FilterExpression='annotation.tier = "gold" AND'),
    "InvalidRequestException",
    "FilterExpression: filter expression: unexpected end of expression at 28",
)
gold = xray.create_group(GroupName="gold", FilterExpression='annotation.tier = "gold"')["Group"]
assert gold["FilterExpression"] == 'annotation.tier = "gold"', gold
expect_error(
    lambda: xray.update_group(GroupName="gold", FilterExpression="fault OR"),
    "InvalidRequestException",
    "FilterExpression",
)
# Nine captured traces carry tier=gold (hand-counted); each enters the graph through one client
# edge, so the group's client edges count nine requests.
graph = xray.get_service_graph(StartTime=start, EndTime=end, GroupName="gold")
clients = [s for s in graph["Services"] if s.get("Type") == "client"]
assert sum(e["SummaryStatistics"]["TotalCount"] for c in clients for e in c["Edges"]) == 9, clients
names = {s["Name"] for s in graph["Services"]}
assert {"shop-frontend", "orders-fn"} <= names, names
series = xray.get_time_series_service_statistics(
    StartTime=start, EndTime=end, GroupARN=gold["GroupARN"], Period=60
)["TimeSeriesServiceStatistics"]
assert sum(p["EdgeSummaryStatistics"]["TotalCount"] for p in series) == 9, series
assert filtered('group.name = "gold" AND user = "alice"') == sorted([
    "1-6b09abae-a585cdb8d1451d2911d83be1",
    "1-6b09abaf-3ccb9aecaf99e92d2f04cea9",
])
xray.delete_group(GroupName="gold")
ok("groups with filter expressions: validated, scope the graph and time series, usable as group.name")

# --- Telemetry, account settings ------------------------------------------------------------------
xray.put_telemetry_records(
    TelemetryRecords=[{"Timestamp": now, "SegmentsReceivedCount": 5, "SegmentsSentCount": 5}],
    Hostname="host-1",
)
assert xray.get_encryption_config()["EncryptionConfig"]["Type"] == "NONE"
ok("put_telemetry_records and get_encryption_config")

# --- Raw HTTP: unknown path, garbage body, empty body ---------------------------------------------
def raw(path, body, headers=None):
    req = urllib.request.Request(ENDPOINT + path, data=body, method="POST", headers=headers or {})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()

status, headers, body = raw("/NoSuchOperation", b"{}")
assert status == 404 and headers.get("x-amzn-errortype") == "UnknownOperationException", (status, headers)
status, headers, body = raw("/TraceSegments", b"\x00garbage")
err = json.loads(body)
assert status == 400 and err["__type"] == "InvalidRequestException" and err["message"], (status, body)
status, headers, body = raw("/GetSamplingRules", b"")
assert status == 200 and json.loads(body)["SamplingRuleRecords"], (status, body)
assert headers.get("x-amzn-requestid"), headers
ok("raw HTTP: unknown path 404, garbage 400, empty body as {}")

print("all boto3 checks passed", flush=True)

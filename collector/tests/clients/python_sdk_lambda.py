"""Real traffic from the X-Ray SDK for Python in Lambda mode, assembled by the collector.

Usage: python python_sdk_lambda.py ENDPOINT

The SDK runs as it does in Lambda: LAMBDA_TASK_ROOT set, a facade segment built from
_X_AMZN_TRACE_ID, every subsegment sent on its own as soon as it closes (children before
parents). It emits over UDP to a socket this script reads (standing in for the daemon); the
datagrams go to the collector with boto3's PutTraceSegments, together with the function segment
AWS's Lambda service would write. Then BatchGetTraces must return one function segment with the
handler subsegment nested under it, the HTTP and DynamoDB calls nested under the handler, and an
inferred DynamoDB segment.
"""

import json
import os
import socket
import sys
import tempfile
import time

ENDPOINT = sys.argv[1]

# --- a UDP socket standing in for the daemon -----------------------------------------------------
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(("127.0.0.1", 0))
udp.settimeout(2.0)
port = udp.getsockname()[1]

trace_id = "1-%08x-%s" % (int(time.time()), os.urandom(12).hex())
function_segment_id = os.urandom(8).hex()
os.environ.update(
    {
        "LAMBDA_TASK_ROOT": tempfile.mkdtemp(),
        "_X_AMZN_TRACE_ID": f"Root={trace_id};Parent={function_segment_id};Sampled=1",
        "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{port}",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "secret",
    }
)

import boto3  # noqa: E402
import botocore.config  # noqa: E402
import requests  # noqa: E402
from aws_xray_sdk.core import patch, xray_recorder  # noqa: E402

patch(("botocore", "requests"))

# The "downstream" calls go to the collector itself: a real HTTP server on loopback. The
# DynamoDB call gets an X-Ray error back (not a DynamoDB API), which the SDK records as a
# failed AWS call: a subsegment with error/fault and a remote exception.
dynamodb = boto3.client(
    "dynamodb",
    endpoint_url=ENDPOINT,
    region_name="us-east-1",
    config=botocore.config.Config(retries={"max_attempts": 1}),
)


def handler():
    with xray_recorder.in_subsegment("handle_order") as sub:
        sub.put_annotation("order_id", "o-1")
        requests.get(ENDPOINT + "/health")
        try:
            dynamodb.get_item(TableName="orders", Key={"id": {"S": "o-1"}})
        except Exception:  # the collector is not DynamoDB
            pass


handler()

datagrams = []
while True:
    try:
        data, _ = udp.recvfrom(65536)
    except socket.timeout:
        break
    datagrams.append(data)
    if len(datagrams) >= 3:
        udp.settimeout(0.5)
docs = [d.split(b"\n", 1)[1].decode() for d in datagrams]
sent = [json.loads(d) for d in docs]
assert {s["name"] for s in sent} >= {"handle_order", "dynamodb"}, [s["name"] for s in sent]
assert all(s["type"] == "subsegment" and s["trace_id"] == trace_id for s in sent), sent
print(f"ok the SDK sent {len(sent)} independent subsegments", flush=True)

# The function segment the Lambda service writes (shape as in shared/fixtures).
start = min(s["start_time"] for s in sent) - 0.01
end = max(s["end_time"] for s in sent) + 0.01
function_segment = {
    "id": function_segment_id,
    "name": "orders-fn",
    "start_time": start,
    "end_time": end,
    "trace_id": trace_id,
    "origin": "AWS::Lambda::Function",
    "aws": {"function_arn": "arn:aws:lambda:us-east-1:123456789012:function:orders-fn"},
}

xray = boto3.client(
    "xray",
    endpoint_url=ENDPOINT,
    region_name="us-east-1",
    config=botocore.config.Config(retries={"max_attempts": 1}),
)
# Children first, as the SDK sent them, then the parent.
resp = xray.put_trace_segments(TraceSegmentDocuments=docs + [json.dumps(function_segment)])
assert resp["UnprocessedTraceSegments"] == [], resp

trace = xray.batch_get_traces(TraceIds=[trace_id])["Traces"][0]
segments = [json.loads(s["Document"]) for s in trace["Segments"]]
by_name = {s["name"]: s for s in segments}
fn = by_name["orders-fn"]
assert [s["name"] for s in fn["subsegments"]] == ["handle_order"], fn
handle = fn["subsegments"][0]
assert handle["annotations"] == {"order_id": "o-1"}, handle
children = {s["name"]: s for s in handle.get("subsegments", [])}
assert "dynamodb" in children and "127.0.0.1" in children, children.keys()
ddb = children["dynamodb"]
assert ddb["aws"]["operation"] == "GetItem" and ddb["aws"]["table_name"] == "orders", ddb
inferred = [s for s in segments if s.get("inferred")]
assert any(
    s.get("origin") == "AWS::DynamoDB::Table" and s.get("parent_id") == ddb["id"] for s in inferred
), inferred
print("ok the trace is assembled: function > handler > calls, with an inferred DynamoDB segment", flush=True)

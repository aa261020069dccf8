"""The X-Ray SDK for Python talking to fluoro-daemon, as it talks to the AWS daemon.

Usage: python python_sdk_daemon.py DAEMON_UDP DAEMON_TCP COLLECTOR_ENDPOINT

1. The SDK's own sampling connector fetches the sampling rules through the daemon's TCP proxy
   (the path its centralized sampler uses) and gets the collector's Default rule.
2. A segment with an annotation, a custom subsegment and a patched `requests` call is emitted
   over UDP to the daemon, which must deliver it to the collector: BatchGetTraces returns it.
"""

import json
import sys
import time

DAEMON_UDP, DAEMON_TCP, COLLECTOR = sys.argv[1:4]

import boto3  # noqa: E402
import requests  # noqa: E402
from aws_xray_sdk.core import patch, xray_recorder  # noqa: E402
from aws_xray_sdk.core.sampling.connector import ServiceConnector  # noqa: E402

# --- 1. sampling rules through the TCP proxy, with the SDK's connector -------------------------
host, port = DAEMON_TCP.rsplit(":", 1)
connector = ServiceConnector()
connector.setup_xray_client(ip=host, port=int(port), client=None)
rules = connector.fetch_sampling_rules()
names = [r.name for r in rules]
assert "Default" in names, names
print("ok the SDK's sampling connector got the rules through the daemon", flush=True)

# --- 2. a traced request, emitted over UDP to the daemon ----------------------------------------
xray_recorder.configure(
    daemon_address=f"tcp:{DAEMON_TCP} udp:{DAEMON_UDP}",
    sampling=False,
    context_missing="LOG_ERROR",
    service="py-daemon-svc",
)
patch(("requests",))
segment = xray_recorder.begin_segment("py-daemon-svc")
segment.put_annotation("via", "fluoro-daemon")
with xray_recorder.in_subsegment("work"):
    requests.get(COLLECTOR + "/health")
xray_recorder.end_segment()
trace_id = segment.trace_id

xray = boto3.client(
    "xray",
    endpoint_url=COLLECTOR,
    region_name="us-east-1",
    aws_access_key_id="AKIDEXAMPLE",
    aws_secret_access_key="secret",
)
deadline = time.time() + 15
while True:
    traces = xray.batch_get_traces(TraceIds=[trace_id])["Traces"]
    if traces or time.time() > deadline:
        break
    time.sleep(0.2)
assert traces, f"trace {trace_id} never reached the collector"
doc = json.loads(traces[0]["Segments"][0]["Document"])
assert doc["name"] == "py-daemon-svc" and doc["annotations"] == {"via": "fluoro-daemon"}, doc
work = doc["subsegments"][0]
assert work["name"] == "work" and work["subsegments"][0]["namespace"] == "remote", work
print("ok the segment went SDK -> daemon (UDP) -> collector intact", flush=True)

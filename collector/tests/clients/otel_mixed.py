"""A trace that crosses OpenTelemetry and the X-Ray SDK, and back, read back as one trace.

Usage: python otel_mixed.py OTLP_HTTP_ENDPOINT XRAY_ENDPOINT

Three services on loopback, as AWS documents for mixing the two:

  otel-front  (OpenTelemetry SDK, AwsXRayIdGenerator, AwsXRayPropagator, OTLP/HTTP exporter)
      -> xray-middle  (Flask with the X-Ray SDK for Python; its `requests` patched)
          -> otel-leaf  (OpenTelemetry SDK, AwsXRayPropagator, OTLP/HTTP exporter)

The X-Ray SDK emits over UDP to a socket this script reads (standing in for the daemon); those
documents go to the collector with boto3's PutTraceSegments. The OpenTelemetry spans go through
the collector's OTLP/HTTP receiver. BatchGetTraces must return one trace holding all three
services with the right parents, and GetServiceGraph one connected chain.
"""

import http.server
import json
import os
import socket
import sys
import threading
import time
import urllib.request

OTLP, XRAY = sys.argv[1], sys.argv[2]

udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(("127.0.0.1", 0))
udp.settimeout(5.0)
os.environ.update(
    {
        "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{udp.getsockname()[1]}",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
)

import boto3  # noqa: E402
import requests  # noqa: E402
from aws_xray_sdk.core import patch, xray_recorder  # noqa: E402
from aws_xray_sdk.ext.flask.middleware import XRayMiddleware  # noqa: E402
from flask import Flask  # noqa: E402
from opentelemetry import trace  # noqa: E402
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: E402
from opentelemetry.propagators.aws import AwsXRayPropagator  # noqa: E402
from opentelemetry.sdk.extension.aws.trace import AwsXRayIdGenerator  # noqa: E402
from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.trace import SpanKind  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

propagator = AwsXRayPropagator()


def otel_service(name):
    provider = TracerProvider(
        resource=Resource.create({"service.name": name}),
        id_generator=AwsXRayIdGenerator(),
    )
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=OTLP + "/v1/traces", timeout=10))
    )
    return provider, provider.get_tracer(name)


# --- otel-leaf: an http.server instrumented by hand with OpenTelemetry ---------------------------
leaf_provider, leaf_tracer = otel_service("otel-leaf")


class Leaf(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        ctx = propagator.extract(dict(self.headers.items()))
        with leaf_tracer.start_as_current_span(
            "GET /stock",
            context=ctx,
            kind=SpanKind.SERVER,
            attributes={
                "http.request.method": "GET",
                "url.path": "/stock",
                "http.response.status_code": 200,
            },
        ):
            body = b"in stock"
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def log_message(self, *args):
        pass


leaf = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Leaf)
threading.Thread(target=leaf.serve_forever, daemon=True).start()
LEAF_URL = f"http://127.0.0.1:{leaf.server_address[1]}/stock"

# --- xray-middle: Flask with the X-Ray SDK ---------------------------------------------------------
xray_recorder.configure(service="xray-middle", sampling=False)
# Patching is process-wide: the OTLP exporter's own `requests` calls, made outside any X-Ray
# segment, make the SDK log "cannot find the current segment" (LOG_ERROR), which is harmless.
patch(("requests",))
app = Flask("xray-middle")
XRayMiddleware(app, xray_recorder)


@app.route("/order")
def order():
    r = requests.get(LEAF_URL, timeout=10)
    return r.text


middle = make_server("127.0.0.1", 0, app, threaded=True)
threading.Thread(target=middle.serve_forever, daemon=True).start()
MIDDLE_URL = f"http://127.0.0.1:{middle.server_port}/order"

# --- otel-front: the request that starts the trace ---------------------------------------------------
front_provider, front_tracer = otel_service("otel-front")
with front_tracer.start_as_current_span(
    "POST /checkout", kind=SpanKind.SERVER, attributes={"http.request.method": "POST"}
) as root:
    with front_tracer.start_as_current_span(
        "GET",
        kind=SpanKind.CLIENT,
        attributes={"http.request.method": "GET", "url.full": MIDDLE_URL},
    ) as call:
        headers = {}
        propagator.inject(headers)
        with urllib.request.urlopen(urllib.request.Request(MIDDLE_URL, headers=headers)) as r:
            assert r.read() == b"in stock"
            call.set_attribute("http.response.status_code", r.status)
    ctx = root.get_span_context()
    call_id = format(call.get_span_context().span_id, "016x")

w3c = format(ctx.trace_id, "032x")
trace_id = f"1-{w3c[:8]}-{w3c[8:]}"
assert abs(int(w3c[:8], 16) - time.time()) < 600, "AwsXRayIdGenerator puts the epoch first"

# The X-Ray SDK's segment, from the stand-in daemon socket, to the collector.
docs = []
while not docs:
    data, _ = udp.recvfrom(65536)
    _, doc = data.decode().split("\n", 1)
    docs.append(doc)
xray = boto3.client("xray", endpoint_url=XRAY)
out = xray.put_trace_segments(TraceSegmentDocuments=docs)
assert out["UnprocessedTraceSegments"] == [], out
front_provider.shutdown()
leaf_provider.shutdown()

# --- one trace ------------------------------------------------------------------------------------
traces = xray.batch_get_traces(TraceIds=[trace_id])["Traces"]
assert len(traces) == 1, traces
segs = [json.loads(s["Document"]) for s in traces[0]["Segments"]]
by_name = {s["name"]: s for s in segs if not s.get("inferred")}
assert set(by_name) == {"otel-front", "xray-middle", "otel-leaf"}, [s["name"] for s in segs]
assert not any(s.get("inferred") for s in segs), segs
mid = by_name["xray-middle"]
assert mid["parent_id"] == call_id, (mid, call_id)
mid_call = next(s for s in mid["subsegments"] if s.get("namespace") == "remote")
assert by_name["otel-leaf"]["parent_id"] == mid_call["id"], (by_name["otel-leaf"], mid_call)
front_call = by_name["otel-front"]["subsegments"][0]
assert front_call["id"] == call_id and front_call["namespace"] == "remote", front_call
print("ok one trace: otel-front -> xray-middle -> otel-leaf")

# --- one connected map ----------------------------------------------------------------------------
services = []
for _ in range(100):
    services = xray.get_service_graph(StartTime=time.time() - 600, EndTime=time.time() + 60)[
        "Services"
    ]
    if {"otel-front", "xray-middle", "otel-leaf"} <= {s["Name"] for s in services}:
        break
    time.sleep(0.1)
ref = {s["ReferenceId"]: s["Name"] for s in services}
edges = {
    (s["Name"], ref[e["ReferenceId"]])
    for s in services
    if s.get("Type") != "client"
    for e in s.get("Edges", [])
}
assert ("otel-front", "xray-middle") in edges, edges
assert ("xray-middle", "otel-leaf") in edges, edges
print("ok one connected service graph")

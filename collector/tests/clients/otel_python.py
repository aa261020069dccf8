"""Real traffic from the OpenTelemetry Python SDK and its OTLP exporters, read back with boto3.

Usage: python otel_python.py (http|grpc) OTLP_ENDPOINT XRAY_ENDPOINT

One request of a service "otel-py-<mode>" running on EC2: a SERVER span answering 500, with a
DynamoDB call (AWS SDK span), an HTTP call to "inventory" and an internal span that records an
exception. Ids come from the SDK's default (random) generator, so the trace id's first half is
not an epoch. The spans go out through the real OTLP exporter (protobuf over HTTP with gzip, or
gRPC); then BatchGetTraces (by the X-Ray form of the id), GetTraceSummaries (by time window) and
GetServiceGraph must show them as X-Ray would.
"""

import json
import os
import sys
import time

MODE, OTLP, XRAY = sys.argv[1], sys.argv[2], sys.argv[3]
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
)

import boto3  # noqa: E402
from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: E402
from opentelemetry.trace import SpanKind, Status, StatusCode  # noqa: E402

if MODE == "http":
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    exporter = OTLPSpanExporter(
        endpoint=OTLP + "/v1/traces", compression=Compression.Gzip, timeout=10
    )
elif MODE == "grpc":
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    exporter = OTLPSpanExporter(endpoint=OTLP, insecure=True, timeout=10)
else:
    sys.exit(f"unknown mode {MODE}")

SERVICE = f"otel-py-{MODE}"
provider = TracerProvider(
    resource=Resource.create(
        {
            "service.name": SERVICE,
            "service.version": "2.0.1",
            "cloud.provider": "aws",
            "cloud.platform": "aws_ec2",
            "host.id": "i-0123456789abcdef0",
        }
    )
)
processor = BatchSpanProcessor(exporter)
provider.add_span_processor(processor)
tracer = provider.get_tracer("fluoro.test", "1.0.0")

start = time.time()
with tracer.start_as_current_span(
    "GET /orders/{id}",
    kind=SpanKind.SERVER,
    attributes={
        "http.request.method": "GET",
        "url.scheme": "http",
        "server.address": "shop.internal",
        "server.port": 8000,
        "url.path": "/orders/7",
        "http.route": "/orders/{id}",
        "http.response.status_code": 500,
        "app.tenant": "acme",
    },
) as root:
    with tracer.start_as_current_span(
        "DynamoDB.GetItem",
        kind=SpanKind.CLIENT,
        attributes={
            "rpc.system": "aws-api",
            "rpc.service": "DynamoDB",
            "rpc.method": "GetItem",
            "aws.region": "us-east-1",
            "aws.dynamodb.table_names": ["orders"],
            "http.response.status_code": 200,
        },
    ):
        time.sleep(0.01)
    with tracer.start_as_current_span(
        "GET",
        kind=SpanKind.CLIENT,
        attributes={
            "http.request.method": "GET",
            "url.full": "http://inventory.internal:8080/items/7",
            "server.address": "inventory.internal",
            "http.response.status_code": 200,
        },
    ):
        time.sleep(0.01)
    with tracer.start_as_current_span("price order") as inner:
        try:
            raise ValueError("no price for order 7")
        except ValueError as e:
            inner.record_exception(e)
            inner.set_status(Status(StatusCode.ERROR, str(e)))
    ctx = root.get_span_context()

assert processor.force_flush(10_000), "the exporter did not flush"
provider.shutdown()

w3c = format(ctx.trace_id, "032x")
xray_id = f"1-{w3c[:8]}-{w3c[8:]}"
root_id = format(ctx.span_id, "016x")
xray = boto3.client("xray", endpoint_url=XRAY)

# --- BatchGetTraces by the X-Ray form of the W3C id ---------------------------------------------
traces = xray.batch_get_traces(TraceIds=[xray_id])["Traces"]
assert len(traces) == 1, traces
docs = {s["Id"]: json.loads(s["Document"]) for s in traces[0]["Segments"]}
seg = docs[root_id]
assert seg["name"] == SERVICE, seg
assert seg["trace_id"] == xray_id, seg
assert seg["origin"] == "AWS::EC2::Instance", seg
assert seg["aws"]["ec2"]["instance_id"] == "i-0123456789abcdef0", seg
assert seg["fault"] is True, seg
assert seg["http"]["request"]["method"] == "GET", seg
assert seg["http"]["request"]["url"] == "http://shop.internal:8000/orders/7", seg
assert seg["http"]["response"]["status"] == 500, seg
assert seg["annotations"]["app_tenant"] == "acme", seg
assert seg["annotations"]["http_route"] == "/orders/{id}", seg
subs = {s["name"]: s for s in seg.get("subsegments", [])}
assert set(subs) == {"DynamoDB", "inventory.internal", "price order"}, subs.keys()
ddb = subs["DynamoDB"]
assert ddb["namespace"] == "aws", ddb
assert ddb["aws"]["operation"] == "GetItem", ddb
assert ddb["aws"]["table_name"] == "orders", ddb
assert subs["inventory.internal"]["namespace"] == "remote", subs
price = subs["price order"]
assert price["fault"] is True, price
exc = price["cause"]["exceptions"][0]
assert exc["type"] == "ValueError" and exc["message"] == "no price for order 7", exc
assert exc["stack"][0]["path"].endswith("otel_python.py"), exc
print("ok BatchGetTraces returns the translated trace under its X-Ray id")

# --- GetTraceSummaries: filed under the time it happened, not the id's random first half --------
found = None
for _ in range(100):
    summaries = xray.get_trace_summaries(
        StartTime=start - 60, EndTime=time.time() + 60
    )["TraceSummaries"]
    found = next((s for s in summaries if s["Id"] == xray_id), None)
    if found:
        break
    time.sleep(0.1)
assert found, f"{xray_id} not listed"
assert found["HasFault"] is True, found
assert found["Http"]["HttpStatus"] == 500, found
names = {s["Name"] for s in found["ServiceIds"]}
assert SERVICE in names, found
filtered = xray.get_trace_summaries(
    StartTime=start - 60,
    EndTime=time.time() + 60,
    FilterExpression='annotation.app_tenant = "acme"',
)["TraceSummaries"]
assert [s["Id"] for s in filtered] == [xray_id], filtered
print("ok GetTraceSummaries lists it, filter expressions see its annotations")

# --- GetServiceGraph ------------------------------------------------------------------------------
services = []
for _ in range(100):
    services = xray.get_service_graph(StartTime=start - 60, EndTime=time.time() + 60)[
        "Services"
    ]
    if any(s["Name"] == SERVICE for s in services):
        break
    time.sleep(0.1)
# X-Ray draws the caller of a root segment as a "client" node of the same name.
mine = [s for s in services if s["Name"] == SERVICE and s["Type"] != "client"]
assert len(mine) == 1, services
me = mine[0]
assert me["Type"] == "AWS::EC2::Instance", me
assert me["Root"] is True, me
targets = {e["ReferenceId"] for e in me["Edges"]}
downstream = {s["Name"]: s["Type"] for s in services if s["ReferenceId"] in targets}
assert downstream.get("inventory.internal") == "remote", downstream
assert "AWS::DynamoDB::Table" in downstream.values(), downstream
print("ok GetServiceGraph draws the service and its downstream calls")

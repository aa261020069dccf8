"""Bad input over OTLP/gRPC from a real gRPC client (grpcio, with the opentelemetry-proto stubs).

Usage: python otel_grpc_bad.py GRPC_HOST:PORT XRAY_ENDPOINT

The collector must run with --otlp-max-message-bytes 4096. Checks the OTLP status codes:
raw bytes that are not an ExportTraceServiceRequest -> INVALID_ARGUMENT; a message over the
limit, plain or once decompressed -> RESOURCE_EXHAUSTED; a valid request with spans whose ids
are invalid -> OK with partial_success counting them, and the valid span stored (read back with
boto3's BatchGetTraces).
"""

import os
import sys
import time

TARGET, XRAY = sys.argv[1], sys.argv[2]
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
)

import boto3  # noqa: E402
import grpc  # noqa: E402
from opentelemetry.proto.collector.trace.v1 import (  # noqa: E402
    trace_service_pb2,
    trace_service_pb2_grpc,
)
from opentelemetry.proto.common.v1 import common_pb2  # noqa: E402
from opentelemetry.proto.resource.v1 import resource_pb2  # noqa: E402
from opentelemetry.proto.trace.v1 import trace_pb2  # noqa: E402

METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
channel = grpc.insecure_channel(TARGET)
grpc.channel_ready_future(channel).result(timeout=10)
raw = channel.unary_unary(METHOD)  # bytes in, bytes out: no serializer


def expect_code(what, code, call):
    try:
        call()
    except grpc.RpcError as e:
        assert e.code() == code, f"{what}: got {e.code()} ({e.details()}), want {code}"
        print(f"ok {what}: {e.code().name}: {e.details()}")
        return
    raise AssertionError(f"{what}: the call succeeded, want {code}")


expect_code(
    "malformed protobuf",
    grpc.StatusCode.INVALID_ARGUMENT,
    lambda: raw(b"\x0a\xff\xff", timeout=10),
)
expect_code(
    "oversized request",
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    lambda: raw(b"\x00" * 5000, timeout=10),
)
expect_code(
    "oversized once decompressed",
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    lambda: raw(b"\x00" * 100_000, timeout=10, compression=grpc.Compression.Gzip),
)

now = time.time_ns()
trace_id = now // 1_000_000_000
trace_id = trace_id.to_bytes(4, "big") + bytes.fromhex("0102030405060708090a0b0c")


def span(span_id, trace=trace_id):
    return trace_pb2.Span(
        trace_id=trace,
        span_id=span_id,
        name="GET /ok",
        kind=trace_pb2.Span.SPAN_KIND_SERVER,
        start_time_unix_nano=now,
        end_time_unix_nano=now + 1_000_000,
    )


request = trace_service_pb2.ExportTraceServiceRequest(
    resource_spans=[
        trace_pb2.ResourceSpans(
            resource=resource_pb2.Resource(
                attributes=[
                    common_pb2.KeyValue(
                        key="service.name",
                        value=common_pb2.AnyValue(string_value="grpc-bad"),
                    )
                ]
            ),
            scope_spans=[
                trace_pb2.ScopeSpans(
                    spans=[
                        span(bytes.fromhex("2000000000000001")),
                        span(b"\x01\x02\x03"),  # a span id of 3 bytes
                        span(bytes.fromhex("2000000000000003"), trace=bytes(16)),
                    ]
                )
            ],
        )
    ]
)
stub = trace_service_pb2_grpc.TraceServiceStub(channel)
response = stub.Export(request, timeout=10)
ps = response.partial_success
assert ps.rejected_spans == 2, response
assert "InvalidSpanId" in ps.error_message, ps.error_message
assert "InvalidTraceId" in ps.error_message, ps.error_message
print(f"ok partial success: {ps.rejected_spans} rejected: {ps.error_message}")

xray = boto3.client("xray", endpoint_url=XRAY)
xray_id = f"1-{trace_id[:4].hex()}-{trace_id[4:].hex()}"
traces = xray.batch_get_traces(TraceIds=[xray_id])["Traces"]
ids = [s["Id"] for t in traces for s in t["Segments"]]
assert ids == ["2000000000000001"], ids
print("ok the valid span is stored")

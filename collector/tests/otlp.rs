//! The OTLP receivers of a real collector on `127.0.0.1:0`: the real OpenTelemetry Python SDK
//! (OTLP/HTTP and OTLP/gRPC exporters) and OpenTelemetry Rust send traces, read back through the
//! X-Ray API; and bad input over OTLP/HTTP, rejected with OTLP's error semantics while the valid
//! spans around it are kept. The Python environment comes from `scripts/test`.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use fluoro_proto::otlp::pb::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use fluoro_proto::otlp::pb::common::v1::{AnyValue, KeyValue, any_value};
use fluoro_proto::otlp::pb::resource::v1::Resource;
use fluoro_proto::otlp::pb::trace::v1::{ResourceSpans, ScopeSpans, Span, span};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use prost::Message as _;
use serde_json::{Value, json};
use support::{TempDir, start_collector};

mod support;

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("FLUORO_PYTHON") {
        return PathBuf::from(p);
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    assert!(
        p.exists(),
        "FLUORO_PYTHON is not set and {} does not exist: run scripts/test, which installs the \
         OpenTelemetry Python SDK",
        p.display()
    );
    p
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    stdout
}

async fn python_script(script: &str, args: Vec<String>) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(script);
    let py = python();
    tokio::task::spawn_blocking(move || run(Command::new(py).arg(script).args(args)))
        .await
        .unwrap()
}

/// One HTTP/1.1 request; returns status, headers and body.
async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, hyper::HeaderMap, Vec<u8>) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = sender
        .send_request(req.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    (status, headers, body)
}

async fn xray(addr: SocketAddr, op: &str, body: &Value) -> Value {
    let (status, _, body) = request(
        addr,
        "POST",
        op,
        &[("content-type", "application/json")],
        serde_json::to_vec(body).unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{op}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

fn string_attr(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..KeyValue::default()
    }
}

/// A request with one resource and these spans.
fn export(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![string_attr("service.name", "hand-made")],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    }
}

fn server_span(trace: [u8; 16], id: u8) -> Span {
    let start = now_nanos();
    Span {
        trace_id: trace.to_vec(),
        span_id: vec![0x10, 0, 0, 0, 0, 0, 0, id],
        name: "handle".into(),
        kind: span::SpanKind::Server as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: start + 1_000_000,
        ..Span::default()
    }
}

fn xray_id(trace: [u8; 16]) -> String {
    let hex: String = trace.iter().map(|b| format!("{b:02x}")).collect();
    format!("1-{}-{}", &hex[..8], &hex[8..])
}

async fn stored_ids(addr: SocketAddr, trace: [u8; 16]) -> Vec<String> {
    let r = xray(addr, "/Traces", &json!({"TraceIds": [xray_id(trace)]})).await;
    let mut ids: Vec<String> = r["Traces"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["Segments"].as_array().unwrap().iter())
        .map(|s| s["Id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_over_otlp_http() {
    let dir = TempDir::new("otel-py-http");
    let c = start_collector(dir.path(), |_| {}).await;
    let out = python_script(
        "otel_python.py",
        vec![
            "http".into(),
            format!("http://{}", c.otlp_http_addr().unwrap()),
            format!("http://{}", c.addr()),
        ],
    )
    .await;
    assert!(out.contains("ok GetServiceGraph"), "{out}");
    c.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_over_otlp_grpc() {
    let dir = TempDir::new("otel-py-grpc");
    let c = start_collector(dir.path(), |_| {}).await;
    let out = python_script(
        "otel_python.py",
        vec![
            "grpc".into(),
            format!("http://{}", c.otlp_grpc_addr().unwrap()),
            format!("http://{}", c.addr()),
        ],
    )
    .await;
    assert!(out.contains("ok GetServiceGraph"), "{out}");
    c.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protobuf_json_and_gzip_bodies_with_partial_success() {
    let dir = TempDir::new("otlp-http-bodies");
    let c = start_collector(dir.path(), |_| {}).await;
    let otlp = c.otlp_http_addr().unwrap();
    let trace = [
        0xa1, 0xb2, 0xc3, 0xd4, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
    ];

    // Protobuf, one good span and one with an invalid span id: the good one is kept.
    let mut bad = server_span(trace, 2);
    bad.span_id = vec![1, 2, 3];
    let body = export(vec![server_span(trace, 1), bad]).encode_to_vec();
    let (status, headers, resp) = request(
        otlp,
        "POST",
        "/v1/traces",
        &[("content-type", "application/x-protobuf")],
        body,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/x-protobuf");
    let resp = ExportTraceServiceResponse::decode(&resp[..]).unwrap();
    let ps = resp.partial_success.unwrap();
    assert_eq!(ps.rejected_spans, 1);
    assert!(
        ps.error_message.contains("InvalidSpanId"),
        "{}",
        ps.error_message
    );

    // Gzip-compressed protobuf.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&export(vec![server_span(trace, 3)]).encode_to_vec())
        .unwrap();
    let (status, _, resp) = request(
        otlp,
        "POST",
        "/v1/traces",
        &[
            ("content-type", "application/x-protobuf"),
            ("content-encoding", "gzip"),
        ],
        gz.finish().unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        ExportTraceServiceResponse::decode(&resp[..]).unwrap(),
        ExportTraceServiceResponse::default()
    );

    // OTLP/JSON: hex ids, string 64-bit integers; one span without a start time.
    let now = now_nanos();
    let json_body = json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-svc"}}]},
        "scopeSpans": [{"spans": [
            {"traceId": "a1b2c3d40102030405060708090a0b0c", "spanId": "1000000000000004",
             "name": "json", "kind": 2, "startTimeUnixNano": now.to_string(),
             "endTimeUnixNano": (now + 1_000).to_string()},
            {"traceId": "a1b2c3d40102030405060708090a0b0c", "spanId": "1000000000000005",
             "name": "no start", "kind": 2}
        ]}]
    }]});
    let (status, headers, resp) = request(
        otlp,
        "POST",
        "/v1/traces",
        &[("content-type", "application/json; charset=utf-8")],
        serde_json::to_vec(&json_body).unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/json");
    let resp: Value = serde_json::from_slice(&resp).unwrap();
    assert_eq!(resp["partialSuccess"]["rejectedSpans"], "1", "{resp}");

    assert_eq!(
        stored_ids(c.addr(), trace).await,
        ["1000000000000001", "1000000000000003", "1000000000000004"]
    );
    let (_, _, metrics) = request(c.addr(), "GET", "/metrics", &[], Vec::new()).await;
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(
        metrics.contains("fluoro_otlp_spans_rejected_total{reason=\"InvalidSpanId\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("fluoro_otlp_spans_accepted_total 3"),
        "{metrics}"
    );
    c.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_otlp_errors() {
    let dir = TempDir::new("otlp-http-bad");
    let c = start_collector(dir.path(), |cfg| cfg.otlp_max_message_bytes = 4096).await;
    let otlp = c.otlp_http_addr().unwrap();
    let pb = [("content-type", "application/x-protobuf")];

    // Malformed protobuf: 400 with a google.rpc.Status (code INVALID_ARGUMENT) in protobuf.
    let (status, headers, body) =
        request(otlp, "POST", "/v1/traces", &pb, vec![0x0a, 0xff, 0xff]).await;
    assert_eq!(status, 400);
    assert_eq!(headers["content-type"], "application/x-protobuf");
    // google.rpc.Status: field 1 (code) = 3, field 2 (message).
    assert_eq!(&body[..2], &[0x08, 3]);
    assert!(String::from_utf8_lossy(&body).contains("ExportTraceServiceRequest"));

    // Malformed JSON: 400 naming the member.
    let (status, _, body) = request(
        otlp,
        "POST",
        "/v1/traces",
        &[("content-type", "application/json")],
        br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"xyz"}]}]}]}"#.to_vec(),
    )
    .await;
    assert_eq!(status, 400);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["code"], 3);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("resourceSpans[0].scopeSpans[0].spans[0].traceId"),
        "{v}"
    );

    // Wrong content type and encoding: 415.
    let (status, _, _) = request(
        otlp,
        "POST",
        "/v1/traces",
        &[("content-type", "text/plain")],
        b"hello".to_vec(),
    )
    .await;
    assert_eq!(status, 415);
    let (status, _, _) = request(
        otlp,
        "POST",
        "/v1/traces",
        &[
            ("content-type", "application/x-protobuf"),
            ("content-encoding", "br"),
        ],
        Vec::new(),
    )
    .await;
    assert_eq!(status, 415);

    // Oversized, plain and after decompression: 413.
    let (status, _, _) = request(otlp, "POST", "/v1/traces", &pb, vec![0; 5000]).await;
    assert_eq!(status, 413);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&[0u8; 100_000]).unwrap();
    let (status, _, _) = request(
        otlp,
        "POST",
        "/v1/traces",
        &[
            ("content-type", "application/x-protobuf"),
            ("content-encoding", "gzip"),
        ],
        gz.finish().unwrap(),
    )
    .await;
    assert_eq!(status, 413);

    // Wrong path and method.
    let (status, _, _) = request(otlp, "POST", "/v1/logs", &pb, Vec::new()).await;
    assert_eq!(status, 404);
    let (status, _, _) = request(otlp, "GET", "/v1/traces", &[], Vec::new()).await;
    assert_eq!(status, 405);

    // An empty request is a success.
    let (status, _, _) = request(otlp, "POST", "/v1/traces", &pb, Vec::new()).await;
    assert_eq!(status, 200);

    // Every span invalid: still 200, all counted in partial_success.
    let trace = [0u8; 16];
    let body = export(vec![server_span(trace, 1), server_span(trace, 2)]).encode_to_vec();
    let (status, _, resp) = request(otlp, "POST", "/v1/traces", &pb, body).await;
    assert_eq!(status, 200);
    let ps = ExportTraceServiceResponse::decode(&resp[..])
        .unwrap()
        .partial_success
        .unwrap();
    assert_eq!(ps.rejected_spans, 2);
    assert!(
        ps.error_message.starts_with("2 of 2 spans rejected"),
        "{}",
        ps.error_message
    );

    let (_, _, metrics) = request(c.addr(), "GET", "/metrics", &[], Vec::new()).await;
    let metrics = String::from_utf8(metrics).unwrap();
    for line in [
        "fluoro_otlp_requests_rejected_total{transport=\"http\",reason=\"malformed\"} 2",
        "fluoro_otlp_requests_rejected_total{transport=\"http\",reason=\"content_type\"} 1",
        "fluoro_otlp_requests_rejected_total{transport=\"http\",reason=\"too_large\"} 2",
        "fluoro_otlp_spans_rejected_total{reason=\"InvalidTraceId\"} 2",
    ] {
        assert!(metrics.contains(line), "{line} missing:\n{metrics}");
    }
    c.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receivers_can_be_turned_off() {
    let dir = TempDir::new("otlp-off");
    let c = start_collector(dir.path(), |cfg| {
        cfg.otlp_grpc = fluoro_collector::otlp::OptionalAddr(None);
        cfg.otlp_http = "off".parse().unwrap();
    })
    .await;
    assert_eq!(c.otlp_grpc_addr(), None);
    assert_eq!(c.otlp_http_addr(), None);
    c.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opentelemetry_rust_over_grpc() {
    use opentelemetry::trace::{
        Span as _, SpanKind, TraceContextExt as _, Tracer as _, TracerProvider as _,
    };
    use opentelemetry::{Context, KeyValue as Attr};
    use opentelemetry_otlp::{Compression, WithExportConfig as _, WithTonicConfig as _};
    use opentelemetry_sdk::Resource;
    use opentelemetry_sdk::trace::SdkTracerProvider;

    let dir = TempDir::new("otel-rust");
    let c = start_collector(dir.path(), |_| {}).await;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(format!("http://{}", c.otlp_grpc_addr().unwrap()))
        .with_compression(Compression::Gzip)
        .build()
        .unwrap();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name("otel-rust").build())
        .build();
    let tracer = provider.tracer("fluoro-test");
    let root = tracer
        .span_builder("GET /cart")
        .with_kind(SpanKind::Server)
        .with_attributes([
            Attr::new("http.request.method", "GET"),
            Attr::new("url.path", "/cart"),
            Attr::new("http.response.status_code", 404),
            Attr::new("app.cart_items", 3),
        ])
        .start(&tracer);
    let trace_id = root.span_context().trace_id().to_string();
    let root_id = root.span_context().span_id().to_string();
    let cx = Context::current_with_span(root);
    let mut query = tracer
        .span_builder("SELECT carts")
        .with_kind(SpanKind::Client)
        .with_attributes([
            Attr::new("db.system.name", "postgresql"),
            Attr::new("db.namespace", "shop"),
            Attr::new("db.query.text", "SELECT * FROM carts WHERE id = $1"),
            Attr::new("server.address", "db.local"),
        ])
        .start_with_context(&tracer, &cx);
    query.end();
    cx.span().end();
    tokio::task::spawn_blocking(move || {
        provider.force_flush().unwrap();
        provider.shutdown().unwrap();
    })
    .await
    .unwrap();

    let id = format!("1-{}-{}", &trace_id[..8], &trace_id[8..]);
    let r = xray(c.addr(), "/Traces", &json!({"TraceIds": [id]})).await;
    let docs: Vec<Value> = r["Traces"][0]["Segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| serde_json::from_str(s["Document"].as_str().unwrap()).unwrap())
        .collect();
    // The service's segment and the database X-Ray infers from the remote call.
    assert_eq!(docs.len(), 2, "{r}");
    let seg = docs.iter().find(|d| d["id"] == root_id.as_str()).unwrap();
    let db = docs.iter().find(|d| d["inferred"] == true).unwrap();
    assert_eq!(
        (&db["name"], &db["origin"]),
        (&json!("shop@db.local"), &json!("remote"))
    );
    assert_eq!(seg["name"], "otel-rust");
    assert_eq!(seg["error"], true);
    assert_eq!(seg["http"]["response"]["status"], 404);
    assert_eq!(seg["annotations"]["app_cart_items"], 3);
    assert_eq!(seg["aws"]["xray"]["sdk"], "opentelemetry for rust");
    let sub = &seg["subsegments"][0];
    assert_eq!(sub["name"], "shop@db.local");
    assert_eq!(sub["namespace"], "remote");
    assert_eq!(sub["sql"]["database_type"], "postgresql");
    assert_eq!(
        sub["sql"]["sanitized_query"],
        "SELECT * FROM carts WHERE id = $1"
    );
    c.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_opentelemetry_and_xray_sdk_trace() {
    let dir = TempDir::new("otel-mixed");
    let c = start_collector(dir.path(), |_| {}).await;
    let out = python_script(
        "otel_mixed.py",
        vec![
            format!("http://{}", c.otlp_http_addr().unwrap()),
            format!("http://{}", c.addr()),
        ],
    )
    .await;
    assert!(out.contains("ok one connected service graph"), "{out}");
    c.shutdown().await.unwrap();
}

fn xray_doc(trace: &str, id: &str, name: &str) -> String {
    let now = now_nanos() as f64 / 1e9;
    json!({
        "id": id, "name": name, "trace_id": trace, "start_time": now - 0.5, "end_time": now,
        "http": {"request": {"method": "GET", "url": "http://front/"}, "response": {"status": 200}},
        "subsegments": [{"id": "2222222222222222", "name": "DynamoDB", "namespace": "aws",
            "start_time": now - 0.4, "end_time": now - 0.3,
            "aws": {"operation": "GetItem", "table_name": "carts"}}]
    })
    .to_string()
}

async fn metric(addr: SocketAddr, line_prefix: &str) -> Option<u64> {
    let (_, _, m) = request(addr, "GET", "/metrics", &[], Vec::new()).await;
    String::from_utf8(m)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(line_prefix)?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_export_forwards_what_is_stored_to_another_backend() {
    let (dir_a, dir_b) = (TempDir::new("export-a"), TempDir::new("export-b"));
    let backend = start_collector(dir_b.path(), |_| {}).await;
    let url = format!("http://{}/v1/traces", backend.otlp_http_addr().unwrap());
    let front = start_collector(dir_a.path(), |c| c.otlp_export = Some(url)).await;

    // X-Ray in (PutTraceSegments) ...
    let xray_trace = format!(
        "1-{:08x}-0123456789abcdef01234567",
        now_nanos() / 1_000_000_000
    );
    let r = xray(
        front.addr(),
        "/TraceSegments",
        &json!({"TraceSegmentDocuments": [xray_doc(&xray_trace, "1111111111111111", "front")]}),
    )
    .await;
    assert_eq!(r["UnprocessedTraceSegments"], json!([]));
    // ... and OpenTelemetry in (OTLP/HTTP).
    let otel_trace = [
        0x99, 0x88, 0x77, 0x66, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
    ];
    let (status, _, _) = request(
        front.otlp_http_addr().unwrap(),
        "POST",
        "/v1/traces",
        &[("content-type", "application/x-protobuf")],
        export(vec![server_span(otel_trace, 7)]).encode_to_vec(),
    )
    .await;
    assert_eq!(status, 200);

    // Both reach the backend, with their ids, within the exporter's 1 s batching.
    let mut found = Value::Null;
    for _ in 0..100 {
        found = xray(
            backend.addr(),
            "/Traces",
            &json!({"TraceIds": [xray_trace, xray_id(otel_trace)]}),
        )
        .await;
        if found["Traces"].as_array().unwrap().len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let traces = found["Traces"].as_array().unwrap();
    assert_eq!(traces.len(), 2, "{found}");
    let docs: Vec<Value> = traces
        .iter()
        .flat_map(|t| t["Segments"].as_array().unwrap().iter())
        .map(|s| serde_json::from_str(s["Document"].as_str().unwrap()).unwrap())
        .collect();
    let front_seg = docs.iter().find(|d| d["id"] == "1111111111111111").unwrap();
    assert_eq!(front_seg["name"], "front");
    assert_eq!(front_seg["http"]["response"]["status"], 200);
    let ddb = &front_seg["subsegments"][0];
    assert_eq!(
        (&ddb["name"], &ddb["namespace"]),
        (&json!("DynamoDB"), &json!("aws"))
    );
    assert_eq!(ddb["aws"]["table_name"], "carts");
    let otel_seg = docs.iter().find(|d| d["id"] == "1000000000000007").unwrap();
    assert_eq!(otel_seg["name"], "hand-made");
    assert_eq!(
        metric(front.addr(), "fluoro_otlp_export_spans_sent_total").await,
        Some(3)
    );
    front.shutdown().await.unwrap();
    backend.shutdown().await.unwrap();
}

/// One runtime thread, so a burst offered by one request is not drained while it is offered.
#[tokio::test(flavor = "current_thread")]
async fn otlp_export_drops_are_bounded_and_counted() {
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1/traces", closed.local_addr().unwrap());
    drop(closed);
    let dir = TempDir::new("export-drops");
    let c = start_collector(dir.path(), |c| {
        c.otlp_export = Some(url);
        c.otlp_export_queue = 2;
        c.otlp_export_retries = 1;
    })
    .await;
    let trace = format!(
        "1-{:08x}-0123456789abcdef01234567",
        now_nanos() / 1_000_000_000
    );
    let docs: Vec<String> = (0..5)
        .map(|i| xray_doc(&trace, &format!("111111111111111{i}"), "front"))
        .collect();
    let r = xray(
        c.addr(),
        "/TraceSegments",
        &json!({"TraceSegmentDocuments": docs}),
    )
    .await;
    assert_eq!(r["UnprocessedTraceSegments"], json!([]));
    // Two fit in the queue; three are dropped at once.
    assert_eq!(
        metric(
            c.addr(),
            "fluoro_otlp_export_dropped_total{reason=\"queue_full\"}"
        )
        .await,
        Some(3)
    );
    // The two queued (4 spans with their subsegments) fail twice and are dropped.
    let mut failed = None;
    for _ in 0..50 {
        failed = metric(
            c.addr(),
            "fluoro_otlp_export_dropped_total{reason=\"failed\"}",
        )
        .await;
        if failed == Some(4) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(failed, Some(4));
    assert_eq!(
        metric(c.addr(), "fluoro_otlp_export_retries_total").await,
        Some(1)
    );
    // The documents themselves are stored regardless.
    let r = xray(c.addr(), "/Traces", &json!({"TraceIds": [trace]})).await;
    assert_eq!(r["Traces"][0]["Segments"].as_array().unwrap().len(), 5 + 1);
    c.shutdown().await.unwrap();
}

/// A gRPC message frame: compressed flag, big-endian length, bytes.
fn grpc_frame(compressed: bool, len: u32, msg: &[u8]) -> Vec<u8> {
    let mut f = vec![u8::from(compressed)];
    f.extend_from_slice(&len.to_be_bytes());
    f.extend_from_slice(msg);
    f
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(b).unwrap();
    gz.finish().unwrap()
}

/// One raw HTTP/2 request to the Export method over a tonic channel; returns the HTTP status
/// and the gRPC status (from the headers of a trailers-only answer, or the trailers).
async fn raw_grpc(
    channel: &mut tonic::transport::Channel,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, Option<tonic::Status>) {
    use tonic::codegen::Service as _;
    let mut req = hyper::Request::builder()
        .method("POST")
        .uri("http://fluoro/opentelemetry.proto.collector.trace.v1.TraceService/Export");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(tonic::body::Body::new(Full::new(Bytes::from(body))))
        .unwrap();
    std::future::poll_fn(|cx| channel.poll_ready(cx))
        .await
        .unwrap();
    let resp = channel.call(req).await.unwrap();
    let status = resp.status().as_u16();
    let in_headers = tonic::Status::from_header_map(resp.headers());
    let collected = resp.into_body().collect().await.unwrap();
    let status_of = in_headers.or_else(|| {
        collected
            .trailers()
            .and_then(tonic::Status::from_header_map)
    });
    (status, status_of)
}

async fn grpc_export(
    channel: tonic::transport::Channel,
    req: ExportTraceServiceRequest,
) -> Result<ExportTraceServiceResponse, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    );
    let codec =
        tonic_prost::ProstCodec::<ExportTraceServiceRequest, ExportTraceServiceResponse>::default();
    grpc.unary(tonic::Request::new(req), path, codec)
        .await
        .map(tonic::Response::into_inner)
}

/// Issue 8: bad input over OTLP/gRPC gets OTLP's status codes (not tonic's `INTERNAL` and
/// `OUT_OF_RANGE`, which OTLP clients would retry), is counted, and the valid spans of a
/// request with invalid ones are kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_bad_requests_get_otlp_errors() {
    use tonic::Code;
    let dir = TempDir::new("otlp-grpc-bad");
    let c = start_collector(dir.path(), |cfg| cfg.otlp_max_message_bytes = 4096).await;
    let grpc_addr = c.otlp_grpc_addr().unwrap();
    let mut channel = tonic::transport::Channel::from_shared(format!("http://{grpc_addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let grpc = [("content-type", "application/grpc"), ("te", "trailers")];
    let gz = [
        ("content-type", "application/grpc"),
        ("te", "trailers"),
        ("grpc-encoding", "gzip"),
    ];
    let code = |r: (u16, Option<tonic::Status>)| {
        assert_eq!(r.0, 200);
        let st = r.1.expect("a grpc-status");
        (st.code(), st.message().to_owned())
    };

    // Not a protobuf ExportTraceServiceRequest: INVALID_ARGUMENT, naming the message.
    let (c1, m1) = code(
        raw_grpc(
            &mut channel,
            &grpc,
            grpc_frame(false, 3, &[0x0a, 0xff, 0xff]),
        )
        .await,
    );
    assert_eq!(c1, Code::InvalidArgument, "{m1}");
    assert!(m1.contains("ExportTraceServiceRequest"), "{m1}");
    // A frame cut short, an empty body, gzip that is not gzip: INVALID_ARGUMENT too.
    for (what, headers, body) in [
        (
            "truncated",
            &grpc[..],
            grpc_frame(false, 100, &[0x0a, 0x00]),
        ),
        ("empty", &grpc[..], Vec::new()),
        ("bad gzip", &gz[..], grpc_frame(true, 4, b"nope")),
    ] {
        let (c, m) = code(raw_grpc(&mut channel, headers, body).await);
        assert_eq!(c, Code::InvalidArgument, "{what}: {m}");
    }
    // Over --otlp-max-message-bytes, plain and once decompressed: RESOURCE_EXHAUSTED.
    let (c2, m2) = code(raw_grpc(&mut channel, &grpc, grpc_frame(false, 5000, &[0; 5000])).await);
    assert_eq!(c2, Code::ResourceExhausted, "{m2}");
    assert!(m2.contains("--otlp-max-message-bytes"), "{m2}");
    let big = gzip(&[0; 100_000]);
    let (c3, m3) =
        code(raw_grpc(&mut channel, &gz, grpc_frame(true, big.len() as u32, &big)).await);
    assert_eq!(c3, Code::ResourceExhausted, "{m3}");
    // An encoding the receiver does not take: UNIMPLEMENTED, as gRPC specifies.
    let (c4, m4) = code(
        raw_grpc(
            &mut channel,
            &[
                ("content-type", "application/grpc"),
                ("te", "trailers"),
                ("grpc-encoding", "br"),
            ],
            grpc_frame(true, 3, b"abc"),
        )
        .await,
    );
    assert_eq!(c4, Code::Unimplemented, "{m4}");
    // Another content type over HTTP/2, and OTLP/HTTP sent to the gRPC port: HTTP 415.
    let (status, _) = raw_grpc(
        &mut channel,
        &[("content-type", "application/json")],
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(status, 415);
    let (status, _, body) = request(
        grpc_addr,
        "POST",
        "/v1/traces",
        &[("content-type", "application/x-protobuf")],
        Vec::new(),
    )
    .await;
    assert_eq!(status, 415);
    assert!(
        String::from_utf8_lossy(&body).contains("--otlp-http"),
        "{}",
        String::from_utf8_lossy(&body)
    );

    // Spans with invalid ids are rejected in partial_success; the valid span is stored.
    let trace = [
        0xb1, 0xb2, 0xc3, 0xd4, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
    ];
    let mut bad_span = server_span(trace, 2);
    bad_span.span_id = vec![0; 8];
    let mut bad_trace = server_span([0; 16], 3);
    bad_trace.trace_id = vec![1, 2, 3];
    let mut bad_parent = server_span(trace, 4);
    bad_parent.parent_span_id = vec![9; 4];
    let resp = grpc_export(
        channel.clone(),
        export(vec![server_span(trace, 1), bad_span, bad_trace, bad_parent]),
    )
    .await
    .unwrap();
    let ps = resp.partial_success.unwrap();
    assert_eq!(ps.rejected_spans, 3);
    for reason in ["InvalidSpanId", "InvalidTraceId", "InvalidParentSpanId"] {
        assert!(ps.error_message.contains(reason), "{}", ps.error_message);
    }
    assert!(
        ps.error_message.starts_with("3 of 4 spans rejected"),
        "{}",
        ps.error_message
    );
    assert_eq!(stored_ids(c.addr(), trace).await, ["1000000000000001"]);
    // The channel still works after all of the above.
    assert_eq!(
        grpc_export(channel, export(vec![server_span(trace, 5)]))
            .await
            .unwrap(),
        ExportTraceServiceResponse::default()
    );

    let (_, _, metrics) = request(c.addr(), "GET", "/metrics", &[], Vec::new()).await;
    let metrics = String::from_utf8(metrics).unwrap();
    for line in [
        "fluoro_otlp_requests_rejected_total{transport=\"grpc\",reason=\"malformed\"} 4",
        "fluoro_otlp_requests_rejected_total{transport=\"grpc\",reason=\"too_large\"} 2",
        "fluoro_otlp_requests_rejected_total{transport=\"grpc\",reason=\"content_encoding\"} 1",
        "fluoro_otlp_requests_rejected_total{transport=\"grpc\",reason=\"content_type\"} 2",
        "fluoro_otlp_spans_rejected_total{reason=\"InvalidSpanId\"} 1",
        "fluoro_otlp_spans_rejected_total{reason=\"InvalidTraceId\"} 1",
        "fluoro_otlp_spans_rejected_total{reason=\"InvalidParentSpanId\"} 1",
        "fluoro_otlp_spans_received_total{transport=\"grpc\"} 5",
        "fluoro_otlp_spans_accepted_total 2",
    ] {
        assert!(metrics.contains(line), "{line} missing:\n{metrics}");
    }
    c.shutdown().await.unwrap();
}

/// The same bad input from a real gRPC client: grpcio (raw bytes through a generic call, gzip)
/// and the opentelemetry-proto Python stubs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_bad_input_from_python_grpcio() {
    let dir = TempDir::new("otlp-grpc-bad-py");
    let c = start_collector(dir.path(), |cfg| cfg.otlp_max_message_bytes = 4096).await;
    let out = python_script(
        "otel_grpc_bad.py",
        vec![
            c.otlp_grpc_addr().unwrap().to_string(),
            format!("http://{}", c.addr()),
        ],
    )
    .await;
    for line in [
        "ok malformed protobuf: INVALID_ARGUMENT",
        "ok oversized request: RESOURCE_EXHAUSTED",
        "ok oversized once decompressed: RESOURCE_EXHAUSTED",
        "ok partial success: 2 rejected",
        "ok the valid span is stored",
    ] {
        assert!(out.contains(line), "{line} missing:\n{out}");
    }
    c.shutdown().await.unwrap();
}

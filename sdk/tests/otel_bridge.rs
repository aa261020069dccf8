//! The OpenTelemetry bridge (feature `opentelemetry`): `opentelemetry_sdk` with the X-Ray id
//! generator and the span exporter sends segments and subsegments to a real `fluoro-daemon`
//! in front of a real `fluoro-collector`, where they come back through `BatchGetTraces` as one
//! trace; the propagator reads and writes `X-Amzn-Trace-Id`. Issue 7.

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fluoro_sdk::integrations::otel::{XRayIdGenerator, XRayPropagator, XRaySpanExporter};
use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::{
    Span as _, SpanKind, Status, TraceContextExt as _, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::SdkTracerProvider;
use serde_json::Value;
use support::{ALWAYS, Stack, batch_get, walk};

#[test]
fn propagator_round_trip() {
    let p = XRayPropagator::default();
    let mut carrier = HashMap::new();
    // HashMap carriers hold lowercase keys (as HTTP header maps compare them).
    carrier.insert(
        "x-amzn-trace-id".to_owned(),
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".to_owned(),
    );
    let cx = p.extract(&carrier);
    let sc = cx.span().span_context().clone();
    assert!(sc.is_remote() && sc.is_sampled());
    assert_eq!(
        sc.trace_id().to_string(),
        "5759e988bd862e3fe1be46a994272793"
    );
    assert_eq!(sc.span_id().to_string(), "53995c3f42cd8ad8");
    let mut out: HashMap<String, String> = HashMap::new();
    p.inject_context(&cx, &mut out);
    assert_eq!(
        out["x-amzn-trace-id"],
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    );
    let none = p.extract(&HashMap::<String, String>::new());
    assert!(!none.span().span_context().is_valid());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otel_spans_arrive_as_one_xray_trace() {
    let stack = Stack::start("otel").await;
    let recorder = stack.recorder("otel-svc", ALWAYS).build();
    let provider = SdkTracerProvider::builder()
        .with_id_generator(XRayIdGenerator)
        .with_simple_exporter(XRaySpanExporter::new(recorder.clone()))
        .build();
    let tracer = provider.tracer("test");
    let mut server = tracer
        .span_builder("otel-svc")
        .with_kind(SpanKind::Server)
        .with_attributes([
            KeyValue::new("http.request.method", "GET"),
            KeyValue::new("url.full", "http://127.0.0.1/orders/1"),
            KeyValue::new("http.response.status_code", 200),
            KeyValue::new("order.id", "o-1"),
        ])
        .start(&tracer);
    let trace_hex = server.span_context().trace_id().to_string();
    let epoch = u32::from_str_radix(&trace_hex[..8], 16).unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        now.abs_diff(u64::from(epoch)) < 60,
        "X-Ray ids start with the time"
    );
    let server_id = server.span_context().span_id().to_string();
    let cx = Context::current().with_remote_span_context(server.span_context().clone());
    let mut client = tracer
        .span_builder("inventory")
        .with_kind(SpanKind::Client)
        .with_attributes([KeyValue::new("http.response.status_code", 503)])
        .start_with_context(&tracer, &cx);
    client.set_status(Status::error("upstream down"));
    let client_id = client.span_context().span_id().to_string();
    client.end();
    server.end();
    assert!(recorder.flush(Duration::from_secs(5)));

    let trace = format!("1-{}-{}", &trace_hex[..8], &trace_hex[8..]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let docs = loop {
        let got = batch_get(stack.collector.addr(), std::slice::from_ref(&trace)).await;
        let docs = got.get(&trace).cloned().unwrap_or_default();
        let mut all = Vec::new();
        for d in &docs {
            walk(d, &mut all);
        }
        if all.iter().any(|e| e["id"] == client_id.as_str())
            && all.iter().any(|e| e["id"] == server_id.as_str())
        {
            break docs;
        }
        assert!(Instant::now() < deadline, "{docs:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let seg = docs.iter().find(|d| d["id"] == server_id.as_str()).unwrap();
    assert_eq!(seg["name"], "otel-svc");
    assert_eq!(seg["http"]["request"]["method"], "GET");
    assert_eq!(seg["http"]["response"]["status"], 200);
    assert_eq!(seg["annotations"]["order_id"], "o-1");
    assert_eq!(seg["aws"]["xray"]["sdk"], fluoro_sdk::SDK_NAME);
    let mut all = Vec::new();
    walk(seg, &mut all);
    let call: &Value = all
        .iter()
        .find(|e| e["id"] == client_id.as_str())
        .expect("the client span nested under the server span");
    assert_eq!(call["namespace"], "remote");
    assert_eq!(call["fault"], true);
    assert_eq!(call["cause"]["exceptions"][0]["message"], "upstream down");
    let _ = provider.shutdown();
    stack.stop().await;
}

//! The collector driven by the official Rust AWS SDK client for X-Ray (`aws-sdk-xray`), against
//! the real server started in-process on a temporary data directory.
//!
//! The Rust SDK is the strictest X-Ray client there is (xray-api.md §1.3): an integer member
//! written `1.0`, a timestamp written as a string or a required member left out fails the whole
//! call with a deserialization error. Every operation the collector supports is called here and
//! its decoded output checked, so any encoding the SDK refuses fails this test.
//!
//! The SDK talks plain HTTP through a small connector on hyper 1 (below): no TLS stack, no
//! default HTTPS client, so neither aws-lc nor rustls is built.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_xray::Client;
use aws_sdk_xray::config::http::{HttpRequest, HttpResponse};
use aws_sdk_xray::config::retry::RetryConfig;
use aws_sdk_xray::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_xray::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_xray::operation::RequestId;
use aws_sdk_xray::operation::batch_get_traces::BatchGetTracesError;
use aws_sdk_xray::operation::create_sampling_rule::CreateSamplingRuleError;
use aws_sdk_xray::operation::get_group::GetGroupError;
use aws_sdk_xray::operation::get_trace_summaries::GetTraceSummariesError;
use aws_sdk_xray::operation::list_tags_for_resource::ListTagsForResourceError;
use aws_sdk_xray::operation::put_trace_segments::PutTraceSegmentsError;
use aws_sdk_xray::primitives::DateTime;
use aws_sdk_xray::types::{
    AnnotationValue, EncryptionStatus, EncryptionType, HistogramEntry, InsightsConfiguration,
    SamplingRule, SamplingRuleUpdate, SamplingStatisticsDocument, Service, Tag, TelemetryRecord,
    TimeRangeType, TraceSegmentDestination, TraceSegmentDestinationStatus, TraceSummary,
};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use fluoro_collector::Collector;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use support::{TempDir, fixture_documents, start_collector};

mod support;

// ---------------------------------------------------------------------------------------------
// Plain-HTTP connector for the SDK

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An SDK `HttpClient` that sends each request on a fresh HTTP/1.1 connection over plain TCP.
#[derive(Debug, Clone, Copy)]
struct PlainHttp;

impl HttpConnector for PlainHttp {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        HttpConnectorFuture::new(async move { send(request).await.map_err(ConnectorError::io) })
    }
}

impl HttpClient for PlainHttp {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(*self)
    }
}

async fn send(request: HttpRequest) -> Result<HttpResponse, BoxError> {
    let (mut parts, body) = request.try_into_http1x()?.into_parts();
    let body = Bytes::copy_from_slice(
        body.bytes()
            .ok_or("the X-Ray SDK sent a streaming body; only buffered bodies are expected")?,
    );
    let authority = parts
        .uri
        .authority()
        .ok_or("request URI has no authority")?
        .clone();
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", hyper::http::uri::PathAndQuery::as_str);
    parts.uri = path.parse()?;
    if !parts.headers.contains_key(hyper::header::HOST) {
        parts
            .headers
            .insert(hyper::header::HOST, authority.as_str().parse()?);
    }
    let stream = tokio::net::TcpStream::connect(authority.as_str()).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let response = sender
        .send_request(hyper::Request::from_parts(parts, Full::new(body)))
        .await?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(HttpResponse::try_from(hyper::Response::from_parts(
        parts,
        SdkBody::from(body),
    ))?)
}

fn client(addr: SocketAddr) -> Client {
    let config = aws_sdk_xray::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "AKIDEXAMPLE",
            "secret",
            None,
            None,
            "rust-sdk-test",
        ))
        .endpoint_url(format!("http://{addr}"))
        .http_client(PlainHttp)
        // A failure should show at once, not after backoff.
        .retry_config(RetryConfig::disabled())
        .build();
    Client::from_conf(config)
}

/// Unwraps an SDK result, printing the whole error chain (which names the member the SDK could
/// not decode) on failure.
fn ok<T, E: std::error::Error>(what: &str, r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{what} failed: {}", DisplayErrorContext(&e)))
}

/// The modeled service error of a failed call; panics on success or on a transport or
/// deserialization failure.
fn service_error<T: std::fmt::Debug, E, R>(what: &str, r: Result<T, SdkError<E, R>>) -> E
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match r {
        Ok(v) => panic!("{what}: expected an error, got {v:?}"),
        Err(SdkError::ServiceError(e)) => e.into_err(),
        Err(e) => panic!(
            "{what}: expected a service error, got {}",
            DisplayErrorContext(&e)
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Collector, fixtures, documents

async fn start(dir: &TempDir) -> Collector {
    start_collector(dir.path(), |_| {}).await
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn trace_id_epoch(id: &str) -> i64 {
    i64::from_str_radix(id.split('-').nth(1).unwrap(), 16).unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-3
}

fn histogram_count(h: &[HistogramEntry]) -> i64 {
    h.iter().map(|e| i64::from(e.count())).sum()
}

/// Three hand-written traces of a two-service application, `t0` seconds since the epoch:
///
/// - A: `rs-front` (EC2) answers 500; its `remote` call to `rs-back` (ECS, traced) got a 500
///   from `rs-back`, whose exception is the root cause;
/// - B: `rs-front` answers 429 (error and throttle);
/// - C: `rs-front` answers 200.
struct Handwritten {
    t0: f64,
    a: String,
    b: String,
    c: String,
}

impl Handwritten {
    fn new(t0: f64) -> Handwritten {
        let epoch = t0.floor() as u64;
        let id = |tail: &str| format!("1-{epoch:08x}-{tail}");
        Handwritten {
            t0,
            a: id("5d1f0c7e9a3b44e2a1c0aaaa"),
            b: id("5d1f0c7e9a3b44e2a1c0bbbb"),
            c: id("5d1f0c7e9a3b44e2a1c0cccc"),
        }
    }

    fn documents(&self) -> Vec<String> {
        let t0 = self.t0;
        let front_a = json!({
            "name": "rs-front",
            "id": "a000000000000001",
            "trace_id": self.a,
            "start_time": t0,
            "end_time": t0 + 0.5,
            "origin": "AWS::EC2::Instance",
            "resource_arn": "arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0",
            "user": "alice",
            "fault": true,
            "annotations": {"tier": "gold", "attempt": 2, "beta": true},
            "aws": {"ec2": {"instance_id": "i-0123456789abcdef0", "availability_zone": "us-east-1a"}},
            "http": {
                "request": {
                    "method": "GET",
                    "url": "http://front.example/checkout",
                    "user_agent": "rust-sdk-test",
                    "client_ip": "192.0.2.7"
                },
                "response": {"status": 500, "content_length": 12}
            },
            "subsegments": [{
                "name": "rs-back",
                "id": "a000000000000002",
                "start_time": t0 + 0.1,
                "end_time": t0 + 0.4,
                "namespace": "remote",
                "fault": true,
                "http": {
                    "request": {"method": "POST", "url": "http://rs-back/pay", "traced": true},
                    "response": {"status": 500}
                }
            }]
        });
        let back_a = json!({
            "name": "rs-back",
            "id": "a000000000000003",
            "trace_id": self.a,
            "parent_id": "a000000000000002",
            "start_time": t0 + 0.15,
            "end_time": t0 + 0.35,
            "origin": "AWS::ECS::Container",
            "fault": true,
            "http": {
                "request": {"method": "POST", "url": "http://rs-back/pay"},
                "response": {"status": 500}
            },
            "cause": {
                "working_directory": "/app",
                "exceptions": [{"id": "e000000000000001", "type": "PaymentError", "message": "boom"}]
            }
        });
        let front_b = json!({
            "name": "rs-front",
            "id": "b000000000000001",
            "trace_id": self.b,
            "start_time": t0 + 1.0,
            "end_time": t0 + 1.25,
            "origin": "AWS::EC2::Instance",
            "error": true,
            "throttle": true,
            "http": {
                "request": {"method": "GET", "url": "http://front.example/busy"},
                "response": {"status": 429}
            }
        });
        let front_c = json!({
            "name": "rs-front",
            "id": "c000000000000001",
            "trace_id": self.c,
            "start_time": t0 + 2.0,
            "end_time": t0 + 2.125,
            "origin": "AWS::EC2::Instance",
            "http": {
                "request": {"method": "GET", "url": "http://front.example/"},
                "response": {"status": 200}
            }
        });
        [front_a, back_a, front_b, front_c]
            .iter()
            .map(Value::to_string)
            .collect()
    }
}

fn service<'a>(services: &'a [Service], name: &str, ty: Option<&str>) -> &'a Service {
    services
        .iter()
        .find(|s| s.name() == Some(name) && s.r#type() == ty)
        .unwrap_or_else(|| {
            let have: Vec<_> = services.iter().map(|s| (s.name(), s.r#type())).collect();
            panic!("no service {name} ({ty:?}) in {have:?}")
        })
}

/// ok, error (throttle, other), fault, total of a node's statistics.
fn node_counts(s: &Service) -> (i64, i64, i64, i64, i64) {
    let st = s
        .summary_statistics()
        .unwrap_or_else(|| panic!("{:?} has no SummaryStatistics", s.name()));
    let err = st.error_statistics().expect("ErrorStatistics");
    let fault = st.fault_statistics().expect("FaultStatistics");
    (
        st.ok_count().unwrap(),
        err.throttle_count().unwrap(),
        err.other_count().unwrap(),
        fault.total_count().unwrap(),
        st.total_count().unwrap(),
    )
}

/// Checks what every `Service` list must satisfy: unique `ReferenceId`s, edges pointing at
/// listed nodes, statistics that add up, histograms with counts.
fn check_graph(services: &[Service]) {
    let refs: Vec<i32> = services.iter().map(|s| s.reference_id().unwrap()).collect();
    let unique: BTreeSet<i32> = refs.iter().copied().collect();
    assert_eq!(unique.len(), refs.len(), "duplicate ReferenceIds: {refs:?}");
    for s in services {
        assert!(s.name().is_some(), "{s:?}");
        assert!(s.names().contains(&s.name().unwrap().to_owned()), "{s:?}");
        assert!(s.start_time().is_some() && s.end_time().is_some(), "{s:?}");
        for e in s.edges() {
            assert!(unique.contains(&e.reference_id().unwrap()), "{e:?}");
            let st = e.summary_statistics().expect("edge SummaryStatistics");
            let total = st.total_count().unwrap();
            let errors = st.error_statistics().unwrap().total_count().unwrap();
            let faults = st.fault_statistics().unwrap().total_count().unwrap();
            assert_eq!(st.ok_count().unwrap() + errors + faults, total, "{e:?}");
            assert!(st.total_response_time().unwrap() >= 0.0, "{e:?}");
            assert!(e.start_time().is_some() && e.end_time().is_some(), "{e:?}");
        }
        if s.r#type() == Some("client") {
            continue;
        }
        let (ok, throttle, other, fault, total) = node_counts(s);
        assert_eq!(ok + throttle + other + fault, total, "{s:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Traces: PutTraceSegments, BatchGetTraces, GetTraceSummaries, the graphs, time series

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_summaries_and_graphs() {
    let dir = TempDir::new("traces");
    let c = start(&dir).await;
    let xray = client(c.addr());

    // --- PutTraceSegments: every capture, then the hand-written traces with bad documents.
    let mut captured = fixture_documents("python");
    captured.extend(fixture_documents("node"));
    for batch in captured.chunks(50) {
        let out = ok(
            "PutTraceSegments (captures)",
            xray.put_trace_segments()
                .set_trace_segment_documents(Some(batch.to_vec()))
                .send()
                .await,
        );
        assert_eq!(out.unprocessed_trace_segments(), &[], "captures refused");
    }
    let fixture_ids: Vec<String> = captured
        .iter()
        .map(|d| {
            serde_json::from_str::<Value>(d).unwrap()["trace_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();

    let hw = Handwritten::new((now_secs() - 30.0).floor() + 0.25);
    let mut docs = hw.documents();
    let bad_name = json!({
        "name": "bad<name>", "id": "d000000000000001", "trace_id": hw.c,
        "start_time": hw.t0, "end_time": hw.t0 + 0.1
    });
    docs.push(bad_name.to_string());
    docs.push("{not json".to_owned());
    let out = ok(
        "PutTraceSegments (hand-written)",
        xray.put_trace_segments()
            .set_trace_segment_documents(Some(docs))
            .send()
            .await,
    );
    let unprocessed = out.unprocessed_trace_segments();
    assert_eq!(unprocessed.len(), 2, "{unprocessed:?}");
    let by_id: BTreeMap<Option<&str>, _> = unprocessed.iter().map(|u| (u.id(), u)).collect();
    let named = by_id[&Some("d000000000000001")];
    assert_eq!(named.error_code(), Some("InvalidName"), "{named:?}");
    assert!(
        named.message().is_some_and(|m| m.starts_with("Invalid ")),
        "{named:?}"
    );
    let garbage = by_id.get(&None).unwrap_or_else(|| {
        panic!("unparsable document should come back without Id: {unprocessed:?}")
    });
    assert_eq!(garbage.error_code(), Some("InvalidJSON"), "{garbage:?}");

    // --- BatchGetTraces: documents as strings, unknown ids as unprocessed.
    let unknown = "1-00000000-000000000000000000000000";
    let out = ok(
        "BatchGetTraces",
        xray.batch_get_traces()
            .trace_ids(&hw.a)
            .trace_ids(&hw.b)
            .trace_ids(unknown)
            .trace_ids("nonsense")
            .send()
            .await,
    );
    let mut missing = out.unprocessed_trace_ids().to_vec();
    missing.sort();
    assert_eq!(missing, ["1-00000000-000000000000000000000000", "nonsense"]);
    assert_eq!(out.traces().len(), 2, "{:?}", out.traces());
    let a = out
        .traces()
        .iter()
        .find(|t| t.id() == Some(&hw.a))
        .expect("trace A");
    assert!(close(a.duration().unwrap(), 0.5), "{a:?}");
    assert_eq!(a.limit_exceeded(), Some(false));
    let mut seg_ids: Vec<&str> = a.segments().iter().map(|s| s.id().unwrap()).collect();
    seg_ids.sort_unstable();
    assert_eq!(seg_ids, ["a000000000000001", "a000000000000003"]);
    for s in a.segments() {
        let doc: Value = serde_json::from_str(s.document().unwrap()).unwrap();
        assert_eq!(doc["id"], s.id().unwrap());
        assert_eq!(doc["trace_id"], hw.a.as_str());
        if s.id() == Some("a000000000000001") {
            assert_eq!(doc["subsegments"][0]["id"], "a000000000000002", "{doc}");
            assert_eq!(doc["http"]["response"]["status"], 500);
            assert_eq!(doc["annotations"]["attempt"], 2);
        }
    }
    let out = ok(
        "BatchGetTraces (captures)",
        xray.batch_get_traces()
            .set_trace_ids(Some(fixture_ids[..5].to_vec()))
            .send()
            .await,
    );
    assert_eq!(out.traces().len(), 5);
    assert_eq!(out.unprocessed_trace_ids(), &[] as &[String]);
    for t in out.traces() {
        assert!(fixture_ids.contains(&t.id().unwrap().to_owned()));
        assert!(t.duration().unwrap() >= 0.0);
        assert!(!t.segments().is_empty(), "{t:?}");
        for s in t.segments() {
            let doc: Value = serde_json::from_str(s.document().unwrap()).unwrap();
            assert_eq!(doc["id"], s.id().unwrap());
        }
    }

    // --- GetServiceGraph: poll until the hand-written traces are aggregated.
    let (start_t, end_t) = (
        DateTime::from_secs_f64(hw.t0 - 120.0),
        DateTime::from_secs_f64(now_secs() + 60.0),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let graph = loop {
        let g = ok(
            "GetServiceGraph",
            xray.get_service_graph()
                .start_time(start_t)
                .end_time(end_t)
                .send()
                .await,
        );
        let settled = g.services().iter().any(|s| {
            s.name() == Some("rs-back")
                && s.summary_statistics()
                    .and_then(|st| st.total_count())
                    .is_some_and(|n| n > 0)
        }) && g.services().iter().any(|s| {
            s.name() == Some("rs-front")
                && s.summary_statistics()
                    .and_then(|st| st.total_count())
                    .is_some_and(|n| n >= 3)
        });
        if settled || std::time::Instant::now() > deadline {
            break g;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(graph.start_time().unwrap().as_secs_f64() <= hw.t0 - 120.0 + 1e-6);
    assert!(graph.end_time().is_some());
    assert!(!graph.contains_old_group_versions());
    let services = graph.services();
    check_graph(services);
    let front = service(services, "rs-front", Some("AWS::EC2::Instance"));
    let back = service(services, "rs-back", Some("AWS::ECS::Container"));
    assert_eq!(front.root(), Some(true));
    assert_eq!(front.state(), Some("active"));
    // ok, throttle, other error, fault, total
    assert_eq!(node_counts(front), (1, 1, 0, 1, 3), "{front:?}");
    assert_eq!(node_counts(back), (0, 0, 0, 1, 1), "{back:?}");
    assert_eq!(histogram_count(front.duration_histogram()), 3, "{front:?}");
    assert_eq!(
        histogram_count(front.response_time_histogram()),
        3,
        "{front:?}"
    );
    assert_eq!(
        histogram_count(back.response_time_histogram()),
        1,
        "{back:?}"
    );
    assert!(
        front
            .response_time_histogram()
            .iter()
            .all(|e| e.value() > 0.0)
    );
    let edge = front
        .edges()
        .iter()
        .find(|e| e.reference_id() == back.reference_id())
        .unwrap_or_else(|| panic!("no edge rs-front -> rs-back: {front:?}"));
    let est = edge.summary_statistics().unwrap();
    assert_eq!(est.total_count(), Some(1), "{edge:?}");
    assert_eq!(
        est.fault_statistics().unwrap().total_count(),
        Some(1),
        "{edge:?}"
    );
    assert!(close(est.total_response_time().unwrap(), 0.3), "{edge:?}");
    assert_eq!(
        histogram_count(edge.response_time_histogram()),
        1,
        "{edge:?}"
    );
    let client_node = services
        .iter()
        .find(|s| s.r#type() == Some("client"))
        .unwrap_or_else(|| panic!("no client node: {services:?}"));
    assert!(
        client_node
            .edges()
            .iter()
            .any(|e| e.reference_id() == front.reference_id()),
        "{client_node:?}"
    );
    assert_eq!(
        client_node.edges()[0]
            .summary_statistics()
            .unwrap()
            .total_count(),
        Some(3)
    );

    // The captures' graph (every service the SDKs produced decodes too).
    let epochs: Vec<i64> = fixture_ids.iter().map(|t| trace_id_epoch(t)).collect();
    let (fx_start, fx_end) = (
        DateTime::from_secs(epochs.iter().min().unwrap() - 600),
        DateTime::from_secs(epochs.iter().max().unwrap() + 600),
    );
    let fx_graph = ok(
        "GetServiceGraph (captures)",
        xray.get_service_graph()
            .start_time(fx_start)
            .end_time(fx_end)
            .send()
            .await,
    );
    check_graph(fx_graph.services());
    for (name, ty) in [
        ("orders-fn", Some("AWS::Lambda::Function")),
        ("orders-fn", Some("AWS::Lambda")),
        ("orders-api/prod", Some("AWS::ApiGateway::Stage")),
        ("customers", Some("AWS::DynamoDB::Table")),
        ("inventory-service", Some("AWS::ECS::Container")),
        ("shop-frontend", None),
        ("catalog-service", Some("AWS::ECS::Container")),
    ] {
        service(fx_graph.services(), name, ty);
    }

    // --- GetTraceGraph
    let tg = ok(
        "GetTraceGraph",
        xray.get_trace_graph().trace_ids(&hw.a).send().await,
    );
    check_graph(tg.services());
    let front = service(tg.services(), "rs-front", Some("AWS::EC2::Instance"));
    let back = service(tg.services(), "rs-back", Some("AWS::ECS::Container"));
    assert_eq!(node_counts(front), (0, 0, 0, 1, 1));
    assert_eq!(node_counts(back), (0, 0, 0, 1, 1));
    assert!(
        front
            .edges()
            .iter()
            .any(|e| e.reference_id() == back.reference_id())
    );
    let tg = ok(
        "GetTraceGraph (captures)",
        xray.get_trace_graph()
            .set_trace_ids(Some(fixture_ids[..5].to_vec()))
            .send()
            .await,
    );
    check_graph(tg.services());
    assert!(!tg.services().is_empty());

    // --- GetTimeSeriesServiceStatistics
    let ts = ok(
        "GetTimeSeriesServiceStatistics (service)",
        xray.get_time_series_service_statistics()
            .start_time(start_t)
            .end_time(end_t)
            .entity_selector_expression(r#"service("rs-front")"#)
            .period(60)
            .send()
            .await,
    );
    let series = ts.time_series_service_statistics();
    assert!(!series.is_empty());
    let mut total = 0;
    let mut faults = 0;
    for point in series {
        let at = point.timestamp().expect("Timestamp").as_secs_f64();
        assert_eq!(at % 60.0, 0.0, "buckets start on the minute: {point:?}");
        if let Some(st) = point.service_summary_statistics() {
            total += st.total_count().unwrap();
            faults += st.fault_statistics().unwrap().total_count().unwrap();
        }
        let h = point.response_time_histogram();
        assert!(h.iter().all(|e| e.count() > 0), "{point:?}");
    }
    assert_eq!((total, faults), (3, 1), "{series:?}");
    let ts = ok(
        "GetTimeSeriesServiceStatistics (edge)",
        xray.get_time_series_service_statistics()
            .start_time(start_t)
            .end_time(end_t)
            .entity_selector_expression(r#"edge("rs-front", "rs-back")"#)
            .period(60)
            .send()
            .await,
    );
    let edge_total: i64 = ts
        .time_series_service_statistics()
        .iter()
        .filter_map(|p| p.edge_summary_statistics())
        .map(|s| s.total_count().unwrap())
        .sum();
    assert_eq!(edge_total, 1, "{ts:?}");

    // --- GetTraceSummaries (TraceId time range): every member of the hand-written ones.
    let out = ok(
        "GetTraceSummaries",
        xray.get_trace_summaries()
            .start_time(DateTime::from_secs_f64(hw.t0 - 60.0))
            .end_time(DateTime::from_secs_f64(hw.t0 + 60.0))
            .send()
            .await,
    );
    assert_eq!(out.traces_processed_count(), Some(3), "{out:?}");
    assert!(out.approximate_time().is_some());
    assert!(out.next_token().is_none());
    let summaries = out.trace_summaries();
    let mut ids: Vec<&str> = summaries.iter().map(|s| s.id().unwrap()).collect();
    ids.sort_unstable();
    assert_eq!(ids, [hw.a.as_str(), hw.b.as_str(), hw.c.as_str()]);
    let find =
        |id: &str| -> &TraceSummary { summaries.iter().find(|s| s.id() == Some(id)).unwrap() };
    check_summary_a(find(&hw.a), hw.t0);

    let b = find(&hw.b);
    assert_eq!(
        (
            b.has_fault(),
            b.has_error(),
            b.has_throttle(),
            b.is_partial()
        ),
        (Some(false), Some(true), Some(true), Some(false)),
        "{b:?}"
    );
    assert_eq!(b.http().unwrap().http_status(), Some(429));
    let cause = &b.error_root_causes()[0];
    assert_eq!(cause.client_impacting(), Some(true), "{b:?}");
    assert_eq!(cause.services()[0].name(), Some("rs-front"), "{b:?}");
    assert!(b.fault_root_causes().is_empty(), "{b:?}");

    let c_sum = find(&hw.c);
    assert_eq!(
        (c_sum.has_fault(), c_sum.has_error(), c_sum.has_throttle()),
        (Some(false), Some(false), Some(false))
    );
    assert_eq!(c_sum.http().unwrap().http_status(), Some(200));
    assert!(close(c_sum.response_time().unwrap(), 0.125), "{c_sum:?}");

    // TimeRangeType Event: the time the trace was last written comes back as MatchedEventTime.
    let now = now_secs();
    let out = ok(
        "GetTraceSummaries (Event)",
        xray.get_trace_summaries()
            .time_range_type(TimeRangeType::Event)
            .start_time(DateTime::from_secs_f64(now - 300.0))
            .end_time(DateTime::from_secs_f64(now + 60.0))
            .send()
            .await,
    );
    let a_event = out
        .trace_summaries()
        .iter()
        .find(|s| s.id() == Some(&hw.a))
        .unwrap_or_else(|| panic!("trace A not listed by event time: {out:?}"));
    let matched = a_event
        .matched_event_time()
        .expect("MatchedEventTime")
        .as_secs_f64();
    assert!((now - 300.0..=now + 60.0).contains(&matched), "{matched}");

    // Sampling: a deterministic subset.
    let out = ok(
        "GetTraceSummaries (Sampling)",
        xray.get_trace_summaries()
            .start_time(DateTime::from_secs_f64(hw.t0 - 60.0))
            .end_time(DateTime::from_secs_f64(hw.t0 + 60.0))
            .sampling(true)
            .sampling_strategy(
                aws_sdk_xray::types::SamplingStrategy::builder()
                    .name(aws_sdk_xray::types::SamplingStrategyName::FixedRate)
                    .value(1.0)
                    .build(),
            )
            .send()
            .await,
    );
    assert_eq!(out.trace_summaries().len(), 3, "rate 1 keeps every trace");

    // Every capture, through the paginator, so NextToken round-trips; each summary decodes.
    let mut seen = Vec::new();
    let mut pages = xray
        .get_trace_summaries()
        .start_time(fx_start)
        .end_time(fx_end)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = ok("GetTraceSummaries (captures page)", page);
        assert!(page.traces_processed_count().is_some());
        for s in page.trace_summaries() {
            seen.push(s.id().unwrap().to_owned());
            assert!(s.start_time().is_some() && s.duration().is_some(), "{s:?}");
            assert!(s.has_fault().is_some() && s.is_partial().is_some(), "{s:?}");
            assert!(s.revision() >= 1, "{s:?}");
            assert!(s.entry_point().is_some(), "{s:?}");
        }
    }
    seen.sort();
    assert_eq!(seen, fixture_ids);

    c.shutdown().await.unwrap();
}

fn check_summary_a(a: &TraceSummary, t0: f64) {
    assert!(close(a.start_time().unwrap().as_secs_f64(), t0), "{a:?}");
    assert!(close(a.duration().unwrap(), 0.5), "{a:?}");
    assert!(close(a.response_time().unwrap(), 0.5), "{a:?}");
    assert_eq!(
        (
            a.has_fault(),
            a.has_error(),
            a.has_throttle(),
            a.is_partial()
        ),
        (Some(true), Some(false), Some(false), Some(false)),
        "{a:?}"
    );
    assert!(a.revision() >= 1, "{a:?}");
    assert!(a.matched_event_time().is_none(), "{a:?}");

    let http = a.http().expect("Http");
    assert_eq!(http.http_status(), Some(500));
    assert_eq!(http.http_method(), Some("GET"));
    assert_eq!(http.http_url(), Some("http://front.example/checkout"));
    assert_eq!(http.user_agent(), Some("rust-sdk-test"));
    assert_eq!(http.client_ip(), Some("192.0.2.7"));

    let ann = a.annotations().expect("Annotations");
    let value = |k: &str| {
        let v = &ann
            .get(k)
            .unwrap_or_else(|| panic!("annotation {k}: {ann:?}"))[0];
        let names: Vec<_> = v.service_ids().iter().filter_map(|s| s.name()).collect();
        assert_eq!(names, ["rs-front"], "{v:?}");
        v.annotation_value().cloned().unwrap()
    };
    assert_eq!(value("tier"), AnnotationValue::StringValue("gold".into()));
    assert_eq!(value("attempt"), AnnotationValue::NumberValue(2.0));
    assert_eq!(value("beta"), AnnotationValue::BooleanValue(true));

    assert_eq!(a.users().len(), 1, "{a:?}");
    assert_eq!(a.users()[0].user_name(), Some("alice"));
    assert_eq!(a.users()[0].service_ids()[0].name(), Some("rs-front"));

    let services: BTreeSet<&str> = a.service_ids().iter().filter_map(|s| s.name()).collect();
    assert!(
        services.contains("rs-front") && services.contains("rs-back"),
        "{a:?}"
    );
    let front_id = a
        .service_ids()
        .iter()
        .find(|s| s.name() == Some("rs-front"))
        .unwrap();
    assert_eq!(front_id.r#type(), Some("AWS::EC2::Instance"));
    assert_eq!(front_id.names(), ["rs-front"]);
    assert_eq!(
        a.resource_arns()
            .iter()
            .filter_map(|r| r.arn())
            .collect::<Vec<_>>(),
        ["arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0"]
    );
    assert_eq!(a.instance_ids()[0].id(), Some("i-0123456789abcdef0"));
    assert_eq!(a.availability_zones()[0].name(), Some("us-east-1a"));
    assert_eq!(a.entry_point().and_then(|e| e.name()), Some("rs-front"));

    assert_eq!(a.fault_root_causes().len(), 1, "{a:?}");
    let cause = &a.fault_root_causes()[0];
    assert_eq!(cause.client_impacting(), Some(true));
    let path: Vec<_> = cause.services().iter().filter_map(|s| s.name()).collect();
    assert_eq!(path, ["rs-front", "rs-back"], "{cause:?}");
    let back = cause.services().last().unwrap();
    assert_eq!(back.r#type(), Some("AWS::ECS::Container"));
    assert_eq!(back.inferred(), Some(false));
    let culprit = back.entity_path().last().unwrap();
    assert_eq!(culprit.exceptions().len(), 1, "{culprit:?}");
    assert_eq!(culprit.exceptions()[0].name(), Some("PaymentError"));
    assert_eq!(culprit.exceptions()[0].message(), Some("boom"));
    let remote_call = cause.services()[0].entity_path().last().unwrap();
    assert_eq!(remote_call.name(), Some("rs-back"), "{cause:?}");
    assert_eq!(remote_call.remote(), Some(true), "{cause:?}");
    assert!(a.error_root_causes().is_empty(), "{a:?}");

    let rt = &a.response_time_root_causes()[0];
    let first = &rt.services()[0];
    assert_eq!(first.name(), Some("rs-front"));
    let coverage = first.entity_path()[0].coverage().expect("Coverage");
    assert!(close(coverage, 1.0), "{rt:?}");
}

// ---------------------------------------------------------------------------------------------
// Sampling

fn default_rule(rules: &[aws_sdk_xray::types::SamplingRuleRecord]) -> &SamplingRule {
    rules
        .iter()
        .filter_map(|r| r.sampling_rule())
        .find(|r| r.rule_name() == Some("Default"))
        .unwrap_or_else(|| panic!("no Default rule: {rules:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampling_rules_targets_and_statistics() {
    let dir = TempDir::new("sampling");
    let c = start(&dir).await;
    let xray = client(c.addr());

    let out = ok("GetSamplingRules", xray.get_sampling_rules().send().await);
    let records = out.sampling_rule_records();
    assert_eq!(records.len(), 1, "{records:?}");
    let d = default_rule(records);
    assert_eq!(d.priority(), 10000);
    assert_eq!(d.reservoir_size(), 1);
    assert_eq!(d.fixed_rate(), 0.05);
    assert_eq!(d.version(), 1);
    assert_eq!(
        (
            d.service_name(),
            d.service_type(),
            d.host(),
            d.http_method(),
            d.url_path(),
            d.resource_arn()
        ),
        ("*", "*", "*", "*", "*", "*")
    );
    assert_eq!(
        d.rule_arn(),
        Some("arn:aws:xray:us-east-1:000000000000:sampling-rule/Default")
    );
    assert!(d.attributes().is_some_and(|a| a.is_empty()), "{d:?}");
    assert!(records[0].created_at().is_some() && records[0].modified_at().is_some());

    // --- Create, refuse a duplicate, update.
    let rule = SamplingRule::builder()
        .rule_name("checkout")
        .resource_arn("*")
        .priority(10)
        .fixed_rate(0.5)
        .reservoir_size(4)
        .service_name("orders-*")
        .service_type("*")
        .host("*")
        .http_method("POST")
        .url_path("/checkout*")
        .version(1)
        .attributes("tier", "gold")
        .build()
        .unwrap();
    let created = ok(
        "CreateSamplingRule",
        xray.create_sampling_rule()
            .sampling_rule(rule.clone())
            .tags(Tag::builder().key("team").value("pay").build().unwrap())
            .send()
            .await,
    );
    let rec = created.sampling_rule_record().expect("SamplingRuleRecord");
    let r = rec.sampling_rule().unwrap();
    let arn = r.rule_arn().unwrap().to_owned();
    assert!(arn.ends_with(":sampling-rule/checkout"), "{arn}");
    assert_eq!(
        (
            r.priority(),
            r.reservoir_size(),
            r.fixed_rate(),
            r.version()
        ),
        (10, 4, 0.5, 1)
    );
    assert_eq!(r.url_path(), "/checkout*");
    assert_eq!(
        r.attributes().unwrap().get("tier").map(String::as_str),
        Some("gold")
    );
    let created_at = rec.created_at().unwrap().as_secs_f64();
    assert!((now_secs() - created_at).abs() < 60.0, "{rec:?}");

    let dup = service_error(
        "CreateSamplingRule (duplicate)",
        xray.create_sampling_rule().sampling_rule(rule).send().await,
    );
    match &dup {
        CreateSamplingRuleError::InvalidRequestException(e) => {
            assert!(
                e.message().is_some_and(|m| m.contains("already exists")),
                "{e:?}"
            );
        }
        other => panic!("expected InvalidRequestException, got {other:?}"),
    }

    let updated = ok(
        "UpdateSamplingRule",
        xray.update_sampling_rule()
            .sampling_rule_update(
                SamplingRuleUpdate::builder()
                    .rule_name("checkout")
                    .fixed_rate(0.25)
                    .priority(20)
                    .build(),
            )
            .send()
            .await,
    );
    let r = updated
        .sampling_rule_record()
        .unwrap()
        .sampling_rule()
        .unwrap();
    assert_eq!(
        (r.fixed_rate(), r.priority(), r.reservoir_size()),
        (0.25, 20, 4)
    );
    let out = ok("GetSamplingRules", xray.get_sampling_rules().send().await);
    assert_eq!(out.sampling_rule_records().len(), 2);

    let tags = ok(
        "ListTagsForResource (rule)",
        xray.list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await,
    );
    assert_eq!(
        tags.tags(),
        [Tag::builder().key("team").value("pay").build().unwrap()]
    );

    // --- GetSamplingTargets: two clients share the reservoir 30:10.
    let now = now_secs();
    let stat = |rule: &str, client: &str, requests: i32, sampled: i32, borrowed: i32| {
        SamplingStatisticsDocument::builder()
            .rule_name(rule)
            .client_id(client)
            .timestamp(DateTime::from_secs_f64(now))
            .request_count(requests)
            .sampled_count(sampled)
            .borrow_count(borrowed)
            .build()
            .unwrap()
    };
    let out = ok(
        "GetSamplingTargets",
        xray.get_sampling_targets()
            .sampling_statistics_documents(stat("checkout", &"a".repeat(24), 30, 3, 1))
            .sampling_statistics_documents(stat("nosuchrule", &"a".repeat(24), 1, 0, 0))
            .send()
            .await,
    );
    let targets = out.sampling_target_documents();
    assert_eq!(targets.len(), 1, "{out:?}");
    let t = &targets[0];
    assert_eq!(t.rule_name(), Some("checkout"));
    assert_eq!(t.fixed_rate(), 0.25);
    assert_eq!(t.reservoir_quota(), Some(4));
    assert_eq!(t.interval(), Some(10));
    let ttl = t
        .reservoir_quota_ttl()
        .expect("ReservoirQuotaTTL")
        .as_secs_f64();
    assert!(
        ttl > now && ttl <= now + 120.0,
        "ReservoirQuotaTTL {ttl}, now {now}"
    );
    let last = out
        .last_rule_modification()
        .expect("LastRuleModification")
        .as_secs_f64();
    assert!(last > 0.0 && last <= now_secs() + 1.0, "{last}");
    let un = out.unprocessed_statistics();
    assert_eq!(un.len(), 1, "{out:?}");
    assert_eq!(un[0].rule_name(), Some("nosuchrule"));
    assert_eq!(un[0].error_code(), Some("400"));

    let out = ok(
        "GetSamplingTargets (second client)",
        xray.get_sampling_targets()
            .sampling_statistics_documents(stat("checkout", &"b".repeat(24), 10, 1, 0))
            .send()
            .await,
    );
    assert_eq!(
        out.sampling_target_documents()[0].reservoir_quota(),
        Some(1)
    );
    assert!(out.unprocessed_statistics().is_empty());

    // --- GetSamplingStatisticSummaries
    let out = ok(
        "GetSamplingStatisticSummaries",
        xray.get_sampling_statistic_summaries().send().await,
    );
    let summary = out
        .sampling_statistic_summaries()
        .iter()
        .find(|s| s.rule_name() == Some("checkout"))
        .unwrap_or_else(|| panic!("no checkout statistics: {out:?}"));
    assert_eq!(summary.request_count(), 40, "{summary:?}");
    assert_eq!(summary.sampled_count(), 4, "{summary:?}");
    assert_eq!(summary.borrow_count(), 1, "{summary:?}");
    assert!(summary.timestamp().is_some());

    // --- Delete (Default cannot be).
    let deleted = ok(
        "DeleteSamplingRule",
        xray.delete_sampling_rule().rule_arn(&arn).send().await,
    );
    let r = deleted
        .sampling_rule_record()
        .unwrap()
        .sampling_rule()
        .unwrap();
    assert_eq!(r.rule_name(), Some("checkout"));
    assert!(
        service_error(
            "DeleteSamplingRule (Default)",
            xray.delete_sampling_rule()
                .rule_name("Default")
                .send()
                .await,
        )
        .is_invalid_request_exception()
    );
    let out = ok("GetSamplingRules", xray.get_sampling_rules().send().await);
    assert_eq!(out.sampling_rule_records().len(), 1);

    c.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Groups, tags, telemetry, encryption

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_tags_telemetry_and_encryption() {
    let dir = TempDir::new("groups");
    let c = start(&dir).await;
    let xray = client(c.addr());

    let created = ok(
        "CreateGroup",
        xray.create_group()
            .group_name("payments")
            .tags(Tag::builder().key("team").value("pay").build().unwrap())
            .send()
            .await,
    );
    let g = created.group().expect("Group");
    assert_eq!(g.group_name(), Some("payments"));
    let arn = g.group_arn().unwrap().to_owned();
    assert!(
        arn.starts_with("arn:aws:xray:us-east-1:000000000000:group/payments/"),
        "{arn}"
    );

    let out = ok("GetGroups", xray.get_groups().send().await);
    let names: Vec<_> = out.groups().iter().filter_map(|g| g.group_name()).collect();
    assert_eq!(names, ["Default", "payments"]);
    let default = &out.groups()[0];
    assert_eq!(
        default.group_arn(),
        Some("arn:aws:xray:us-east-1:000000000000:group/Default")
    );
    let ins = default
        .insights_configuration()
        .expect("InsightsConfiguration");
    assert_eq!(ins.insights_enabled(), Some(false));

    let got = ok("GetGroup", xray.get_group().group_arn(&arn).send().await);
    assert_eq!(got.group().and_then(|g| g.group_name()), Some("payments"));

    let updated = ok(
        "UpdateGroup",
        xray.update_group()
            .group_name("payments")
            .insights_configuration(
                InsightsConfiguration::builder()
                    .insights_enabled(true)
                    .notifications_enabled(false)
                    .build(),
            )
            .send()
            .await,
    );
    let ins = updated.group().unwrap().insights_configuration().unwrap();
    assert_eq!(ins.insights_enabled(), Some(true));
    assert_eq!(ins.notifications_enabled(), Some(false));

    // --- Tags on the group.
    ok(
        "TagResource",
        xray.tag_resource()
            .resource_arn(&arn)
            .tags(Tag::builder().key("env").value("test").build().unwrap())
            .send()
            .await,
    );
    let tags = ok(
        "ListTagsForResource",
        xray.list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await,
    );
    let mut kv: Vec<(&str, &str)> = tags.tags().iter().map(|t| (t.key(), t.value())).collect();
    kv.sort_unstable();
    assert_eq!(kv, [("env", "test"), ("team", "pay")]);
    ok(
        "UntagResource",
        xray.untag_resource()
            .resource_arn(&arn)
            .tag_keys("team")
            .send()
            .await,
    );
    let tags = ok(
        "ListTagsForResource",
        xray.list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await,
    );
    assert_eq!(
        tags.tags(),
        [Tag::builder().key("env").value("test").build().unwrap()]
    );

    ok(
        "DeleteGroup",
        xray.delete_group().group_name("payments").send().await,
    );
    let gone = service_error(
        "GetGroup (deleted)",
        xray.get_group().group_name("payments").send().await,
    );
    match &gone {
        GetGroupError::InvalidRequestException(e) => {
            assert!(
                e.message().is_some_and(|m| m.contains("does not exist")),
                "{e:?}"
            );
        }
        other => panic!("expected InvalidRequestException, got {other:?}"),
    }

    // --- Telemetry and encryption.
    ok(
        "PutTelemetryRecords",
        xray.put_telemetry_records()
            .telemetry_records(
                TelemetryRecord::builder()
                    .timestamp(DateTime::from_secs_f64(now_secs()))
                    .segments_received_count(5)
                    .segments_sent_count(5)
                    .segments_spillover_count(0)
                    .segments_rejected_count(0)
                    .backend_connection_errors(
                        aws_sdk_xray::types::BackendConnectionErrors::builder()
                            .timeout_count(1)
                            .connection_refused_count(0)
                            .http_code4_xx_count(0)
                            .http_code5_xx_count(0)
                            .unknown_host_count(0)
                            .other_count(0)
                            .build(),
                    )
                    .build()
                    .unwrap(),
            )
            .ec2_instance_id("i-0123456789abcdef0")
            .hostname("host-1")
            .resource_arn("arn:aws:ec2:us-east-1:000000000000:instance/i-0123456789abcdef0")
            .send()
            .await,
    );
    let enc = ok(
        "GetEncryptionConfig",
        xray.get_encryption_config().send().await,
    );
    let cfg = enc.encryption_config().expect("EncryptionConfig");
    assert_eq!(cfg.r#type(), Some(&EncryptionType::None));
    assert_eq!(cfg.status(), Some(&EncryptionStatus::Active));
    assert!(cfg.key_id().is_none(), "{cfg:?}");
    let put = ok(
        "PutEncryptionConfig (NONE)",
        xray.put_encryption_config()
            .r#type(EncryptionType::None)
            .send()
            .await,
    );
    assert_eq!(put.encryption_config(), Some(cfg));
    assert!(
        service_error(
            "PutEncryptionConfig (KMS)",
            xray.put_encryption_config()
                .r#type(EncryptionType::Kms)
                .key_id("alias/aws/xray")
                .send()
                .await,
        )
        .is_invalid_request_exception()
    );

    let dest = ok(
        "GetTraceSegmentDestination",
        xray.get_trace_segment_destination().send().await,
    );
    assert_eq!(dest.destination(), Some(&TraceSegmentDestination::XRay));
    assert_eq!(dest.status(), Some(&TraceSegmentDestinationStatus::Active));
    let dest = ok(
        "UpdateTraceSegmentDestination",
        xray.update_trace_segment_destination()
            .destination(TraceSegmentDestination::XRay)
            .send()
            .await,
    );
    assert_eq!(dest.destination(), Some(&TraceSegmentDestination::XRay));
    assert_eq!(dest.status(), Some(&TraceSegmentDestinationStatus::Active));

    c.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Errors: the collector's errors surface as the SDK's modeled variants, with their messages

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_modeled() {
    let dir = TempDir::new("errors");
    let c = start(&dir).await;
    let xray = client(c.addr());

    let six: Vec<String> = (0..6)
        .map(|i| format!("1-6b09abae-00000000000000000000000{i}"))
        .collect();
    let e = service_error(
        "BatchGetTraces (6 ids)",
        xray.batch_get_traces()
            .set_trace_ids(Some(six))
            .send()
            .await,
    );
    match &e {
        BatchGetTracesError::InvalidRequestException(e) => {
            let msg = e.message().unwrap_or_default();
            assert!(msg.contains("TraceIds"), "{msg}");
            assert_eq!(e.meta().code(), Some("InvalidRequestException"));
        }
        other => panic!("expected InvalidRequestException, got {other:?}"),
    }
    let e = service_error(
        "BatchGetTraces (6 ids)",
        xray.batch_get_traces()
            .set_trace_ids(Some(vec!["x".to_owned(); 6]))
            .send()
            .await,
    );
    assert!(e.meta().request_id().is_some(), "x-amzn-RequestId: {e:?}");

    let e = service_error(
        "PutTraceSegments (51 documents)",
        xray.put_trace_segments()
            .set_trace_segment_documents(Some(vec!["{}".to_owned(); 51]))
            .send()
            .await,
    );
    match &e {
        PutTraceSegmentsError::InvalidRequestException(e) => {
            assert_eq!(e.message(), Some("Exceeding maximum segment count: 50"));
        }
        other => panic!("expected InvalidRequestException, got {other:?}"),
    }

    let e = service_error(
        "GetTraceSummaries (filter expression)",
        xray.get_trace_summaries()
            .start_time(DateTime::from_secs(1_795_795_000))
            .end_time(DateTime::from_secs(1_795_796_000))
            .filter_expression(r#"service("x""#)
            .send()
            .await,
    );
    match &e {
        GetTraceSummariesError::InvalidRequestException(e) => {
            assert!(
                e.message().is_some_and(|m| m.contains("FilterExpression")),
                "{e:?}"
            );
        }
        other => panic!("expected InvalidRequestException, got {other:?}"),
    }

    let missing = "arn:aws:xray:us-east-1:000000000000:group/nope/ABC";
    let e = service_error(
        "ListTagsForResource (unknown ARN)",
        xray.list_tags_for_resource()
            .resource_arn(missing)
            .send()
            .await,
    );
    match &e {
        ListTagsForResourceError::ResourceNotFoundException(e) => {
            assert!(e.message().is_some_and(|m| m.contains(missing)), "{e:?}");
            assert_eq!(e.resource_name(), Some(missing));
        }
        other => panic!("expected ResourceNotFoundException, got {other:?}"),
    }

    // An operation the collector does not provide: AWS's shape, so the SDK reports its code.
    let e = service_error(
        "GetInsightSummaries",
        xray.get_insight_summaries()
            .start_time(DateTime::from_secs(1_795_795_000))
            .end_time(DateTime::from_secs(1_795_796_000))
            .send()
            .await,
    );
    assert_eq!(e.meta().code(), Some("NotImplementedException"), "{e:?}");
    assert!(e.meta().message().is_some(), "{e:?}");

    c.shutdown().await.unwrap();
}

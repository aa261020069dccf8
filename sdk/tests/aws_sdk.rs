//! The aws-sdk-rust interceptor (feature `aws-sdk`) on the real X-Ray client (`aws-sdk-xray`)
//! calling a real `fluoro-collector`: each call becomes an `aws` subsegment with operation,
//! region, request id, retries, status and, for failures, a remote cause. Issue 7.

mod support;

use std::net::UdpSocket;
use std::time::Duration;

use aws_sdk_xray::Client;
use aws_sdk_xray::config::http::{HttpRequest, HttpResponse};
use aws_sdk_xray::config::retry::RetryConfig;
use aws_sdk_xray::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use fluoro_proto::frame;
use fluoro_proto::segment::{Cause, Segment};
use fluoro_sdk::config::{DaemonAddress, EnvConfig};
use fluoro_sdk::integrations::aws_sdk::XRayInterceptor;
use fluoro_sdk::sampling::LocalRules;
use fluoro_sdk::{Recorder, SegmentStart};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use support::{ALWAYS, TempDir};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Requests that arrived with and without `X-Amzn-Trace-Id` (one test in this binary).
static WITH_HEADER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static WITHOUT_HEADER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Plain-HTTP connector over hyper 1 (no TLS stack), as the collector's own SDK tests use.
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
    let body = Bytes::copy_from_slice(body.bytes().ok_or("streaming body")?);
    let authority = parts.uri.authority().ok_or("no authority")?.clone();
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", hyper::http::uri::PathAndQuery::as_str);
    parts.uri = path.parse()?;
    parts
        .headers
        .insert(hyper::header::HOST, authority.as_str().parse()?);
    let traced = parts.headers.contains_key("x-amzn-trace-id");
    let counter = if traced {
        &WITH_HEADER
    } else {
        &WITHOUT_HEADER
    };
    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_calls_become_aws_subsegments() {
    let dir = TempDir::new("aws-sdk");
    let collector = fluoro_collector::start(fluoro_collector::Config::for_dir(&dir.0))
        .await
        .unwrap();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let rec = Recorder::builder("svc")
        .env(EnvConfig::from_lookup(|_| None))
        .daemon(DaemonAddress::parse(&sock.local_addr().unwrap().to_string()).unwrap())
        .sampling_rules(LocalRules::from_json(ALWAYS).unwrap())
        .build();
    let config = aws_sdk_xray::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "AKIDEXAMPLE",
            "secret",
            None,
            None,
            "test",
        ))
        .endpoint_url(format!("http://{}", collector.addr()))
        .http_client(PlainHttp)
        .retry_config(RetryConfig::disabled())
        .interceptor(XRayInterceptor)
        .build();
    let client = Client::from_conf(config);
    rec.in_segment(SegmentStart::default(), async {
        client.get_sampling_rules().send().await.unwrap();
        let missing = client.get_group().group_name("no-such-group").send().await;
        assert!(missing.is_err());
    })
    .await;
    // Outside any segment: the call works, nothing is recorded.
    client.get_sampling_rules().send().await.unwrap();
    assert!(rec.flush(Duration::from_secs(5)));
    let load = |a: &std::sync::atomic::AtomicUsize| a.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!((load(&WITH_HEADER), load(&WITHOUT_HEADER)), (2, 1));
    let mut buf = vec![0u8; 70_000];
    let n = sock.recv(&mut buf).unwrap();
    let seg = Segment::from_json(frame::decode(&buf[..n]).unwrap().body).unwrap();
    let subs = seg.subsegments.as_ref().unwrap();
    assert_eq!(subs.len(), 2, "{seg:?}");
    let ok = &subs[0];
    assert_eq!(ok.name.as_deref(), Some("XRay"));
    assert_eq!(ok.namespace.as_deref(), Some("aws"));
    let aws = ok.aws.as_ref().unwrap();
    assert_eq!(aws.operation.as_deref(), Some("GetSamplingRules"));
    assert_eq!(aws.region.as_deref(), Some("us-east-1"));
    assert!(
        aws.request_id.as_deref().is_some_and(|r| !r.is_empty()),
        "{aws:?}"
    );
    assert_eq!(
        aws.retries.as_ref().and_then(serde_json::Number::as_u64),
        Some(0)
    );
    let status = ok
        .http
        .as_ref()
        .unwrap()
        .response
        .as_ref()
        .unwrap()
        .status
        .as_ref();
    assert_eq!(status.and_then(|s| s.as_i64()), Some(200));
    assert_eq!(ok.error, None);
    let bad = &subs[1];
    assert_eq!(
        bad.aws.as_ref().unwrap().operation.as_deref(),
        Some("GetGroup")
    );
    assert_eq!(bad.error, Some(true), "{bad:?}");
    let Some(Cause::Details(c)) = bad.cause.as_deref() else {
        panic!("no cause: {bad:?}")
    };
    assert_eq!(c.exceptions.as_ref().unwrap()[0].remote, Some(true));
    collector.shutdown().await.unwrap();
}

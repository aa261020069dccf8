//! HTTP to the endpoint: `PutTraceSegments` for the forwarder and the spool, and plain request
//! forwarding for the sampling proxy. One pooled HTTP/1.1 client (hyper) shared by all of them.
//!
//! Plain `http://` endpoints only for now (a `fluoro-collector`, or anything speaking the X-Ray
//! API without TLS): no TLS stack and no SigV4 signing are linked in yet.

use std::sync::Arc;
use std::time::Duration;

use fluoro_proto::api::{Operation, PutTraceSegmentsResponse};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::config::ConfigError;

/// Whole-request timeout of one `PutTraceSegments` call (the AWS daemon uses 2 s; a busy local
/// collector may take longer to answer a burst).
pub const PUT_TIMEOUT: Duration = Duration::from_secs(5);
/// Whole-request timeout of one proxied sampling call.
pub const PROXY_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest response body read from the endpoint.
pub const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// A validated `http://host:port` endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    authority: String,
}

impl Endpoint {
    /// Accepts `http://host[:port]` with an optional trailing `/`.
    pub fn parse(s: &str) -> Result<Endpoint, ConfigError> {
        let bad = |why: &str| ConfigError(format!("endpoint (-e) {s:?}: {why}"));
        let uri: Uri = s
            .parse()
            .map_err(|_| bad("not a URL; expected http://host:port"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(bad(
                    "https endpoints (AWS X-Ray itself) are not supported yet; this build forwards over plain http:// only",
                ));
            }
            _ => return Err(bad("expected http://host:port")),
        }
        let authority = uri
            .authority()
            .ok_or_else(|| bad("no host"))?
            .as_str()
            .to_owned();
        if authority.contains('@') {
            return Err(bad("credentials in the URL are not supported"));
        }
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(bad("must not have a path or query"));
        }
        Ok(Endpoint { authority })
    }

    /// `host:port` of the endpoint, as sent in `Host`.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The absolute URI of `path_and_query` on the endpoint.
    pub fn uri(&self, path_and_query: &str) -> Result<Uri, hyper::http::Error> {
        Uri::builder()
            .scheme("http")
            .authority(self.authority.as_str())
            .path_and_query(path_and_query)
            .build()
    }
}

/// Why a request to the endpoint failed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// No connection or the connection broke.
    #[error("cannot reach the endpoint: {0}")]
    Connect(String),
    /// No complete answer in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The endpoint answered with an error status.
    #[error("endpoint answered {status}: {message}")]
    Status {
        /// The status.
        status: StatusCode,
        /// The start of the body.
        message: String,
    },
    /// The request could not be built (a bug, or a path the URI grammar refuses).
    #[error("bad request: {0}")]
    Request(String),
}

impl SendError {
    /// Throttling, server errors and transport failures are worth retrying; other 4xx are not.
    pub fn is_retryable(&self) -> bool {
        match self {
            SendError::Connect(_) | SendError::Timeout(_) => true,
            SendError::Status { status, .. } => {
                *status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
            }
            SendError::Request(_) => false,
        }
    }

    /// Label for `fluoro_forwarder_send_errors_total{kind=...}`.
    pub fn kind(&self) -> &'static str {
        match self {
            SendError::Connect(_) => "connect",
            SendError::Timeout(_) => "timeout",
            SendError::Status { status, .. } if *status == StatusCode::TOO_MANY_REQUESTS => {
                "http_429"
            }
            SendError::Status { status, .. } if status.is_server_error() => "http_5xx",
            SendError::Status { .. } => "http_4xx",
            SendError::Request(_) => "request",
        }
    }
}

/// The shared HTTP client.
#[derive(Debug, Clone)]
pub struct Client {
    http: HyperClient<HttpConnector, Full<Bytes>>,
    endpoint: Arc<Endpoint>,
    user_agent: Arc<str>,
}

impl Client {
    /// A pooled client for `endpoint` keeping up to `idle_per_host` idle connections.
    pub fn new(endpoint: Endpoint, idle_per_host: usize) -> Client {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(2)));
        let http = HyperClient::builder(TokioExecutor::new())
            .pool_max_idle_per_host(idle_per_host)
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Client {
            http,
            endpoint: Arc::new(endpoint),
            user_agent: format!("fluoro-daemon/{}", env!("CARGO_PKG_VERSION")).into(),
        }
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// One `PutTraceSegments` call with a ready JSON body (`{"TraceSegmentDocuments":[...]}`).
    pub async fn put_trace_segments(
        &self,
        body: Bytes,
    ) -> Result<PutTraceSegmentsResponse, SendError> {
        let uri = self
            .endpoint
            .uri(Operation::PutTraceSegments.path())
            .map_err(|e| SendError::Request(e.to_string()))?;
        let req = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(hyper::header::HOST, self.endpoint.authority())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::USER_AGENT, &*self.user_agent)
            .body(Full::new(body))
            .map_err(|e| SendError::Request(e.to_string()))?;
        let resp = self.send(req, PUT_TIMEOUT).await?;
        if !resp.status().is_success() {
            return Err(SendError::Status {
                status: resp.status(),
                message: snippet(resp.body()),
            });
        }
        // A 2xx whose body we cannot read still means the documents were taken.
        Ok(serde_json::from_slice(resp.body()).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "unreadable PutTraceSegments response");
            PutTraceSegmentsResponse::default()
        }))
    }

    /// Sends `req` (its URI is made absolute on the endpoint) and reads the whole response.
    pub async fn send(
        &self,
        mut req: Request<Full<Bytes>>,
        timeout: Duration,
    ) -> Result<Response<Bytes>, SendError> {
        if req.uri().authority().is_none() {
            let pq = req
                .uri()
                .path_and_query()
                .map_or("/", |pq| pq.as_str())
                .to_owned();
            *req.uri_mut() = self
                .endpoint
                .uri(&pq)
                .map_err(|e| SendError::Request(e.to_string()))?;
        }
        let exchange = async {
            let resp = self
                .http
                .request(req)
                .await
                .map_err(|e| SendError::Connect(error_chain(&e)))?;
            let (parts, body) = resp.into_parts();
            let body = Limited::new(body, MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|e| SendError::Connect(format!("reading the response: {e}")))?
                .to_bytes();
            Ok(Response::from_parts(parts, body))
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| SendError::Timeout(timeout))?
    }
}

fn snippet(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(&body[..body.len().min(300)]);
    s.trim().to_owned()
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        cur = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let e = Endpoint::parse("http://127.0.0.1:2020").unwrap();
        assert_eq!(e.authority(), "127.0.0.1:2020");
        assert_eq!(
            e.uri("/TraceSegments").unwrap().to_string(),
            "http://127.0.0.1:2020/TraceSegments"
        );
        assert!(Endpoint::parse("http://collector:2020/").is_ok());
        for bad in [
            "127.0.0.1:2020",
            "https://xray.us-east-1.amazonaws.com",
            "http://x:1/path",
            "http://u:p@x:1",
            "ftp://x",
            "",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn retry_classification() {
        let status = |s: u16| SendError::Status {
            status: StatusCode::from_u16(s).unwrap(),
            message: String::new(),
        };
        assert!(status(429).is_retryable());
        assert!(status(503).is_retryable());
        assert!(!status(400).is_retryable());
        assert!(!status(413).is_retryable());
        assert!(SendError::Connect("refused".into()).is_retryable());
        assert!(SendError::Timeout(PUT_TIMEOUT).is_retryable());
        assert_eq!(status(429).kind(), "http_429");
        assert_eq!(status(500).kind(), "http_5xx");
        assert_eq!(status(404).kind(), "http_4xx");
    }
}

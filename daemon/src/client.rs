//! HTTP to the endpoint: `PutTraceSegments` for the forwarder and the spool, telemetry, and
//! request forwarding for the sampling proxy. One pooled HTTP/1.1 client (hyper, with TLS and an
//! optional `CONNECT` proxy from `fluoro_aws::connect`) shared by all of them; every request is
//! SigV4-signed on the way out when there is a [`Signer`].

use std::sync::Arc;
use std::time::Duration;

use fluoro_proto::api::{Operation, PutTraceSegmentsResponse};
use hyper::body::Bytes;
use hyper::{Method, Request, Response, StatusCode, Uri};

use crate::config::ConfigError;
use fluoro_aws::Signer;
use fluoro_aws::connect::{ExchangeError, HttpClient};

/// Whole-request timeout of one `PutTraceSegments` call (the AWS daemon uses 2 s; a busy local
/// collector may take longer to answer a burst).
pub const PUT_TIMEOUT: Duration = Duration::from_secs(5);
/// Whole-request timeout of one proxied sampling call.
pub const PROXY_TIMEOUT: Duration = Duration::from_secs(30);
/// A validated `http://host[:port]` or `https://host[:port]` endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    https: bool,
    authority: String,
}

impl Endpoint {
    /// Accepts `http://host[:port]` or `https://host[:port]` with an optional trailing `/`.
    pub fn parse(s: &str) -> Result<Endpoint, ConfigError> {
        let bad = |why: &str| ConfigError(format!("endpoint (-e) {s:?}: {why}"));
        let uri: Uri = s
            .parse()
            .map_err(|_| bad("not a URL; expected http://host:port or https://host"))?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(bad("expected http://host:port or https://host")),
        };
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
        Ok(Endpoint { https, authority })
    }

    /// `host:port` of the endpoint, as sent in `Host`.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The host name or address, without port.
    pub fn host(&self) -> &str {
        let a = self.authority.as_str();
        if let Some(rest) = a.strip_prefix('[') {
            return rest.split(']').next().unwrap_or(rest);
        }
        a.rsplit_once(':').map_or(a, |(h, _)| h)
    }

    /// Whether the endpoint is reached over TLS.
    pub fn is_https(&self) -> bool {
        self.https
    }

    /// The absolute URI of `path_and_query` on the endpoint.
    pub fn uri(&self, path_and_query: &str) -> Result<Uri, hyper::http::Error> {
        Uri::builder()
            .scheme(if self.https { "https" } else { "http" })
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
    /// The request must be signed and no credentials could be had.
    #[error(transparent)]
    Credentials(#[from] fluoro_aws::CredentialsError),
}

impl From<ExchangeError> for SendError {
    fn from(e: ExchangeError) -> SendError {
        match e {
            ExchangeError::Connect(m) => SendError::Connect(m),
            ExchangeError::Timeout(t) => SendError::Timeout(t),
        }
    }
}

impl SendError {
    /// Throttling, server errors and transport failures are worth retrying; other 4xx are not.
    pub fn is_retryable(&self) -> bool {
        match self {
            // Credentials may come back (a metadata service restarting, a file rewritten).
            SendError::Connect(_) | SendError::Timeout(_) | SendError::Credentials(_) => true,
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
            SendError::Credentials(_) => "credentials",
        }
    }
}

/// The shared HTTP client.
#[derive(Debug, Clone)]
pub struct Client {
    http: HttpClient,
    endpoint: Arc<Endpoint>,
    signer: Option<Arc<Signer>>,
    user_agent: Arc<str>,
}

impl Client {
    /// A client for `endpoint` over `http`, signing with `signer` when given.
    pub fn new(endpoint: Endpoint, http: HttpClient, signer: Option<Arc<Signer>>) -> Client {
        Client {
            http,
            endpoint: Arc::new(endpoint),
            signer,
            user_agent: format!("fluoro-daemon/{}", env!("CARGO_PKG_VERSION")).into(),
        }
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The signer, when requests are signed.
    pub fn signer(&self) -> Option<&Signer> {
        self.signer.as_deref()
    }

    /// One `PutTraceSegments` call with a ready JSON body (`{"TraceSegmentDocuments":[...]}`).
    pub async fn put_trace_segments(
        &self,
        body: Bytes,
    ) -> Result<PutTraceSegmentsResponse, SendError> {
        let req = Request::builder()
            .method(Method::POST)
            .uri(Operation::PutTraceSegments.path())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::USER_AGENT, &*self.user_agent)
            .body(body)
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

    /// Sends `req` (a relative URI is made absolute on the endpoint, `Host` is set to the
    /// endpoint when absent), signed when there is a signer, and reads the whole response.
    pub async fn send(
        &self,
        mut req: Request<Bytes>,
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
        if !req.headers().contains_key(hyper::header::HOST)
            && let Ok(host) = hyper::header::HeaderValue::from_str(self.endpoint.authority())
        {
            req.headers_mut().insert(hyper::header::HOST, host);
        }
        if let Some(signer) = &self.signer {
            match signer.sign(&mut req).await {
                Ok(()) => {}
                Err(e) if signer.required() => return Err(SendError::Credentials(e)),
                // Towards a Fluoro endpoint, no credentials means unsigned (the chain logs why).
                Err(_) => {}
            }
        }
        Ok(fluoro_aws::connect::exchange(&self.http, req, timeout).await?)
    }
}

fn snippet(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(&body[..body.len().min(300)]);
    s.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let e = Endpoint::parse("http://127.0.0.1:2020").unwrap();
        assert_eq!(e.authority(), "127.0.0.1:2020");
        assert_eq!(e.host(), "127.0.0.1");
        assert!(!e.is_https());
        let aws = Endpoint::parse("https://xray.us-east-1.amazonaws.com").unwrap();
        assert!(aws.is_https());
        assert_eq!(aws.host(), "xray.us-east-1.amazonaws.com");
        assert_eq!(
            aws.uri("/TraceSegments").unwrap().to_string(),
            "https://xray.us-east-1.amazonaws.com/TraceSegments"
        );
        assert_eq!(Endpoint::parse("http://[::1]:2020").unwrap().host(), "::1");
        assert_eq!(
            e.uri("/TraceSegments").unwrap().to_string(),
            "http://127.0.0.1:2020/TraceSegments"
        );
        assert!(Endpoint::parse("http://collector:2020/").is_ok());
        for bad in [
            "127.0.0.1:2020",
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
        let no_creds = SendError::Credentials(fluoro_aws::CredentialsError("none".into()));
        assert!(no_creds.is_retryable());
        assert_eq!(no_creds.kind(), "credentials");
        assert_eq!(status(429).kind(), "http_429");
        assert_eq!(status(500).kind(), "http_5xx");
        assert_eq!(status(404).kind(), "http_4xx");
    }
}

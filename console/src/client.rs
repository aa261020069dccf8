//! The console's only way to data: X-Ray API calls over HTTP to an endpoint (a
//! `fluoro-collector`, or any server speaking the X-Ray API).
//!
//! Every call goes through one function (`ApiClient::send`, behind [`ApiClient::call`] and
//! [`ApiClient::get`]), the one place where a request is built and sent; SigV4 signing for AWS endpoints belongs there (not linked in yet: see docs/console.md).

use std::time::Duration;

use fluoro_proto::api::{ErrorBody, Operation};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::{Method, Request, Uri};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Whole-call timeout.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest response body read.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// Why an API call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The endpoint answered with an X-Ray error.
    #[error("{error_type}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// AWS error type, e.g. `InvalidRequestException`.
        error_type: String,
        /// The message.
        message: String,
    },
    /// The endpoint could not be reached or the exchange broke.
    #[error("cannot reach the X-Ray API at {endpoint}: {reason}")]
    Transport {
        /// The endpoint.
        endpoint: String,
        /// Why.
        reason: String,
    },
    /// The answer was not the JSON the operation returns.
    #[error("{operation}: unexpected response: {reason}")]
    Decode {
        /// The operation.
        operation: &'static str,
        /// Why.
        reason: String,
    },
}

/// Why an endpoint URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--api {url:?}: {reason}")]
pub struct EndpointError {
    url: String,
    reason: &'static str,
}

/// An X-Ray API endpoint and a pooled HTTP/1.1 client to it.
#[derive(Debug, Clone)]
pub struct ApiClient {
    authority: String,
    http: HyperClient<HttpConnector, Full<Bytes>>,
}

impl ApiClient {
    /// A client for `http://host:port` (a trailing `/` is allowed).
    pub fn new(url: &str) -> Result<ApiClient, EndpointError> {
        let bad = |reason| EndpointError {
            url: url.to_owned(),
            reason,
        };
        let uri: Uri = url
            .parse()
            .map_err(|_| bad("not a URL; expected http://host:port"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(bad(
                    "https endpoints (AWS itself) need TLS and SigV4, which this build does not link in yet",
                ));
            }
            _ => return Err(bad("expected http://host:port")),
        }
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(bad("must not have a path or query"));
        }
        let authority = uri.authority().ok_or_else(|| bad("no host"))?.to_string();
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let http = HyperClient::builder(TokioExecutor::new()).build(connector);
        Ok(ApiClient { authority, http })
    }

    /// `http://host:port` of the endpoint.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.authority)
    }

    /// Calls `op` with `req` and decodes its answer.
    pub async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        op: Operation,
        req: &Req,
    ) -> Result<Resp, ClientError> {
        let body = serde_json::to_vec(req).map_err(|e| ClientError::Decode {
            operation: op.name(),
            reason: e.to_string(),
        })?;
        self.send(Method::POST, op.path(), body, op.name()).await
    }

    /// `GET path` on the endpoint, decoded: Fluoro's own read paths that the X-Ray API lacks
    /// (`/fluoro/telemetry`).
    pub async fn get<Resp: DeserializeOwned>(
        &self,
        path_and_query: &str,
        what: &'static str,
    ) -> Result<Resp, ClientError> {
        self.send(Method::GET, path_and_query, Vec::new(), what)
            .await
    }

    async fn send<Resp: DeserializeOwned>(
        &self,
        method: Method,
        path_and_query: &str,
        body: Vec<u8>,
        what: &'static str,
    ) -> Result<Resp, ClientError> {
        let transport = |reason: String| ClientError::Transport {
            endpoint: self.endpoint(),
            reason,
        };
        let uri = Uri::builder()
            .scheme("http")
            .authority(self.authority.as_str())
            .path_and_query(path_and_query)
            .build()
            .map_err(|e| transport(e.to_string()))?;
        // The one place a request is built: SigV4 signing for AWS endpoints goes here.
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| transport(e.to_string()))?;
        let exchange = async {
            let resp = self
                .http
                .request(request)
                .await
                .map_err(|e| transport(e.to_string()))?;
            let status = resp.status();
            let bytes = Limited::new(resp.into_body(), MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|e| transport(e.to_string()))?
                .to_bytes();
            Ok::<_, ClientError>((status, bytes))
        };
        let (status, bytes) = tokio::time::timeout(CALL_TIMEOUT, exchange)
            .await
            .map_err(|_| transport(format!("no answer within {CALL_TIMEOUT:?}")))??;
        if !status.is_success() {
            let parsed: Option<ErrorBody> = serde_json::from_slice(&bytes).ok();
            let (error_type, message) = parsed.map_or_else(
                || {
                    (
                        format!("HTTP {status}"),
                        String::from_utf8_lossy(&bytes).into_owned(),
                    )
                },
                |b| (b.error_type, b.message),
            );
            return Err(ClientError::Api {
                status: status.as_u16(),
                error_type,
                message,
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode {
            operation: what,
            reason: e.to_string(),
        })
    }
}

//! The console's only way to data: X-Ray API calls over HTTP or HTTPS to an endpoint (a
//! `fluoro-collector`, AWS X-Ray itself, or any server speaking the X-Ray API).
//!
//! Every call goes through one function (`ApiClient::send`, behind [`ApiClient::call`] and
//! [`ApiClient::get`]), the one place where a request is built, signed and sent. TLS, the AWS
//! credential chain and SigV4 come from `fluoro-aws` (shared with the daemon). Requests are
//! signed (service `xray`) when the endpoint is an AWS host, when `--sign` or `--role-arn` asks
//! for it (a `fluoro-collector --auth-keys`), or with fixed credentials given by the embedding
//! process (the collector mounting the console).

use std::sync::Arc;
use std::time::Duration;

use fluoro_aws::connect::{self, HttpClient};
use fluoro_aws::{CredentialsError, CredentialsProvider, Signer, Vars};
use fluoro_proto::api::{ErrorBody, Operation};
use fluoro_proto::sigv4::Credentials;
use hyper::body::Bytes;
use hyper::{Method, Request, Uri};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Whole-call timeout.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest response body read.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;
/// Idle connections kept to the endpoint.
const IDLE_PER_HOST: usize = 8;

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
    /// The request must be signed and the credential chain found nothing.
    #[error("cannot sign the request to {endpoint}: {source}")]
    Credentials {
        /// The endpoint.
        endpoint: String,
        /// Why.
        source: CredentialsError,
    },
}

/// Why an endpoint (with its options) is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--api {url:?}: {reason}")]
pub struct EndpointError {
    url: String,
    reason: String,
}

/// How to reach and sign for an endpoint: the console's AWS flags and the environment.
#[derive(Debug, Clone, Default)]
pub struct ApiOptions {
    /// Region signed for; else `AWS_REGION`, `AWS_DEFAULT_REGION`, else the endpoint's host
    /// (`xray.{region}.amazonaws.com`).
    pub region: Option<String>,
    /// Sign requests to a non-AWS endpoint too (a `fluoro-collector --auth-keys`).
    pub sign: bool,
    /// Assume this role (STS `AssumeRole`) with the chain's credentials; implies signing.
    pub role_arn: Option<String>,
    /// Accept any TLS certificate.
    pub no_verify_ssl: bool,
    /// The environment the credential chain, `AWS_CA_BUNDLE` and the region read.
    pub env: Vars,
}

/// How requests are signed.
#[derive(Debug, Clone)]
enum Auth {
    /// Not signed.
    None,
    /// With the credential chain.
    Chain(Arc<Signer>),
    /// With fixed credentials.
    Fixed {
        region: String,
        credentials: Arc<Credentials>,
    },
}

/// An X-Ray API endpoint and a pooled HTTP/1.1 client (TLS-capable) to it.
#[derive(Debug, Clone)]
pub struct ApiClient {
    https: bool,
    authority: String,
    http: HttpClient,
    auth: Auth,
}

impl ApiClient {
    /// A client for `http://host:port` or `https://host[:port]` (a trailing `/` is allowed) with
    /// default options: verified TLS (Mozilla's roots), signing only towards AWS hosts, with
    /// an empty environment (so an AWS host is refused for want of a region).
    pub fn new(url: &str) -> Result<ApiClient, EndpointError> {
        ApiClient::with_options(url, &ApiOptions::default())
    }

    /// A client for `url` with `options`.
    pub fn with_options(url: &str, options: &ApiOptions) -> Result<ApiClient, EndpointError> {
        let bad = |reason: String| EndpointError {
            url: url.to_owned(),
            reason,
        };
        let uri: Uri = url
            .parse()
            .map_err(|_| bad("not a URL; expected http://host:port or https://host".into()))?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(bad("expected http://host:port or https://host".into())),
        };
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(bad("must not have a path or query".into()));
        }
        let authority = uri.authority().ok_or_else(|| bad("no host".into()))?;
        if authority.as_str().contains('@') {
            return Err(bad("credentials in the URL are not supported".into()));
        }
        let host = authority.host().trim_matches(['[', ']']).to_owned();
        let authority = authority.to_string();
        let tls = connect::tls_config(
            options.no_verify_ssl,
            options.env.get("AWS_CA_BUNDLE").map(std::path::Path::new),
        )
        .map_err(|e| bad(e.to_string()))?;
        let http = connect::http_client(tls.clone(), None, IDLE_PER_HOST);

        let is_aws = fluoro_aws::is_aws_host(&host);
        let wanted = is_aws || options.sign || options.role_arn.is_some();
        let auth = if wanted {
            let region = options
                .region
                .clone()
                .filter(|r| !r.is_empty())
                .or_else(|| options.env.get("AWS_REGION").map(str::to_owned))
                .or_else(|| options.env.get("AWS_DEFAULT_REGION").map(str::to_owned))
                .or_else(|| {
                    is_aws
                        .then(|| fluoro_aws::region_of_host(&host).map(str::to_owned))
                        .flatten()
                })
                .ok_or_else(|| {
                    bad(format!(
                        "requests to {authority} must be signed and no region is known: give --region or set AWS_REGION"
                    ))
                })?;
            // The metadata services are never reached through a proxy; STS goes the same way.
            let direct = connect::http_client(tls, None, 1);
            let credentials = CredentialsProvider::new(
                options.env.clone(),
                false,
                options.role_arn.clone(),
                region.clone(),
                direct.clone(),
                direct,
            );
            Auth::Chain(Arc::new(Signer::new(region, Arc::new(credentials), true)))
        } else {
            Auth::None
        };
        Ok(ApiClient {
            https,
            authority,
            http,
            auth,
        })
    }

    /// Signs every request with `credentials` for `region` (the collector mounting the console
    /// with one of its `--auth-keys`).
    #[must_use]
    pub fn with_fixed_credentials(mut self, region: &str, credentials: Credentials) -> ApiClient {
        self.auth = Auth::Fixed {
            region: region.to_owned(),
            credentials: Arc::new(credentials),
        };
        self
    }

    /// Whether requests are signed, and for which region.
    pub fn signing_region(&self) -> Option<&str> {
        match &self.auth {
            Auth::None => None,
            Auth::Chain(s) => Some(s.region()),
            Auth::Fixed { region, .. } => Some(region),
        }
    }

    /// `http(s)://host:port` of the endpoint.
    pub fn endpoint(&self) -> String {
        format!(
            "{}://{}",
            if self.https { "https" } else { "http" },
            self.authority
        )
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

    /// The one place a request is built, signed and sent.
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
            .scheme(if self.https { "https" } else { "http" })
            .authority(self.authority.as_str())
            .path_and_query(path_and_query)
            .build()
            .map_err(|e| transport(e.to_string()))?;
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .header(hyper::header::HOST, self.authority.as_str())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Bytes::from(body))
            .map_err(|e| transport(e.to_string()))?;
        match &self.auth {
            Auth::None => {}
            Auth::Chain(signer) => {
                signer
                    .sign(&mut request)
                    .await
                    .map_err(|source| ClientError::Credentials {
                        endpoint: self.endpoint(),
                        source,
                    })?;
            }
            Auth::Fixed {
                region,
                credentials,
            } => fluoro_aws::sign_request(
                credentials,
                region,
                fluoro_aws::SERVICE,
                fluoro_aws::now_secs(),
                &mut request,
            ),
        }
        let resp = connect::exchange_limited(&self.http, request, CALL_TIMEOUT, MAX_RESPONSE_BYTES)
            .await
            .map_err(|e| transport(e.to_string()))?;
        let status = resp.status();
        let bytes = resp.into_body();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn options(sign: bool, env: &[(&str, &str)]) -> ApiOptions {
        ApiOptions {
            sign,
            env: Vars(
                env.iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            ),
            ..ApiOptions::default()
        }
    }

    #[test]
    fn endpoints_and_regions() {
        let plain = ApiClient::new("http://127.0.0.1:2020/").unwrap();
        assert_eq!(plain.endpoint(), "http://127.0.0.1:2020");
        assert_eq!(plain.signing_region(), None);
        let tls = ApiClient::new("https://collector.example:8443").unwrap();
        assert_eq!(tls.endpoint(), "https://collector.example:8443");
        // AWS: the region comes from the host, and requests are always signed.
        let aws = ApiClient::new("https://xray.eu-west-1.amazonaws.com").unwrap();
        assert_eq!(aws.signing_region(), Some("eu-west-1"));
        // --region wins over the environment, which wins over the host.
        let mut o = options(false, &[("AWS_REGION", "us-west-2")]);
        let aws = ApiClient::with_options("https://xray.eu-west-1.amazonaws.com", &o).unwrap();
        assert_eq!(aws.signing_region(), Some("us-west-2"));
        o.region = Some("ap-south-1".into());
        let aws = ApiClient::with_options("https://xray.eu-west-1.amazonaws.com", &o).unwrap();
        assert_eq!(aws.signing_region(), Some("ap-south-1"));
        let o = options(false, &[("AWS_DEFAULT_REGION", "ca-central-1")]);
        let aws = ApiClient::with_options("https://xray.amazonaws.com", &o).unwrap();
        assert_eq!(aws.signing_region(), Some("ca-central-1"));
        // A region alone does not sign towards a non-AWS endpoint; --sign does.
        let o = options(false, &[("AWS_REGION", "us-east-1")]);
        let c = ApiClient::with_options("http://127.0.0.1:2020", &o).unwrap();
        assert_eq!(c.signing_region(), None);
        let o = options(true, &[("AWS_REGION", "us-east-1")]);
        let c = ApiClient::with_options("http://127.0.0.1:2020", &o).unwrap();
        assert_eq!(c.signing_region(), Some("us-east-1"));
    }

    #[test]
    fn refusals_say_why() {
        let e = ApiClient::with_options("http://127.0.0.1:2020", &options(true, &[])).unwrap_err();
        assert!(e.to_string().contains("no region is known"), "{e}");
        let e = ApiClient::new("https://xray.amazonaws.com").unwrap_err();
        assert!(e.to_string().contains("--region"), "{e}");
        for bad in [
            "127.0.0.1:2020",
            "ftp://x",
            "http://x:1/path",
            "http://u:p@x:1",
            "",
        ] {
            assert!(ApiClient::new(bad).is_err(), "{bad}");
        }
        let o = options(false, &[("AWS_CA_BUNDLE", "/nonexistent/ca.pem")]);
        let e = ApiClient::with_options("https://127.0.0.1:1", &o).unwrap_err();
        assert!(e.to_string().contains("AWS_CA_BUNDLE"), "{e}");
    }
}

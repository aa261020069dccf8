//! Connections to the X-Ray endpoint, STS and metadata services: TCP, optionally through an HTTP
//! `CONNECT` proxy (`-p`/`ProxyAddress`, else `HTTPS_PROXY`), then TLS for `https://` URLs.
//!
//! TLS is rustls with the `ring` provider; the roots are Mozilla's (webpki-roots, compiled in,
//! so a container without CA files works) plus the PEM certificates of `AWS_CA_BUNDLE` when it
//! is set. `NoVerifySSL: true` in the daemon's `cfg.yaml` (the console's `--no-verify-ssl`) turns
//! certificate verification off, as in the AWS daemon (the handshake signatures are still
//! checked, so the peer holds the key of the certificate it shows, whatever that certificate is).

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::{Request, Response, Uri};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject as _;
use tokio::net::TcpStream;

/// Largest response body read.
pub const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;
/// TCP connect timeout.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The pooled HTTP/1.1 client over [`Connector`] and TLS.
pub type HttpClient = HyperClient<HttpsConnector<Connector>, Full<Bytes>>;

/// Why no TLS client configuration could be built (an unreadable `AWS_CA_BUNDLE`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TlsError(pub String);

/// The rustls client configuration: Mozilla's roots plus `ca_bundle` (PEM), or no verification.
pub fn tls_config(
    no_verify: bool,
    ca_bundle: Option<&Path>,
) -> Result<rustls::ClientConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_bundle {
        let bad = |e: String| TlsError(format!("AWS_CA_BUNDLE {}: {e}", path.display()));
        let mut added = 0;
        for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(e.to_string()))? {
            let cert = cert.map_err(|e| bad(e.to_string()))?;
            roots.add(cert).map_err(|e| bad(e.to_string()))?;
            added += 1;
        }
        if added == 0 {
            return Err(bad("no PEM certificate in the file".into()));
        }
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    if no_verify {
        config
            .dangerous()
            .set_certificate_verifier(Arc::new(NoVerify(provider)));
    }
    Ok(config)
}

/// `NoVerifySSL`: any certificate for any name is accepted.
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// TCP straight to the host, or through an HTTP `CONNECT` proxy.
#[derive(Debug, Clone)]
pub enum Connector {
    /// Straight.
    Direct(HttpConnector),
    /// Through the proxy.
    Tunnel(Tunnel<HttpConnector>),
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<TcpStream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        match self {
            Connector::Direct(c) => c.poll_ready(cx).map_err(Into::into),
            Connector::Tunnel(t) => t.poll_ready(cx).map_err(Into::into),
        }
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        match self {
            Connector::Direct(c) => {
                let f = c.call(dst);
                Box::pin(async move { f.await.map_err(Into::into) })
            }
            Connector::Tunnel(t) => {
                // The tunnel asks for port 443 when the URL has none; a plain http URL means 80.
                let dst = if dst.port().is_none() && dst.scheme_str() == Some("http") {
                    let host = dst.host().unwrap_or_default();
                    format!("http://{host}:80").parse().unwrap_or(dst)
                } else {
                    dst
                };
                let f = t.call(dst);
                Box::pin(async move { f.await.map_err(Into::into) })
            }
        }
    }
}

fn http_connector() -> HttpConnector {
    let mut c = HttpConnector::new();
    c.set_nodelay(true);
    c.set_connect_timeout(Some(CONNECT_TIMEOUT));
    c.enforce_http(false);
    c
}

/// A pooled client keeping up to `idle_per_host` idle connections, through `proxy` if given.
pub fn http_client(
    tls: rustls::ClientConfig,
    proxy: Option<&Uri>,
    idle_per_host: usize,
) -> HttpClient {
    let connector = match proxy {
        Some(p) => Connector::Tunnel(Tunnel::new(p.clone(), http_connector())),
        None => Connector::Direct(http_connector()),
    };
    let https = HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(connector);
    HyperClient::builder(TokioExecutor::new())
        .pool_max_idle_per_host(idle_per_host)
        .pool_idle_timeout(Duration::from_secs(30))
        .build(https)
}

/// Sends `req` and reads the whole response (at most [`MAX_RESPONSE_BYTES`]) within `timeout`.
pub async fn exchange(
    client: &HttpClient,
    req: Request<Bytes>,
    timeout: Duration,
) -> Result<Response<Bytes>, ExchangeError> {
    exchange_limited(client, req, timeout, MAX_RESPONSE_BYTES).await
}

/// [`exchange`] reading at most `max_bytes` of the response body.
pub async fn exchange_limited(
    client: &HttpClient,
    req: Request<Bytes>,
    timeout: Duration,
    max_bytes: usize,
) -> Result<Response<Bytes>, ExchangeError> {
    let req = req.map(Full::new);
    let fut = async {
        let resp = client
            .request(req)
            .await
            .map_err(|e| ExchangeError::Connect(error_chain(&e)))?;
        let (parts, body) = resp.into_parts();
        let body = Limited::new(body, max_bytes)
            .collect()
            .await
            .map_err(|e| ExchangeError::Connect(format!("reading the response: {e}")))?
            .to_bytes();
        Ok(Response::from_parts(parts, body))
    };
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| ExchangeError::Timeout(timeout))?
}

/// Why an exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// No connection, a broken one, or a failed TLS handshake.
    #[error("{0}")]
    Connect(String),
    /// No complete answer in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

/// An error with its sources, `a: b: c`.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        cur = inner.source();
    }
    s
}

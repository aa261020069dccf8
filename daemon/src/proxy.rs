//! The TCP side: the sampling proxy and the admin endpoints.
//!
//! The proxy forwards **every** method and path (`POST /GetSamplingRules`,
//! `POST /SamplingTargets`, anything else) to the endpoint as the AWS daemon does: same method,
//! path, query, headers (less hop-by-hop ones; `Host` set to the endpoint) and body; the
//! response comes back unchanged. Requests are SigV4-signed on the way out as the daemon's own
//! are (`fluoro_aws::sign`): always towards AWS, when credentials are found towards a
//! Fluoro endpoint. If the endpoint does not answer, the SDK gets `502 Bad Gateway`.
//!
//! `/metrics` (Prometheus text) and `/health` (JSON) are served on the admin listener
//! (`--admin`) or, without one, on the proxy listener itself, where those two paths are
//! therefore not forwarded.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::buffer::Buffer;
use crate::client::{Client, PROXY_TIMEOUT};
use crate::metrics::{Gauges, Metrics, Reachability};
use crate::spool::Spool;

/// Largest request body the proxy forwards (sampling requests are a few KB).
pub const MAX_PROXY_BODY: usize = 1024 * 1024;

/// What the handlers read.
#[derive(Debug)]
pub struct HttpState {
    /// The shared client.
    pub client: Client,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// For gauges.
    pub buffer: Arc<Buffer>,
    /// For gauges.
    pub spool: Option<Arc<Spool>>,
}

impl HttpState {
    fn gauges(&self) -> Gauges {
        let (spool_batches, spool_documents, spool_bytes) =
            self.spool.as_ref().map_or((0, 0, 0), |s| s.usage());
        Gauges {
            buffer_documents: self.buffer.len(),
            buffer_bytes: self.buffer.bytes(),
            buffer_capacity_bytes: self.buffer.capacity(),
            spool_batches,
            spool_documents,
            spool_bytes,
            spool_capacity_bytes: self.spool.as_ref().map_or(0, |s| s.limit()),
        }
    }
}

/// `/metrics` and `/health`.
pub fn admin_router(state: Arc<HttpState>) -> Router {
    admin_routes().with_state(state)
}

fn admin_routes() -> Router<Arc<HttpState>> {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(health))
}

/// The proxy; with `with_admin`, also `/metrics` and `/health`.
pub fn proxy_router(state: Arc<HttpState>, with_admin: bool) -> Router {
    let router = if with_admin {
        admin_routes()
    } else {
        Router::new()
    };
    router.fallback(proxy).with_state(state)
}

async fn metrics(State(st): State<Arc<HttpState>>) -> Response {
    let body = st.metrics.render(&st.gauges());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

async fn health(State(st): State<Arc<HttpState>>) -> Response {
    let g = st.gauges();
    let endpoint = match st.metrics.reachability() {
        Reachability::Unknown => "unknown",
        Reachability::Reachable => "reachable",
        Reachability::Unreachable => "unreachable",
    };
    let body = serde_json::json!({
        "status": "ok",
        "endpoint": st.client.endpoint().authority(),
        "endpoint_state": endpoint,
        "buffer_documents": g.buffer_documents,
        "buffer_bytes": g.buffer_bytes,
        "spool_batches": g.spool_batches,
        "spool_documents": g.spool_documents,
        "spool_bytes": g.spool_bytes,
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "proxy-connection"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
            | "content-length"
    )
}

fn copy_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for (k, v) in from {
        if !is_hop_by_hop(k) {
            to.append(k.clone(), v.clone());
        }
    }
}

async fn proxy(State(st): State<Arc<HttpState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, MAX_PROXY_BODY).await {
        Ok(b) => b,
        Err(e) => {
            st.metrics.proxy_request(true);
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body: {e}\n"),
            )
                .into_response();
        }
    };
    let pq = parts
        .uri
        .path_and_query()
        .map_or("/", |pq| pq.as_str())
        .to_owned();
    let mut out = hyper::Request::new(body);
    *out.method_mut() = parts.method.clone();
    *out.uri_mut() = match st.client.endpoint().uri(&pq) {
        Ok(u) => u,
        Err(e) => {
            st.metrics.proxy_request(true);
            return (StatusCode::BAD_REQUEST, format!("bad path: {e}\n")).into_response();
        }
    };
    copy_headers(&parts.headers, out.headers_mut());
    if let Ok(host) = HeaderValue::from_str(st.client.endpoint().authority()) {
        out.headers_mut().insert(header::HOST, host);
    }
    match st.client.send(out, PROXY_TIMEOUT).await {
        Ok(resp) => {
            st.metrics.proxy_request(false);
            let (rparts, rbody) = resp.into_parts();
            let mut r = Response::new(Body::from(rbody));
            *r.status_mut() = rparts.status;
            copy_headers(&rparts.headers, r.headers_mut());
            r
        }
        Err(e) => {
            st.metrics.proxy_request(true);
            tracing::warn!(error = %e, path = %pq, "sampling proxy: endpoint did not answer");
            (StatusCode::BAD_GATEWAY, format!("{e}\n")).into_response()
        }
    }
}

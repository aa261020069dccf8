//! A tower [`Layer`](tower_layer::Layer) for incoming HTTP requests (axum, hyper, tonic):
//! one segment per request, current while the handler runs, with `http.request` (method, URL
//! without the query as the Python SDK writes it, user agent, client address from
//! `X-Forwarded-For`), `http.response` (status, content length), the `error`/`throttle`/
//! `fault` flags, and an `X-Amzn-Trace-Id` response header (`Root=<trace id>`, plus
//! `Sampled=<decision>` when the caller sent `Sampled=?`, as the Python SDK does).
//!
//! The caller's `X-Amzn-Trace-Id` (or W3C `traceparent`) decides sampling when it says
//! `Sampled=1`/`0`; otherwise the recorder's rules decide on host, method and path.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use fluoro_proto::header::HEADER_NAME;
use fluoro_proto::segment::HttpRequest;
use http::{HeaderValue, Request, Response};

use crate::propagation::Upstream;
use crate::recorder::{Recorder, SegmentStart};
use crate::sampling::SamplingRequest;

/// Traces every request through the wrapped service.
#[derive(Debug, Clone)]
pub struct XRayLayer {
    recorder: Recorder,
    name: Option<String>,
}

impl XRayLayer {
    /// Segments named after the recorder's service name (or `AWS_XRAY_TRACING_NAME`).
    pub fn new(recorder: Recorder) -> XRayLayer {
        XRayLayer {
            recorder,
            name: None,
        }
    }

    /// Segments named `name` instead.
    pub fn with_name(recorder: Recorder, name: impl Into<String>) -> XRayLayer {
        XRayLayer {
            recorder,
            name: Some(name.into()),
        }
    }
}

impl<S> tower_layer::Layer<S> for XRayLayer {
    type Service = XRayService<S>;
    fn layer(&self, inner: S) -> XRayService<S> {
        XRayService {
            inner,
            recorder: self.recorder.clone(),
            name: self.name.clone(),
        }
    }
}

/// The service [`XRayLayer`] wraps around yours.
#[derive(Debug, Clone)]
pub struct XRayService<S> {
    inner: S,
    recorder: Recorder,
    name: Option<String>,
}

fn header<'a, B>(req: &'a Request<B>, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

impl<S, B, R> tower_service::Service<Request<B>> for XRayService<S>
where
    S: tower_service::Service<Request<B>, Response = Response<R>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    R: Send + 'static,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<R>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let upstream = Upstream::from_headers(|n| header(&req, n));
        let requested = upstream.as_ref().is_some_and(|u| u.requested);
        let host = header(&req, "host")
            .map(str::to_owned)
            .or_else(|| req.uri().authority().map(|a| a.to_string()));
        let method = req.method().as_str().to_owned();
        let path = req.uri().path().to_owned();
        let segment = self.recorder.begin_detached(SegmentStart {
            name: self.name.as_deref(),
            upstream,
            request: SamplingRequest {
                host: host.as_deref(),
                method: Some(&method),
                url_path: Some(&path),
                ..SamplingRequest::default()
            },
        });
        if segment.is_sampled() {
            let scheme = req.uri().scheme_str().unwrap_or("http");
            let xff = header(&req, "x-forwarded-for")
                .and_then(|v| v.split(',').next())
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty());
            segment.set_http_request(HttpRequest {
                method: Some(method),
                url: Some(format!(
                    "{scheme}://{}{path}",
                    host.as_deref().unwrap_or_default()
                )),
                user_agent: header(&req, "user-agent").map(str::to_owned),
                x_forwarded_for: xff.as_ref().map(|_| true),
                client_ip: xff.or_else(|| {
                    req.extensions()
                        .get::<ClientAddr>()
                        .map(|a| a.0.ip().to_string())
                }),
                ..HttpRequest::default()
            });
        }
        let response_header = segment.entity().trace_id().map(|t| {
            let mut v = format!("Root={t}");
            if requested {
                v.push_str(if segment.is_sampled() {
                    ";Sampled=1"
                } else {
                    ";Sampled=0"
                });
            }
            v
        });
        let node = segment.handle();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let result = crate::context::scope(node, fut).await;
            match &result {
                Ok(resp) => {
                    let len = resp
                        .headers()
                        .get(http::header::CONTENT_LENGTH)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse().ok());
                    segment.set_http_response(resp.status().as_u16(), len);
                }
                Err(_) => segment.mark_fault(),
            }
            drop(segment);
            result.map(|mut resp| {
                if let Some(v) = response_header.and_then(|v| HeaderValue::from_str(&v).ok()) {
                    resp.headers_mut().insert(HEADER_NAME, v);
                }
                resp
            })
        })
    }
}

/// The client's address, for `http.request.client_ip` when there is no `X-Forwarded-For`.
/// Insert it as a request extension (e.g. from axum's `ConnectInfo` in a small middleware,
/// or a hyper connection's peer address).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub std::net::SocketAddr);

//! The OTLP/gRPC receiver: `TraceService/Export` (tonic, HTTP/2 without TLS, gzip accepted).
//!
//! Status codes follow the OTLP specification (`docs/opentelemetry.md`): success, with
//! `partial_success` when spans were rejected; `INVALID_ARGUMENT` (not retryable) for a request
//! that does not decode (bad protobuf, bad gzip, a truncated or missing message);
//! `RESOURCE_EXHAUSTED` without `RetryInfo` (not retryable) for one over
//! `--otlp-max-message-bytes`, compressed or not; `UNAVAILABLE` when the writer queue is full or
//! the collector is stopping (clients retry with backoff); `INTERNAL` for a store failure.
//!
//! tonic's own answers for the decoding failures are `INTERNAL` and `OUT_OF_RANGE`, which OTLP
//! clients retry; [`GuardLayer`] wraps the server and rewrites them, and answers a request
//! that is not gRPC (another content type, HTTP/1.1), on any path, with HTTP `415` before tonic
//! sees it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use fluoro_proto::otlp::pb::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::body::Body;
use tonic::codec::CompressionEncoding;
use tonic::codegen::{BoxFuture, Service, http};
use tonic::transport::server::TcpIncoming;
use tonic::{Code, Request, Response, Status};

use super::pb::trace_service_server::{TraceService, TraceServiceServer};
use super::{Ingest, IngestError};
use crate::metrics::Metrics;

/// The service implementation.
#[derive(Debug)]
struct Receiver {
    ingest: Arc<Ingest>,
}

/// Set by [`Receiver::export`] when a request decoded and reached it: an error answer without
/// it came from tonic's decoding, which [`Guard`] maps to OTLP's codes.
#[derive(Debug, Clone, Default)]
struct Reached(Arc<AtomicBool>);

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        if let Some(r) = request.extensions().get::<Reached>() {
            r.0.store(true, Ordering::Relaxed);
        }
        let req = request.into_inner();
        match self.ingest.export("grpc", &req).await {
            Ok(r) => Ok(Response::new(r)),
            Err(e @ (IngestError::Busy(_) | IngestError::Closed)) => {
                self.ingest.metrics.otlp.request_rejected("grpc", "busy");
                Err(Status::unavailable(e.to_string()))
            }
            Err(e) => {
                tracing::error!(error = %e, "otlp/grpc export failed");
                Err(Status::internal(e.to_string()))
            }
        }
    }
}

/// The gRPC media types served: protobuf messages only (no `+json`, no gRPC-Web).
fn is_grpc_proto(headers: &http::HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|ct| ct.split(';').next().unwrap_or("").trim())
        .is_some_and(|t| {
            t.eq_ignore_ascii_case("application/grpc")
                || t.eq_ignore_ascii_case("application/grpc+proto")
        })
}

/// The one method served.
const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// Wraps the gRPC server (every path): refuses requests that are not gRPC, and gives tonic's
/// decoding failures of `Export` the OTLP status codes, counting both in
/// `fluoro_otlp_requests_rejected_total`.
#[derive(Debug, Clone)]
struct GuardLayer {
    metrics: Arc<Metrics>,
    max_message_bytes: usize,
}

impl<S> tower_layer::Layer<S> for GuardLayer {
    type Service = Guard<S>;
    fn layer(&self, inner: S) -> Guard<S> {
        Guard {
            inner,
            metrics: Arc::clone(&self.metrics),
            max_message_bytes: self.max_message_bytes,
        }
    }
}

/// See [`GuardLayer`].
#[derive(Debug, Clone)]
struct Guard<S> {
    inner: S,
    metrics: Arc<Metrics>,
    max_message_bytes: usize,
}

impl<S> Service<http::Request<Body>> for Guard<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<Body>) -> Self::Future {
        let metrics = Arc::clone(&self.metrics);
        if req.version() != http::Version::HTTP_2 || !is_grpc_proto(req.headers()) {
            metrics.otlp.request_rejected("grpc", "content_type");
            let got = req
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let message = format!(
                "this is the OTLP/gRPC receiver: send application/grpc over HTTP/2 (got {:?} \
                 content type {got:?}); OTLP/HTTP goes to the --otlp-http listener",
                req.version()
            );
            let mut resp = Status::invalid_argument(message.clone()).into_http::<Body>();
            *resp.status_mut() = http::StatusCode::UNSUPPORTED_MEDIA_TYPE;
            resp.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            *resp.body_mut() =
                Body::new(http_body_util::Full::new(hyper::body::Bytes::from(message)));
            return Box::pin(std::future::ready(Ok(resp)));
        }
        if req.uri().path() != EXPORT_PATH {
            // tonic answers UNIMPLEMENTED, as gRPC specifies for an unknown method.
            return Box::pin(self.inner.call(req));
        }
        let reached = Reached::default();
        req.extensions_mut().insert(reached.clone());
        let max = self.max_message_bytes;
        let fut = self.inner.call(req);
        Box::pin(async move {
            let resp = fut.await?;
            if reached.0.load(Ordering::Relaxed) {
                return Ok(resp);
            }
            let Some(status) = Status::from_header_map(resp.headers()) else {
                return Ok(resp);
            };
            let (reason, mapped) = match status.code() {
                Code::Ok => return Ok(resp),
                // Unsupported `grpc-encoding`: tonic's UNIMPLEMENTED (with
                // `grpc-accept-encoding`) is what gRPC specifies.
                Code::Unimplemented => {
                    metrics.otlp.request_rejected("grpc", "content_encoding");
                    return Ok(resp);
                }
                Code::OutOfRange | Code::ResourceExhausted => (
                    "too_large",
                    Status::resource_exhausted(format!(
                        "the request exceeds the {max}-byte limit (--otlp-max-message-bytes): {}",
                        status.message()
                    )),
                ),
                _ => (
                    "malformed",
                    Status::invalid_argument(format!(
                        "the request is not an OTLP ExportTraceServiceRequest: {}",
                        status.message()
                    )),
                ),
            };
            metrics.otlp.request_rejected("grpc", reason);
            tracing::debug!(reason, error = %mapped.message(), "otlp/grpc request rejected");
            Ok(mapped.into_http())
        })
    }
}

/// Serves until `stop` fires, then finishes in-flight calls.
pub(super) async fn serve(
    listener: TcpListener,
    ingest: Arc<Ingest>,
    max_message_bytes: usize,
    stop: oneshot::Receiver<()>,
) -> Result<(), String> {
    let metrics = Arc::clone(&ingest.metrics);
    let svc = TraceServiceServer::new(Receiver { ingest })
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(max_message_bytes);
    tonic::transport::Server::builder()
        // HTTP/1.1 is accepted only so that a client sending OTLP/HTTP here by mistake gets a
        // 415 saying so, instead of a reset connection.
        .accept_http1(true)
        .layer(GuardLayer {
            metrics,
            max_message_bytes,
        })
        .add_service(svc)
        // TCP_NODELAY, as tonic's own `serve` sets: without it, Nagle's algorithm holds the
        // small response frames back for the client's delayed ACK (tens of ms per request).
        .serve_with_incoming_shutdown(
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            async {
                let _ = stop.await;
            },
        )
        .await
        .map_err(|e| e.to_string())
}

//! The OTLP/gRPC receiver: `TraceService/Export` (tonic, HTTP/2 without TLS, gzip accepted).
//!
//! Status codes follow the OTLP specification: success (with `partial_success` when spans were
//! rejected), `UNAVAILABLE` when the writer queue is full or the collector is stopping (clients
//! retry with backoff), `INTERNAL` for a store failure. A message that does not decode or
//! exceeds `--otlp-max-message-bytes` is refused by tonic's codec (`INTERNAL` and
//! `OUT_OF_RANGE`/`RESOURCE_EXHAUSTED` respectively).

use std::sync::Arc;

use fluoro_proto::otlp::pb::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::codec::CompressionEncoding;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

use super::pb::trace_service_server::{TraceService, TraceServiceServer};
use super::{Ingest, IngestError};

/// The service implementation.
#[derive(Debug)]
struct Receiver {
    ingest: Arc<Ingest>,
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let req = request.into_inner();
        match self.ingest.export("grpc", &req).await {
            Ok(r) => Ok(Response::new(r)),
            Err(e @ (IngestError::Busy(_) | IngestError::Closed)) => {
                self.ingest.metrics.otlp.request_rejected("busy");
                Err(Status::unavailable(e.to_string()))
            }
            Err(e) => {
                tracing::error!(error = %e, "otlp/grpc export failed");
                Err(Status::internal(e.to_string()))
            }
        }
    }
}

/// Serves until `stop` fires, then finishes in-flight calls.
pub(super) async fn serve(
    listener: TcpListener,
    ingest: Arc<Ingest>,
    max_message_bytes: usize,
    stop: oneshot::Receiver<()>,
) -> Result<(), String> {
    let svc = TraceServiceServer::new(Receiver { ingest })
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(max_message_bytes);
    tonic::transport::Server::builder()
        .add_service(svc)
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), async {
            let _ = stop.await;
        })
        .await
        .map_err(|e| e.to_string())
}

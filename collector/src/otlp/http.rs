//! The OTLP/HTTP receiver: `POST /v1/traces`.
//!
//! Bodies are `application/x-protobuf` or `application/json` (OTLP/JSON), with
//! `Content-Encoding: gzip` or none. Answers follow the OTLP specification: `200` with an
//! `ExportTraceServiceResponse` in the request's encoding (carrying `partial_success` when spans
//! were rejected); `400` for a body that does not decode, `413` for one larger than
//! `--otlp-max-message-bytes` (compressed or not), `415` for another content type or encoding,
//! `503` with `Retry-After` when the writer queue is full — each with a `google.rpc.Status`
//! body in the request's encoding (JSON when that is unknown).

use std::io::Read as _;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use fluoro_proto::otlp::json;
use fluoro_proto::otlp::pb::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::{Ingest, IngestError};

/// The OTLP/HTTP path for traces.
pub const TRACES_PATH: &str = "/v1/traces";

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

/// `google.rpc.Status`, the error body OTLP/HTTP specifies (details are not sent).
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// gRPC code `INVALID_ARGUMENT`.
const INVALID_ARGUMENT: i32 = 3;
/// gRPC code `RESOURCE_EXHAUSTED`.
const RESOURCE_EXHAUSTED: i32 = 8;
/// gRPC code `INTERNAL`.
const INTERNAL: i32 = 13;
/// gRPC code `UNAVAILABLE`.
const UNAVAILABLE: i32 = 14;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => PROTOBUF,
            Encoding::Json => JSON,
        }
    }
}

#[derive(Debug)]
struct HttpState {
    ingest: Arc<Ingest>,
    max_bytes: usize,
}

/// The receiver's router (also usable in tests without a socket).
pub(super) fn router(ingest: Arc<Ingest>, max_bytes: usize) -> Router {
    Router::new()
        .route(TRACES_PATH, post(traces))
        // The body limit is enforced by `traces` itself, so it can answer in OTLP's shape.
        .layer(DefaultBodyLimit::disable())
        .with_state(Arc::new(HttpState { ingest, max_bytes }))
}

/// Serves until `stop` fires, then finishes in-flight requests.
pub(super) async fn serve(
    listener: TcpListener,
    ingest: Arc<Ingest>,
    max_bytes: usize,
    stop: oneshot::Receiver<()>,
) -> Result<(), String> {
    use axum::serve::ListenerExt as _;
    // TCP_NODELAY, as on the gRPC listener: responses are not held back by Nagle's algorithm.
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "otlp/http: could not set TCP_NODELAY");
        }
    });
    axum::serve(listener, router(ingest, max_bytes))
        .with_graceful_shutdown(async {
            let _ = stop.await;
        })
        .await
        .map_err(|e| e.to_string())
}

fn status_response(enc: Encoding, http: StatusCode, code: i32, message: String) -> Response {
    let st = RpcStatus { code, message };
    let body = match enc {
        Encoding::Protobuf => st.encode_to_vec(),
        Encoding::Json => serde_json::to_vec(&serde_json::json!({
            "code": st.code,
            "message": st.message,
        }))
        .unwrap_or_default(),
    };
    let mut r = (http, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(enc.content_type()),
    );
    r
}

fn media_type(headers: &HeaderMap) -> Option<&str> {
    let ct = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(ct.split(';').next().unwrap_or("").trim())
}

async fn traces(State(st): State<Arc<HttpState>>, headers: HeaderMap, body: Body) -> Response {
    let metrics = &st.ingest.metrics.otlp;
    let enc = match media_type(&headers) {
        Some(t) if t.eq_ignore_ascii_case(PROTOBUF) => Encoding::Protobuf,
        Some(t) if t.eq_ignore_ascii_case(JSON) => Encoding::Json,
        other => {
            metrics.request_rejected("http", "content_type");
            return status_response(
                Encoding::Json,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                INVALID_ARGUMENT,
                format!(
                    "unsupported content type {:?}: send {PROTOBUF} or {JSON}",
                    other.unwrap_or("")
                ),
            );
        }
    };
    let gzip = match headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
    {
        None | Some("" | "identity") => false,
        Some(e) if e.eq_ignore_ascii_case("gzip") => true,
        Some(e) => {
            metrics.request_rejected("http", "content_encoding");
            return status_response(
                enc,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                INVALID_ARGUMENT,
                format!("unsupported content encoding {e:?}: send gzip or none"),
            );
        }
    };
    let too_large = |what: &str| {
        metrics.request_rejected("http", "too_large");
        status_response(
            enc,
            StatusCode::PAYLOAD_TOO_LARGE,
            RESOURCE_EXHAUSTED,
            format!(
                "{what} exceeds the {}-byte limit (--otlp-max-message-bytes)",
                st.max_bytes
            ),
        )
    };
    let raw: Bytes = match axum::body::to_bytes(body, st.max_bytes).await {
        Ok(b) => b,
        Err(e) => {
            let limit = std::error::Error::source(&e)
                .is_some_and(|s| s.to_string().contains("length limit"))
                || e.to_string().contains("length limit");
            if limit {
                return too_large("the request body");
            }
            metrics.request_rejected("http", "read");
            return status_response(
                enc,
                StatusCode::BAD_REQUEST,
                INVALID_ARGUMENT,
                format!("could not read the request body: {e}"),
            );
        }
    };
    let plain: Bytes = if gzip {
        let mut out = Vec::new();
        let limit = st.max_bytes as u64 + 1;
        let read = flate2::read::GzDecoder::new(&raw[..])
            .take(limit)
            .read_to_end(&mut out);
        match read {
            Ok(n) if n as u64 >= limit => return too_large("the decompressed body"),
            Ok(_) => out.into(),
            Err(e) => {
                metrics.request_rejected("http", "gzip");
                return status_response(
                    enc,
                    StatusCode::BAD_REQUEST,
                    INVALID_ARGUMENT,
                    format!("the body is not valid gzip: {e}"),
                );
            }
        }
    } else {
        raw
    };
    let decoded = match enc {
        Encoding::Protobuf => ExportTraceServiceRequest::decode(plain)
            .map_err(|e| format!("the body is not an OTLP ExportTraceServiceRequest: {e}")),
        Encoding::Json => json::decode_request(&plain)
            .map_err(|e| format!("the body is not an OTLP/JSON ExportTraceServiceRequest: {e}")),
    };
    let req = match decoded {
        Ok(r) => r,
        Err(message) => {
            metrics.request_rejected("http", "malformed");
            return status_response(enc, StatusCode::BAD_REQUEST, INVALID_ARGUMENT, message);
        }
    };
    match st.ingest.export("http", &req).await {
        Ok(resp) => {
            let body = match enc {
                Encoding::Protobuf => resp.encode_to_vec(),
                Encoding::Json => json::encode_response(&resp),
            };
            let mut r = (StatusCode::OK, body).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(enc.content_type()),
            );
            r
        }
        Err(e @ (IngestError::Busy(_) | IngestError::Closed)) => {
            metrics.request_rejected("http", "busy");
            let mut r = status_response(
                enc,
                StatusCode::SERVICE_UNAVAILABLE,
                UNAVAILABLE,
                e.to_string(),
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            r
        }
        Err(e) => {
            tracing::error!(error = %e, "otlp/http export failed");
            status_response(
                enc,
                StatusCode::INTERNAL_SERVER_ERROR,
                INTERNAL,
                e.to_string(),
            )
        }
    }
}

//! The X-Ray HTTP API: routing by path as AWS routes (every operation is a `POST` to a fixed
//! path), JSON in and out, errors in AWS's shape.
//!
//! Every response carries `x-amzn-RequestId`. Errors carry `x-amzn-ErrorType` and a body with
//! `__type`, `message` and `Message`, which botocore, aws-sdk-rust and JS v3 all read. An empty
//! body is read as `{}`. When `--auth-keys` is set, every request must be SigV4-signed.

mod groups;
mod misc;
mod sampling;
pub mod sigv4;

pub use sampling::ensure_default_rule;
mod telemetry_read;
mod traces;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use fluoro_proto::api::{ApiError, ERROR_TYPE_HEADER, ErrorCode, Operation};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::sampling::SamplingState;
use crate::store::{Store, StoreError};

/// What every handler can reach.
#[derive(Debug)]
pub struct AppState {
    /// The configuration the collector runs with.
    pub config: Config,
    /// Storage.
    pub store: Store,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Live sampling statistics and quotas.
    pub sampling: SamplingState,
    /// SigV4 keys, when verification is on.
    pub auth: Option<sigv4::Keys>,
    /// The OTLP exporter (`--otlp-export`), offered every stored document.
    pub otlp_export: Option<Arc<crate::otlp::export::Exporter>>,
    request_seq: AtomicU64,
}

impl AppState {
    /// Assembles the state.
    pub fn new(
        config: Config,
        store: Store,
        metrics: Arc<Metrics>,
        auth: Option<sigv4::Keys>,
    ) -> Self {
        AppState {
            config,
            store,
            metrics,
            sampling: SamplingState::default(),
            auth,
            otlp_export: None,
            request_seq: AtomicU64::new(0),
        }
    }

    fn request_id(&self) -> String {
        // A UUID-shaped id, unique per process run: start time + sequence.
        let n = self.request_seq.fetch_add(1, Ordering::Relaxed);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            (t >> 32) as u32,
            (t >> 16) as u16,
            (t & 0xfff) as u16,
            (n >> 48) as u16 & 0xfff,
            n & 0xffff_ffff_ffff
        )
    }
}

/// The API router: `/health`, `/metrics`, and every X-Ray operation path.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/fluoro/telemetry", get(telemetry_read::get_telemetry))
        .fallback(dispatch)
        .with_state(state)
}

async fn health() -> &'static str {
    "ok\n"
}

async fn metrics(State(st): State<Arc<AppState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        st.metrics.render(),
    )
        .into_response()
}

async fn dispatch(State(st): State<Arc<AppState>>, req: Request) -> Response {
    let request_id = st.request_id();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let headers = req.headers().clone();
    let op = Operation::from_path(&path);
    let op_name = op.map_or("unknown", Operation::name);
    let result = async {
        let op = match (op, &method) {
            (Some(op), &Method::POST) => op,
            (Some(_), _) => {
                return Err(ApiError::new(
                    ErrorCode::UnknownOperation,
                    format!("X-Ray operations are POST requests; got {method} {path}"),
                ));
            }
            (None, _) => return Err(ApiError::unknown_operation(&path)),
        };
        let body = read_body(req.into_body(), st.config.max_body_bytes).await?;
        if let Some(keys) = &st.auth {
            sigv4::verify(keys, &method, &path, &query, &headers, &body)?;
        }
        handle(&st, op, &body).await
    }
    .await;
    let response = match result {
        Ok(json) => {
            let mut r = Response::new(Body::from(json));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            r
        }
        Err(e) => error_response(&e),
    };
    st.metrics.request(op_name, response.status().as_u16());
    let mut response = response;
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-amzn-RequestId", v);
    }
    if response.status().is_server_error() {
        tracing::error!(operation = op_name, status = %response.status(), "request failed");
    }
    response
}

/// The AWS error shape for `e`.
pub fn error_response(e: &ApiError) -> Response {
    let status =
        StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(&e.body()).unwrap_or_default();
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(
        ERROR_TYPE_HEADER,
        HeaderValue::from_static(e.code.aws_type()),
    );
    r
}

async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let too_big = std::error::Error::source(&e)
            .is_some_and(|s| s.to_string().contains("length limit"))
            || e.to_string().contains("length limit");
        if too_big {
            ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("request body exceeds the {limit}-byte limit (--max-body-bytes)"),
            )
        } else {
            ApiError::invalid_request(format!("could not read the request body: {e}"))
        }
    })
}

/// Parses a request body; empty means `{}`. Errors name the member.
pub(crate) fn parse<T: DeserializeOwned>(op: Operation, body: &[u8]) -> Result<T, ApiError> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    // Fast path; only a body that fails is parsed again to name the member at fault.
    if let Ok(v) = serde_json::from_slice(body) {
        return Ok(v);
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path.is_empty() || path == "." {
            ApiError::invalid_request(format!("{op}: request body is not valid: {inner}"))
        } else {
            ApiError::invalid_request(format!("{op}: {path}: {inner}"))
        }
    })?;
    de.end().map_err(|e| {
        ApiError::invalid_request(format!("{op}: trailing data after the JSON body: {e}"))
    })?;
    Ok(value)
}

pub(crate) fn to_json<T: Serialize>(v: &T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(v).map_err(|e| ApiError::internal(format!("cannot encode response: {e}")))
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Busy(n) => ApiError::throttled(format!(
                "the collector is busy: {n} writes are queued; retry with backoff"
            )),
            StoreError::Closed => ApiError::new(
                ErrorCode::ServiceUnavailable,
                "the collector is shutting down",
            ),
            other => {
                tracing::error!(error = %other, "store failure");
                ApiError::internal(other.to_string())
            }
        }
    }
}

async fn handle(st: &AppState, op: Operation, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    use Operation as O;
    match op {
        O::PutTraceSegments => to_json(&traces::put_trace_segments(st, parse(op, body)?).await?),
        O::BatchGetTraces => to_json(&traces::batch_get_traces(st, parse(op, body)?).await?),
        O::GetTraceSummaries => to_json(&traces::get_trace_summaries(st, parse(op, body)?).await?),
        O::GetServiceGraph => to_json(&traces::get_service_graph(st, parse(op, body)?).await?),
        O::GetTraceGraph => to_json(&traces::get_trace_graph(st, parse(op, body)?).await?),
        O::GetTimeSeriesServiceStatistics => {
            to_json(&traces::get_time_series(st, parse(op, body)?).await?)
        }
        O::GetSamplingRules => to_json(&sampling::get_rules(st, parse(op, body)?).await?),
        O::CreateSamplingRule => to_json(&sampling::create_rule(st, parse(op, body)?).await?),
        O::UpdateSamplingRule => to_json(&sampling::update_rule(st, parse(op, body)?).await?),
        O::DeleteSamplingRule => to_json(&sampling::delete_rule(st, parse(op, body)?).await?),
        O::GetSamplingTargets => to_json(&sampling::get_targets(st, parse(op, body)?).await?),
        O::GetSamplingStatisticSummaries => {
            to_json(&sampling::get_statistic_summaries(st, parse(op, body)?).await?)
        }
        O::CreateGroup => to_json(&groups::create(st, parse(op, body)?).await?),
        O::GetGroup => to_json(&groups::get(st, parse(op, body)?).await?),
        O::GetGroups => to_json(&groups::list(st, parse(op, body)?).await?),
        O::UpdateGroup => to_json(&groups::update(st, parse(op, body)?).await?),
        O::DeleteGroup => to_json(&groups::delete(st, parse(op, body)?).await?),
        O::TagResource => to_json(&groups::tag(st, parse(op, body)?).await?),
        O::UntagResource => to_json(&groups::untag(st, parse(op, body)?).await?),
        O::ListTagsForResource => to_json(&groups::list_tags(st, parse(op, body)?).await?),
        O::PutTelemetryRecords => to_json(&misc::put_telemetry(st, parse(op, body)?).await?),
        O::GetEncryptionConfig => to_json(&misc::get_encryption_config()),
        O::PutEncryptionConfig => to_json(&misc::put_encryption_config(&parse(op, body)?)?),
        O::GetTraceSegmentDestination => to_json(&misc::get_destination()),
        O::UpdateTraceSegmentDestination => to_json(&misc::update_destination(&parse(op, body)?)?),
        O::CancelTraceRetrieval
        | O::DeleteResourcePolicy
        | O::GetIndexingRules
        | O::GetInsight
        | O::GetInsightEvents
        | O::GetInsightImpactGraph
        | O::GetInsightSummaries
        | O::GetRetrievedTracesGraph
        | O::ListResourcePolicies
        | O::ListRetrievedTraces
        | O::PutResourcePolicy
        | O::StartTraceRetrieval
        | O::UpdateIndexingRule => Err(ApiError::new(
            ErrorCode::NotImplemented,
            format!("{op} is not provided by Fluoro yet (see docs/collector.md, compatibility)"),
        )),
    }
}

//! `GET /fluoro/telemetry?minutes=N`: stored daemon telemetry, newest first (at most
//! [`MAX_RECORDS`]). Fluoro's own path: the X-Ray API has no operation that reads
//! `PutTelemetryRecords` back. The console's telemetry page reads it.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use fluoro_proto::api::StoredTelemetryResponse;
use serde::Deserialize;

use super::{AppState, error_response, to_json};
use crate::store::telemetry::recent;
use crate::store::traces::now_secs;

/// Most records returned.
pub(super) const MAX_RECORDS: usize = 1000;

#[derive(Debug, Deserialize)]
pub(super) struct TelemetryQuery {
    minutes: Option<String>,
}

pub(super) async fn get_telemetry(
    State(st): State<Arc<AppState>>,
    Query(q): Query<TelemetryQuery>,
) -> Response {
    let minutes = q
        .minutes
        .and_then(|m| m.parse::<f64>().ok())
        .filter(|m| m.is_finite() && *m > 0.0)
        .unwrap_or(60.0);
    let since = now_secs() - minutes * 60.0;
    match st
        .store
        .read(move |conn| recent(conn, since, MAX_RECORDS))
        .await
    {
        Ok(records) => match to_json(&StoredTelemetryResponse {
            telemetry_records: records,
        }) {
            Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
            Err(e) => error_response(&e),
        },
        Err(e) => error_response(&e.into()),
    }
}

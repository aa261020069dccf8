//! Trace operations: PutTraceSegments, BatchGetTraces, GetTraceSummaries, GetServiceGraph,
//! GetTraceGraph, GetTimeSeriesServiceStatistics.

use std::sync::atomic::Ordering;

use fluoro_proto::api::{
    self, ApiError, BatchGetTracesRequest, BatchGetTracesResponse, EpochSeconds,
    GetServiceGraphRequest, GetServiceGraphResponse, GetTimeSeriesServiceStatisticsRequest,
    GetTimeSeriesServiceStatisticsResponse, GetTraceGraphRequest, GetTraceGraphResponse,
    GetTraceSummariesRequest, GetTraceSummariesResponse, PutTraceSegmentsRequest,
    PutTraceSegmentsResponse, TimeRangeType, TraceSummary, UnprocessedTraceSegment,
};
use fluoro_proto::ids::{EntityId, TraceId};
use fluoro_proto::validate::{ValidateOptions, check_document};

use super::AppState;
use crate::graph::{self, EntitySelector, GraphContribution};
use crate::store::traces::{self as rows, Cursor, IngestDoc, RangeBy, now_secs};
use crate::trace::{self, AssembledTrace};

/// Summaries per GetTraceSummaries page.
pub(crate) const SUMMARY_PAGE_SIZE: usize = 100;
/// Default sampling rate for `Sampling: true` without a strategy [design].
const DEFAULT_SUMMARY_SAMPLING_RATE: f64 = 0.1;

pub(super) async fn put_trace_segments(
    st: &AppState,
    req: PutTraceSegmentsRequest,
) -> Result<PutTraceSegmentsResponse, ApiError> {
    let max = st.config.max_documents;
    if req.trace_segment_documents.len() > max {
        return Err(ApiError::invalid_request(format!(
            "Exceeding maximum segment count: {max}"
        )));
    }
    let opts = ValidateOptions {
        now_secs: Some(now_secs() as u64),
        max_trace_age_secs: st.config.retention.as_secs(),
        max_document_bytes: st.config.max_document_bytes,
        ..ValidateOptions::default()
    };
    let mut unprocessed = Vec::new();
    let mut accepted = Vec::with_capacity(req.trace_segment_documents.len());
    for doc in req.trace_segment_documents {
        match check_document(&doc, &opts) {
            Ok(seg) => {
                // check_document guarantees these are present and well-formed.
                let trace_id = seg
                    .parsed_trace_id()
                    .and_then(Result::ok)
                    .unwrap_or(TraceId::NOOP);
                let entity_id = seg
                    .parsed_id()
                    .and_then(Result::ok)
                    .unwrap_or(EntityId::NOOP);
                let start = seg.start_time.as_ref().map_or(0.0, |t| t.as_secs_f64());
                accepted.push(IngestDoc {
                    trace_id,
                    entity_id,
                    in_progress: seg.in_progress == Some(true),
                    start,
                    end: seg.end_time.as_ref().map(|t| t.as_secs_f64()),
                    doc,
                });
            }
            Err(e) => {
                st.metrics.document_rejected(e.code.as_str());
                tracing::debug!(code = e.code.as_str(), error = %e, "document rejected");
                unprocessed.push(UnprocessedTraceSegment {
                    id: e.id.clone(),
                    error_code: Some(e.code.as_str().to_owned()),
                    message: Some(e.message()),
                });
            }
        }
    }
    if !accepted.is_empty() {
        let n = accepted.len() as u64;
        let exported: Option<Vec<String>> =
            (st.otlp_export.as_ref()).map(|_| accepted.iter().map(|d| d.doc.clone()).collect());
        st.store
            .write(move |conn| rows::insert_documents(conn, &accepted, now_secs()))
            .await?;
        st.metrics
            .documents_accepted
            .fetch_add(n, Ordering::Relaxed);
        if let (Some(x), Some(docs)) = (&st.otlp_export, exported) {
            x.offer(docs);
        }
    }
    Ok(PutTraceSegmentsResponse {
        unprocessed_trace_segments: unprocessed,
    })
}

/// Loads and assembles the traces with these ids; ids that are malformed or unknown come back
/// in the second list.
async fn load_assembled(
    st: &AppState,
    ids: Vec<String>,
) -> Result<(Vec<(AssembledTrace, i64)>, Vec<String>), ApiError> {
    st.store
        .read(move |conn| {
            let mut found = Vec::new();
            let mut missing = Vec::new();
            for raw in ids {
                let Ok(id) = TraceId::parse(&raw) else {
                    missing.push(raw);
                    continue;
                };
                match rows::load_trace(conn, id)? {
                    Some(t) if !t.documents.is_empty() => {
                        found.push((trace::assemble(id, t.documents), t.revision));
                    }
                    _ => missing.push(raw),
                }
            }
            Ok((found, missing))
        })
        .await
        .map_err(ApiError::from)
}

pub(super) async fn batch_get_traces(
    st: &AppState,
    req: BatchGetTracesRequest,
) -> Result<BatchGetTracesResponse, ApiError> {
    req.validate()?;
    let (found, missing) = load_assembled(st, req.trace_ids).await?;
    let traces = found
        .into_iter()
        .map(|(t, _)| {
            let (start, end) = t.time_span();
            let segments = t
                .segments
                .iter()
                .chain(&t.orphans)
                .map(|s| api::Segment {
                    id: s.id.clone().unwrap_or_default(),
                    document: s.to_json(),
                })
                .collect();
            api::Trace {
                id: t.id.to_string(),
                duration: Some(start.zip(end).map_or(0.0, |(s, e)| (e - s).max(0.0))),
                limit_exceeded: Some(false),
                segments,
            }
        })
        .collect();
    Ok(BatchGetTracesResponse {
        traces,
        unprocessed_trace_ids: missing,
        next_token: None,
    })
}

fn encode_cursor(c: Cursor) -> String {
    format!("v1:{}:{}", c.0, c.1)
}

fn decode_cursor(token: &str) -> Result<Cursor, ApiError> {
    let bad = || {
        ApiError::invalid_request(format!(
            "NextToken {token:?} is not one this collector issued"
        ))
    };
    let rest = token.strip_prefix("v1:").ok_or_else(bad)?;
    let (t, k) = rest.split_once(':').ok_or_else(bad)?;
    Ok((t.parse().map_err(|_| bad())?, k.parse().map_err(|_| bad())?))
}

/// Deterministic per-trace draw in [0, 1), so paging a sampled listing is stable.
fn sample_draw(id: TraceId) -> f64 {
    let mut x = id.to_w3c() as u64 ^ (id.to_w3c() >> 64) as u64;
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

fn check_window(start: EpochSeconds, end: EpochSeconds) -> Result<(f64, f64), ApiError> {
    let (s, e) = (start.as_secs_f64(), end.as_secs_f64());
    if !(s.is_finite() && e.is_finite()) {
        return Err(ApiError::invalid_request(
            "StartTime and EndTime must be finite",
        ));
    }
    if s > e {
        return Err(ApiError::invalid_request(format!(
            "StartTime ({s}) must not be after EndTime ({e})"
        )));
    }
    Ok((s, e))
}

pub(super) async fn get_trace_summaries(
    st: &AppState,
    req: GetTraceSummariesRequest,
) -> Result<GetTraceSummariesResponse, ApiError> {
    req.validate()?;
    // Filter expressions are evaluated on each listed trace with the reference evaluator; the
    // indexed SQL push-down arrives with the rest of issue 5.
    let filter = match req.filter_expression.as_deref() {
        Some(f) if !f.trim().is_empty() => Some(
            crate::filter::parse(f)
                .map_err(|e| ApiError::invalid_request(format!("FilterExpression: {e}")))?,
        ),
        _ => None,
    };
    let (start, end) = check_window(req.start_time, req.end_time)?;
    let by = match req.time_range_type {
        None | Some(TimeRangeType::TraceId) => RangeBy::TraceId,
        Some(TimeRangeType::Event) => RangeBy::Event,
        Some(other) => {
            return Err(ApiError::invalid_request(format!(
                "TimeRangeType {other:?} is not supported; use TraceId or Event"
            )));
        }
    };
    let rate = match (req.sampling, &req.sampling_strategy) {
        (Some(true), Some(s)) => {
            let v = s.value.unwrap_or(DEFAULT_SUMMARY_SAMPLING_RATE);
            if !(0.0..=1.0).contains(&v) {
                return Err(ApiError::invalid_request(format!(
                    "SamplingStrategy.Value must be between 0 and 1, got {v}"
                )));
            }
            Some(v)
        }
        (Some(true), None) => Some(DEFAULT_SUMMARY_SAMPLING_RATE),
        _ => None,
    };
    let after = req.next_token.as_deref().map(decode_cursor).transpose()?;
    let page = st
        .store
        .read(move |conn| {
            let listed = rows::list_traces(conn, by, start, end, after, SUMMARY_PAGE_SIZE + 1)?;
            let mut out = Vec::new();
            let more = listed.len() > SUMMARY_PAGE_SIZE;
            let mut next = None;
            let mut processed = 0i64;
            for row in listed.into_iter().take(SUMMARY_PAGE_SIZE) {
                processed += 1;
                next = Some((row.time, row.key));
                if rate.is_some_and(|r| sample_draw(row.id) >= r) {
                    continue;
                }
                // Summaries are derived from the documents when listed: a page is at most
                // SUMMARY_PAGE_SIZE traces, and nothing stale can be served.
                let docs = rows::load_documents(conn, row.key)?;
                let assembled = trace::assemble(row.id, docs);
                let mut summary: TraceSummary = trace::summarize(&assembled);
                if filter
                    .as_ref()
                    .is_some_and(|f| !crate::filter::matches(f, &assembled, &summary))
                {
                    continue;
                }
                summary.revision = Some(row.revision as i32);
                if by == RangeBy::Event {
                    summary.matched_event_time = Some(EpochSeconds(row.updated_at));
                }
                out.push(summary);
            }
            Ok((out, if more { next } else { None }, processed))
        })
        .await?;
    let (summaries, next, processed) = page;
    Ok(GetTraceSummariesResponse {
        trace_summaries: summaries,
        approximate_time: Some(EpochSeconds(now_secs().floor())),
        traces_processed_count: Some(processed),
        next_token: next.map(encode_cursor),
    })
}

/// The group a graph request names, if any; groups with a filter expression are refused until
/// filter expressions are supported.
async fn check_group(
    st: &AppState,
    name: Option<String>,
    arn: Option<String>,
) -> Result<(), ApiError> {
    if name.is_none() && arn.is_none() {
        return Ok(());
    }
    let group = super::groups::find(st, name, arn).await?;
    if group
        .filter_expression
        .as_deref()
        .is_some_and(|f| !f.trim().is_empty())
    {
        return Err(ApiError::invalid_request(format!(
            "group {} has a filter expression; scoping graphs by filter expression is not supported by this collector yet",
            group.group_name.unwrap_or_default()
        )));
    }
    Ok(())
}

async fn merged_buckets(
    st: &AppState,
    start: f64,
    end: f64,
) -> Result<Vec<(f64, GraphContribution)>, ApiError> {
    st.store
        .read(move |conn| {
            let raw = rows::load_buckets(conn, start, end)?;
            raw.into_iter()
                .map(|(bucket, json)| {
                    serde_json::from_str::<GraphContribution>(&json)
                        .map(|g| (bucket as f64, g))
                        .map_err(|e| {
                            crate::store::StoreError::Corrupt(format!("graph bucket {bucket}: {e}"))
                        })
                })
                .collect()
        })
        .await
        .map_err(ApiError::from)
}

pub(super) async fn get_service_graph(
    st: &AppState,
    req: GetServiceGraphRequest,
) -> Result<GetServiceGraphResponse, ApiError> {
    req.validate()?;
    let (start, end) = check_window(req.start_time, req.end_time)?;
    check_group(st, req.group_name, req.group_arn).await?;
    let buckets = merged_buckets(st, start, end).await?;
    let mut all = GraphContribution::default();
    for (_, g) in &buckets {
        all.merge(g);
    }
    Ok(GetServiceGraphResponse {
        start_time: Some(EpochSeconds((start / 60.0).floor() * 60.0)),
        end_time: Some(EpochSeconds(end)),
        services: graph::to_services(&all),
        contains_old_group_versions: Some(false),
        next_token: None,
    })
}

pub(super) async fn get_trace_graph(
    st: &AppState,
    req: GetTraceGraphRequest,
) -> Result<GetTraceGraphResponse, ApiError> {
    req.validate()?;
    let (found, _missing) = load_assembled(st, req.trace_ids).await?;
    let traces: Vec<AssembledTrace> = found.into_iter().map(|(t, _)| t).collect();
    Ok(GetTraceGraphResponse {
        services: graph::trace_graph(&traces),
        next_token: None,
    })
}

pub(super) async fn get_time_series(
    st: &AppState,
    req: GetTimeSeriesServiceStatisticsRequest,
) -> Result<GetTimeSeriesServiceStatisticsResponse, ApiError> {
    req.validate()?;
    let (start, end) = check_window(req.start_time, req.end_time)?;
    check_group(st, req.group_name.clone(), req.group_arn.clone()).await?;
    // Without a selector AWS returns edge statistics; ours are those of the client edges, one
    // request per trace.
    let selector = match req.entity_selector_expression.as_deref() {
        None => EntitySelector::ClientEdges,
        Some(expr) => EntitySelector::parse(expr)
            .map_err(|e| ApiError::invalid_request(format!("EntitySelectorExpression: {e}")))?,
    };
    let period = match req.period {
        None => 60,
        Some(p) if p >= 60 && p % 60 == 0 => p as u32,
        Some(p) => {
            return Err(ApiError::invalid_request(format!(
                "Period must be a positive multiple of 60 seconds, got {p}"
            )));
        }
    };
    let buckets = merged_buckets(st, start, end).await?;
    Ok(GetTimeSeriesServiceStatisticsResponse {
        time_series_service_statistics: graph::time_series(&buckets, &selector, period, start, end),
        contains_old_group_versions: Some(false),
        next_token: None,
    })
}

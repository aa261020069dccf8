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
use fluoro_proto::ids::TraceId;
use fluoro_proto::validate::{ValidateOptions, check_document};

use super::AppState;
use crate::graph::{self, EntitySelector, GraphContribution};
use crate::store::StoreError;
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
            Ok(seg) => accepted.push(IngestDoc::new(doc, seg)),
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
        st.store.ingest(accepted).await?;
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
    // Candidates come from the filter index where the expression allows (filter::needs), and
    // the reference evaluator decides each one (filtered_page).
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
    let max_evaluated = st.config.max_filter_evaluations;
    let filtered = filter.is_some();
    let groups = match &filter {
        Some(_) => super::groups::group_filters(st).await?,
        None => Vec::new(),
    };
    let page = st
        .store
        .read(move |conn| match filter {
            None => plain_page(conn, by, start, end, after, rate),
            Some(f) => {
                let scan = Scan {
                    by,
                    start,
                    end,
                    filter: &f,
                    groups: &groups,
                };
                filtered_page(conn, &scan, after, rate, max_evaluated)
            }
        })
        .await?;
    let (summaries, next, processed) = page;
    if filtered && next.is_some() && processed as usize >= max_evaluated {
        st.metrics.filter_pages_cut.fetch_add(1, Ordering::Relaxed);
    }
    Ok(GetTraceSummariesResponse {
        trace_summaries: summaries,
        approximate_time: Some(EpochSeconds(now_secs().floor())),
        traces_processed_count: Some(processed),
        next_token: next.map(encode_cursor),
    })
}

/// A page of the listing and where the next one starts.
type Page = (Vec<TraceSummary>, Option<rows::Cursor>, i64);

/// Candidates read from the index per round.
const CANDIDATE_BATCH: usize = 256;

fn summarize_row(
    conn: &rusqlite::Connection,
    row: &rows::TraceRow,
    by: RangeBy,
) -> Result<(trace::AssembledTrace, TraceSummary), StoreError> {
    // Summaries are derived from the documents when listed: a page is at most
    // SUMMARY_PAGE_SIZE traces, and nothing stale can be served.
    let docs = rows::load_documents(conn, row.key)?;
    let assembled = trace::assemble(row.id, docs);
    let mut summary: TraceSummary = trace::summarize(&assembled);
    summary.revision = Some(row.revision as i32);
    if by == RangeBy::Event {
        summary.matched_event_time = Some(EpochSeconds(row.updated_at));
    }
    Ok((assembled, summary))
}

fn plain_page(
    conn: &rusqlite::Connection,
    by: RangeBy,
    start: f64,
    end: f64,
    after: Option<rows::Cursor>,
    rate: Option<f64>,
) -> Result<Page, StoreError> {
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
        out.push(summarize_row(conn, &row, by)?.1);
    }
    Ok((out, if more { next } else { None }, processed))
}

/// A filtered walk over the traces of a window.
struct Scan<'a> {
    by: RangeBy,
    start: f64,
    end: f64,
    filter: &'a crate::filter::Filter,
    groups: &'a [crate::filter::GroupFilter],
}

/// What the walk does after a trace.
enum Step {
    Next,
    Stop,
}

impl Scan<'_> {
    /// Visits the traces of the window that match the filter, newest first from `after`, until
    /// `visit` says stop or `max_evaluated` traces were evaluated (returns where it stopped),
    /// or the window is exhausted (returns `None`). Candidates come from the filter index when
    /// the expression has an indexed part (spec xray-api.md §3, docs/filter-expressions.md),
    /// else from the plain listing; the reference evaluator decides each one. `evaluated`
    /// counts the traces evaluated; `skip` rules a candidate out before it is read (sampling).
    fn walk(
        &self,
        conn: &rusqlite::Connection,
        after: Option<rows::Cursor>,
        max_evaluated: usize,
        evaluated: &mut usize,
        skip: impl Fn(&rows::TraceRow) -> bool,
        mut visit: impl FnMut(&rows::TraceRow, trace::AssembledTrace, TraceSummary) -> Step,
    ) -> Result<Option<rows::Cursor>, StoreError> {
        let need = crate::filter::needs(self.filter);
        let opts = crate::filter::EvalOptions {
            groups: self.groups,
            ignore_case: false,
        };
        let mut cursor = after;
        loop {
            let batch = rows::list_candidates(
                conn,
                self.by,
                self.start,
                self.end,
                cursor,
                need.as_ref(),
                CANDIDATE_BATCH,
            )?;
            for row in &batch.rows {
                cursor = Some((row.time, row.key));
                if skip(row) {
                    continue;
                }
                *evaluated += 1;
                let (assembled, summary) = summarize_row(conn, row, self.by)?;
                if crate::filter::matches_with(self.filter, &assembled, &summary, &opts)
                    && matches!(visit(row, assembled, summary), Step::Stop)
                    || *evaluated >= max_evaluated
                {
                    return Ok(cursor);
                }
            }
            if batch.exhausted {
                return Ok(None);
            }
            cursor = batch.last;
        }
    }
}

/// A page of matches: at most `SUMMARY_PAGE_SIZE`, and at most `max_evaluated` traces
/// evaluated (`--max-filter-evaluations`) before it answers with what it found and a
/// `NextToken` (AWS pages the same way: a page may hold fewer matches than its size).
fn filtered_page(
    conn: &rusqlite::Connection,
    scan: &Scan<'_>,
    after: Option<rows::Cursor>,
    rate: Option<f64>,
    max_evaluated: usize,
) -> Result<Page, StoreError> {
    let mut out = Vec::new();
    let mut evaluated = 0usize;
    let next = scan.walk(
        conn,
        after,
        max_evaluated,
        &mut evaluated,
        |row| rate.is_some_and(|r| sample_draw(row.id) >= r),
        |_, _, summary| {
            out.push(summary);
            if out.len() == SUMMARY_PAGE_SIZE {
                Step::Stop
            } else {
                Step::Next
            }
        },
    )?;
    Ok((out, next, evaluated as i64))
}

/// The filter of the group a graph request names: `None` when it names none, or a group
/// without a filter expression (such as `Default`), whose graph is the whole graph.
async fn group_scope(
    st: &AppState,
    name: Option<String>,
    arn: Option<String>,
) -> Result<Option<crate::filter::Filter>, ApiError> {
    if name.is_none() && arn.is_none() {
        return Ok(None);
    }
    let group = super::groups::find(st, name, arn).await?;
    match group.filter_expression.as_deref() {
        Some(f) if !f.trim().is_empty() => crate::filter::parse(f).map(Some).map_err(|e| {
            ApiError::invalid_request(format!(
                "group {}: FilterExpression: {e}",
                group.group_name.unwrap_or_default()
            ))
        }),
        _ => Ok(None),
    }
}

/// The graph buckets of a window, or, for a group with a filter expression, the per-minute
/// contributions of the window's traces that match it (spec §3.4 allows evaluating groups at
/// query time; the whole-graph buckets are pre-aggregated, group graphs are not).
async fn graph_buckets(
    st: &AppState,
    start: f64,
    end: f64,
    scope: Option<crate::filter::Filter>,
) -> Result<Vec<(f64, GraphContribution)>, ApiError> {
    let Some(filter) = scope else {
        return merged_buckets(st, start, end).await;
    };
    let groups = super::groups::group_filters(st).await?;
    let first_bucket = (start / 60.0).floor() * 60.0;
    // A wider window is refused (narrow it): `--max-group-graph-traces`.
    let max_traces = st.config.max_group_graph_traces;
    let result = st
        .store
        .read(move |conn| {
            // A trace's bucket is the minute of its start; its id time is that start (to the
            // second) for every SDK, so a minute of slack on each side finds them all.
            let scan = Scan {
                by: RangeBy::TraceId,
                start: first_bucket - 60.0,
                end: end + 60.0,
                filter: &filter,
                groups: &groups,
            };
            let mut buckets: std::collections::BTreeMap<i64, GraphContribution> =
                std::collections::BTreeMap::new();
            let mut evaluated = 0;
            let stopped = scan.walk(
                conn,
                None,
                max_traces,
                &mut evaluated,
                |_| false,
                |row, assembled, _| {
                    let t = assembled
                        .time_span()
                        .0
                        .unwrap_or_else(|| f64::from(row.id.epoch_secs()));
                    let bucket = (t / 60.0).floor() * 60.0;
                    if bucket >= first_bucket && bucket < end {
                        buckets
                            .entry(bucket as i64)
                            .or_default()
                            .merge(&graph::contribution(&assembled));
                    }
                    Step::Next
                },
            )?;
            Ok((buckets, stopped.is_some()))
        })
        .await?;
    let (buckets, truncated) = result;
    if truncated {
        st.metrics
            .group_graphs_refused
            .fetch_add(1, Ordering::Relaxed);
        return Err(ApiError::invalid_request(format!(
            "the time range holds more than {max_traces} traces to test against the group's filter expression (--max-group-graph-traces); narrow it"
        )));
    }
    Ok(buckets.into_iter().map(|(b, g)| (b as f64, g)).collect())
}

async fn merged_buckets(
    st: &AppState,
    start: f64,
    end: f64,
) -> Result<Vec<(f64, GraphContribution)>, ApiError> {
    st.store
        .read(move |conn| {
            Ok(rows::load_buckets(conn, start, end)?
                .into_iter()
                .map(|(bucket, g)| (bucket as f64, g))
                .collect())
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
    let scope = group_scope(st, req.group_name, req.group_arn).await?;
    let buckets = graph_buckets(st, start, end, scope).await?;
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
    let scope = group_scope(st, req.group_name.clone(), req.group_arn.clone()).await?;
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
    let buckets = graph_buckets(st, start, end, scope).await?;
    Ok(GetTimeSeriesServiceStatisticsResponse {
        time_series_service_statistics: graph::time_series(&buckets, &selector, period, start, end),
        contains_old_group_versions: Some(false),
        next_token: None,
    })
}

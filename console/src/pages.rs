//! The HTTP handlers: one per page, each calling the X-Ray API through [`ApiClient`] and
//! rendering an askama template. Every response gets the security headers of [`secure`].

use std::collections::HashSet;
use std::convert::Infallible;
use std::time::Duration;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use fluoro_proto::api::{
    BatchGetTracesRequest, BatchGetTracesResponse, EpochSeconds, GetServiceGraphRequest,
    GetServiceGraphResponse, GetTraceGraphRequest, GetTraceGraphResponse, GetTraceSummariesRequest,
    GetTraceSummariesResponse, Operation, TraceSummary,
};
use serde::Deserialize;

use crate::client::{ApiClient, ClientError};
use crate::filter_error::FilterError;
use crate::map::{self, Bar, MapView};
use crate::timeline::{self, Timeline};
use crate::{assets, ops};

/// Most trace summaries listed on one traces page.
pub(crate) const MAX_ROWS: usize = 1000;
/// Most `GetTraceSummaries` pages read for one traces page.
const MAX_PAGES: usize = 50;
/// How often the live tail asks for new traces.
const TAIL_EVERY: Duration = Duration::from_secs(2);
/// How far back the live tail looks on each poll (traces are listed once complete).
const TAIL_LOOKBACK: f64 = 120.0;
/// Most trace ids the live tail remembers having sent.
const TAIL_MEMORY: usize = 10_000;

/// The Content-Security-Policy of every page: only our own scripts and styles, no inline code.
pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Time ranges offered, with their length in seconds.
const RANGES: [(&str, f64); 8] = [
    ("5m", 300.0),
    ("15m", 900.0),
    ("1h", 3600.0),
    ("3h", 10_800.0),
    ("6h", 21_600.0),
    ("24h", 86_400.0),
    ("7d", 604_800.0),
    ("30d", 2_592_000.0),
];

pub(crate) fn router(api: ApiClient) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/map") }))
        .route("/map", get(map_page))
        .route("/traces", get(traces_page))
        .route("/traces/live", get(live_tail))
        .route("/traces/{id}", get(trace_page))
        .route("/sampling", get(ops::sampling))
        .route("/sampling/save", post(ops::sampling_save))
        .route("/sampling/delete", post(ops::sampling_delete))
        .route("/groups", get(ops::groups))
        .route("/groups/save", post(ops::groups_save))
        .route("/groups/delete", post(ops::groups_delete))
        .route("/telemetry", get(ops::telemetry))
        .route("/static/console.css", get(assets::css))
        .route("/static/console.js", get(assets::js))
        .with_state(api)
}

/// Adds the security headers.
pub(crate) fn secure(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}

pub(crate) fn html<T: Template>(status: StatusCode, t: &T) -> Response {
    match t.render() {
        Ok(body) => secure(
            (
                status,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                )],
                body,
            )
                .into_response(),
        ),
        Err(e) => {
            tracing::error!(error = %e, "cannot render a page");
            secure((StatusCode::INTERNAL_SERVER_ERROR, "cannot render the page").into_response())
        }
    }
}

/// The page shown when the API call behind a page failed.
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    nav: &'static str,
    title: String,
    message: String,
    endpoint: String,
}

pub(crate) fn api_error(nav: &'static str, api: &ApiClient, e: &ClientError) -> Response {
    tracing::warn!(error = %e, "api call failed");
    html(
        StatusCode::BAD_GATEWAY,
        &ErrorPage {
            nav,
            title: "The X-Ray API call failed".to_owned(),
            message: e.to_string(),
            endpoint: api.endpoint(),
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Time ranges

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct RangeQuery {
    range: Option<String>,
    // Strings: numbers inside a flattened query struct do not deserialize (serde_urlencoded).
    start: Option<String>,
    end: Option<String>,
}

/// A resolved window and how to say it in a query string.
#[derive(Debug, Clone)]
pub(crate) struct Window {
    start: f64,
    end: f64,
    /// The range name, or `custom`.
    name: String,
    /// `range=15m` or `start=..&end=..`, for links that keep the window.
    qs: String,
}

impl Window {
    fn minutes(&self) -> f64 {
        ((self.end - self.start) / 60.0).max(1.0 / 60.0)
    }
}

pub(crate) fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn window(q: &RangeQuery) -> Window {
    let num = |v: &Option<String>| v.as_deref().and_then(|s| s.trim().parse::<f64>().ok());
    if let (Some(s), Some(e)) = (num(&q.start), num(&q.end))
        && s.is_finite()
        && e.is_finite()
        && s <= e
    {
        return Window {
            start: s,
            end: e,
            name: "custom".to_owned(),
            qs: format!("start={s}&end={e}"),
        };
    }
    let name = q.range.as_deref().unwrap_or("15m");
    let (name, secs) = RANGES
        .iter()
        .find(|(n, _)| *n == name)
        .copied()
        .unwrap_or(RANGES[1]);
    let end = now_secs();
    Window {
        start: end - secs,
        end,
        name: name.to_owned(),
        qs: format!("range={name}"),
    }
}

/// `YYYY-MM-DD HH:MM:SS.mmm` UTC.
pub(crate) fn format_time(secs: f64) -> String {
    if !secs.is_finite() {
        return String::new();
    }
    let ms_total = (secs * 1000.0).round() as i64;
    let (days, ms_day) = (
        ms_total.div_euclid(86_400_000),
        ms_total.rem_euclid(86_400_000),
    );
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:03}",
        ms_day / 3_600_000,
        ms_day / 60_000 % 60,
        ms_day / 1000 % 60,
        ms_day % 1000
    )
}

// ---------------------------------------------------------------------------------------------
// Map

#[derive(Debug, Default, Deserialize)]
struct MapQuery {
    #[serde(flatten)]
    range: RangeQuery,
    group: Option<String>,
}

#[derive(Template)]
#[template(path = "map.html")]
struct MapPage {
    nav: &'static str,
    window: Window,
    ranges: Vec<&'static str>,
    group: String,
    from: String,
    to: String,
    svg: String,
    map: MapView,
    empty: bool,
}

async fn map_page(State(api): State<ApiClient>, Query(q): Query<MapQuery>) -> Response {
    let w = window(&q.range);
    let group = q.group.filter(|g| !g.trim().is_empty());
    let mut services = Vec::new();
    let mut token = None;
    for _ in 0..MAX_PAGES {
        let req = GetServiceGraphRequest {
            start_time: EpochSeconds(w.start),
            end_time: EpochSeconds(w.end),
            group_name: group.clone(),
            next_token: token.take(),
            ..Default::default()
        };
        match api
            .call::<_, GetServiceGraphResponse>(Operation::GetServiceGraph, &req)
            .await
        {
            Ok(r) => {
                services.extend(r.services);
                token = r.next_token;
                if token.is_none() {
                    break;
                }
            }
            Err(e) => return api_error("map", &api, &e),
        }
    }
    let view = map::build(&services, w.minutes());
    let svg = match view.render() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot render the map");
            String::new()
        }
    };
    html(
        StatusCode::OK,
        &MapPage {
            nav: "map",
            from: format_time(w.start),
            to: format_time(w.end),
            ranges: RANGES.iter().map(|r| r.0).collect(),
            group: group.unwrap_or_default(),
            svg,
            empty: view.nodes.is_empty(),
            map: view,
            window: w,
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Traces

#[derive(Debug, Default, Deserialize)]
struct TracesQuery {
    #[serde(flatten)]
    range: RangeQuery,
    filter: Option<String>,
    sort: Option<String>,
}

/// One row of the traces list.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct TraceRow {
    id: String,
    start: String,
    start_secs: f64,
    method: String,
    url: String,
    status: String,
    response_ms: String,
    response_secs: f64,
    class: &'static str,
}

fn trace_row(s: &TraceSummary) -> TraceRow {
    let http = s.http.as_ref();
    let class = if s.has_fault == Some(true) {
        "fault"
    } else if s.has_throttle == Some(true) {
        "throttle"
    } else if s.has_error == Some(true) {
        "error"
    } else {
        "ok"
    };
    let rt = s.response_time.unwrap_or(0.0);
    TraceRow {
        id: s.id.clone(),
        start: s.start_time.map(|t| format_time(t.0)).unwrap_or_default(),
        start_secs: s.start_time.map_or(0.0, |t| t.0),
        method: http.and_then(|h| h.http_method.clone()).unwrap_or_default(),
        url: http.and_then(|h| h.http_url.clone()).unwrap_or_default(),
        status: http
            .and_then(|h| h.http_status)
            .map(|c| c.to_string())
            .unwrap_or_default(),
        response_ms: map::latency(rt),
        response_secs: rt,
        class,
    }
}

#[derive(Template)]
#[template(path = "traces.html")]
struct TracesPage {
    nav: &'static str,
    window: Window,
    ranges: Vec<&'static str>,
    filter: String,
    sort: String,
    error: Option<FilterError>,
    caret: Option<String>,
    rows: Vec<TraceRow>,
    truncated: bool,
    bars: Vec<(Bar, String)>,
    since: f64,
}

/// `(F) AND responsetime >= lo AND responsetime <= hi`, in seconds.
pub(crate) fn narrow(filter: &str, lo_ms: f64, hi_ms: f64) -> String {
    let range = format!(
        "responsetime >= {:.3} AND responsetime <= {:.3}",
        (lo_ms / 1000.0).max(0.0),
        hi_ms / 1000.0
    );
    if filter.trim().is_empty() {
        range
    } else {
        format!("({}) AND {range}", filter.trim())
    }
}

async fn summaries(
    api: &ApiClient,
    start: f64,
    end: f64,
    filter: &str,
    max: usize,
) -> Result<(Vec<TraceSummary>, bool), ClientError> {
    let mut out = Vec::new();
    let mut token = None;
    for _ in 0..MAX_PAGES {
        let req = GetTraceSummariesRequest {
            start_time: EpochSeconds(start),
            end_time: EpochSeconds(end),
            filter_expression: (!filter.trim().is_empty()).then(|| filter.to_owned()),
            next_token: token.take(),
            ..Default::default()
        };
        let r: GetTraceSummariesResponse = api.call(Operation::GetTraceSummaries, &req).await?;
        out.extend(r.trace_summaries);
        token = r.next_token;
        if token.is_none() || out.len() >= max {
            break;
        }
    }
    let truncated = out.len() > max || token.is_some();
    out.truncate(max);
    Ok((out, truncated))
}

async fn traces_page(State(api): State<ApiClient>, Query(q): Query<TracesQuery>) -> Response {
    let w = window(&q.range);
    let filter = q.filter.unwrap_or_default();
    let sort = q.sort.unwrap_or_else(|| "time-desc".to_owned());
    let mut page = TracesPage {
        nav: "traces",
        ranges: RANGES.iter().map(|r| r.0).collect(),
        filter: filter.clone(),
        sort: sort.clone(),
        error: None,
        caret: None,
        rows: Vec::new(),
        truncated: false,
        bars: Vec::new(),
        since: w.end,
        window: w.clone(),
    };
    match summaries(&api, w.start, w.end, &filter, MAX_ROWS).await {
        Ok((list, truncated)) => {
            let mut rows: Vec<TraceRow> = list.iter().map(trace_row).collect();
            match sort.as_str() {
                "time-asc" => rows.sort_by(|a, b| a.start_secs.total_cmp(&b.start_secs)),
                "rt-desc" => rows.sort_by(|a, b| b.response_secs.total_cmp(&a.response_secs)),
                "rt-asc" => rows.sort_by(|a, b| a.response_secs.total_cmp(&b.response_secs)),
                _ => rows.sort_by(|a, b| b.start_secs.total_cmp(&a.start_secs)),
            }
            let entries: Vec<(f64, i64)> = rows.iter().map(|r| (r.response_secs, 1)).collect();
            page.bars = map::histogram(&entries, 30)
                .into_iter()
                .map(|b| {
                    let f = narrow(&filter, b.lo_ms, b.hi_ms);
                    (b, f)
                })
                .collect();
            page.rows = rows;
            page.truncated = truncated;
            html(StatusCode::OK, &page)
        }
        Err(ClientError::Api {
            error_type,
            message,
            ..
        }) if error_type == "InvalidRequestException" && message.contains("FilterExpression") => {
            let e = FilterError::from_message(&message);
            page.caret = e.caret(&filter);
            page.error = Some(e);
            html(StatusCode::BAD_REQUEST, &page)
        }
        Err(e) => api_error("traces", &api, &e),
    }
}

#[derive(Debug, Deserialize)]
struct TailQuery {
    filter: Option<String>,
    since: Option<f64>,
}

struct Tail {
    api: ApiClient,
    filter: String,
    since: f64,
    seen: HashSet<String>,
    queue: std::collections::VecDeque<Event>,
}

/// New traces matching the filter, as server-sent events (`trace`, JSON of a row).
async fn live_tail(State(api): State<ApiClient>, Query(q): Query<TailQuery>) -> Response {
    let since = q.since.filter(|s| s.is_finite()).unwrap_or_else(now_secs);
    let tail = Tail {
        api,
        filter: q.filter.unwrap_or_default(),
        since,
        seen: HashSet::new(),
        queue: std::collections::VecDeque::new(),
    };
    let stream = futures_util::stream::unfold(tail, |mut t| async move {
        loop {
            if let Some(ev) = t.queue.pop_front() {
                return Some((Ok::<_, Infallible>(ev), t));
            }
            tokio::time::sleep(TAIL_EVERY).await;
            let end = now_secs();
            let start = t.since.max(end - TAIL_LOOKBACK);
            match summaries(&t.api, start, end + 1.0, &t.filter, MAX_ROWS).await {
                Ok((mut list, _)) => {
                    list.sort_by(|a, b| {
                        let (x, y) = (
                            a.start_time.map_or(0.0, |s| s.0),
                            b.start_time.map_or(0.0, |s| s.0),
                        );
                        x.total_cmp(&y)
                    });
                    for s in &list {
                        if t.seen.len() >= TAIL_MEMORY {
                            t.seen.clear();
                        }
                        if t.seen.insert(s.id.clone())
                            && let Ok(json) = serde_json::to_string(&trace_row(s))
                        {
                            t.queue
                                .push_back(Event::default().event("trace").data(json));
                        }
                    }
                }
                Err(e) => {
                    t.queue
                        .push_back(Event::default().event("problem").data(e.to_string()));
                }
            }
        }
    });
    secure(
        Sse::new(stream)
            .keep_alive(KeepAlive::default())
            .into_response(),
    )
}

// ---------------------------------------------------------------------------------------------
// Trace detail

#[derive(Template)]
#[template(path = "trace.html")]
struct TracePage {
    nav: &'static str,
    id: String,
    start: String,
    timeline: Timeline,
    raw: Vec<(String, String)>,
    svg: String,
    ticks: Vec<(f64, String)>,
}

async fn trace_page(State(api): State<ApiClient>, Path(id): Path<String>) -> Response {
    let req = BatchGetTracesRequest {
        trace_ids: vec![id.clone()],
        next_token: None,
    };
    let mut documents = Vec::new();
    let mut raw = Vec::new();
    let mut req = req;
    for _ in 0..MAX_PAGES {
        match api
            .call::<_, BatchGetTracesResponse>(Operation::BatchGetTraces, &req)
            .await
        {
            Ok(r) => {
                for t in r.traces {
                    for s in t.segments {
                        let pretty = serde_json::from_str::<serde_json::Value>(&s.document)
                            .ok()
                            .and_then(|v| serde_json::to_string_pretty(&v).ok())
                            .unwrap_or_else(|| s.document.clone());
                        raw.push((s.id, pretty));
                        documents.push(s.document);
                    }
                }
                req.next_token = r.next_token;
                if req.next_token.is_none() {
                    break;
                }
            }
            Err(e) => return api_error("traces", &api, &e),
        }
    }
    if documents.is_empty() {
        return html(
            StatusCode::NOT_FOUND,
            &ErrorPage {
                nav: "traces",
                title: "Trace not found".to_owned(),
                message: format!("No documents are stored for trace {id}."),
                endpoint: api.endpoint(),
            },
        );
    }
    let tl = timeline::build(&documents);
    let graph = api
        .call::<_, GetTraceGraphResponse>(
            Operation::GetTraceGraph,
            &GetTraceGraphRequest {
                trace_ids: vec![id.clone()],
                next_token: None,
            },
        )
        .await;
    let svg = match graph {
        Ok(g) => map::build(&g.services, 0.0).render().unwrap_or_default(),
        Err(e) => {
            tracing::warn!(error = %e, "trace graph unavailable");
            String::new()
        }
    };
    let ticks = (0..=4)
        .map(|i| {
            let f = f64::from(i) / 4.0;
            (f * 1000.0, map::latency(tl.span_ms * f / 1000.0))
        })
        .collect();
    html(
        StatusCode::OK,
        &TracePage {
            nav: "traces",
            start: format_time(tl.start),
            id,
            timeline: tl,
            raw,
            svg,
            ticks,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_encoding() {
        assert_eq!(format_time(0.0), "1970-01-01 00:00:00.000");
        assert_eq!(format_time(1_795_795_877.554), "2026-11-27 16:11:17.554");
        assert_eq!(
            narrow("", 100.0, 200.0),
            "responsetime >= 0.100 AND responsetime <= 0.200"
        );
        assert_eq!(
            narrow("ok", 0.0, 5.0),
            "(ok) AND responsetime >= 0.000 AND responsetime <= 0.005"
        );
    }
}

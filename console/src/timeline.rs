//! A trace's timeline: its segment documents (as `BatchGetTraces` returns them) → one row per
//! segment and subsegment, nested under the entity that called it across services, scaled to
//! the trace's span and coloured by status. Pure.

use std::collections::HashMap;

use fluoro_proto::segment::{Cause, Segment};

/// One row of the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// `r<n>`: the id of its detail panel.
    pub key: String,
    /// Entity id.
    pub id: String,
    /// Nesting depth (0 for roots).
    pub depth: usize,
    /// Segment or subsegment name.
    pub name: String,
    /// The service (segment name) it belongs to.
    pub service: String,
    /// Whether it is a segment (a service's own document) rather than a subsegment.
    pub is_segment: bool,
    /// Start, ms after the trace's start.
    pub start_ms: f64,
    /// Duration, ms (to the trace's end when in progress).
    pub duration_ms: f64,
    /// Bar start, per mille of the trace's span.
    pub bar_x: f64,
    /// Bar width, per mille (at least 2 so short calls stay visible).
    pub bar_w: f64,
    /// `ok`, `error`, `throttle`, `fault` or `pending`.
    pub status: &'static str,
    /// HTTP status code, when recorded.
    pub http_status: Option<i64>,
    /// Details for the panel.
    pub detail: Detail,
}

/// What the detail panel shows for one entity.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Detail {
    /// `origin`.
    pub origin: Option<String>,
    /// `namespace`.
    pub namespace: Option<String>,
    /// HTTP request method.
    pub method: Option<String>,
    /// HTTP request URL.
    pub url: Option<String>,
    /// `http`, pretty JSON.
    pub http: Option<String>,
    /// `aws`, pretty JSON.
    pub aws: Option<String>,
    /// `sql`, pretty JSON.
    pub sql: Option<String>,
    /// Annotations, key and value as text.
    pub annotations: Vec<(String, String)>,
    /// Metadata, pretty JSON.
    pub metadata: Option<String>,
    /// Exceptions.
    pub exceptions: Vec<ExceptionView>,
    /// `user`.
    pub user: Option<String>,
    /// `resource_arn`.
    pub resource_arn: Option<String>,
}

/// One exception with its stack.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExceptionView {
    /// Exception type.
    pub kind: String,
    /// Message.
    pub message: String,
    /// Caused by a downstream service.
    pub remote: bool,
    /// Frames as `label (path:line)`.
    pub stack: Vec<String>,
}

/// A laid-out timeline.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Timeline {
    /// Rows, in display order.
    pub rows: Vec<Row>,
    /// Trace start, epoch seconds.
    pub start: f64,
    /// Span, ms.
    pub span_ms: f64,
    /// Documents that did not parse, with why.
    pub unreadable: Vec<String>,
}

struct Entity {
    seg: Segment,
    service: String,
    parent: Option<usize>,
    children: Vec<usize>,
    /// A document of its own (not embedded in another).
    is_doc: bool,
}

fn flatten(seg: &Segment, service: &str, parent: Option<usize>, arena: &mut Vec<Entity>) -> usize {
    let me = arena.len();
    let mut own = seg.clone();
    own.subsegments = None;
    arena.push(Entity {
        seg: own,
        service: service.to_owned(),
        parent,
        children: Vec::new(),
        is_doc: parent.is_none(),
    });
    for sub in seg.subsegments.iter().flatten() {
        let c = flatten(sub, service, Some(me), arena);
        arena[me].children.push(c);
    }
    me
}

fn status_of(s: &Segment) -> (&'static str, Option<i64>) {
    let code = s
        .http
        .as_ref()
        .and_then(|h| h.response.as_ref())
        .and_then(|r| r.status.as_ref())
        .and_then(fluoro_proto::segment::IntOrString::as_i64);
    let st = if s.in_progress == Some(true) {
        "pending"
    } else if s.fault == Some(true) || code.is_some_and(|c| (500..600).contains(&c)) {
        "fault"
    } else if s.throttle == Some(true) || code == Some(429) {
        "throttle"
    } else if s.error == Some(true) || code.is_some_and(|c| (400..500).contains(&c)) {
        "error"
    } else {
        "ok"
    };
    (st, code)
}

fn pretty<T: serde::Serialize>(v: Option<&T>) -> Option<String> {
    v.and_then(|v| serde_json::to_string_pretty(v).ok())
}

fn detail(s: &Segment) -> Detail {
    let req = s.http.as_ref().and_then(|h| h.request.as_ref());
    let exceptions = match s.cause.as_deref() {
        Some(Cause::Details(d)) => d
            .exceptions
            .iter()
            .flatten()
            .map(|e| ExceptionView {
                kind: e.kind.clone().unwrap_or_default(),
                message: e.message.clone().unwrap_or_default(),
                remote: e.remote == Some(true),
                stack: e
                    .stack
                    .iter()
                    .flatten()
                    .map(|f| {
                        format!(
                            "{} ({}:{})",
                            f.label.as_deref().unwrap_or("?"),
                            f.path.as_deref().unwrap_or("?"),
                            f.line.map_or_else(|| "?".to_owned(), |l| l.to_string())
                        )
                    })
                    .collect(),
            })
            .collect(),
        _ => Vec::new(),
    };
    Detail {
        origin: s.origin.clone(),
        namespace: s.namespace.clone(),
        method: req.and_then(|r| r.method.clone()),
        url: req.and_then(|r| r.url.clone()),
        http: pretty(s.http.as_deref()),
        aws: pretty(s.aws.as_deref()),
        sql: pretty(s.sql.as_deref()),
        annotations: s
            .annotations
            .iter()
            .flatten()
            .map(|(k, v)| {
                (
                    k.clone(),
                    serde_json::to_string(v).unwrap_or_else(|_| "?".to_owned()),
                )
            })
            .collect(),
        metadata: pretty(s.metadata.as_ref()),
        exceptions,
        user: s.user.clone(),
        resource_arn: s.resource_arn.clone(),
    }
}

/// Builds the timeline of a trace from its documents.
pub fn build(documents: &[String]) -> Timeline {
    let mut arena: Vec<Entity> = Vec::new();
    let mut tops: Vec<usize> = Vec::new();
    let mut unreadable = Vec::new();
    for doc in documents {
        match Segment::from_json(doc) {
            Ok(seg) => {
                let service = seg.name.clone().unwrap_or_default();
                tops.push(flatten(&seg, &service, None, &mut arena));
            }
            Err(e) => unreadable.push(e.to_string()),
        }
    }
    let mut by_id: HashMap<String, usize> = HashMap::new();
    for (i, e) in arena.iter().enumerate() {
        if let Some(id) = &e.seg.id {
            by_id.entry(id.clone()).or_insert(i);
        }
    }
    // Attach each document to the entity that called it, unless that would make a loop.
    let mut roots = Vec::new();
    for &t in &tops {
        let parent = arena[t]
            .seg
            .parent_id
            .as_ref()
            .and_then(|p| by_id.get(p).copied());
        let loops = parent.is_some_and(|mut p| {
            let mut steps = 0;
            loop {
                if p == t || steps > arena.len() {
                    return true;
                }
                match arena[p].parent {
                    Some(q) => p = q,
                    None => return false,
                }
                steps += 1;
            }
        });
        match parent {
            Some(p) if !loops => {
                arena[t].parent = Some(p);
                arena[p].children.push(t);
                if arena[t].seg.kind.as_deref() == Some("subsegment") {
                    arena[t].service = arena[p].service.clone();
                }
            }
            _ => roots.push(t),
        }
    }
    let start_of = |i: usize| {
        arena[i]
            .seg
            .start_time
            .as_ref()
            .map_or(f64::INFINITY, fluoro_proto::segment::Timestamp::as_secs_f64)
    };
    let start = arena
        .iter()
        .enumerate()
        .map(|(i, _)| start_of(i))
        .fold(f64::INFINITY, f64::min);
    let end = arena
        .iter()
        .filter_map(|e| e.seg.end_time.as_ref().map(|t| t.as_secs_f64()))
        .chain(arena.iter().enumerate().map(|(i, _)| start_of(i)))
        .filter(|t| t.is_finite())
        .fold(f64::NEG_INFINITY, f64::max);
    let start = if start.is_finite() { start } else { 0.0 };
    let span = if end.is_finite() && end > start {
        end - start
    } else {
        0.001
    };
    roots.sort_by(|&a, &b| start_of(a).total_cmp(&start_of(b)));
    let mut rows = Vec::with_capacity(arena.len());
    let mut stack: Vec<(usize, usize)> = roots.iter().rev().map(|&r| (r, 0)).collect();
    while let Some((i, depth)) = stack.pop() {
        let e = &arena[i];
        let s0 = start_of(i);
        let s0 = if s0.is_finite() { s0 } else { start };
        let e0 = e
            .seg
            .end_time
            .as_ref()
            .map_or(start + span, |t| t.as_secs_f64());
        let (status, http_status) = status_of(&e.seg);
        let x = (s0 - start) / span * 1000.0;
        let w = ((e0 - s0) / span * 1000.0)
            .max(2.0)
            .min(1000.0 - x.min(998.0));
        rows.push(Row {
            key: format!("r{}", rows.len()),
            id: e.seg.id.clone().unwrap_or_default(),
            depth,
            name: e.seg.name.clone().unwrap_or_default(),
            service: e.service.clone(),
            is_segment: e.is_doc && e.seg.kind.as_deref() != Some("subsegment"),
            start_ms: (s0 - start) * 1000.0,
            duration_ms: (e0 - s0).max(0.0) * 1000.0,
            bar_x: x,
            bar_w: w,
            status,
            http_status,
            detail: detail(&e.seg),
        });
        let mut kids = e.children.clone();
        kids.sort_by(|&a, &b| start_of(a).total_cmp(&start_of(b)));
        for &k in kids.iter().rev() {
            stack.push((k, depth + 1));
        }
    }
    Timeline {
        rows,
        start,
        span_ms: span * 1000.0,
        unreadable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_nest_under_their_callers() {
        let docs = vec![
            r#"{"id":"a000000000000001","name":"front","trace_id":"1-5f000000-000000000000000000000001","start_time":10.0,"end_time":11.0,
               "subsegments":[{"id":"b000000000000001","name":"call back","start_time":10.1,"end_time":10.9,"namespace":"remote"}]}"#.to_owned(),
            r#"{"id":"c000000000000001","name":"back","trace_id":"1-5f000000-000000000000000000000001","parent_id":"b000000000000001",
               "start_time":10.2,"end_time":10.8,"fault":true}"#.to_owned(),
        ];
        let t = build(&docs);
        let names: Vec<(&str, usize)> = t.rows.iter().map(|r| (r.name.as_str(), r.depth)).collect();
        assert_eq!(names, [("front", 0), ("call back", 1), ("back", 2)]);
        assert_eq!(t.rows[2].status, "fault");
        assert!(t.rows[2].is_segment);
        assert!(!t.rows[1].is_segment);
        assert!((t.span_ms - 1000.0).abs() < 1e-6);
        assert!((t.rows[1].bar_x - 100.0).abs() < 1e-6);
    }
}

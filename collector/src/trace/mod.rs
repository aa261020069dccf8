//! Trace assembly and trace summaries: pure functions, no I/O.
//!
//! The store hands over every document it holds for one trace, in any order; [`assemble`]
//! returns the trace as X-Ray's `BatchGetTraces` shows it. [`summarize`] derives the
//! `TraceSummary` that `GetTraceSummaries` returns. [`service_id`] is the identity of a service
//! graph node, shared with `graph`.
//!
//! Layout:
//! - `assemble`: documents → trees (dedupe by id, nesting by `parent_id`, orphans);
//! - `inferred`: the segments X-Ray generates for un-traced downstream calls, and the table of
//!   AWS service names and resource types they use;
//! - `view`: a flattened, indexed view of an assembled trace (owner segment of every entity,
//!   downstream segments of every entity, the root segment) used by the summary;
//! - `summary` and `rootcause`: `TraceSummary` and its root-cause members.
//!
//! This module must not depend on the store, the HTTP layer or the graph module: it only knows
//! `fluoro_proto` documents and API shapes.

mod assemble;
mod inferred;
mod rootcause;
mod summary;
mod view;

#[cfg(test)]
mod tests;

pub use assemble::assemble;
pub use summary::{service_id, summarize, summarize_for_index};

use fluoro_proto::ids::TraceId;
use fluoro_proto::segment::Segment;

/// One trace, assembled.
#[derive(Debug, Clone, PartialEq)]
pub struct AssembledTrace {
    /// The trace id.
    pub id: TraceId,
    /// Top-level segments, each with every subsegment that belongs under it nested in place
    /// (embedded, streamed or independent, whatever order they arrived in), together with the
    /// inferred segments X-Ray generates for downstream `aws`/`remote` calls
    /// (`"inferred": true`). All of them ordered by `start_time` (missing last), then id.
    pub segments: Vec<Segment>,
    /// Independent subsegments whose parent is not (yet) in the trace, as received (with any
    /// independent subsegments that name them as parent nested in place), ordered like
    /// `segments`.
    pub orphans: Vec<Segment>,
}

impl AssembledTrace {
    /// Earliest `start_time` and latest `end_time` over the top-level documents (segments,
    /// inferred segments and orphans); the one definition of a trace's span, used by
    /// `TraceSummary.StartTime`/`Duration`, `Trace.Duration` and the graph bucket of the trace.
    pub fn time_span(&self) -> (Option<f64>, Option<f64>) {
        let mut start: Option<f64> = None;
        let mut end: Option<f64> = None;
        for s in self.segments.iter().chain(&self.orphans) {
            if let Some(t) = &s.start_time {
                let t = t.as_secs_f64();
                start = Some(start.map_or(t, |v| v.min(t)));
            }
            if let Some(t) = &s.end_time {
                let t = t.as_secs_f64();
                end = Some(end.map_or(t, |v| v.max(t)));
            }
        }
        (start, end)
    }
}

//! Prometheus metrics, kept as atomics and rendered in the text exposition format at `/metrics`.
//!
//! Names follow `fluoro_<component>_<name>_<unit>_total` for counters.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Every counter and gauge the collector exports.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Documents stored by PutTraceSegments.
    pub documents_accepted: AtomicU64,
    /// Documents refused, by AWS error code.
    documents_rejected: Mutex<BTreeMap<&'static str, u64>>,
    /// API requests, by operation and HTTP status.
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    /// Calls answered 429 because the writer queue was full.
    pub write_queue_full: AtomicU64,
    /// Write requests waiting for the writer now.
    pub write_queue_depth: AtomicU64,
    /// Write batches committed.
    pub write_batches: AtomicU64,
    /// Total microseconds spent in write batches.
    pub write_batch_micros: AtomicU64,
    /// WAL checkpoints run by the checkpoint thread.
    pub wal_checkpoints: AtomicU64,
    /// Checkpoints that had to wait for everyone because the WAL outgrew its limit.
    pub wal_checkpoints_forced: AtomicU64,
    /// Frames (pages) in the WAL at the last checkpoint.
    pub wal_frames: AtomicU64,
    /// Traces whose summary and graph statistics were (re)computed.
    pub traces_aggregated: AtomicU64,
    /// Traces removed by retention.
    pub traces_expired: AtomicU64,
    /// Filtered GetTraceSummaries pages cut short by `--max-filter-evaluations`.
    pub filter_pages_cut: AtomicU64,
    /// Group-scoped graph requests refused by `--max-group-graph-traces`.
    pub group_graphs_refused: AtomicU64,
    /// Traces the aggregator computed but did not store because a document arrived meanwhile
    /// (a later pass redoes them).
    pub aggregate_changed: AtomicU64,
    /// Traces the aggregator computed again after a pass had already stored them (not stored
    /// twice).
    pub aggregate_repeated: AtomicU64,
    /// Stored graph contributions (a trace's, or a minute bucket's) that could not be read: the
    /// trace was settled without taking its old share out, or the bucket started over.
    pub aggregate_corrupt: AtomicU64,
    /// Traces the aggregator found parsed in its cache.
    pub aggregate_cache_hits: AtomicU64,
    /// Traces the aggregator had to read back from the database.
    pub aggregate_cache_misses: AtomicU64,
    /// Traces left out of the aggregator's cache to stay within `--aggregate-cache-bytes`.
    pub aggregate_cache_full: AtomicU64,
    /// The OTLP receivers' counters.
    pub otlp: crate::otlp::OtlpMetrics,
}

impl Metrics {
    /// Counts one refused document.
    pub fn document_rejected(&self, code: &'static str) {
        let mut m = self
            .documents_rejected
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *m.entry(code).or_default() += 1;
    }

    /// Counts one API request.
    pub fn request(&self, operation: &str, status: u16) {
        let mut m = self
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *m.entry((operation.to_owned(), status)).or_default() += 1;
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        };
        let gauge = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        counter(
            &mut out,
            "fluoro_collector_documents_accepted_total",
            "Segment documents stored.",
            get(&self.documents_accepted),
        );
        let _ = writeln!(
            out,
            "# HELP fluoro_collector_documents_rejected_total Segment documents refused, by AWS error code.\n# TYPE fluoro_collector_documents_rejected_total counter"
        );
        for (code, n) in self
            .documents_rejected
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
        {
            let _ = writeln!(
                out,
                "fluoro_collector_documents_rejected_total{{reason=\"{code}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP fluoro_collector_requests_total API requests by operation and status.\n# TYPE fluoro_collector_requests_total counter"
        );
        for ((op, status), n) in self
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
        {
            let _ = writeln!(
                out,
                "fluoro_collector_requests_total{{operation=\"{op}\",status=\"{status}\"}} {n}"
            );
        }
        counter(
            &mut out,
            "fluoro_collector_write_queue_full_total",
            "Requests answered 429 because the writer queue was full.",
            get(&self.write_queue_full),
        );
        gauge(
            &mut out,
            "fluoro_collector_write_queue_depth",
            "Write requests waiting for the database writer.",
            get(&self.write_queue_depth),
        );
        counter(
            &mut out,
            "fluoro_collector_write_batches_total",
            "Write transactions committed.",
            get(&self.write_batches),
        );
        let _ = writeln!(
            out,
            "# HELP fluoro_collector_write_batch_seconds_total Time spent in write transactions.\n# TYPE fluoro_collector_write_batch_seconds_total counter\nfluoro_collector_write_batch_seconds_total {}",
            get(&self.write_batch_micros) as f64 / 1e6
        );
        counter(
            &mut out,
            "fluoro_collector_wal_checkpoints_total",
            "WAL checkpoints run by the checkpoint thread.",
            get(&self.wal_checkpoints),
        );
        counter(
            &mut out,
            "fluoro_collector_wal_checkpoints_forced_total",
            "Checkpoints that waited for readers and the writer because the WAL outgrew its limit.",
            get(&self.wal_checkpoints_forced),
        );
        gauge(
            &mut out,
            "fluoro_collector_wal_frames",
            "Pages in the WAL at the last checkpoint.",
            get(&self.wal_frames),
        );
        counter(
            &mut out,
            "fluoro_collector_traces_aggregated_total",
            "Trace summaries and graph statistics computed.",
            get(&self.traces_aggregated),
        );
        counter(
            &mut out,
            "fluoro_collector_traces_expired_total",
            "Traces removed by retention.",
            get(&self.traces_expired),
        );
        counter(
            &mut out,
            "fluoro_collector_filter_pages_cut_total",
            "Filtered GetTraceSummaries pages that stopped at --max-filter-evaluations (NextToken goes on).",
            get(&self.filter_pages_cut),
        );
        counter(
            &mut out,
            "fluoro_collector_group_graphs_refused_total",
            "Group-scoped graph requests refused for holding more than --max-group-graph-traces traces.",
            get(&self.group_graphs_refused),
        );
        counter(
            &mut out,
            "fluoro_collector_aggregate_changed_total",
            "Traces aggregated but not stored because a document arrived meanwhile (redone later).",
            get(&self.aggregate_changed),
        );
        counter(
            &mut out,
            "fluoro_collector_aggregate_repeated_total",
            "Traces aggregated again after they had been stored (not counted twice).",
            get(&self.aggregate_repeated),
        );
        counter(
            &mut out,
            "fluoro_collector_aggregate_corrupt_total",
            "Stored graph contributions that could not be read (trace settled without its old share, or bucket started over).",
            get(&self.aggregate_corrupt),
        );
        counter(
            &mut out,
            "fluoro_collector_aggregate_cache_hits_total",
            "Traces aggregated from documents ingest had already parsed.",
            get(&self.aggregate_cache_hits),
        );
        counter(
            &mut out,
            "fluoro_collector_aggregate_cache_misses_total",
            "Traces aggregated from documents read back from the database.",
            get(&self.aggregate_cache_misses),
        );
        counter(
            &mut out,
            "fluoro_collector_aggregate_cache_full_total",
            "Traces left out of the aggregator's cache to stay within --aggregate-cache-bytes.",
            get(&self.aggregate_cache_full),
        );
        out.push_str(&self.otlp.render());
        out
    }
}

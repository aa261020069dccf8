//! The daemon's counters: every datagram received, every rejection by reason, every drop by
//! cause, what was sent, retried and spooled. Lock-free atomics written on the hot path, read by
//! `/metrics` (Prometheus text), `/health` and the shutdown report. Drops are also logged: the
//! first one at once, then running totals at most every [`DROP_LOG_INTERVAL`].
//!
//! Depends on nothing but std and tracing.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// Rejection reasons of a datagram: the labels of `fluoro_proto::frame::FrameError::reason`.
pub const FRAME_REASONS: [&str; 7] = [
    "too_large",
    "missing_newline",
    "empty_body",
    "header_not_json",
    "unsupported_format",
    "unsupported_version",
    "body_not_utf8",
];

/// Why documents were dropped after they were accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The memory buffer was full: the oldest queued documents made room.
    BufferFull,
    /// The spool was full: its oldest batches made room.
    SpoolFull,
    /// Shutdown came before the documents could be delivered (and there is no spool).
    Shutdown,
    /// The spool could not be written (disk error) while the endpoint was failing.
    SpoolError,
}

impl DropReason {
    const ALL: [DropReason; 4] = [
        DropReason::BufferFull,
        DropReason::SpoolFull,
        DropReason::Shutdown,
        DropReason::SpoolError,
    ];

    /// The `reason` label.
    pub fn label(self) -> &'static str {
        match self {
            DropReason::BufferFull => "buffer_full",
            DropReason::SpoolFull => "spool_full",
            DropReason::Shutdown => "shutdown",
            DropReason::SpoolError => "spool_error",
        }
    }
}

/// Kinds of failed exchanges with the endpoint (`crate::client::SendError::kind`).
pub const SEND_ERROR_KINDS: [&str; 7] = [
    "connect",
    "timeout",
    "http_429",
    "http_5xx",
    "http_4xx",
    "credentials",
    "request",
];

/// At most one drop summary per this interval (after the first drop, logged at once).
pub const DROP_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// State of the endpoint as last seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reachability {
    /// No exchange yet.
    Unknown,
    /// The last exchange got an answer.
    Reachable,
    /// The last exchange failed in a way worth retrying.
    Unreachable,
}

/// All counters. Gauges of the buffer and the spool are read from them at render time.
#[derive(Debug)]
pub struct Metrics {
    started: Instant,
    datagrams_received: AtomicU64,
    rejected: [AtomicU64; FRAME_REASONS.len()],
    documents_accepted: AtomicU64,
    dropped: [AtomicU64; DropReason::ALL.len()],
    documents_sent: AtomicU64,
    documents_unprocessed: AtomicU64,
    documents_refused: AtomicU64,
    batches_sent: AtomicU64,
    send_retries: AtomicU64,
    send_errors: [AtomicU64; SEND_ERROR_KINDS.len()],
    batches_spooled: AtomicU64,
    documents_spooled: AtomicU64,
    batches_drained: AtomicU64,
    proxy_requests: AtomicU64,
    proxy_errors: AtomicU64,
    socket_receive_buffer: AtomicU64,
    kernel_drops: AtomicU64,
    reachability: AtomicU8,
    last_drop_log_ms: AtomicU64,
    logged_drops: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            started: Instant::now(),
            datagrams_received: AtomicU64::new(0),
            rejected: Default::default(),
            documents_accepted: AtomicU64::new(0),
            dropped: Default::default(),
            documents_sent: AtomicU64::new(0),
            documents_unprocessed: AtomicU64::new(0),
            documents_refused: AtomicU64::new(0),
            batches_sent: AtomicU64::new(0),
            send_retries: AtomicU64::new(0),
            send_errors: Default::default(),
            batches_spooled: AtomicU64::new(0),
            documents_spooled: AtomicU64::new(0),
            batches_drained: AtomicU64::new(0),
            proxy_requests: AtomicU64::new(0),
            proxy_errors: AtomicU64::new(0),
            socket_receive_buffer: AtomicU64::new(0),
            kernel_drops: AtomicU64::new(0),
            reachability: AtomicU8::new(0),
            last_drop_log_ms: AtomicU64::new(0),
            logged_drops: AtomicU64::new(0),
        }
    }
}

/// A plain copy of the counters, for tests and the shutdown report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Datagrams read from the socket.
    pub datagrams_received: u64,
    /// Datagrams refused by framing, by reason label.
    pub rejected: BTreeMap<&'static str, u64>,
    /// Documents taken into the buffer.
    pub documents_accepted: u64,
    /// Accepted documents dropped, by reason label.
    pub dropped: BTreeMap<&'static str, u64>,
    /// Documents in batches the endpoint answered 2xx to (including unprocessed ones).
    pub documents_sent: u64,
    /// Documents the endpoint listed in `UnprocessedTraceSegments`.
    pub documents_unprocessed: u64,
    /// Documents in batches the endpoint refused outright (a 4xx other than 429).
    pub documents_refused: u64,
    /// Successful `PutTraceSegments` calls.
    pub batches_sent: u64,
    /// Retries after a retryable failure.
    pub send_retries: u64,
    /// Failed exchanges by kind.
    pub send_errors: BTreeMap<&'static str, u64>,
    /// Batches written to the spool.
    pub batches_spooled: u64,
    /// Documents written to the spool.
    pub documents_spooled: u64,
    /// Spooled batches delivered.
    pub batches_drained: u64,
    /// Requests through the sampling proxy.
    pub proxy_requests: u64,
    /// Proxied requests that got no answer from the endpoint.
    pub proxy_errors: u64,
    /// Datagrams the kernel dropped before we could read them (full socket buffer).
    pub kernel_drops: u64,
}

impl Snapshot {
    /// Every dropped document, whatever the reason.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.values().sum()
    }

    /// Every rejected datagram, whatever the reason.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }
}

/// Gauges owned by other components, passed to [`Metrics::render`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Gauges {
    /// Documents waiting in memory.
    pub buffer_documents: usize,
    /// Bytes accounted to queued and in-flight documents.
    pub buffer_bytes: usize,
    /// The buffer's bound in bytes.
    pub buffer_capacity_bytes: usize,
    /// Batches in the spool.
    pub spool_batches: usize,
    /// Documents in the spool.
    pub spool_documents: u64,
    /// Bytes in the spool.
    pub spool_bytes: u64,
    /// The spool's bound in bytes (0 without a spool).
    pub spool_capacity_bytes: u64,
}

fn reason_index(reason: &str) -> usize {
    FRAME_REASONS
        .iter()
        .position(|r| *r == reason)
        // A reason added to the proto crate later is counted under the last label rather than lost.
        .unwrap_or(FRAME_REASONS.len() - 1)
}

impl Metrics {
    /// Counts one datagram read from the socket.
    pub fn datagram_received(&self) {
        self.datagrams_received.fetch_add(1, Relaxed);
    }

    /// Counts one datagram refused by framing.
    pub fn datagram_rejected(&self, reason: &'static str) {
        self.rejected[reason_index(reason)].fetch_add(1, Relaxed);
    }

    /// Counts one document taken into the buffer.
    pub fn document_accepted(&self) {
        self.documents_accepted.fetch_add(1, Relaxed);
    }

    /// Counts `n` dropped documents and logs: the first drop at once, then totals periodically.
    pub fn dropped(&self, reason: DropReason, n: u64) {
        if n == 0 {
            return;
        }
        let idx = DropReason::ALL
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(0);
        self.dropped[idx].fetch_add(n, Relaxed);
        let now_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX) + 1;
        let last = self.last_drop_log_ms.load(Relaxed);
        let first = last == 0;
        let due = now_ms.saturating_sub(last) >= DROP_LOG_INTERVAL.as_millis() as u64;
        if (first || due)
            && self
                .last_drop_log_ms
                .compare_exchange(last, now_ms, Relaxed, Relaxed)
                .is_ok()
        {
            let total: u64 = self.dropped.iter().map(|a| a.load(Relaxed)).sum();
            let since = total - self.logged_drops.swap(total, Relaxed);
            if first {
                tracing::warn!(
                    reason = reason.label(),
                    dropped = n,
                    "dropping documents: the oldest are discarded to make room; see fluoro_daemon_documents_dropped_total"
                );
            } else {
                tracing::warn!(
                    total,
                    since_last_report = since,
                    reason = reason.label(),
                    "documents are still being dropped"
                );
            }
        }
    }

    /// Counts a batch the endpoint took.
    pub fn batch_sent(&self, docs: u64, unprocessed: u64) {
        self.batches_sent.fetch_add(1, Relaxed);
        self.documents_sent.fetch_add(docs, Relaxed);
        self.documents_unprocessed.fetch_add(unprocessed, Relaxed);
        self.set_reachability(Reachability::Reachable);
    }

    /// Counts a batch the endpoint refused outright.
    pub fn batch_refused(&self, docs: u64) {
        self.documents_refused.fetch_add(docs, Relaxed);
        self.set_reachability(Reachability::Reachable);
    }

    /// Counts a failed exchange.
    pub fn send_error(&self, kind: &'static str, retryable: bool) {
        let idx = SEND_ERROR_KINDS
            .iter()
            .position(|k| *k == kind)
            .unwrap_or(SEND_ERROR_KINDS.len() - 1);
        self.send_errors[idx].fetch_add(1, Relaxed);
        if retryable {
            self.set_reachability(Reachability::Unreachable);
        }
    }

    /// Counts a retry.
    pub fn send_retry(&self) {
        self.send_retries.fetch_add(1, Relaxed);
    }

    /// Counts a batch written to the spool.
    pub fn batch_spooled(&self, docs: u64) {
        self.batches_spooled.fetch_add(1, Relaxed);
        self.documents_spooled.fetch_add(docs, Relaxed);
    }

    /// Counts a spooled batch delivered.
    pub fn batch_drained(&self) {
        self.batches_drained.fetch_add(1, Relaxed);
    }

    /// Counts a proxied request and whether it failed.
    pub fn proxy_request(&self, failed: bool) {
        self.proxy_requests.fetch_add(1, Relaxed);
        if failed {
            self.proxy_errors.fetch_add(1, Relaxed);
        }
    }

    /// Records the kernel's count of datagrams it dropped on our socket (full receive buffer),
    /// as read from `/proc/net/udp`.
    pub fn set_kernel_drops(&self, drops: u64) {
        self.kernel_drops.store(drops, Relaxed);
    }

    /// Records the receive buffer size the kernel granted.
    pub fn set_socket_receive_buffer(&self, bytes: usize) {
        self.socket_receive_buffer.store(bytes as u64, Relaxed);
    }

    fn set_reachability(&self, r: Reachability) {
        let v = match r {
            Reachability::Unknown => 0,
            Reachability::Reachable => 1,
            Reachability::Unreachable => 2,
        };
        self.reachability.store(v, Relaxed);
    }

    /// The endpoint's state as last seen.
    pub fn reachability(&self) -> Reachability {
        match self.reachability.load(Relaxed) {
            1 => Reachability::Reachable,
            2 => Reachability::Unreachable,
            _ => Reachability::Unknown,
        }
    }

    /// A copy of every counter.
    pub fn snapshot(&self) -> Snapshot {
        let map = |labels: &[&'static str], values: &[AtomicU64]| {
            labels
                .iter()
                .zip(values)
                .map(|(l, v)| (*l, v.load(Relaxed)))
                .collect()
        };
        let drop_labels: Vec<&'static str> = DropReason::ALL.iter().map(|r| r.label()).collect();
        Snapshot {
            datagrams_received: self.datagrams_received.load(Relaxed),
            rejected: map(&FRAME_REASONS, &self.rejected),
            documents_accepted: self.documents_accepted.load(Relaxed),
            dropped: map(&drop_labels, &self.dropped),
            documents_sent: self.documents_sent.load(Relaxed),
            documents_unprocessed: self.documents_unprocessed.load(Relaxed),
            documents_refused: self.documents_refused.load(Relaxed),
            batches_sent: self.batches_sent.load(Relaxed),
            send_retries: self.send_retries.load(Relaxed),
            send_errors: map(&SEND_ERROR_KINDS, &self.send_errors),
            batches_spooled: self.batches_spooled.load(Relaxed),
            documents_spooled: self.documents_spooled.load(Relaxed),
            batches_drained: self.batches_drained.load(Relaxed),
            proxy_requests: self.proxy_requests.load(Relaxed),
            proxy_errors: self.proxy_errors.load(Relaxed),
            kernel_drops: self.kernel_drops.load(Relaxed),
        }
    }

    /// Prometheus text exposition of the counters and `gauges`.
    pub fn render(&self, gauges: &Gauges) -> String {
        let s = self.snapshot();
        let mut out = String::with_capacity(4096);
        let mut counter = |name: &str, help: &str, label: Option<&str>, values: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (l, v) in values {
                match label {
                    Some(key) => {
                        let _ = writeln!(out, "{name}{{{key}=\"{l}\"}} {v}");
                    }
                    None => {
                        let _ = writeln!(out, "{name} {v}");
                    }
                }
            }
        };
        let pairs = |m: &BTreeMap<&'static str, u64>| -> Vec<(&'static str, u64)> {
            m.iter().map(|(k, v)| (*k, *v)).collect()
        };
        counter(
            "fluoro_receiver_datagrams_total",
            "UDP datagrams read from the socket.",
            None,
            &[("", s.datagrams_received)],
        );
        counter(
            "fluoro_receiver_kernel_drops_total",
            "UDP datagrams the kernel dropped because the socket buffer was full (/proc/net/udp).",
            None,
            &[("", s.kernel_drops)],
        );
        counter(
            "fluoro_receiver_rejected_datagrams_total",
            "Datagrams refused by framing, by reason.",
            Some("reason"),
            &pairs(&s.rejected),
        );
        counter(
            "fluoro_receiver_documents_total",
            "Documents accepted into the buffer.",
            None,
            &[("", s.documents_accepted)],
        );
        counter(
            "fluoro_daemon_documents_dropped_total",
            "Accepted documents dropped, by reason.",
            Some("reason"),
            &pairs(&s.dropped),
        );
        counter(
            "fluoro_forwarder_documents_sent_total",
            "Documents in batches the endpoint accepted (HTTP 2xx).",
            None,
            &[("", s.documents_sent)],
        );
        counter(
            "fluoro_forwarder_documents_unprocessed_total",
            "Documents the endpoint listed in UnprocessedTraceSegments (not retried).",
            None,
            &[("", s.documents_unprocessed)],
        );
        counter(
            "fluoro_forwarder_documents_refused_total",
            "Documents in batches the endpoint refused with a 4xx other than 429 (not retried).",
            None,
            &[("", s.documents_refused)],
        );
        counter(
            "fluoro_forwarder_batches_sent_total",
            "Successful PutTraceSegments calls.",
            None,
            &[("", s.batches_sent)],
        );
        counter(
            "fluoro_forwarder_retries_total",
            "Retries after throttling, server errors or transport failures.",
            None,
            &[("", s.send_retries)],
        );
        counter(
            "fluoro_forwarder_send_errors_total",
            "Failed exchanges with the endpoint, by kind.",
            Some("kind"),
            &pairs(&s.send_errors),
        );
        counter(
            "fluoro_spool_batches_written_total",
            "Batches written to the spool.",
            None,
            &[("", s.batches_spooled)],
        );
        counter(
            "fluoro_spool_documents_written_total",
            "Documents written to the spool.",
            None,
            &[("", s.documents_spooled)],
        );
        counter(
            "fluoro_spool_batches_drained_total",
            "Spooled batches delivered.",
            None,
            &[("", s.batches_drained)],
        );
        counter(
            "fluoro_proxy_requests_total",
            "Requests through the sampling proxy.",
            None,
            &[("", s.proxy_requests)],
        );
        counter(
            "fluoro_proxy_errors_total",
            "Proxied requests the endpoint did not answer.",
            None,
            &[("", s.proxy_errors)],
        );
        let mut gauge = |name: &str, help: &str, v: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        gauge(
            "fluoro_buffer_documents",
            "Documents waiting in memory.",
            gauges.buffer_documents as u64,
        );
        gauge(
            "fluoro_buffer_bytes",
            "Bytes accounted to queued and in-flight documents.",
            gauges.buffer_bytes as u64,
        );
        gauge(
            "fluoro_buffer_capacity_bytes",
            "Bound of the memory buffer (--buffer-memory).",
            gauges.buffer_capacity_bytes as u64,
        );
        gauge(
            "fluoro_spool_batches",
            "Batches waiting in the spool.",
            gauges.spool_batches as u64,
        );
        gauge(
            "fluoro_spool_documents",
            "Documents waiting in the spool.",
            gauges.spool_documents,
        );
        gauge(
            "fluoro_spool_bytes",
            "Bytes in the spool.",
            gauges.spool_bytes,
        );
        gauge(
            "fluoro_spool_capacity_bytes",
            "Bound of the spool (--spool-size); 0 without a spool.",
            gauges.spool_capacity_bytes,
        );
        gauge(
            "fluoro_receiver_socket_buffer_bytes",
            "SO_RCVBUF the kernel granted the UDP socket.",
            self.socket_receive_buffer.load(Relaxed),
        );
        gauge(
            "fluoro_forwarder_endpoint_up",
            "1 when the last exchange with the endpoint got an answer, 0 when it failed or none yet.",
            u64::from(self.reachability() == Reachability::Reachable),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_frame_reason_has_its_own_counter() {
        let m = Metrics::default();
        m.datagram_rejected("missing_newline");
        m.datagram_rejected("missing_newline");
        m.datagram_rejected("unsupported_version");
        let s = m.snapshot();
        assert_eq!(s.rejected["missing_newline"], 2);
        assert_eq!(s.rejected["unsupported_version"], 1);
        assert_eq!(s.rejected_total(), 3);
        // The proto crate's labels are the ones we know.
        for (err, label) in [
            (
                fluoro_proto::frame::decode(b"x").unwrap_err(),
                "missing_newline",
            ),
            (
                fluoro_proto::frame::decode(b"{}\n{}").unwrap_err(),
                "unsupported_format",
            ),
        ] {
            assert_eq!(err.reason(), label);
            assert!(FRAME_REASONS.contains(&err.reason()));
        }
    }

    #[test]
    fn render_has_labels_and_gauges() {
        let m = Metrics::default();
        m.dropped(DropReason::BufferFull, 3);
        m.dropped(DropReason::BufferFull, 2);
        m.send_error("http_429", true);
        m.batch_sent(50, 1);
        let text = m.render(&Gauges {
            spool_bytes: 123,
            ..Gauges::default()
        });
        assert!(text.contains("fluoro_daemon_documents_dropped_total{reason=\"buffer_full\"} 5\n"));
        assert!(text.contains("fluoro_forwarder_send_errors_total{kind=\"http_429\"} 1\n"));
        assert!(text.contains("fluoro_forwarder_documents_sent_total 50\n"));
        assert!(text.contains("fluoro_forwarder_documents_unprocessed_total 1\n"));
        assert!(text.contains("fluoro_spool_bytes 123\n"));
        assert!(text.contains("fluoro_forwarder_endpoint_up 1\n"));
        assert_eq!(m.snapshot().dropped_total(), 5);
    }
}

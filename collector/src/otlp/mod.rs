//! OpenTelemetry in: the OTLP trace receivers.
//!
//! - [`grpc`]: `opentelemetry.proto.collector.trace.v1.TraceService/Export` over gRPC (tonic,
//!   default `127.0.0.1:4317`, gzip accepted);
//! - [`http`]: `POST /v1/traces` over HTTP (default `127.0.0.1:4318`), protobuf and JSON bodies,
//!   gzip or identity;
//! - [`Ingest`]: what both share: spans → segment documents
//!   ([`fluoro_proto::otlp::translate`]), the same validation PutTraceSegments applies, then
//!   the same store write, counters and backpressure. Spans that cannot be stored are counted
//!   and reported in OTLP's `partial_success`; the valid spans of the request are kept.
//!
//! - [`export`]: OTLP out (`--otlp-export`): stored documents, from both ingest paths, forwarded
//!   as OTLP/HTTP to another backend.
//!
//! Depends on `store` (public entry points only) and `metrics`; `api` only offers stored
//! documents to the exporter.

pub mod export;
pub mod grpc;
pub mod http;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use fluoro_proto::otlp::pb::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use fluoro_proto::otlp::translate::{TranslateOptions, nest, translate_request};
use fluoro_proto::validate::{ValidateOptions, validate};
use tokio::sync::oneshot;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::store::traces::{IngestDoc, now_secs};
use crate::store::{Store, StoreError};

/// The generated tonic service stub (checked in; see `tests/otlp_codegen.rs`).
#[allow(
    // Generated code: its lints are the generator's, not ours.
    clippy::all,
    clippy::pedantic,
    missing_docs,
    unreachable_pub,
    missing_debug_implementations
)]
pub mod pb {
    include!("pb/opentelemetry.proto.collector.trace.v1.rs");
}

/// Default OTLP/gRPC address (the OpenTelemetry default port, on loopback).
pub const DEFAULT_GRPC: &str = "127.0.0.1:4317";
/// Default OTLP/HTTP address.
pub const DEFAULT_HTTP: &str = "127.0.0.1:4318";
/// Default largest OTLP request, in bytes, after decompression.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;
/// Rejection reasons quoted in a partial-success `error_message`; the rest are counted.
const QUOTED_REJECTIONS: usize = 5;

/// A listen address that may be turned off: `host:port`, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionalAddr(pub Option<SocketAddr>);

impl FromStr for OptionalAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "off" | "none" | "" => Ok(OptionalAddr(None)),
            a => a
                .parse()
                .map(|a| OptionalAddr(Some(a)))
                .map_err(|e| format!("{s:?}: expected host:port or off ({e})")),
        }
    }
}

/// OTLP counters, rendered with the collector's `/metrics`.
#[derive(Debug, Default)]
pub struct OtlpMetrics {
    /// Spans received, by transport (`grpc`, `http`).
    received: Mutex<BTreeMap<&'static str, u64>>,
    /// Spans stored.
    pub spans_accepted: AtomicU64,
    /// Spans refused, by reason.
    rejected: Mutex<BTreeMap<&'static str, u64>>,
    /// Whole requests refused (undecodable, too large, wrong content type), by transport and
    /// reason.
    requests_rejected: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    /// The exporter's counters.
    pub export: export::ExportMetrics,
}

fn bump<K: Ord>(m: &Mutex<BTreeMap<K, u64>>, key: K, n: u64) {
    *m.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .entry(key)
        .or_default() += n;
}

impl OtlpMetrics {
    /// Counts a request refused as a whole, by transport (`grpc`, `http`) and reason.
    pub fn request_rejected(&self, transport: &'static str, reason: &'static str) {
        bump(&self.requests_rejected, (transport, reason), 1);
    }

    /// The text exposition of these counters.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let labelled = |out: &mut String,
                        name: &str,
                        help: &str,
                        label: &str,
                        m: &Mutex<BTreeMap<&'static str, u64>>| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (k, v) in m
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .iter()
            {
                let _ = writeln!(out, "{name}{{{label}=\"{k}\"}} {v}");
            }
        };
        labelled(
            &mut out,
            "fluoro_otlp_spans_received_total",
            "Spans received by the OTLP receivers, by transport.",
            "transport",
            &self.received,
        );
        let _ = writeln!(
            out,
            "# HELP fluoro_otlp_spans_accepted_total Spans stored as segment documents.\n# TYPE fluoro_otlp_spans_accepted_total counter\nfluoro_otlp_spans_accepted_total {}",
            self.spans_accepted.load(Ordering::Relaxed)
        );
        labelled(
            &mut out,
            "fluoro_otlp_spans_rejected_total",
            "Spans refused (reported in partial_success), by reason.",
            "reason",
            &self.rejected,
        );
        let name = "fluoro_otlp_requests_rejected_total";
        let _ = writeln!(
            out,
            "# HELP {name} OTLP requests refused as a whole, by transport and reason.\n# TYPE {name} counter"
        );
        for ((transport, reason), v) in self
            .requests_rejected
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
        {
            let _ = writeln!(
                out,
                "{name}{{transport=\"{transport}\",reason=\"{reason}\"}} {v}"
            );
        }
        let e = &self.export;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        for (name, kind, help, v) in [
            (
                "fluoro_otlp_export_spans_sent_total",
                "counter",
                "Spans the export backend accepted.",
                get(&e.spans_sent),
            ),
            (
                "fluoro_otlp_export_spans_rejected_total",
                "counter",
                "Spans the export backend rejected (partial_success).",
                get(&e.spans_rejected),
            ),
            (
                "fluoro_otlp_export_retries_total",
                "counter",
                "Export requests that failed and were retried.",
                get(&e.retries),
            ),
            (
                "fluoro_otlp_export_queue_depth",
                "gauge",
                "Documents waiting to be exported.",
                get(&e.queue_depth),
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP fluoro_otlp_export_dropped_total Dropped instead of exported: documents when the queue was full, spans when retries ran out or the backend refused.\n# TYPE fluoro_otlp_export_dropped_total counter\nfluoro_otlp_export_dropped_total{{reason=\"queue_full\"}} {}\nfluoro_otlp_export_dropped_total{{reason=\"failed\"}} {}",
            get(&e.dropped_queue_full),
            get(&e.dropped_failed)
        );
        out
    }
}

/// Why an accepted-for-decoding request could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The writer queue is full: retry later (gRPC `UNAVAILABLE`, HTTP 503).
    #[error("the collector is busy: {0} writes are queued; retry with backoff")]
    Busy(usize),
    /// The collector is shutting down (retryable too).
    #[error("the collector is shutting down")]
    Closed,
    /// Anything else (gRPC `INTERNAL`, HTTP 500).
    #[error("store failure: {0}")]
    Store(StoreError),
}

impl From<StoreError> for IngestError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Busy(n) => IngestError::Busy(n),
            StoreError::Closed => IngestError::Closed,
            other => IngestError::Store(other),
        }
    }
}

/// Translation, validation and storage of OTLP export requests.
#[derive(Debug)]
pub struct Ingest {
    store: Store,
    metrics: Arc<Metrics>,
    translate: TranslateOptions,
    retention_secs: u64,
    max_document_bytes: usize,
    exporter: Option<Arc<export::Exporter>>,
}

impl Ingest {
    /// An ingest path writing to `store` with the limits of `config`, offering what it stores
    /// to `exporter`.
    pub fn new(
        config: &Config,
        store: Store,
        metrics: Arc<Metrics>,
        exporter: Option<Arc<export::Exporter>>,
    ) -> Ingest {
        Ingest {
            store,
            metrics,
            exporter,
            translate: TranslateOptions {
                indexed: config.otlp_indexed_attributes.clone(),
            },
            retention_secs: config.retention.as_secs(),
            max_document_bytes: config.max_document_bytes,
        }
    }

    /// Stores the valid spans of `req`; the response reports the others.
    pub async fn export(
        &self,
        transport: &'static str,
        req: &ExportTraceServiceRequest,
    ) -> Result<ExportTraceServiceResponse, IngestError> {
        let otlp = &self.metrics.otlp;
        let t = translate_request(req, &self.translate);
        let total = t.segments.len() + t.rejected.len();
        bump(&otlp.received, transport, total as u64);
        let mut reasons: Vec<String> = Vec::new();
        for e in &t.rejected {
            bump(&otlp.rejected, e.code.as_str(), 1);
            tracing::debug!(error = %e, "span rejected");
            if reasons.len() < QUOTED_REJECTIONS {
                reasons.push(e.to_string());
            }
        }
        let opts = ValidateOptions {
            now_secs: Some(now_secs() as u64),
            max_trace_age_secs: self.retention_secs,
            max_document_bytes: self.max_document_bytes,
            age_by_start_time: true,
            ..ValidateOptions::default()
        };
        let mut rejected = t.rejected.len();
        let mut accepted = Vec::with_capacity(total);
        let mut accepted_spans = 0u64;
        // Spans whose parent came in the same request travel embedded in it, as X-Ray SDKs
        // send subsegments: fewer rows for the same entities.
        for (seg, doc) in nest(t.segments, opts.max_document_bytes) {
            let mut spans = 0usize;
            seg.walk(&mut |_| spans += 1);
            let checked = if doc.len() > opts.max_document_bytes {
                Err((
                    "DocumentTooLarge",
                    format!(
                        "document is {} bytes; the limit is {} (--max-document-bytes)",
                        doc.len(),
                        opts.max_document_bytes
                    ),
                ))
            } else {
                validate(&seg, &opts).map_err(|e| (e.code.as_str(), e.message()))
            };
            match checked {
                Ok(()) => {
                    accepted_spans += spans as u64;
                    accepted.push(IngestDoc::new(doc, seg));
                }
                Err((code, message)) => {
                    rejected += spans;
                    bump(&otlp.rejected, code, spans as u64);
                    self.metrics.document_rejected(code);
                    let id = seg.id.as_deref().unwrap_or("");
                    tracing::debug!(code, span = id, error = %message, "span rejected");
                    if reasons.len() < QUOTED_REJECTIONS {
                        let with = if spans > 1 {
                            format!(" (with {} spans under it)", spans - 1)
                        } else {
                            String::new()
                        };
                        reasons.push(format!("span {id:?}{with}: {message}"));
                    }
                }
            }
        }
        if !accepted.is_empty() {
            let n = accepted.len() as u64;
            let exported: Option<Vec<String>> = self
                .exporter
                .as_ref()
                .map(|_| accepted.iter().map(|d| d.doc.clone()).collect());
            self.store.ingest(accepted).await?;
            self.metrics
                .documents_accepted
                .fetch_add(n, Ordering::Relaxed);
            otlp.spans_accepted
                .fetch_add(accepted_spans, Ordering::Relaxed);
            if let (Some(x), Some(docs)) = (&self.exporter, exported) {
                x.offer(docs);
            }
        }
        let partial_success = (rejected > 0).then(|| {
            let mut message = format!("{rejected} of {total} spans rejected: ");
            message.push_str(&reasons.join("; "));
            if rejected > reasons.len() {
                message.push_str("; ...");
            }
            ExportTracePartialSuccess {
                rejected_spans: rejected as i64,
                error_message: message,
            }
        });
        Ok(ExportTraceServiceResponse { partial_success })
    }
}

/// The running OTLP receivers and exporter.
#[derive(Debug)]
pub struct Receivers {
    grpc: Option<Running>,
    http: Option<Running>,
    exporter: Option<(Arc<export::Exporter>, export::Running)>,
}

#[derive(Debug)]
struct Running {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), String>>,
}

impl Receivers {
    /// Binds and starts the receivers `config` asks for.
    pub async fn start(
        config: &Config,
        store: &Store,
        metrics: &Arc<Metrics>,
    ) -> Result<Receivers, crate::RunError> {
        let exporter = match &config.otlp_export {
            Some(url) => {
                let cfg = export::ExportConfig {
                    url: export::parse_url(url).map_err(crate::config::ConfigError)?,
                    queue: config.otlp_export_queue,
                    batch_spans: config.otlp_export_batch,
                    retries: config.otlp_export_retries,
                };
                tracing::info!(url = %cfg.url, "otlp export to {}", cfg.url);
                Some(export::start(cfg, Arc::clone(metrics)))
            }
            None => None,
        };
        let ingest = Arc::new(Ingest::new(
            config,
            store.clone(),
            Arc::clone(metrics),
            exporter.as_ref().map(|(x, _)| Arc::clone(x)),
        ));
        let bind = |addr: SocketAddr| async move {
            tokio::net::TcpListener::bind(addr)
                .await
                .and_then(|l| Ok((l.local_addr()?, l)))
                .map_err(|source| crate::RunError::Bind { addr, source })
        };
        let max = config.otlp_max_message_bytes;
        let grpc = match config.otlp_grpc.0 {
            Some(addr) => {
                let (addr, listener) = bind(addr).await?;
                let (stop, stopped) = oneshot::channel();
                let task = tokio::spawn(grpc::serve(listener, Arc::clone(&ingest), max, stopped));
                tracing::info!(%addr, "otlp/grpc receiver listening on {addr}");
                Some(Running { addr, stop, task })
            }
            None => None,
        };
        let http = match config.otlp_http.0 {
            Some(addr) => {
                let (addr, listener) = bind(addr).await?;
                let (stop, stopped) = oneshot::channel();
                let task = tokio::spawn(http::serve(listener, Arc::clone(&ingest), max, stopped));
                tracing::info!(%addr, "otlp/http receiver listening on http://{addr}/v1/traces");
                Some(Running { addr, stop, task })
            }
            None => None,
        };
        Ok(Receivers {
            grpc,
            http,
            exporter,
        })
    }

    /// The exporter, when `--otlp-export` is set: PutTraceSegments offers what it stores too.
    pub fn exporter(&self) -> Option<Arc<export::Exporter>> {
        self.exporter.as_ref().map(|(x, _)| Arc::clone(x))
    }

    /// Where the gRPC receiver listens, if on.
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc.as_ref().map(|r| r.addr)
    }

    /// Where the HTTP receiver listens, if on.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().map(|r| r.addr)
    }

    /// Stops accepting, finishes in-flight requests, then drains the export queue.
    pub async fn shutdown(self) {
        for r in [self.grpc, self.http].into_iter().flatten() {
            let _ = r.stop.send(());
            match r.task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "otlp receiver failed"),
                Err(e) => tracing::error!(error = %e, "otlp receiver task failed"),
            }
        }
        if let Some((_, running)) = self.exporter {
            running.shutdown().await;
        }
    }
}

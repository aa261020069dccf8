//! OTLP out (`--otlp-export URL`): what the collector stores is forwarded, as OTLP/HTTP
//! protobuf, to another backend (Jaeger, Tempo, an OpenTelemetry Collector, another Fluoro).
//!
//! Ingest hands every stored document to [`Exporter::offer`], which never blocks: the queue is
//! bounded (`--otlp-export-queue` documents) and a full queue drops the document, counted and
//! logged (first drop, then every 1,000th). The [`ExportTask`] batches documents until their
//! spans reach `--otlp-export-batch` or a second passes, converts them with
//! [`fluoro_proto::otlp::export`], and posts them; `429`, `502`, `503`, `504` and connection
//! failures are retried with exponential backoff up to `--otlp-export-retries` times, after
//! which the batch is dropped and counted. At shutdown the queue is drained within a grace
//! period.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use fluoro_proto::otlp::export::export_request;
use fluoro_proto::otlp::pb::collector::trace::v1::ExportTraceServiceResponse;
use fluoro_proto::segment::Segment;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use prost::Message as _;
use tokio::sync::{mpsc, oneshot};

use crate::metrics::Metrics;

/// How long an export request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for the queue to drain.
const DRAIN_GRACE: Duration = Duration::from_secs(10);
/// Largest pause between retries.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Exporter counters, rendered with the OTLP metrics.
#[derive(Debug, Default)]
pub struct ExportMetrics {
    /// Spans the backend accepted.
    pub spans_sent: AtomicU64,
    /// Spans the backend reported as rejected in `partial_success`.
    pub spans_rejected: AtomicU64,
    /// Documents dropped because the queue was full.
    pub dropped_queue_full: AtomicU64,
    /// Spans dropped after the last retry failed or the backend refused the batch.
    pub dropped_failed: AtomicU64,
    /// Export attempts that failed and were retried.
    pub retries: AtomicU64,
    /// Documents waiting in the queue.
    pub queue_depth: AtomicU64,
}

/// The handle ingest uses.
#[derive(Debug)]
pub struct Exporter {
    tx: mpsc::Sender<String>,
    metrics: Arc<Metrics>,
}

impl Exporter {
    /// Queues stored documents for export; never blocks.
    pub fn offer(&self, docs: impl IntoIterator<Item = String>) {
        let m = &self.metrics.otlp.export;
        for doc in docs {
            match self.tx.try_send(doc) {
                Ok(()) => {
                    m.queue_depth.fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => {
                    let n = m.dropped_queue_full.fetch_add(1, Ordering::Relaxed);
                    if n.is_multiple_of(1000) {
                        tracing::warn!(
                            dropped = n + 1,
                            "otlp export queue full: documents dropped (--otlp-export-queue)"
                        );
                    }
                }
            }
        }
    }
}

/// Where and how to export.
#[derive(Debug, Clone)]
pub struct ExportConfig {
    /// `http://host:port/path` of an OTLP/HTTP traces endpoint.
    pub url: hyper::Uri,
    /// Queue bound, in documents.
    pub queue: usize,
    /// Spans per request (a batch is sent once it reaches this).
    pub batch_spans: usize,
    /// Retries of a failed request before the batch is dropped.
    pub retries: u32,
}

/// Checks an `--otlp-export` URL: plain `http://` with a host.
pub fn parse_url(s: &str) -> Result<hyper::Uri, String> {
    let uri: hyper::Uri = s.parse().map_err(|e| format!("--otlp-export {s:?}: {e}"))?;
    if uri.scheme_str() != Some("http") || uri.host().is_none() {
        return Err(format!(
            "--otlp-export {s:?}: expected http://host:port/v1/traces (https is not supported)"
        ));
    }
    Ok(uri)
}

/// The running exporter task.
#[derive(Debug)]
pub struct Running {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Drains the queue (within a grace period) and stops.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// Starts the exporter: the handle for ingest and the task.
pub fn start(cfg: ExportConfig, metrics: Arc<Metrics>) -> (Arc<Exporter>, Running) {
    let (tx, rx) = mpsc::channel(cfg.queue.max(1));
    let (stop, stopped) = oneshot::channel();
    let task = ExportTask {
        cfg,
        rx,
        metrics: Arc::clone(&metrics),
        conn: None,
    };
    let task = tokio::spawn(task.run(stopped));
    (Arc::new(Exporter { tx, metrics }), Running { stop, task })
}

/// Batches queued documents and posts them.
#[derive(Debug)]
struct ExportTask {
    cfg: ExportConfig,
    rx: mpsc::Receiver<String>,
    metrics: Arc<Metrics>,
    conn: Option<SendRequest<Full<Bytes>>>,
}

/// Entities (segment + embedded subsegments) in a document: the spans it becomes.
fn entity_count(seg: &Segment) -> usize {
    let mut n = 0;
    seg.walk(&mut |_| n += 1);
    n
}

enum Outcome {
    Sent(ExportTraceServiceResponse),
    Retry(String),
    Refused(String),
}

impl ExportTask {
    async fn run(mut self, mut stop: oneshot::Receiver<()>) {
        let mut batch: Vec<Segment> = Vec::new();
        let mut spans = 0usize;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                doc = self.rx.recv() => {
                    let Some(doc) = doc else { break };
                    self.take(&doc, &mut batch, &mut spans);
                    if spans >= self.cfg.batch_spans {
                        self.flush(&mut batch, &mut spans).await;
                    }
                }
                _ = tick.tick() => {
                    if !batch.is_empty() {
                        self.flush(&mut batch, &mut spans).await;
                    }
                }
                _ = &mut stop => break,
            }
        }
        // Drain what is queued, within the grace period.
        self.rx.close();
        let drained = tokio::time::timeout(DRAIN_GRACE, async {
            while let Some(doc) = self.rx.recv().await {
                self.take(&doc, &mut batch, &mut spans);
                if spans >= self.cfg.batch_spans {
                    self.flush(&mut batch, &mut spans).await;
                }
            }
            if !batch.is_empty() {
                self.flush(&mut batch, &mut spans).await;
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!("otlp export: shutdown grace period over, queued documents dropped");
        }
        let m = &self.metrics.otlp.export;
        tracing::info!(
            sent = m.spans_sent.load(Ordering::Relaxed),
            dropped_queue_full = m.dropped_queue_full.load(Ordering::Relaxed),
            dropped_failed = m.dropped_failed.load(Ordering::Relaxed),
            "otlp export stopped"
        );
    }

    fn take(&self, doc: &str, batch: &mut Vec<Segment>, spans: &mut usize) {
        self.metrics
            .otlp
            .export
            .queue_depth
            .fetch_sub(1, Ordering::Relaxed);
        // Stored documents were validated on the way in; one that no longer parses is skipped.
        if let Ok(seg) = Segment::from_json(doc) {
            *spans += entity_count(&seg);
            batch.push(seg);
        }
    }

    async fn flush(&mut self, batch: &mut Vec<Segment>, spans: &mut usize) {
        let n = *spans as u64;
        let body = Bytes::from(export_request(batch.iter()).encode_to_vec());
        batch.clear();
        *spans = 0;
        let m = Arc::clone(&self.metrics);
        let m = &m.otlp.export;
        let mut backoff = Duration::from_millis(100);
        let mut attempt = 0;
        loop {
            match self.post(body.clone()).await {
                Outcome::Sent(resp) => {
                    let rejected = resp
                        .partial_success
                        .map_or(0, |p| u64::try_from(p.rejected_spans).unwrap_or(0));
                    m.spans_sent
                        .fetch_add(n.saturating_sub(rejected), Ordering::Relaxed);
                    m.spans_rejected.fetch_add(rejected, Ordering::Relaxed);
                    return;
                }
                Outcome::Refused(why) => {
                    m.dropped_failed.fetch_add(n, Ordering::Relaxed);
                    tracing::warn!(spans = n, error = %why, "otlp export refused: batch dropped");
                    return;
                }
                Outcome::Retry(why) if attempt < self.cfg.retries => {
                    attempt += 1;
                    m.retries.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(attempt, error = %why, "otlp export failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                Outcome::Retry(why) => {
                    m.dropped_failed.fetch_add(n, Ordering::Relaxed);
                    tracing::warn!(
                        spans = n,
                        retries = attempt,
                        error = %why,
                        "otlp export failed: batch dropped"
                    );
                    return;
                }
            }
        }
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, String> {
        let host = self.cfg.url.host().unwrap_or("127.0.0.1");
        let port = self.cfg.url.port_u16().unwrap_or(80);
        let stream = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|e| format!("connect {host}:{port}: {e}"))?;
        let (sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| format!("handshake: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(sender)
    }

    async fn post(&mut self, body: Bytes) -> Outcome {
        let attempt = async {
            let mut sender = match self.conn.take() {
                Some(s) if !s.is_closed() => s,
                _ => self.connect().await.map_err(Outcome::Retry)?,
            };
            sender
                .ready()
                .await
                .map_err(|e| Outcome::Retry(format!("connection: {e}")))?;
            let path = self
                .cfg
                .url
                .path_and_query()
                .map_or("/v1/traces", |p| p.as_str());
            let host = self
                .cfg
                .url
                .authority()
                .map_or(String::new(), ToString::to_string);
            let req = hyper::Request::post(path)
                .header(hyper::header::HOST, host)
                .header(hyper::header::CONTENT_TYPE, "application/x-protobuf")
                .body(Full::new(body))
                .map_err(|e| Outcome::Refused(e.to_string()))?;
            let resp = sender
                .send_request(req)
                .await
                .map_err(|e| Outcome::Retry(format!("request: {e}")))?;
            let status = resp.status().as_u16();
            let bytes = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| Outcome::Retry(format!("response: {e}")))?
                .to_bytes();
            self.conn = Some(sender);
            Ok::<_, Outcome>((status, bytes))
        };
        let answered = tokio::time::timeout(REQUEST_TIMEOUT, attempt).await;
        match answered {
            Err(_) => {
                self.conn = None;
                Outcome::Retry(format!("no answer within {REQUEST_TIMEOUT:?}"))
            }
            Ok(Err(o)) => o,
            Ok(Ok((200, bytes))) => {
                Outcome::Sent(ExportTraceServiceResponse::decode(bytes).unwrap_or_default())
            }
            Ok(Ok((status @ (429 | 502 | 503 | 504), _))) => {
                Outcome::Retry(format!("the backend answered {status}"))
            }
            Ok(Ok((status, bytes))) => Outcome::Refused(format!(
                "the backend answered {status}: {}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
            )),
        }
    }
}

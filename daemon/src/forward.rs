//! From the buffer to the endpoint: the [`Batcher`] cuts batches, a pool of senders posts them
//! with `PutTraceSegments`, and the [`Drainer`] empties the spool.
//!
//! - Batches hold up to 50 documents; one is cut as soon as 50 are queued or the buffer is half
//!   full, otherwise after [`FLUSH_INTERVAL`] (re-armed after each idle flush, as the AWS daemon).
//! - Documents the endpoint lists in `UnprocessedTraceSegments` are counted and logged, never
//!   retried. A 4xx other than 429 refuses the whole batch: counted, logged, not retried.
//! - 429, 5xx, timeouts and connection failures are retried with exponential backoff and jitter
//!   ([`backoff`]). With a spool, a batch that failed [`SPOOL_AFTER_ATTEMPTS`] times is written
//!   to the spool instead, and while the spool holds anything every new batch goes there too, so
//!   the spool drains in order. Without a spool a batch is retried until it is delivered or the
//!   shutdown grace period ends; meanwhile the buffer keeps taking documents and drops its
//!   oldest when full.
//!
//! Network through [`crate::client`] only; files through [`crate::spool`] only.

use std::sync::Arc;
use std::time::Duration;

use fluoro_proto::api::PutTraceSegmentsResponse;
use hyper::body::Bytes;
use tokio::sync::{Mutex, mpsc, watch};
use tokio::time::Instant;

use crate::buffer::{BATCH_SIZE, Buffer, Reservation};
use crate::client::{Client, SendError};
use crate::metrics::{DropReason, Metrics};
use crate::spool::{Entry, Spool};

/// Longest time a document waits for its batch to fill.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// First retry delay of a sender.
pub const SEND_BACKOFF_BASE: Duration = Duration::from_millis(100);
/// Longest retry delay of a sender.
pub const SEND_BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Failed attempts after which a batch goes to the spool (when there is one).
pub const SPOOL_AFTER_ATTEMPTS: u32 = 3;
/// First retry delay of the drainer.
pub const DRAIN_BACKOFF_BASE: Duration = Duration::from_millis(200);
/// Longest retry delay of the drainer: how long a recovered endpoint may wait to be noticed.
pub const DRAIN_BACKOFF_MAX: Duration = Duration::from_secs(2);

/// Exponential backoff with "equal jitter": for attempt `n` (from 1), a delay drawn uniformly
/// from `[d/2, d]` where `d = min(max, base * 2^(n-1))`.
pub fn backoff(attempt: u32, base: Duration, max: Duration) -> Duration {
    let exp = base
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
        .min(max);
    let half = exp / 2;
    half + half.mul_f64(random_unit())
}

/// A uniform number in `[0, 1)`.
fn random_unit() -> f64 {
    getrandom::u64().map_or(0.5, |r| (r >> 11) as f64 / (1u64 << 53) as f64)
}

/// A batch ready to post: the request body and the memory it holds.
#[derive(Debug)]
pub struct Batch {
    /// `{"TraceSegmentDocuments":[...]}` with every document as a JSON string, verbatim.
    pub body: Bytes,
    /// Documents in the batch.
    pub docs: u64,
    _reservation: Reservation,
}

impl Batch {
    /// Encodes `docs` into a `PutTraceSegments` body.
    pub fn new(docs: &[String], reservation: Reservation) -> Batch {
        Batch {
            body: Bytes::from(encode_request(docs)),
            docs: docs.len() as u64,
            _reservation: reservation,
        }
    }
}

/// `{"TraceSegmentDocuments":["<doc>",...]}`: each document becomes a JSON string whose value
/// is exactly the received text. serde_json's string escaper does the escaping: on batches of
/// real SDK documents (quotes every few bytes) it measured 2–3× faster than our hand-written
/// loops (`benches/encode.rs`), and the encoder was the forwarder's hottest function.
pub fn encode_request(docs: &[String]) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct Request<'a> {
        #[serde(rename = "TraceSegmentDocuments")]
        docs: &'a [String],
    }
    // Quotes inside documents grow by one byte each when escaped: about an eighth of the text.
    let len: usize = docs.iter().map(|d| d.len() + d.len() / 8 + 8).sum();
    let mut out = Vec::with_capacity(len + 32);
    // Writing strings into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut out, &Request { docs });
    out
}

/// What senders, the batcher and the drainer share.
#[derive(Debug)]
pub struct Forwarder {
    client: Client,
    metrics: Arc<Metrics>,
    spool: Option<Arc<Spool>>,
    /// Set at shutdown: the instant after which senders stop retrying.
    give_up: watch::Receiver<Option<Instant>>,
}

impl Forwarder {
    /// Shared state for the forwarding tasks.
    pub fn new(
        client: Client,
        metrics: Arc<Metrics>,
        spool: Option<Arc<Spool>>,
        give_up: watch::Receiver<Option<Instant>>,
    ) -> Forwarder {
        Forwarder {
            client,
            metrics,
            spool,
            give_up,
        }
    }

    fn accepted(&self, resp: &PutTraceSegmentsResponse, docs: u64) {
        let unprocessed = &resp.unprocessed_trace_segments;
        self.metrics.batch_sent(docs, unprocessed.len() as u64);
        for u in unprocessed {
            tracing::warn!(
                id = u.id.as_deref().unwrap_or("-"),
                error_code = u.error_code.as_deref().unwrap_or("-"),
                message = u.message.as_deref().unwrap_or("-"),
                "endpoint rejected a document (UnprocessedTraceSegments); not retried"
            );
        }
    }

    fn refused(&self, e: &SendError, docs: u64) {
        tracing::warn!(error = %e, documents = docs, "endpoint refused a batch; not retried");
        self.metrics.batch_refused(docs);
    }

    /// Writes a batch to the spool (there must be one); counts a failure as dropped.
    async fn spool_batch(&self, batch: Batch) {
        let Some(spool) = &self.spool else {
            self.metrics.dropped(DropReason::Shutdown, batch.docs);
            return;
        };
        spool.begin_write();
        let s = Arc::clone(spool);
        let docs = batch.docs;
        let body = batch.body.clone();
        let written = tokio::task::spawn_blocking(move || s.write(&body, docs)).await;
        match written {
            Ok(Ok(())) => self.metrics.batch_spooled(docs),
            Ok(Err(e)) => {
                tracing::error!(error = %e, documents = docs, "cannot write to the spool; batch dropped");
                self.metrics.dropped(DropReason::SpoolError, docs);
            }
            Err(e) => {
                tracing::error!(error = %e, documents = docs, "spool writer failed; batch dropped");
                self.metrics.dropped(DropReason::SpoolError, docs);
            }
        }
        drop(batch);
    }

    /// Delivers one batch: retries, then spools or (at the end of the grace period) drops it.
    async fn deliver(&self, batch: Batch) {
        let mut give_up = self.give_up.clone();
        let mut attempt = 0u32;
        loop {
            let e = match self.client.put_trace_segments(batch.body.clone()).await {
                Ok(resp) => return self.accepted(&resp, batch.docs),
                Err(e) => e,
            };
            let retryable = e.is_retryable();
            self.metrics.send_error(e.kind(), retryable);
            if !retryable {
                return self.refused(&e, batch.docs);
            }
            attempt += 1;
            if attempt == 1 {
                tracing::warn!(error = %e, documents = batch.docs, "sending a batch failed; retrying");
            } else {
                tracing::debug!(error = %e, attempt, "sending a batch failed again");
            }
            let stopping = give_up.borrow().is_some();
            if self.spool.is_some() && (attempt >= SPOOL_AFTER_ATTEMPTS || stopping) {
                return self.spool_batch(batch).await;
            }
            let delay = backoff(attempt, SEND_BACKOFF_BASE, SEND_BACKOFF_MAX);
            let deadline = *give_up.borrow();
            if let Some(t) = deadline
                && Instant::now() + delay >= t
            {
                tracing::error!(
                    error = %e,
                    documents = batch.docs,
                    "shutdown grace period over; batch dropped"
                );
                return self.metrics.dropped(DropReason::Shutdown, batch.docs);
            }
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                _ = give_up.changed() => {}
            }
            self.metrics.send_retry();
        }
    }
}

/// Cuts batches from the buffer and hands them to the senders (or the spool).
#[derive(Debug)]
pub struct Batcher {
    buffer: Arc<Buffer>,
    tx: mpsc::Sender<Batch>,
    fwd: Arc<Forwarder>,
}

impl Batcher {
    /// A batcher feeding `tx`.
    pub fn new(buffer: Arc<Buffer>, tx: mpsc::Sender<Batch>, fwd: Arc<Forwarder>) -> Batcher {
        Batcher { buffer, tx, fwd }
    }

    /// Runs until `stop` turns true (or its sender is gone), then hands over everything still
    /// buffered and closes the senders' queue.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut deadline = Instant::now() + FLUSH_INTERVAL;
        loop {
            tokio::select! {
                () = self.buffer.ready() => {}
                () = tokio::time::sleep_until(deadline) => {}
                r = stop.changed() => {
                    if r.is_err() || *stop.borrow() {
                        break;
                    }
                }
            }
            while self.buffer.should_flush() {
                let Some((docs, r)) = self.buffer.take(BATCH_SIZE) else {
                    break;
                };
                self.dispatch(Batch::new(&docs, r)).await;
            }
            if Instant::now() >= deadline {
                if let Some((docs, r)) = self.buffer.take(BATCH_SIZE) {
                    self.dispatch(Batch::new(&docs, r)).await;
                }
                deadline = Instant::now() + FLUSH_INTERVAL;
            }
        }
        while let Some((docs, r)) = self.buffer.take(BATCH_SIZE) {
            self.dispatch(Batch::new(&docs, r)).await;
        }
    }

    async fn dispatch(&self, batch: Batch) {
        if let Some(spool) = &self.fwd.spool
            && spool.is_backlogged()
        {
            return self.fwd.spool_batch(batch).await;
        }
        match self.tx.try_send(batch) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(batch)) => {
                if self.fwd.spool.is_some() && self.buffer.over_half() {
                    // Senders are all busy and memory is filling: overflow to disk.
                    self.fwd.spool_batch(batch).await;
                } else if let Err(mpsc::error::SendError(batch)) = self.tx.send(batch).await {
                    self.fwd.metrics.dropped(DropReason::Shutdown, batch.docs);
                }
            }
            Err(mpsc::error::TrySendError::Closed(batch)) => {
                self.fwd.metrics.dropped(DropReason::Shutdown, batch.docs);
            }
        }
    }
}

/// One of the concurrent senders: takes batches from the shared queue until it is closed.
pub async fn sender(queue: Arc<Mutex<mpsc::Receiver<Batch>>>, fwd: Arc<Forwarder>) {
    loop {
        let next = queue.lock().await.recv().await;
        let Some(batch) = next else { break };
        fwd.deliver(batch).await;
    }
}

/// Sends spooled batches, oldest first, one at a time; backs off while the endpoint fails.
#[derive(Debug)]
pub struct Drainer {
    spool: Arc<Spool>,
    fwd: Arc<Forwarder>,
}

impl Drainer {
    /// A drainer for `spool`.
    pub fn new(spool: Arc<Spool>, fwd: Arc<Forwarder>) -> Drainer {
        Drainer { spool, fwd }
    }

    /// Runs until `stop` turns true; what is left stays on disk for the next run.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut attempt = 0u32;
        loop {
            if *stop.borrow() {
                break;
            }
            let Some(entry) = self.spool.front() else {
                tokio::select! {
                    () = self.spool.written() => continue,
                    r = stop.changed() => if r.is_err() { break } else { continue },
                }
            };
            let Some(body) = self.read(entry).await else {
                continue;
            };
            match self.fwd.client.put_trace_segments(body).await {
                Ok(resp) => {
                    if attempt > 0 {
                        tracing::info!("endpoint answers again; draining the spool");
                    }
                    attempt = 0;
                    self.fwd.accepted(&resp, entry.docs);
                    self.fwd.metrics.batch_drained();
                    self.spool.remove(&entry);
                }
                Err(e) if !e.is_retryable() => {
                    self.fwd.metrics.send_error(e.kind(), false);
                    self.fwd.refused(&e, entry.docs);
                    self.spool.remove(&entry);
                }
                Err(e) => {
                    self.fwd.metrics.send_error(e.kind(), true);
                    attempt += 1;
                    if attempt == 1 {
                        tracing::warn!(error = %e, "endpoint unavailable; keeping batches in the spool");
                    }
                    let delay = backoff(attempt, DRAIN_BACKOFF_BASE, DRAIN_BACKOFF_MAX);
                    tokio::select! {
                        () = tokio::time::sleep(delay) => self.fwd.metrics.send_retry(),
                        r = stop.changed() => if r.is_err() { break },
                    }
                }
            }
        }
    }

    async fn read(&self, entry: Entry) -> Option<Bytes> {
        let spool = Arc::clone(&self.spool);
        match tokio::task::spawn_blocking(move || spool.read(&entry)).await {
            Ok(Ok(Some(body))) => Some(Bytes::from(body)),
            Ok(Ok(None)) => None,
            Ok(Err(e)) => {
                tracing::error!(error = %e, documents = entry.docs, "unreadable spool file; batch dropped");
                self.fwd.metrics.dropped(DropReason::SpoolError, entry.docs);
                self.spool.remove(&entry);
                None
            }
            Err(e) => {
                tracing::error!(error = %e, "spool reader failed");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fluoro_proto::api::PutTraceSegmentsRequest;

    #[test]
    fn request_body_carries_documents_verbatim() {
        let docs = vec![
            r#"{"id": "a", "name": "x\"y"}"#.to_owned(),
            "{\"name\":\"tab\\tand\u{1}ctl and é and \u{2028}\"}\n".to_owned(),
            String::new(),
        ];
        let body = encode_request(&docs);
        let parsed: PutTraceSegmentsRequest = serde_json::from_slice(&body).unwrap();
        assert_eq!(parsed.trace_segment_documents, docs);
        assert_eq!(encode_request(&[]), b"{\"TraceSegmentDocuments\":[]}");
    }

    /// Every byte value in every position, and multi-byte text, survive the round trip.
    #[test]
    fn escaping_round_trips_every_byte() {
        for b in 0u8..0x80 {
            for pos in 0..19 {
                let mut doc = "a".repeat(19);
                doc.replace_range(pos..=pos, char::from(b).encode_utf8(&mut [0; 4]));
                let docs = [doc];
                let parsed: PutTraceSegmentsRequest =
                    serde_json::from_slice(&encode_request(&docs)).unwrap();
                assert_eq!(parsed.trace_segment_documents, docs, "byte {b:#x} at {pos}");
            }
        }
        let multi = ["é€😀\u{7f}\u{80}\u{2028}".repeat(5)];
        let parsed: PutTraceSegmentsRequest =
            serde_json::from_slice(&encode_request(&multi)).unwrap();
        assert_eq!(parsed.trace_segment_documents, multi);
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(5);
        for attempt in 1..40 {
            let d = backoff(attempt, base, max);
            let full = base.saturating_mul(1 << (attempt - 1).min(20)).min(max);
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
        }
        let samples: std::collections::BTreeSet<Duration> =
            (0..20).map(|_| backoff(5, base, max)).collect();
        assert!(samples.len() > 1, "jitter varies the delay");
    }
}

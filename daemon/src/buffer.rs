//! The bounded memory buffer between the receiver and the batcher.
//!
//! Every document is accounted for from the moment the receiver accepts it until it is
//! delivered, spooled or dropped: queued documents and documents in batches being sent count
//! against the same bound (`--buffer-memory`). A batch carries a [`Reservation`] that gives its
//! bytes back when the batch is dropped, whatever happened to it.
//!
//! [`Buffer::push`] never blocks the receiver and never waits: when the bound is reached, the
//! oldest queued documents are dropped to make room (counted as `buffer_full`), as the AWS
//! daemon does with its ring buffer. It wakes the batcher once a batch is full or the buffer is
//! half full.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use crate::metrics::{DropReason, Metrics};

/// Most documents per `PutTraceSegments` call, as AWS.
pub const BATCH_SIZE: usize = fluoro_proto::api::limits::MAX_TRACE_SEGMENT_DOCUMENTS;
/// Bytes accounted per document on top of its length: the queue slot, the `String` header and
/// allocator rounding.
pub const DOCUMENT_OVERHEAD: usize = 64;

/// The bytes a document counts against the bound.
pub fn cost(doc: &str) -> usize {
    doc.len() + DOCUMENT_OVERHEAD
}

#[derive(Debug, Default)]
struct Inner {
    docs: VecDeque<String>,
    /// Bytes of queued documents.
    queued: usize,
    /// Bytes of documents taken into batches that are not finished yet.
    held: usize,
}

/// The buffer.
#[derive(Debug)]
pub struct Buffer {
    inner: Mutex<Inner>,
    capacity: usize,
    ready: Notify,
    metrics: Arc<Metrics>,
}

impl Buffer {
    /// A buffer bounded by `capacity` bytes.
    pub fn new(capacity: usize, metrics: Arc<Metrics>) -> Buffer {
        Buffer {
            inner: Mutex::new(Inner::default()),
            capacity,
            ready: Notify::new(),
            metrics,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing panics while holding the lock; a poisoned lock still holds consistent data.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues a document, dropping the oldest queued ones if it does not fit. Returns how many
    /// documents were dropped (the new one included, if even an empty queue cannot take it
    /// because batches in flight hold the memory).
    pub fn push(&self, doc: String) -> u64 {
        let c = cost(&doc);
        let mut dropped = 0u64;
        let wake;
        {
            let mut g = self.lock();
            while g.queued + g.held + c > self.capacity {
                let Some(old) = g.docs.pop_front() else { break };
                g.queued -= cost(&old);
                dropped += 1;
            }
            if g.queued + g.held + c > self.capacity {
                dropped += 1;
                wake = false;
            } else {
                g.queued += c;
                g.docs.push_back(doc);
                wake = g.docs.len() >= BATCH_SIZE || 2 * g.queued >= self.capacity;
            }
        }
        if wake {
            self.ready.notify_one();
        }
        self.metrics.dropped(DropReason::BufferFull, dropped);
        dropped
    }

    /// Takes up to `max` documents, oldest first; their bytes stay accounted until the returned
    /// reservation is dropped.
    pub fn take(self: &Arc<Self>, max: usize) -> Option<(Vec<String>, Reservation)> {
        let mut g = self.lock();
        if g.docs.is_empty() {
            return None;
        }
        let n = max.min(g.docs.len());
        let docs: Vec<String> = g.docs.drain(..n).collect();
        let bytes: usize = docs.iter().map(|d| cost(d)).sum();
        g.queued -= bytes;
        g.held += bytes;
        Some((
            docs,
            Reservation {
                bytes,
                buffer: Some(Arc::clone(self)),
            },
        ))
    }

    /// Queued documents.
    pub fn len(&self) -> usize {
        self.lock().docs.len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when a full batch is queued or queued documents use half the bound.
    pub fn should_flush(&self) -> bool {
        let g = self.lock();
        g.docs.len() >= BATCH_SIZE || 2 * g.queued >= self.capacity
    }

    /// True when queued and in-flight documents use more than half the bound.
    pub fn over_half(&self) -> bool {
        let g = self.lock();
        2 * (g.queued + g.held) > self.capacity
    }

    /// Bytes accounted to queued and in-flight documents.
    pub fn bytes(&self) -> usize {
        let g = self.lock();
        g.queued + g.held
    }

    /// The bound in bytes.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Completes when a batch may be ready (see [`Buffer::should_flush`]).
    pub async fn ready(&self) {
        self.ready.notified().await;
    }
}

/// Bytes of documents in flight; released when dropped.
#[derive(Debug)]
pub struct Reservation {
    bytes: usize,
    buffer: Option<Arc<Buffer>>,
}

impl Reservation {
    /// A reservation that accounts nothing (batches read back from the spool).
    pub fn none() -> Reservation {
        Reservation {
            bytes: 0,
            buffer: None,
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(b) = &self.buffer {
            b.lock().held -= self.bytes;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(i: usize, len: usize) -> String {
        let mut s = format!("{i:08}");
        s.extend(std::iter::repeat_n('x', len - 8));
        s
    }

    #[test]
    fn full_buffer_drops_the_oldest_and_stays_bounded() {
        let m = Arc::new(Metrics::default());
        let cap = 10 * cost(&doc(0, 100));
        let b = Arc::new(Buffer::new(cap, Arc::clone(&m)));
        for i in 0..25 {
            b.push(doc(i, 100));
            assert!(b.bytes() <= cap);
        }
        assert_eq!(b.len(), 10);
        assert_eq!(m.snapshot().dropped["buffer_full"], 15);
        let (docs, _r) = b.take(BATCH_SIZE).unwrap();
        assert_eq!(
            docs.first().unwrap()[..8],
            *"00000015",
            "the newest ten are kept"
        );
        assert_eq!(docs.last().unwrap()[..8], *"00000024");
    }

    #[test]
    fn in_flight_documents_count_until_their_batch_is_done() {
        let m = Arc::new(Metrics::default());
        let one = cost(&doc(0, 100));
        let b = Arc::new(Buffer::new(4 * one, Arc::clone(&m)));
        for i in 0..4 {
            b.push(doc(i, 100));
        }
        let (docs, reservation) = b.take(3).unwrap();
        assert_eq!(docs.len(), 3);
        assert_eq!(b.bytes(), 4 * one);
        // Only one slot is free of queued documents: the next push evicts the queued one.
        assert_eq!(b.push(doc(4, 100)), 1);
        // A finished batch gives its bytes back.
        drop(b.take(1).unwrap());
        drop(reservation);
        assert_eq!(b.bytes(), 0);
        assert_eq!(b.push(doc(5, 100)), 0);
        assert_eq!(b.len(), 1);
    }

    #[test]
    fn newest_is_dropped_when_batches_in_flight_hold_everything() {
        let m = Arc::new(Metrics::default());
        let one = cost(&doc(0, 100));
        let b = Arc::new(Buffer::new(2 * one, Arc::clone(&m)));
        b.push(doc(0, 100));
        b.push(doc(1, 100));
        let (_docs, r) = b.take(2).unwrap();
        assert_eq!(b.push(doc(2, 100)), 1);
        assert!(b.is_empty());
        drop(r);
        assert_eq!(b.push(doc(3, 100)), 0);
        assert_eq!(m.snapshot().dropped["buffer_full"], 1);
    }

    #[test]
    fn wakes_the_batcher_at_a_full_batch_or_half_capacity() {
        let m = Arc::new(Metrics::default());
        let b = Arc::new(Buffer::new(1 << 20, Arc::clone(&m)));
        for i in 0..BATCH_SIZE - 1 {
            b.push(doc(i, 10));
        }
        assert!(!b.should_flush());
        b.push(doc(99, 10));
        assert!(b.should_flush());
        let small = Arc::new(Buffer::new(4 * cost(&doc(0, 100)), m));
        small.push(doc(0, 100));
        assert!(!small.should_flush());
        small.push(doc(1, 100));
        assert!(small.should_flush());
    }
}

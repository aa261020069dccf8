//! The parsed-document cache: documents that ingest has already parsed and validated, kept for
//! the aggregator so that it does not read them back from SQLite and parse them a second time
//! (that was half of its work, docs/benchmarks.md).
//!
//! Correctness never depends on the cache. Every entry carries the trace row's `revision` as of
//! the last write it reflects; the aggregator uses an entry only when that revision equals the
//! row's current one, and otherwise reads the documents from the database as before. An entry is
//! started only by the write that created the trace row (revision 1), so it holds every document
//! of the trace; a write whose previous revision the entry does not hold (writes racing, an
//! eviction, a restart, a rolled-back transaction) drops the entry.
//!
//! Memory is bounded by `--aggregate-cache-bytes`: each document is charged an estimate of its
//! parsed size. When the bound is reached, new traces are not admitted (and a cached trace that
//! would grow past it is dropped): the aggregator settles traces oldest first, so the ones
//! already cached are the next it needs. Each trace left out is counted in
//! `fluoro_collector_aggregate_cache_full_total`, and the first is logged.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use fluoro_proto::ids::EntityId;
use fluoro_proto::segment::Segment;

use crate::metrics::Metrics;

/// Bytes charged per byte of a document's JSON: a parsed [`Segment`] holds owned strings, maps
/// and boxed sub-objects. Measured (heap growth over 100,000 parses of the load tool's ~1 KB
/// segment with its DynamoDB subsegment): 5,524 bytes each under mimalloc, 5,696 under glibc,
/// so about five times the JSON plus the fixed-size structs charged below. (Until
/// 2026-11-28 the factor was 3, and the cache used nearly twice its budget.)
const PARSED_SIZE_FACTOR: usize = 5;

/// One document of a write, as the cache keeps it.
#[derive(Debug)]
pub struct CachedDoc {
    /// Its id: a later document with the same id replaces it (as in the `documents` table).
    pub entity_id: EntityId,
    /// An in-progress document never replaces a complete one.
    pub in_progress: bool,
    /// The parsed document.
    pub segment: Segment,
    /// Its JSON length.
    pub json_len: usize,
}

/// What one write did to one trace row.
#[derive(Debug)]
pub struct TraceWrite {
    /// The trace row.
    pub key: i64,
    /// The row's revision after the write (1: the write created it).
    pub revision: i64,
    /// The documents written; `None` when some were not at hand parsed (the entry is dropped).
    pub docs: Option<Vec<CachedDoc>>,
}

#[derive(Debug)]
struct Cached {
    revision: i64,
    docs: Vec<CachedDoc>,
    bytes: usize,
}

#[derive(Debug, Default)]
struct State {
    traces: HashMap<i64, Cached>,
    bytes: usize,
}

/// Parsed documents waiting for the aggregator; shared by the writer and the aggregator.
#[derive(Debug)]
pub struct DocCache {
    state: Mutex<State>,
    budget: usize,
    warned: AtomicBool,
}

fn charge(doc: &CachedDoc) -> usize {
    doc.json_len * PARSED_SIZE_FACTOR + 2 * std::mem::size_of::<CachedDoc>()
}

impl DocCache {
    /// A cache holding at most about `budget` bytes (0 turns it off).
    pub fn new(budget: usize) -> DocCache {
        DocCache {
            state: Mutex::new(State::default()),
            budget,
            warned: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records the documents of a committed write (called on the writer thread, in commit
    /// order). Returns what it did not keep, for the caller to free off the writer thread.
    pub fn record(&self, writes: Vec<TraceWrite>, metrics: &Metrics) -> Vec<CachedDoc> {
        let mut left = Vec::new();
        if self.budget == 0 {
            left.extend(writes.into_iter().filter_map(|w| w.docs).flatten());
            return left;
        }
        let mut full = 0u64;
        let mut st = self.lock();
        for w in writes {
            let Some(docs) = w.docs else {
                if let Some(old) = st.traces.remove(&w.key) {
                    st.bytes -= old.bytes;
                    left.extend(old.docs);
                }
                continue;
            };
            if w.revision == 1 {
                let added: usize = docs.iter().map(charge).sum();
                // A new trace row: everything it holds is in this write.
                if let Some(old) = st.traces.remove(&w.key) {
                    st.bytes -= old.bytes;
                    left.extend(old.docs);
                }
                if st.bytes + added > self.budget {
                    full += 1;
                    left.extend(docs);
                    continue;
                }
                st.bytes += added;
                st.traces.insert(
                    w.key,
                    Cached {
                        revision: 1,
                        docs,
                        bytes: added,
                    },
                );
                continue;
            }
            let Entry::Occupied(mut e) = st.traces.entry(w.key) else {
                // Not cached: the aggregator reads this trace from the database.
                left.extend(docs);
                continue;
            };
            if e.get().revision != w.revision - 1 {
                let old = e.remove();
                st.bytes -= old.bytes;
                left.extend(old.docs);
                left.extend(docs);
                continue;
            }
            let c = e.get_mut();
            let before = c.bytes;
            for doc in docs {
                match c.docs.iter_mut().find(|d| d.entity_id == doc.entity_id) {
                    Some(slot) if slot.in_progress || !doc.in_progress => {
                        c.bytes = c.bytes - charge(slot) + charge(&doc);
                        left.push(std::mem::replace(slot, doc));
                    }
                    // An in-progress copy of a complete document: ignored.
                    Some(_) => left.push(doc),
                    None => {
                        c.bytes += charge(&doc);
                        c.docs.push(doc);
                    }
                }
            }
            c.revision = w.revision;
            let after = c.bytes;
            st.bytes = st.bytes - before + after;
            if st.bytes > self.budget {
                if let Some(old) = st.traces.remove(&w.key) {
                    left.extend(old.docs);
                }
                st.bytes -= after;
                full += 1;
            }
        }
        drop(st);
        if full > 0 {
            metrics
                .aggregate_cache_full
                .fetch_add(full, Ordering::Relaxed);
            if !self.warned.swap(true, Ordering::Relaxed) {
                tracing::info!(
                    budget_bytes = self.budget,
                    "aggregate cache full: some traces' documents will be read back from the database (raise --aggregate-cache-bytes to avoid it)"
                );
            }
        }
        left
    }

    /// Takes the documents of trace row `key` if the cache holds exactly its state at
    /// `revision`. The entry is removed either way: a trace is settled once it is quiet.
    pub fn take(&self, key: i64, revision: i64) -> Option<Vec<Segment>> {
        let mut st = self.lock();
        let c = st.traces.remove(&key)?;
        st.bytes -= c.bytes;
        drop(st);
        (c.revision == revision).then(|| c.docs.into_iter().map(|d| d.segment).collect())
    }

    /// Bytes charged now.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(id: u64, in_progress: bool, name: &str) -> CachedDoc {
        let entity_id = EntityId::new(id);
        let json = format!(
            r#"{{"name":"{name}","id":"{entity_id}","trace_id":"1-5f8a0000-000000000000000000000001","start_time":1,"in_progress":{in_progress}}}"#
        );
        CachedDoc {
            entity_id,
            in_progress,
            segment: Segment::from_json(&json).unwrap(),
            json_len: json.len(),
        }
    }

    fn names(docs: &[Segment]) -> Vec<String> {
        let mut v: Vec<String> = docs.iter().filter_map(|d| d.name.clone()).collect();
        v.sort();
        v
    }

    #[test]
    fn follows_revisions_and_replacement_rules() {
        let m = Metrics::default();
        let c = DocCache::new(1 << 20);
        c.record(
            vec![TraceWrite {
                key: 7,
                revision: 1,
                docs: Some(vec![doc(1, true, "a-progress"), doc(2, false, "b")]),
            }],
            &m,
        );
        c.record(
            vec![TraceWrite {
                key: 7,
                revision: 2,
                docs: Some(vec![doc(1, false, "a-done"), doc(2, true, "b-progress")]),
            }],
            &m,
        );
        // The row moved on to revision 3 without the cache seeing it: not used.
        assert!(c.take(7, 3).is_none());
        assert_eq!(c.bytes(), 0);

        c.record(
            vec![TraceWrite {
                key: 8,
                revision: 1,
                docs: Some(vec![doc(1, true, "a-progress"), doc(2, false, "b")]),
            }],
            &m,
        );
        c.record(
            vec![TraceWrite {
                key: 8,
                revision: 2,
                docs: Some(vec![doc(1, false, "a-done"), doc(2, true, "b-progress")]),
            }],
            &m,
        );
        assert_eq!(names(&c.take(8, 2).unwrap()), ["a-done", "b"]);
        assert!(c.take(8, 2).is_none(), "taken once");
    }

    #[test]
    fn a_gap_in_revisions_drops_the_entry() {
        let m = Metrics::default();
        let c = DocCache::new(1 << 20);
        c.record(
            vec![TraceWrite {
                key: 1,
                revision: 1,
                docs: Some(vec![doc(1, false, "a")]),
            }],
            &m,
        );
        c.record(
            vec![TraceWrite {
                key: 1,
                revision: 3,
                docs: Some(vec![doc(2, false, "b")]),
            }],
            &m,
        );
        assert!(c.take(1, 3).is_none());
        // A write to a trace the cache never started is ignored.
        c.record(
            vec![TraceWrite {
                key: 2,
                revision: 5,
                docs: Some(vec![doc(2, false, "b")]),
            }],
            &m,
        );
        assert!(c.take(2, 5).is_none());
    }

    #[test]
    fn bounded_new_traces_left_out() {
        let m = Metrics::default();
        let one = charge(&doc(1, false, "x"));
        let c = DocCache::new(one * 3);
        for key in 1..=5 {
            c.record(
                vec![TraceWrite {
                    key,
                    revision: 1,
                    docs: Some(vec![doc(1, false, "x")]),
                }],
                &m,
            );
        }
        assert!(c.bytes() <= one * 3);
        assert!(c.take(4, 1).is_none() && c.take(5, 1).is_none());
        assert!(c.take(1, 1).is_some());
        assert_eq!(m.aggregate_cache_full.load(Ordering::Relaxed), 2);
        let off = DocCache::new(0);
        off.record(
            vec![TraceWrite {
                key: 1,
                revision: 1,
                docs: Some(vec![doc(1, false, "x")]),
            }],
            &m,
        );
        assert!(off.take(1, 1).is_none());
    }
}

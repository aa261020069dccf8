//! Pre-aggregation: when a trace has been quiet for the aggregate delay, its service-graph
//! contribution is (re)computed from its documents, and the contribution is moved
//! into the per-minute graph bucket of the trace's start (the old contribution subtracted, the
//! new one added). Graph and time-series queries then read buckets, never segments.
//!
//! The [`Aggregator`] runs on its own thread with its own read connection: it does the costly
//! part (reading and parsing documents, assembling, summarizing, deriving the graph) and hands
//! the writer one small job per pass of at most [`TRACES_PER_PASS`] traces, which only moves
//! contributions between buckets and updates rows. A trace that received a document in between
//! is left for the next pass (its revision no longer matches).
//!
//! Passes are pipelined: while the writer applies one pass, the next is computed from the
//! quiet traces not in it, so the aggregator does not sit idle for a writer round trip per
//! pass. That round trip had capped it below the ingest rate, and a
//! lagging aggregator overflows its parsed-document cache and must parse everything again.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use super::cache::DocCache;
use super::traces::{
    TermRows, encode_terms, load_documents, now_secs, remove_terms, stored_contribution,
    trace_id_column,
};
use super::{BlockingWriter, Reply, StoreError};
use crate::graph::{self, GraphContribution};
use crate::metrics::Metrics;
use crate::trace;

/// Most traces settled in one pass (one writer transaction).
pub const TRACES_PER_PASS: usize = 500;
/// Bucket width of the pre-aggregated graph, in seconds (the graph module's).
const BUCKET_SECS: i64 = graph::BUCKET_SECS as i64;
/// How often an idle aggregator looks for quiet traces.
const IDLE_TICK: Duration = Duration::from_millis(100);

/// One trace's new state, computed off the writer.
struct Settled {
    key: i64,
    revision: i64,
    old: Option<(i64, GraphContribution)>,
    bucket: i64,
    contribution: GraphContribution,
    /// Its stored (binary) form.
    contribution_bytes: Vec<u8>,
    id_time: i64,
    /// Filter-index terms of the trace (`filter::terms`), sorted.
    terms: Vec<i64>,
}

/// The aggregation thread.
pub(crate) struct Aggregator {
    conn: Connection,
    writer: BlockingWriter,
    delay: Duration,
    metrics: Arc<Metrics>,
    stop: Arc<AtomicBool>,
    cache: Arc<DocCache>,
}

impl Aggregator {
    pub(crate) fn new(
        conn: Connection,
        writer: BlockingWriter,
        delay: Duration,
        metrics: Arc<Metrics>,
        stop: Arc<AtomicBool>,
        cache: Arc<DocCache>,
    ) -> Aggregator {
        Aggregator {
            conn,
            writer,
            delay,
            metrics,
            stop,
            cache,
        }
    }

    pub(crate) fn run(self) {
        // The pass the writer is applying, and the traces in it.
        let mut in_flight: Option<(Reply<usize>, HashSet<i64>)> = None;
        loop {
            let stopping = self.stop.load(Ordering::Acquire);
            // When stopping, settle everything now: nothing will wait out the delay.
            let delay = if stopping { Duration::ZERO } else { self.delay };
            let busy = in_flight.as_ref().map(|(_, keys)| keys);
            let next = self.compute(delay, busy);
            // Wait for the pass in flight before handing over the next, so the next never
            // moves a contribution the one before has not stored yet.
            if let Some((reply, _)) = in_flight.take() {
                match reply.blocking_recv() {
                    Ok(Ok(applied)) => {
                        self.metrics
                            .traces_aggregated
                            .fetch_add(applied as u64, Ordering::Relaxed);
                    }
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, "applying an aggregation pass failed");
                    }
                    Err(_) => break, // the writer is gone
                }
            }
            let settled = match next {
                Ok(settled) => settled,
                Err(e) => {
                    tracing::error!(error = %e, "aggregation pass failed");
                    if stopping {
                        break;
                    }
                    std::thread::sleep(Duration::from_secs(1));
                    continue;
                }
            };
            let n = settled.len();
            if n == 0 {
                if stopping {
                    break;
                }
                std::thread::sleep(IDLE_TICK);
                continue;
            }
            let keys: HashSet<i64> = settled.iter().map(|s| s.key).collect();
            // The read statement is finished before the writer is asked, so this connection
            // holds no snapshot while the writer commits.
            let metrics = Arc::clone(&self.metrics);
            match self
                .writer
                .submit(move |conn| apply(conn, settled, &metrics))
            {
                Ok(reply) => in_flight = Some((reply, keys)),
                Err(StoreError::Closed) => break,
                Err(e) => tracing::error!(error = %e, "aggregation pass not applied"),
            }
            if n < TRACES_PER_PASS && !stopping {
                std::thread::sleep(IDLE_TICK);
            }
        }
        tracing::debug!("aggregator stopped");
    }

    /// Computes the new state of up to [`TRACES_PER_PASS`] traces quiet for `delay`, oldest
    /// first, leaving out `busy`: the traces of the pass in flight (still unsettled in this
    /// snapshot; the writer settles them, or leaves a changed one for a later pass).
    fn compute(
        &self,
        delay: Duration,
        busy: Option<&HashSet<i64>>,
    ) -> Result<Vec<Settled>, StoreError> {
        let cutoff = now_secs() - delay.as_secs_f64();
        // The pass in flight holds at most TRACES_PER_PASS of the oldest rows: read past them.
        let limit = TRACES_PER_PASS + busy.map_or(0, HashSet::len);
        let mut stmt = self.conn.prepare_cached(
            "SELECT trace_key, trace_id, revision, bucket, contribution, id_time FROM traces
             WHERE settled_revision < revision AND updated_at <= ?1
             ORDER BY updated_at LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![cutoff, limit as i64], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Option<i64>>(3)?,
                match r.get_ref(4)? {
                    rusqlite::types::ValueRef::Null => None,
                    v => Some(stored_contribution(v, || {
                        format!(
                            "trace contribution of row {}",
                            r.get::<_, i64>(0).unwrap_or(0)
                        )
                    })),
                },
                r.get::<_, i64>(5)?,
            ))
        })?;
        let mut settled = Vec::new();
        for row in rows {
            let (key, blob, revision, bucket, old, id_time) = row?;
            if busy.is_some_and(|b| b.contains(&key)) {
                continue;
            }
            if settled.len() == TRACES_PER_PASS {
                break;
            }
            let id = trace_id_column(key, blob)?;
            let docs = if let Some(docs) = self.cache.take(key, revision) {
                self.metrics
                    .aggregate_cache_hits
                    .fetch_add(1, Ordering::Relaxed);
                docs
            } else {
                self.metrics
                    .aggregate_cache_misses
                    .fetch_add(1, Ordering::Relaxed);
                load_documents(&self.conn, key)?
            };
            let assembled = trace::assemble(id, docs);
            let contribution = graph::contribution(&assembled);
            let summary = trace::summarize_for_index(&assembled);
            let terms = crate::filter::terms(&assembled, &summary);
            let start = assembled
                .time_span()
                .0
                .unwrap_or(f64::from(id.epoch_secs()));
            let old = match (bucket, old) {
                (Some(b), Some(Ok(old))) => Some((b, old)),
                (_, Some(Err(e))) => {
                    // One damaged row must not stop aggregation: settle the trace afresh. Its
                    // old share stays in its bucket (counted, logged).
                    self.metrics
                        .aggregate_corrupt
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::error!(error = %e, "settling a trace whose stored contribution is unreadable; its old share stays in its graph bucket");
                    None
                }
                _ => None,
            };
            settled.push(Settled {
                key,
                revision,
                old,
                bucket: (start / BUCKET_SECS as f64).floor() as i64 * BUCKET_SECS,
                contribution_bytes: contribution.to_bytes(),
                contribution,
                id_time,
                terms,
            });
        }
        Ok(settled)
    }
}

/// The bucket's contribution, loaded on first use.
fn bucket_mut<'a>(
    buckets: &'a mut HashMap<i64, GraphContribution>,
    conn: &Connection,
    b: i64,
    metrics: &Metrics,
) -> Result<&'a mut GraphContribution, StoreError> {
    if let std::collections::hash_map::Entry::Vacant(e) = buckets.entry(b) {
        let mut stmt = conn.prepare_cached("SELECT data FROM graph_buckets WHERE bucket = ?1")?;
        let mut rows = stmt.query([b])?;
        let g = match rows.next()? {
            Some(r) => match stored_contribution(r.get_ref(0)?, || format!("graph bucket {b}")) {
                Ok(g) => g,
                Err(e) => {
                    // Failing here would fail every pass that touches this minute.
                    metrics.aggregate_corrupt.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(error = %e, "a graph bucket is unreadable: it starts over from the traces settled from now on");
                    GraphContribution::default()
                }
            },
            None => GraphContribution::default(),
        };
        e.insert(g);
    }
    buckets
        .get_mut(&b)
        .ok_or_else(|| StoreError::Internal("graph bucket vanished".into()))
}

/// Runs on the writer: moves each trace's contribution between buckets, unless the trace
/// changed since it was computed. Returns how many were applied.
fn apply(conn: &Connection, settled: Vec<Settled>, metrics: &Metrics) -> Result<usize, StoreError> {
    let mut buckets: HashMap<i64, GraphContribution> = HashMap::new();
    let mut applied = 0;
    // The pass's new index rows, inserted together after the loop (old rows are removed in it).
    let mut terms = TermRows::default();
    {
        let mut current = conn.prepare_cached(
            "SELECT revision, settled_revision, terms FROM traces WHERE trace_key = ?1",
        )?;
        let mut update = conn.prepare_cached(
            "UPDATE traces SET settled_revision = ?2, contribution = ?3, bucket = ?4, terms = ?5
             WHERE trace_key = ?1",
        )?;
        for s in settled {
            let row: Option<(i64, i64, Option<Vec<u8>>)> = current
                .query_row([s.key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?;
            let Some((revision, settled_revision, old_terms)) = row else {
                continue; // expired since
            };
            if revision != s.revision {
                // Changed since: the next pass redoes it.
                metrics.aggregate_changed.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            if settled_revision >= s.revision {
                // Already applied by an earlier pass: applying again would count it twice.
                metrics.aggregate_repeated.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            remove_terms(conn, s.key, s.id_time, old_terms.as_deref())?;
            terms.push(s.key, s.id_time, &s.terms);
            if let Some((b, old)) = &s.old {
                bucket_mut(&mut buckets, conn, *b, metrics)?.subtract(old);
            }
            bucket_mut(&mut buckets, conn, s.bucket, metrics)?.merge(&s.contribution);
            update.execute(params![
                s.key,
                s.revision,
                s.contribution_bytes,
                s.bucket,
                encode_terms(&s.terms)
            ])?;
            applied += 1;
        }
    }
    terms.insert(conn)?;
    let mut put = conn.prepare_cached(
        "INSERT INTO graph_buckets (bucket, data) VALUES (?1, ?2)
         ON CONFLICT (bucket) DO UPDATE SET data = excluded.data",
    )?;
    let mut del = conn.prepare_cached("DELETE FROM graph_buckets WHERE bucket = ?1")?;
    for (b, g) in &buckets {
        if g.is_empty() {
            del.execute([b])?;
        } else {
            put.execute(params![b, g.to_bytes()])?;
        }
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use fluoro_proto::ids::{EntityId, TraceId};
    use fluoro_proto::segment::Segment;

    use super::*;
    use crate::graph::NodeKey;
    use crate::store::traces::IngestDoc;
    use crate::store::{Store, StoreConfig};

    fn doc(json: String) -> IngestDoc {
        let segment = Segment::from_json(&json).unwrap();
        IngestDoc::new(json, segment)
    }

    /// Front end `svc-a` calls `svc-b`; `b` is `svc-b`'s segment, when sent.
    fn trace(now: f64, b: bool) -> Vec<IngestDoc> {
        let t = TraceId::generate_at(now as u32);
        let (a, call, seg_b) = (
            EntityId::generate(),
            EntityId::generate(),
            EntityId::generate(),
        );
        let mut out = vec![doc(format!(
            r#"{{"trace_id":"{t}","id":"{a}","name":"svc-a","start_time":{now},"end_time":{e},
            "http":{{"response":{{"status":200}}}},
            "subsegments":[{{"id":"{call}","name":"svc-b","namespace":"remote","start_time":{now},
            "end_time":{e},"http":{{"request":{{"url":"http://svc-b/x"}},"response":{{"status":200}}}}}}]}}"#,
            e = now + 0.01
        ))];
        if b {
            out.push(late_b(t, call, seg_b, now));
        }
        out
    }

    fn late_b(t: TraceId, call: EntityId, b: EntityId, now: f64) -> IngestDoc {
        doc(format!(
            r#"{{"trace_id":"{t}","id":"{b}","parent_id":"{call}","name":"svc-b","start_time":{now},
            "end_time":{e},"http":{{"response":{{"status":200}}}}}}"#,
            e = now + 0.005
        ))
    }

    /// The sum of every graph bucket.
    fn graph(path: &PathBuf) -> GraphContribution {
        let conn = Connection::open(path).unwrap();
        let mut total = GraphContribution::default();
        let mut s = conn.prepare("SELECT data FROM graph_buckets").unwrap();
        let rows = s.query_map([], |r| r.get::<_, Vec<u8>>(0)).unwrap();
        for data in rows {
            total.merge(&GraphContribution::from_stored(&data.unwrap()).unwrap());
        }
        total
    }

    fn edge(g: &GraphContribution, from: &NodeKey, to: &NodeKey) -> u64 {
        g.edges
            .get(&(from.clone(), to.clone()))
            .map_or(0, |e| e.records)
    }

    /// A store on a fresh file, aggregating at once, with a small cache (some traces are read
    /// back): (its directory, the file, its metrics, the store).
    fn open_store() -> (PathBuf, PathBuf, Arc<Metrics>, Store) {
        let dir = std::env::temp_dir().join(format!(
            "fluoro-aggregate-test-{}-{}",
            std::process::id(),
            EntityId::generate()
        ));
        let path = dir.join("t.sqlite");
        let metrics = Arc::new(Metrics::default());
        let store = Store::open(
            &StoreConfig {
                path: path.clone(),
                write_queue: 64,
                aggregate_delay: Duration::ZERO,
                retention: Duration::from_secs(86_400),
                aggregate_cache: 1 << 20,
                wal_limit: crate::store::checkpoint::DEFAULT_WAL_LIMIT_BYTES,
            },
            Arc::clone(&metrics),
        )
        .unwrap();
        (dir, path, metrics, store)
    }

    /// Waits until `n` trace aggregations have been stored.
    async fn settled(metrics: &Metrics, n: usize) {
        let waited = std::time::Instant::now();
        while metrics.traces_aggregated.load(Ordering::Relaxed) < n as u64 {
            assert!(
                waited.elapsed() < Duration::from_secs(30),
                "aggregation stalled"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// More traces than one pass holds, so passes overlap in the pipeline, and late documents
    /// for some traces after they were settled: every trace is counted once, and the late
    /// ones move from the inferred `remote` node to the real service.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pipelined_passes_count_each_trace_once() {
        let (dir, path, metrics, store) = open_store();
        let now = now_secs();
        let complete = 3 * TRACES_PER_PASS;
        let partial = 200;
        let mut late = Vec::new();
        let mut batch = Vec::new();
        for i in 0..complete + partial {
            let docs = trace(now, i < complete);
            if i >= complete {
                let a = docs[0].segment.as_ref().unwrap();
                let call = a.subsegments.as_ref().unwrap()[0]
                    .parsed_id()
                    .unwrap()
                    .unwrap();
                late.push((docs[0].trace_id, call));
            }
            batch.extend(docs);
            if batch.len() >= 50 {
                store.ingest(std::mem::take(&mut batch)).await.unwrap();
            }
        }
        store.ingest(batch).await.unwrap();
        settled(&metrics, complete + partial).await;
        let (client, a, b, remote) = (
            NodeKey::client("svc-a"),
            NodeKey::new("svc-a", None),
            NodeKey::new("svc-b", None),
            NodeKey::new("svc-b", Some("remote")),
        );
        let g = graph(&path);
        assert_eq!(edge(&g, &client, &a), (complete + partial) as u64);
        assert_eq!(edge(&g, &a, &b), complete as u64);
        assert_eq!(edge(&g, &a, &remote), partial as u64);

        let late: Vec<IngestDoc> = late
            .into_iter()
            .map(|(t, call)| late_b(t, call, EntityId::generate(), now))
            .collect();
        for chunk in late.chunks(50) {
            store.ingest(chunk.to_vec()).await.unwrap();
        }
        settled(&metrics, complete + 2 * partial).await;
        let g = graph(&path);
        assert_eq!(edge(&g, &client, &a), (complete + partial) as u64);
        assert_eq!(edge(&g, &a, &b), (complete + partial) as u64);
        assert_eq!(edge(&g, &a, &remote), 0);
        assert!(!g.nodes.contains_key(&remote));
        store.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }

    /// A trace row and a bucket whose stored contributions cannot be read (damaged on disk)
    /// do not stop aggregation: the trace is settled afresh, the bucket starts over, and both
    /// are counted.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unreadable_contributions_do_not_stop_aggregation() {
        let (dir, path, metrics, store) = open_store();
        let now = now_secs();
        let first = trace(now, false);
        let (t, call) = {
            let a = first[0].segment.as_ref().unwrap();
            let call = a.subsegments.as_ref().unwrap()[0]
                .parsed_id()
                .unwrap()
                .unwrap();
            (first[0].trace_id, call)
        };
        store.ingest(first).await.unwrap();
        settled(&metrics, 1).await;
        {
            let conn = Connection::open(&path).unwrap();
            conn.busy_timeout(Duration::from_secs(5)).unwrap();
            conn.execute("UPDATE traces SET contribution = x'B1FF'", [])
                .unwrap();
            conn.execute("UPDATE graph_buckets SET data = 'not a contribution'", [])
                .unwrap();
        }
        let mut more = vec![late_b(t, call, EntityId::generate(), now)];
        more.extend(trace(now, true));
        store.ingest(more).await.unwrap();
        settled(&metrics, 3).await;
        assert_eq!(metrics.aggregate_corrupt.load(Ordering::Relaxed), 2);
        let (client, a, b) = (
            NodeKey::client("svc-a"),
            NodeKey::new("svc-a", None),
            NodeKey::new("svc-b", None),
        );
        let g = graph(&path);
        assert_eq!(edge(&g, &client, &a), 2);
        assert_eq!(edge(&g, &a, &b), 2);
        store.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }
}

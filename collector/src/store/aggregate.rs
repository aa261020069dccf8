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

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use super::cache::DocCache;
use super::traces::{
    add_terms, encode_terms, load_documents, now_secs, remove_terms, trace_id_column,
};
use super::{BlockingWriter, StoreError};
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
    contribution_json: String,
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

fn decode(json: &str, what: &str) -> Result<GraphContribution, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

fn encode<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Internal(e.to_string()))
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
        loop {
            let stopping = self.stop.load(Ordering::Acquire);
            // When stopping, settle everything now: nothing will wait out the delay.
            let delay = if stopping { Duration::ZERO } else { self.delay };
            match self.pass(delay) {
                Ok(n) if n == TRACES_PER_PASS => continue,
                Ok(_) if stopping => break,
                Ok(_) => std::thread::sleep(IDLE_TICK),
                Err(StoreError::Closed) => break,
                Err(e) => {
                    tracing::error!(error = %e, "aggregation pass failed");
                    if stopping {
                        break;
                    }
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
        }
        tracing::debug!("aggregator stopped");
    }

    /// Settles up to [`TRACES_PER_PASS`] traces quiet for `delay`; returns how many it looked at.
    fn pass(&self, delay: Duration) -> Result<usize, StoreError> {
        let settled = self.compute(delay)?;
        let n = settled.len();
        if n == 0 {
            return Ok(0);
        }
        // The read statement is finished before the writer is asked, so this connection holds
        // no snapshot while the writer commits.
        let applied = self.writer.write(move |conn| apply(conn, settled))?;
        self.metrics
            .traces_aggregated
            .fetch_add(applied as u64, Ordering::Relaxed);
        Ok(n)
    }

    fn compute(&self, delay: Duration) -> Result<Vec<Settled>, StoreError> {
        let cutoff = now_secs() - delay.as_secs_f64();
        let mut stmt = self.conn.prepare_cached(
            "SELECT trace_key, trace_id, revision, bucket, contribution, id_time FROM traces
             WHERE settled_revision < revision AND updated_at <= ?1
             ORDER BY updated_at LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![cutoff, TRACES_PER_PASS as i64], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Option<i64>>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, i64>(5)?,
            ))
        })?;
        let mut settled = Vec::new();
        for row in rows {
            let (key, blob, revision, bucket, old, id_time) = row?;
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
                (Some(b), Some(json)) => Some((b, decode(&json, "trace contribution")?)),
                _ => None,
            };
            settled.push(Settled {
                key,
                revision,
                old,
                bucket: (start / BUCKET_SECS as f64).floor() as i64 * BUCKET_SECS,
                contribution_json: encode(&contribution)?,
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
) -> Result<&'a mut GraphContribution, StoreError> {
    if let std::collections::hash_map::Entry::Vacant(e) = buckets.entry(b) {
        let data: Option<String> = conn
            .prepare_cached("SELECT data FROM graph_buckets WHERE bucket = ?1")?
            .query_row([b], |r| r.get(0))
            .optional()?;
        let g = data.map_or_else(
            || Ok(GraphContribution::default()),
            |d| decode(&d, "graph bucket"),
        )?;
        e.insert(g);
    }
    buckets
        .get_mut(&b)
        .ok_or_else(|| StoreError::Internal("graph bucket vanished".into()))
}

/// Runs on the writer: moves each trace's contribution between buckets, unless the trace
/// changed since it was computed. Returns how many were applied.
fn apply(conn: &Connection, settled: Vec<Settled>) -> Result<usize, StoreError> {
    let mut buckets: HashMap<i64, GraphContribution> = HashMap::new();
    let mut applied = 0;
    {
        let mut current =
            conn.prepare_cached("SELECT revision, terms FROM traces WHERE trace_key = ?1")?;
        let mut update = conn.prepare_cached(
            "UPDATE traces SET settled_revision = ?2, contribution = ?3, bucket = ?4, terms = ?5
             WHERE trace_key = ?1",
        )?;
        for s in settled {
            let row: Option<(i64, Option<Vec<u8>>)> = current
                .query_row([s.key], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let Some((revision, old_terms)) = row else {
                continue; // expired since
            };
            if revision != s.revision {
                continue; // changed since: the next pass redoes it
            }
            remove_terms(conn, s.key, s.id_time, old_terms.as_deref())?;
            add_terms(conn, s.key, s.id_time, &s.terms)?;
            if let Some((b, old)) = &s.old {
                bucket_mut(&mut buckets, conn, *b)?.subtract(old);
            }
            bucket_mut(&mut buckets, conn, s.bucket)?.merge(&s.contribution);
            update.execute(params![
                s.key,
                s.revision,
                s.contribution_json,
                s.bucket,
                encode_terms(&s.terms)
            ])?;
            applied += 1;
        }
    }
    let mut put = conn.prepare_cached(
        "INSERT INTO graph_buckets (bucket, data) VALUES (?1, ?2)
         ON CONFLICT (bucket) DO UPDATE SET data = excluded.data",
    )?;
    let mut del = conn.prepare_cached("DELETE FROM graph_buckets WHERE bucket = ?1")?;
    for (b, g) in &buckets {
        if g.is_empty() {
            del.execute([b])?;
        } else {
            put.execute(params![b, encode(g)?])?;
        }
    }
    Ok(applied)
}

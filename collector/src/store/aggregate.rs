//! Pre-aggregation: when a trace has been quiet for the aggregate delay, its summary and its
//! service-graph contribution are (re)computed from its documents, and the contribution is moved
//! into the per-minute graph bucket of the trace's start (the old contribution subtracted, the
//! new one added). Graph and time-series queries then read buckets, never segments.
//!
//! Runs on the writer thread between write batches, in its own transactions of at most
//! [`TRACES_PER_PASS`] traces, so ingestion is never blocked for long.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use fluoro_proto::ids::TraceId;
use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use super::traces::{load_documents, now_secs};
use crate::graph::{self, GraphContribution};
use crate::metrics::Metrics;
use crate::trace;

/// Most traces settled in one transaction.
pub const TRACES_PER_PASS: usize = 500;
/// Bucket width of the pre-aggregated graph, in seconds (the graph module's).
const BUCKET_SECS: i64 = graph::BUCKET_SECS as i64;

struct Pending {
    key: i64,
    id: TraceId,
    revision: i64,
    bucket: Option<i64>,
    contribution: Option<String>,
}

/// Settles every trace that changed and has been quiet for `delay`. Returns how many.
pub fn run_pass(
    conn: &mut Connection,
    delay: Duration,
    metrics: &Metrics,
) -> Result<usize, StoreError> {
    let mut total = 0;
    loop {
        let n = settle_some(conn, delay)?;
        metrics
            .traces_aggregated
            .fetch_add(n as u64, Ordering::Relaxed);
        total += n;
        if n < TRACES_PER_PASS {
            return Ok(total);
        }
    }
}

fn decode(json: &str, what: &str) -> Result<GraphContribution, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

fn encode<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Internal(e.to_string()))
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

fn settle_some(conn: &mut Connection, delay: Duration) -> Result<usize, StoreError> {
    let cutoff = now_secs() - delay.as_secs_f64();
    let tx = conn.transaction()?;
    let pending: Vec<Pending> = {
        let mut stmt = tx.prepare_cached(
            "SELECT trace_key, trace_id, revision, bucket, contribution FROM traces
             WHERE settled_revision < revision AND updated_at <= ?1
             ORDER BY updated_at LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![cutoff, TRACES_PER_PASS as i64], |r| {
            let blob: Vec<u8> = r.get(1)?;
            Ok((r.get(0)?, blob, r.get(2)?, r.get(3)?, r.get(4)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (key, blob, revision, bucket, contribution): (
                i64,
                Vec<u8>,
                i64,
                Option<i64>,
                Option<String>,
            ) = row?;
            let bytes: [u8; 16] = blob
                .try_into()
                .map_err(|_| StoreError::Corrupt(format!("trace row {key}: bad trace id")))?;
            out.push(Pending {
                key,
                id: TraceId::from_bytes(bytes),
                revision,
                bucket,
                contribution,
            });
        }
        out
    };
    if pending.is_empty() {
        return Ok(0);
    }
    let mut buckets: HashMap<i64, GraphContribution> = HashMap::new();
    {
        let mut update = tx.prepare_cached(
            "UPDATE traces SET settled_revision = ?2, summary = ?3, contribution = ?4, bucket = ?5
             WHERE trace_key = ?1",
        )?;
        for p in &pending {
            let docs = load_documents(&tx, p.key)?;
            let assembled = trace::assemble(p.id, docs);
            let summary = trace::summarize(&assembled);
            let contribution = graph::contribution(&assembled);
            if let (Some(b), Some(old)) = (p.bucket, &p.contribution) {
                let old = decode(old, "trace contribution")?;
                bucket_mut(&mut buckets, &tx, b)?.subtract(&old);
            }
            let start = summary
                .start_time
                .map_or(f64::from(p.id.epoch_secs()), |t| t.0);
            let bucket = (start / BUCKET_SECS as f64).floor() as i64 * BUCKET_SECS;
            bucket_mut(&mut buckets, &tx, bucket)?.merge(&contribution);
            update.execute(params![
                p.key,
                p.revision,
                encode(&summary)?,
                encode(&contribution)?,
                bucket
            ])?;
        }
        let mut put = tx.prepare_cached(
            "INSERT INTO graph_buckets (bucket, data) VALUES (?1, ?2)
             ON CONFLICT (bucket) DO UPDATE SET data = excluded.data",
        )?;
        let mut del = tx.prepare_cached("DELETE FROM graph_buckets WHERE bucket = ?1")?;
        for (b, g) in &buckets {
            if g.is_empty() {
                del.execute([b])?;
            } else {
                put.execute(params![b, encode(g)?])?;
            }
        }
    }
    tx.commit()?;
    Ok(pending.len())
}

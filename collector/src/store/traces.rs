//! Trace and document rows: ingest, lookup, listing, retention.

use std::time::Duration;

use fluoro_proto::ids::{EntityId, TraceId};
use fluoro_proto::segment::Segment;
use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;

/// One validated document ready to store.
#[derive(Debug, Clone)]
pub struct IngestDoc {
    /// Its trace.
    pub trace_id: TraceId,
    /// Its own id.
    pub entity_id: EntityId,
    /// An in-progress placeholder, replaced by the complete document when it comes.
    pub in_progress: bool,
    /// `start_time`.
    pub start: f64,
    /// `end_time`, if complete.
    pub end: Option<f64>,
    /// The document exactly as received.
    pub doc: String,
}

/// Epoch seconds now.
pub fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn entity_key(id: EntityId) -> i64 {
    id.get() as i64
}

/// Stores documents: one upsert per trace, one row per document. A complete document replaces
/// an in-progress one with the same id; an in-progress one never replaces a complete one.
pub fn insert_documents(conn: &Connection, docs: &[IngestDoc], now: f64) -> Result<(), StoreError> {
    let mut upsert = conn.prepare_cached(
        "INSERT INTO traces (trace_id, id_time, start_time, end_time, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (trace_id) DO UPDATE SET
             start_time = min(start_time, excluded.start_time),
             end_time = max(end_time, excluded.end_time),
             updated_at = excluded.updated_at,
             revision = revision + 1
         RETURNING trace_key",
    )?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO documents (trace_key, entity_id, in_progress, doc) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (trace_key, entity_id) DO UPDATE SET
             in_progress = excluded.in_progress,
             doc = excluded.doc
         WHERE documents.in_progress = 1 OR excluded.in_progress = 0",
    )?;
    // Group by trace so each trace row is touched once per request.
    let mut order: Vec<usize> = (0..docs.len()).collect();
    order.sort_by_key(|&i| docs[i].trace_id);
    let mut i = 0;
    while i < order.len() {
        let trace = docs[order[i]].trace_id;
        let mut j = i;
        let mut start = f64::INFINITY;
        let mut end = f64::NEG_INFINITY;
        while j < order.len() && docs[order[j]].trace_id == trace {
            let d = &docs[order[j]];
            start = start.min(d.start);
            end = end.max(d.end.unwrap_or(d.start));
            j += 1;
        }
        let key: i64 = upsert.query_row(
            params![
                trace.to_bytes().as_slice(),
                trace.filing_time(start),
                start,
                end,
                now
            ],
            |r| r.get(0),
        )?;
        for &k in &order[i..j] {
            let d = &docs[k];
            insert.execute(params![key, entity_key(d.entity_id), d.in_progress, d.doc])?;
        }
        i = j;
    }
    Ok(())
}

/// The stored state of one trace.
#[derive(Debug, Clone)]
pub struct StoredTrace {
    /// Row key.
    pub key: i64,
    /// Bumped by every write to the trace.
    pub revision: i64,
    /// Every document, parsed.
    pub documents: Vec<Segment>,
}

/// Loads every document of a trace.
pub fn load_trace(conn: &Connection, id: TraceId) -> Result<Option<StoredTrace>, StoreError> {
    let row: Option<(i64, i64)> = conn
        .prepare_cached("SELECT trace_key, revision FROM traces WHERE trace_id = ?1")?
        .query_row([id.to_bytes().as_slice()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((key, revision)) = row else {
        return Ok(None);
    };
    let documents = load_documents(conn, key)?;
    Ok(Some(StoredTrace {
        key,
        revision,
        documents,
    }))
}

/// Loads and parses the documents of a trace row.
pub fn load_documents(conn: &Connection, key: i64) -> Result<Vec<Segment>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT doc FROM documents WHERE trace_key = ?1")?;
    let mut rows = stmt.query([key])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let doc: String = r.get(0)?;
        out.push(
            Segment::from_json(&doc)
                .map_err(|e| StoreError::Corrupt(format!("trace row {key}: {e}")))?,
        );
    }
    Ok(out)
}

/// Which time a listing filters on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeBy {
    /// The epoch in the trace id (when the request started).
    TraceId,
    /// When the trace last received a document.
    Event,
}

/// A row of the trace listing.
#[derive(Debug, Clone)]
pub struct TraceRow {
    /// Row key.
    pub key: i64,
    /// Trace id.
    pub id: TraceId,
    /// The time the listing sorted on.
    pub time: f64,
    /// Last update.
    pub updated_at: f64,
    /// Current revision.
    pub revision: i64,
}

/// Where a listing page starts: strictly before this (time, key), newest first.
pub type Cursor = (f64, i64);

/// Lists traces in `[start, end)`, newest first, from `after` on, at most `limit`.
pub fn list_traces(
    conn: &Connection,
    by: RangeBy,
    start: f64,
    end: f64,
    after: Option<Cursor>,
    limit: usize,
) -> Result<Vec<TraceRow>, StoreError> {
    let col = match by {
        RangeBy::TraceId => "id_time",
        RangeBy::Event => "updated_at",
    };
    // Integer epochs: a range [start, end) covers id_time >= ceil(start) and < end.
    let sql = format!(
        "SELECT trace_key, trace_id, {col}, updated_at, revision
         FROM traces
         WHERE {col} >= ?1 AND {col} < ?2
           AND ({col} < ?3 OR ({col} = ?3 AND trace_key < ?4))
         ORDER BY {col} DESC, trace_key DESC
         LIMIT ?5"
    );
    let (after_time, after_key) = after.unwrap_or((f64::INFINITY, i64::MAX));
    let start_bound = match by {
        RangeBy::TraceId => start.ceil(),
        RangeBy::Event => start,
    };
    let end_bound = match by {
        RangeBy::TraceId => end.ceil(),
        RangeBy::Event => end,
    };
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(
        params![start_bound, end_bound, after_time, after_key, limit as i64],
        |r| {
            let blob: Vec<u8> = r.get(1)?;
            Ok((
                r.get::<_, i64>(0)?,
                blob,
                r.get::<_, f64>(2)?,
                r.get::<_, f64>(3)?,
                r.get::<_, i64>(4)?,
            ))
        },
    )?;
    let mut out = Vec::new();
    for row in rows {
        let (key, blob, time, updated_at, revision) = row?;
        let bytes: [u8; 16] = blob
            .try_into()
            .map_err(|_| StoreError::Corrupt(format!("trace row {key}: bad trace id")))?;
        out.push(TraceRow {
            key,
            id: TraceId::from_bytes(bytes),
            time,
            updated_at,
            revision,
        });
    }
    Ok(out)
}

/// Graph buckets (minute start, contribution JSON) overlapping `[start, end)`.
pub fn load_buckets(
    conn: &Connection,
    start: f64,
    end: f64,
) -> Result<Vec<(i64, String)>, StoreError> {
    let first = (start / 60.0).floor() as i64 * 60;
    let mut stmt = conn.prepare_cached(
        "SELECT bucket, data FROM graph_buckets WHERE bucket >= ?1 AND bucket < ?2 ORDER BY bucket",
    )?;
    let rows = stmt.query_map(params![first, end], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Deletes traces (and their documents and graph buckets) older than `retention`. Works in
/// chunks so the writer never holds one long transaction. Returns how many traces went.
pub fn expire(conn: &mut Connection, retention: Duration) -> Result<usize, StoreError> {
    let cutoff = (now_secs() - retention.as_secs_f64()).floor() as i64;
    let mut total = 0;
    loop {
        let tx = conn.transaction()?;
        let keys: Vec<i64> = {
            let mut stmt = tx.prepare_cached(
                "SELECT trace_key FROM traces WHERE id_time < ?1 ORDER BY id_time LIMIT 5000",
            )?;
            stmt.query_map([cutoff], |r| r.get(0))?
                .collect::<Result<_, _>>()?
        };
        if keys.is_empty() {
            tx.execute("DELETE FROM graph_buckets WHERE bucket < ?1", [cutoff])?;
            tx.execute(
                "DELETE FROM telemetry WHERE received_at < ?1",
                [cutoff as f64],
            )?;
            tx.commit()?;
            return Ok(total);
        }
        {
            let mut del_docs = tx.prepare_cached("DELETE FROM documents WHERE trace_key = ?1")?;
            let mut del_trace = tx.prepare_cached("DELETE FROM traces WHERE trace_key = ?1")?;
            for k in &keys {
                del_docs.execute([k])?;
                del_trace.execute([k])?;
            }
        }
        tx.commit()?;
        total += keys.len();
    }
}

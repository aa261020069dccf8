//! Trace and document rows: ingest, lookup, listing, retention.

use std::time::Duration;

use fluoro_proto::ids::{EntityId, TraceId};
use fluoro_proto::segment::Segment;
use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use crate::filter::Need;
use crate::graph::GraphContribution;

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
    /// The document as ingest parsed it, handed to the aggregator through the
    /// [`DocCache`](super::cache::DocCache) so it is not parsed twice; `None` when not at hand.
    pub segment: Option<Segment>,
}

impl IngestDoc {
    /// A validated document and its parsed form (`validate` guarantees the ids are there and
    /// well-formed; a missing one would be stored under the no-op id).
    pub fn new(doc: String, segment: Segment) -> IngestDoc {
        IngestDoc {
            trace_id: segment
                .parsed_trace_id()
                .and_then(Result::ok)
                .unwrap_or(TraceId::NOOP),
            entity_id: segment
                .parsed_id()
                .and_then(Result::ok)
                .unwrap_or(EntityId::NOOP),
            in_progress: segment.in_progress == Some(true),
            start: segment.start_time.as_ref().map_or(0.0, |t| t.as_secs_f64()),
            end: segment.end_time.as_ref().map(|t| t.as_secs_f64()),
            doc,
            segment: Some(segment),
        }
    }
}

/// A trace id read back from its 16-byte column.
pub fn trace_id_column(key: i64, blob: Vec<u8>) -> Result<TraceId, StoreError> {
    let bytes: [u8; 16] = blob
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("trace row {key}: bad trace id")))?;
    Ok(TraceId::from_bytes(bytes))
}

/// The documents one write stored under one trace row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowWrite {
    /// The trace row.
    pub key: i64,
    /// Its revision after the write (1 when the write created the row).
    pub revision: i64,
    /// Indexes of its documents in the written slice.
    pub docs: Vec<usize>,
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
/// Returns what was written to each trace row.
pub fn insert_documents(
    conn: &Connection,
    docs: &[IngestDoc],
    now: f64,
) -> Result<Vec<RowWrite>, StoreError> {
    // A new trace (the common case) is one `INSERT OR IGNORE`; only when the trace exists is
    // it updated. A single upsert with `RETURNING` did the same in one statement, but SQLite ran
    // it under a statement journal that copied every page it touched (16 KiB each) before
    // changing it: a sixth of the writer's time. `OR IGNORE` cannot abort halfway, so it needs
    // no statement journal. (The ignored conflict is the trace id; the other columns are never
    // NULL.)
    let mut create = conn.prepare_cached(
        "INSERT OR IGNORE INTO traces (trace_id, id_time, start_time, end_time, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    let mut update = conn.prepare_cached(
        "UPDATE traces SET
             start_time = min(start_time, ?2),
             end_time = max(end_time, ?3),
             updated_at = ?4,
             revision = revision + 1
         WHERE trace_id = ?1
         RETURNING trace_key, revision",
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
    let mut written = Vec::new();
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
        let id = trace.to_bytes();
        let created = create.execute(params![
            id.as_slice(),
            trace.filing_time(start),
            start,
            end,
            now
        ])?;
        let (key, revision): (i64, i64) = if created == 1 {
            (conn.last_insert_rowid(), 1)
        } else {
            update.query_row(params![id.as_slice(), start, end, now], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
        };
        for &k in &order[i..j] {
            let d = &docs[k];
            insert.execute(params![key, entity_key(d.entity_id), d.in_progress, d.doc])?;
        }
        written.push(RowWrite {
            key,
            revision,
            docs: order[i..j].to_vec(),
        });
        i = j;
    }
    Ok(written)
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
        out.push(TraceRow {
            key,
            id: trace_id_column(key, blob)?,
            time,
            updated_at,
            revision,
        });
    }
    Ok(out)
}

/// Encodes index terms for the `traces.terms` column.
pub fn encode_terms(terms: &[i64]) -> Vec<u8> {
    terms.iter().flat_map(|t| t.to_le_bytes()).collect()
}

/// Decodes the `traces.terms` column (sorted as written).
pub fn decode_terms(blob: &[u8]) -> Vec<i64> {
    blob.chunks_exact(8)
        .map(|c| {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            i64::from_le_bytes(b)
        })
        .collect()
}

/// The hour partition of the term index.
fn term_hour(id_time: i64) -> i64 {
    id_time.div_euclid(3600)
}

/// Removes a trace's rows from the term index.
pub fn remove_terms(
    conn: &Connection,
    key: i64,
    id_time: i64,
    terms: Option<&[u8]>,
) -> Result<(), StoreError> {
    let Some(blob) = terms else { return Ok(()) };
    let mut del = conn.prepare_cached(
        "DELETE FROM trace_terms
         WHERE hour = ?1 AND term = ?2 AND id_time = ?3 AND trace_key = ?4",
    )?;
    for t in decode_terms(blob) {
        del.execute(params![term_hour(id_time), t, id_time, key])?;
    }
    Ok(())
}

/// Term-index rows of many traces, inserted together: sorted in index order, so that
/// consecutive rows land on the same pages, and [`TermRows::CHUNK`] rows per statement, so
/// that SQLite's per-statement work (bind, step, reset) is paid once per chunk. Row by row, the
/// term inserts had been a sixth of the writer's time.
#[derive(Debug, Default)]
pub struct TermRows {
    rows: Vec<[i64; 4]>,
}

impl TermRows {
    /// Rows per multi-row `INSERT`.
    const CHUNK: usize = 64;

    /// Adds the rows of one trace.
    pub fn push(&mut self, key: i64, id_time: i64, terms: &[i64]) {
        let hour = term_hour(id_time);
        self.rows
            .extend(terms.iter().map(|&t| [hour, t, id_time, key]));
    }

    /// Inserts every row (an existing row is left as it is).
    pub fn insert(mut self, conn: &Connection) -> Result<(), StoreError> {
        self.rows.sort_unstable();
        let mut chunks = self.rows.chunks_exact(Self::CHUNK);
        if chunks.len() > 0 {
            let values = vec!["(?, ?, ?, ?)"; Self::CHUNK].join(", ");
            let mut many = conn.prepare_cached(&format!(
                "INSERT OR IGNORE INTO trace_terms (hour, term, id_time, trace_key) VALUES {values}"
            ))?;
            for chunk in chunks.by_ref() {
                many.execute(rusqlite::params_from_iter(chunk.iter().flatten()))?;
            }
        }
        let mut one = conn.prepare_cached(
            "INSERT OR IGNORE INTO trace_terms (hour, term, id_time, trace_key)
             VALUES (?1, ?2, ?3, ?4)",
        )?;
        for row in chunks.remainder() {
            one.execute(rusqlite::params_from_iter(row))?;
        }
        Ok(())
    }
}

/// Lists the traces in `[start, end)` that may match a filter whose index condition is `need`,
/// newest first from `after`, at most `limit`: when `need` has a conjunct the index can drive
/// (and the range is by trace-id time), the settled traces whose terms satisfy `need` plus
/// every trace not settled yet (its terms are not indexed); otherwise every trace, as
/// [`list_traces`]. Whatever is returned must still be checked with the evaluator.
pub fn list_candidates(
    conn: &Connection,
    by: RangeBy,
    start: f64,
    end: f64,
    after: Option<Cursor>,
    need: Option<&Need>,
    limit: usize,
) -> Result<Candidates, StoreError> {
    let plain = |conn: &Connection| -> Result<Candidates, StoreError> {
        let rows = list_traces(conn, by, start, end, after, limit)?;
        Ok(Candidates {
            last: rows.last().map(|r| (r.time, r.key)),
            exhausted: rows.len() < limit,
            rows,
        })
    };
    let Some(need) = need.filter(|_| by == RangeBy::TraceId) else {
        return plain(conn);
    };
    let drivers = need.drivers();
    if drivers.is_empty() {
        return plain(conn);
    }
    let (lo, hi) = (start.ceil() as i64, end.ceil() as i64);
    let (after_time, after_key) = after.map_or((i64::MAX, i64::MAX), |(t, k)| (t as i64, k));
    // Hours to visit, newest first: within the window, the stored traces' span (a window of
    // years costs no more than the data) and below the cursor.
    // Two statements: SQLite answers a lone min() or max() from the index in one step, but
    // scans the whole index for both in one SELECT.
    let first: Option<i64> = conn
        .prepare_cached("SELECT min(id_time) FROM traces")?
        .query_row([], |r| r.get(0))?;
    let last: Option<i64> = conn
        .prepare_cached("SELECT max(id_time) FROM traces")?
        .query_row([], |r| r.get(0))?;
    let (Some(first), Some(last)) = (first, last) else {
        return plain(conn);
    };
    let bottom = term_hour(lo.max(first));
    let top = term_hour((hi - 1).min(last).min(after_time));
    let hours: Vec<i64> = (bottom..=top).rev().collect();
    let placeholders = |n: usize| vec!["?"; n].join(",");
    // The most selective driver, by a bounded count over the window.
    let mut best: Option<(usize, &Vec<i64>)> = None;
    for d in &drivers {
        let sql = format!(
            "SELECT count(*) FROM (SELECT 1 FROM trace_terms
             WHERE hour = ? AND term IN ({}) AND id_time >= ? AND id_time < ? LIMIT ?)",
            placeholders(d.len())
        );
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut n = 0usize;
        for &h in &hours {
            let mut args: Vec<i64> = vec![h];
            args.extend(d.iter().copied());
            args.extend([lo, hi, (ESTIMATE_CAP - n) as i64]);
            let c: i64 = stmt.query_row(rusqlite::params_from_iter(args), |r| r.get(0))?;
            n += c as usize;
            if n >= ESTIMATE_CAP || best.is_some_and(|(b, _)| n >= b) {
                break;
            }
        }
        if best.is_none_or(|(b, _)| n < b) {
            best = Some((n, d));
        }
    }
    let Some((_, driver)) = best else {
        return plain(conn);
    };
    let sql = format!(
        "SELECT id_time, trace_key FROM trace_terms
         WHERE hour = ? AND term IN ({}) AND id_time >= ? AND id_time < ?
           AND (id_time < ? OR (id_time = ? AND trace_key < ?))
         ORDER BY id_time DESC, trace_key DESC LIMIT ?",
        placeholders(driver.len())
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut indexed: Vec<(i64, i64)> = Vec::new();
    for &h in &hours {
        let mut args: Vec<i64> = vec![h];
        args.extend(driver.iter().copied());
        args.extend([
            lo,
            hi,
            after_time,
            after_time,
            after_key,
            (limit - indexed.len()) as i64,
        ]);
        let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
        for row in rows {
            indexed.push(row?);
        }
        if indexed.len() >= limit {
            break;
        }
    }
    // Several driver facts of one trace come back as neighbours.
    indexed.dedup();
    let unsettled: Vec<(i64, i64)> = conn
        .prepare_cached(
            "SELECT id_time, trace_key FROM traces INDEXED BY traces_unsettled
             WHERE settled_revision < revision AND id_time >= ?1 AND id_time < ?2
               AND (id_time < ?3 OR (id_time = ?3 AND trace_key < ?4))
             ORDER BY id_time DESC, trace_key DESC LIMIT ?5",
        )?
        .query_map(params![lo, hi, after_time, after_key, limit as i64], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<Result<_, _>>()?;
    // Merge newest first. Each list is complete down to its last entry, and a list that came
    // back short is complete to the window's start, so the first `limit` of the merge are all
    // the candidates down to there.
    let mut merged: Vec<(i64, i64)> = indexed.into_iter().chain(unsettled).collect();
    merged.sort_unstable_by(|a, b| b.cmp(a));
    merged.dedup();
    let exhausted = merged.len() < limit;
    merged.truncate(limit);
    let last = merged.last().map(|&(t, k)| (t as f64, k));

    let mut row = conn.prepare_cached(
        "SELECT trace_id, updated_at, revision, settled_revision, terms FROM traces
         WHERE trace_key = ?1",
    )?;
    let mut out = Vec::with_capacity(merged.len());
    for (time, key) in merged {
        let found: Option<CandidateRow> = row
            .query_row([key], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .optional()?;
        let Some((blob, updated_at, revision, settled, terms)) = found else {
            continue; // expired meanwhile
        };
        // A settled trace whose terms fail the whole condition cannot match.
        if settled == revision
            && let Some(t) = terms
            && !need.holds(&decode_terms(&t))
        {
            continue;
        }
        out.push(TraceRow {
            key,
            id: trace_id_column(key, blob)?,
            time: time as f64,
            updated_at,
            revision,
        });
    }
    Ok(Candidates {
        rows: out,
        last,
        exhausted,
    })
}

/// Rows a driver's selectivity is counted up to.
const ESTIMATE_CAP: usize = 5000;

/// trace_id, updated_at, revision, settled_revision, terms.
type CandidateRow = (Vec<u8>, f64, i64, i64, Option<Vec<u8>>);

/// A batch of candidate traces.
#[derive(Debug)]
pub struct Candidates {
    /// The candidates, newest first.
    pub rows: Vec<TraceRow>,
    /// Where the scan stopped (the next batch starts after it), even when the last rows
    /// scanned were ruled out by their terms.
    pub last: Option<Cursor>,
    /// Nothing older is left in the window.
    pub exhausted: bool,
}

/// Graph buckets (minute start, contribution) overlapping `[start, end)`.
pub fn load_buckets(
    conn: &Connection,
    start: f64,
    end: f64,
) -> Result<Vec<(i64, GraphContribution)>, StoreError> {
    let first = (start / 60.0).floor() as i64 * 60;
    let mut stmt = conn.prepare_cached(
        "SELECT bucket, data FROM graph_buckets WHERE bucket >= ?1 AND bucket < ?2 ORDER BY bucket",
    )?;
    let mut rows = stmt.query(params![first, end])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let bucket: i64 = r.get(0)?;
        let g = stored_contribution(r.get_ref(1)?, || format!("graph bucket {bucket}"))?;
        out.push((bucket, g));
    }
    Ok(out)
}

/// A contribution read from a `graph_buckets` or `traces` column: the binary form, or the
/// JSON text of rows written before it.
pub fn stored_contribution(
    value: rusqlite::types::ValueRef<'_>,
    what: impl FnOnce() -> String,
) -> Result<GraphContribution, StoreError> {
    value
        .as_bytes()
        .map_err(|e| e.to_string())
        .and_then(GraphContribution::from_stored)
        .map_err(|e| StoreError::Corrupt(format!("{}: {e}", what())))
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
            let mut del_trace = tx.prepare_cached(
                "DELETE FROM traces WHERE trace_key = ?1 RETURNING id_time, terms",
            )?;
            for k in &keys {
                del_docs.execute([k])?;
                let (id_time, terms): (i64, Option<Vec<u8>>) =
                    del_trace.query_row([k], |r| Ok((r.get(0)?, r.get(1)?)))?;
                remove_terms(&tx, *k, id_time, terms.as_deref())?;
            }
        }
        tx.commit()?;
        total += keys.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn term_rows_insert_in_chunks_and_ignore_duplicates() {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::schema::migrate(&mut conn).unwrap();
        // Two full chunks and a remainder, over two hours, with one trace's rows twice.
        let mut rows = TermRows::default();
        let mut expected = Vec::new();
        for key in 0..30_i64 {
            let id_time = 7_000 + key * 200;
            let terms: Vec<i64> = (0..5).map(|t| t * 1_000_003 - key).collect();
            rows.push(key, id_time, &terms);
            expected.extend(
                terms
                    .iter()
                    .map(|&t| (id_time.div_euclid(3600), t, id_time, key)),
            );
        }
        rows.push(3, 7_600, &[3 * 1_000_003 - 3]);
        rows.insert(&conn).unwrap();
        let mut more = TermRows::default();
        more.push(0, 7_000, &[-0, 42]);
        more.insert(&conn).unwrap();
        expected.push((1, 42, 7_000, 0));
        expected.sort_unstable();
        let mut stmt = conn
            .prepare("SELECT hour, term, id_time, trace_key FROM trace_terms ORDER BY 1, 2, 3, 4")
            .unwrap();
        let stored: Vec<(i64, i64, i64, i64)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(stored, expected);
    }
}

//! Schema and numbered migrations, tracked in `PRAGMA user_version`.
//!
//! A migration is appended, never edited: a database at version N runs migrations N+1.. in one
//! transaction each.

use rusqlite::Connection;

/// Migrations in order; index + 1 is the version each one produces.
const MIGRATIONS: &[&str] = &[
    // 1: traces, documents, graph buckets, sampling, groups, tags, telemetry.
    r"
    CREATE TABLE traces (
        trace_key         INTEGER PRIMARY KEY,
        trace_id          BLOB NOT NULL UNIQUE,   -- 16 bytes, the W3C form
        id_time           INTEGER NOT NULL,       -- epoch seconds from the trace id
        start_time        REAL NOT NULL,          -- earliest start_time of its documents
        end_time          REAL NOT NULL,          -- latest end (or start) time
        updated_at        REAL NOT NULL,          -- when a document last arrived
        revision          INTEGER NOT NULL DEFAULT 1,
        settled_revision  INTEGER NOT NULL DEFAULT 0,
        bucket            INTEGER,                -- minute bucket its graph contribution is in
        summary           TEXT,                   -- TraceSummary JSON at settled_revision
        contribution      TEXT                    -- graph contribution JSON at settled_revision
    );
    CREATE INDEX traces_by_id_time ON traces(id_time, trace_key);
    CREATE INDEX traces_by_update ON traces(updated_at, trace_key);
    CREATE INDEX traces_unsettled ON traces(updated_at) WHERE settled_revision < revision;

    CREATE TABLE documents (
        trace_key    INTEGER NOT NULL,
        entity_id    INTEGER NOT NULL,            -- the 64-bit id, as a signed integer
        in_progress  INTEGER NOT NULL,
        doc          TEXT NOT NULL,
        PRIMARY KEY (trace_key, entity_id)
    ) WITHOUT ROWID;

    CREATE TABLE graph_buckets (
        bucket  INTEGER PRIMARY KEY,              -- epoch seconds, a multiple of 60
        data    TEXT NOT NULL
    );

    CREATE TABLE sampling_rules (
        name     TEXT PRIMARY KEY,
        record   TEXT NOT NULL                    -- SamplingRuleRecord JSON
    );

    CREATE TABLE groups (
        name     TEXT PRIMARY KEY,
        arn      TEXT NOT NULL UNIQUE,
        record   TEXT NOT NULL                    -- Group JSON
    );

    CREATE TABLE tags (
        resource_arn  TEXT NOT NULL,
        key           TEXT NOT NULL,
        value         TEXT NOT NULL,
        PRIMARY KEY (resource_arn, key)
    ) WITHOUT ROWID;

    CREATE TABLE telemetry (
        id            INTEGER PRIMARY KEY,
        received_at   REAL NOT NULL,
        hostname      TEXT,
        instance_id   TEXT,
        resource_arn  TEXT,
        record        TEXT NOT NULL               -- TelemetryRecord JSON
    );
    CREATE INDEX telemetry_by_time ON telemetry(received_at);

    CREATE TABLE sampling_statistics (
        rule_name      TEXT NOT NULL,
        window_start   INTEGER NOT NULL,          -- epoch seconds, a multiple of 10
        request_count  INTEGER NOT NULL,
        sampled_count  INTEGER NOT NULL,
        borrow_count   INTEGER NOT NULL,
        PRIMARY KEY (rule_name, window_start)
    ) WITHOUT ROWID;
    ",
    // 2: summaries are computed when listed (cheap per page), not stored per trace: storing
    // them doubled the bytes written per trace at ingest (docs/benchmarks.md).
    r"
    ALTER TABLE traces DROP COLUMN summary;
    ",
    // 3: the filter-expression index (filter::terms): facts of each settled trace, by hour,
    // term and trace-id time, so a filter reads only candidate traces. Hour first keeps ingest's
    // inserts in the newest part of the tree whatever the facts (a unique order id lands next
    // to the others of its hour, not at a random place among millions). Every trace is settled
    // again so that the index covers traces stored before it existed.
    r"
    CREATE TABLE trace_terms (
        hour       INTEGER NOT NULL,              -- id_time / 3600
        term       INTEGER NOT NULL,              -- 64-bit hash of the fact
        id_time    INTEGER NOT NULL,              -- the trace's id_time, for ordered scans
        trace_key  INTEGER NOT NULL,
        PRIMARY KEY (hour, term, id_time, trace_key)
    ) WITHOUT ROWID;
    ALTER TABLE traces ADD COLUMN terms BLOB;     -- the terms indexed, 8 bytes each
    UPDATE traces SET settled_revision = 0;
    ",
];

/// The version this build writes.
pub const VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database to [`VERSION`]. Refuses a database written by a newer build.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if current > VERSION {
        return Err(rusqlite::Error::InvalidParameterName(format!(
            "database schema version {current} is newer than this build's {VERSION}; upgrade fluoro-collector"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
        tracing::info!(version = i + 1, "database migrated");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_once_and_refuses_newer() {
        let mut c = Connection::open_in_memory().unwrap();
        migrate(&mut c).unwrap();
        migrate(&mut c).unwrap();
        let v: i64 = c
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, VERSION);
        c.pragma_update(None, "user_version", VERSION + 1).unwrap();
        assert!(migrate(&mut c).is_err());
    }
}

//! WAL checkpoints on their own thread.
//!
//! SQLite's automatic checkpoint runs on the connection that commits, here the single writer:
//! every few thousand pages, one commit stops to copy the WAL into the database file and sync
//! it, and every ingest request queued behind it waits. The writer's automatic checkpoint is off
//! instead, and this thread runs a `PASSIVE` checkpoint on its own connection every
//! [`INTERVAL`]: it copies what it can without blocking the writer or the readers, so the
//! writer only appends to the WAL. The WAL restarts from its beginning by itself once it has
//! been copied and no reader still needs it.
//!
//! Bounded: if the WAL still grows past `--wal-limit-bytes` (readers that never let go, or a
//! checkpointer starved of CPU), a `RESTART` checkpoint waits for the readers and the writer to
//! let go and starts the WAL over; that is logged and counted
//! (`fluoro_collector_wal_checkpoints_forced_total`).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::metrics::Metrics;

/// How often the WAL is copied into the database.
pub const INTERVAL: Duration = Duration::from_millis(250);
/// Default WAL size past which a checkpoint waits for everyone instead of copying what it can:
/// 256 MiB (16,384 pages of 16 KiB).
pub const DEFAULT_WAL_LIMIT_BYTES: u64 = 256 * 1024 * 1024;
/// At most one warning about forced restarts per this long (each is counted in the metrics).
pub const WARN_EVERY: Duration = Duration::from_secs(60);
/// Bytes the WAL file is cut back to when it restarts (`journal_size_limit`).
pub const WAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// One checkpoint's outcome: frames in the WAL, frames copied to the database.
fn checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<(i64, i64)> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
        Ok((r.get(1)?, r.get(2)?))
    })
}

/// The checkpoint thread's work.
pub(crate) struct Checkpointer {
    conn: Connection,
    /// WAL frames past which a restart is forced.
    restart_frames: i64,
    stop: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
    /// When the last warning was logged, and the forced restarts since.
    warned: Option<Instant>,
    unwarned: u64,
}

impl Checkpointer {
    /// Opens its own connection to the database at `path`.
    pub(crate) fn open(
        path: &Path,
        wal_limit_bytes: u64,
        stop: Arc<AtomicBool>,
        metrics: Arc<Metrics>,
    ) -> rusqlite::Result<Checkpointer> {
        let conn = Connection::open(path)?;
        // A RESTART checkpoint waits this long for readers and the writer.
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)?;
        let restart_frames = i64::try_from(wal_limit_bytes / super::PAGE_SIZE as u64)
            .unwrap_or(i64::MAX)
            .max(1);
        Ok(Checkpointer {
            conn,
            restart_frames,
            stop,
            metrics,
            warned: None,
            unwarned: 0,
        })
    }

    /// Checkpoints every [`INTERVAL`] until told to stop.
    pub(crate) fn run(mut self) {
        while !self.stop.load(Ordering::Acquire) {
            std::thread::sleep(INTERVAL);
            self.once();
        }
        tracing::debug!("checkpointer stopped");
    }

    fn once(&mut self) {
        match checkpoint(&self.conn, "PASSIVE") {
            Ok((frames, copied)) => {
                self.metrics.wal_checkpoints.fetch_add(1, Ordering::Relaxed);
                self.metrics
                    .wal_frames
                    .store(frames.max(0) as u64, Ordering::Relaxed);
                if frames > self.restart_frames {
                    self.unwarned += 1;
                    if self.warned.is_none_or(|at| at.elapsed() >= WARN_EVERY) {
                        tracing::warn!(
                            frames,
                            copied,
                            limit = self.restart_frames,
                            forced_restarts = self.unwarned,
                            "the WAL outgrew its limit: waiting for readers and the writer to restart it (sustained write load with continuous reads; logged at most once a minute, counted in fluoro_collector_wal_checkpoints_forced_total)"
                        );
                        self.warned = Some(Instant::now());
                        self.unwarned = 0;
                    }
                    self.metrics
                        .wal_checkpoints_forced
                        .fetch_add(1, Ordering::Relaxed);
                    if let Err(e) = checkpoint(&self.conn, "RESTART") {
                        tracing::warn!(error = %e, "restarting the WAL failed");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
        }
    }
}

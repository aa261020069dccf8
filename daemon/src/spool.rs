//! The on-disk spool: batches the endpoint could not take wait here, oldest first, until it
//! answers again, and survive a restart of the daemon.
//!
//! Format: one file per batch in `--spool-dir`, named `<seq, 20 digits>-<documents>.json`,
//! holding exactly the `PutTraceSegments` request body (`{"TraceSegmentDocuments":[...]}`), so
//! draining is reading a file and posting it. Files are written as `.tmp-<seq>`, synced, then
//! renamed, so a crash never leaves a half batch under a final name; leftover temporary files
//! are removed at start. Sequence numbers continue from the highest file found.
//!
//! Bounded by `--spool-size`: to take a new batch past the bound, the oldest spooled batches are
//! deleted and their documents counted as dropped (`spool_full`).
//!
//! Blocking file I/O: the async callers run these methods on the blocking pool. No network here.

use std::collections::VecDeque;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use crate::metrics::{DropReason, Metrics};

/// Why the spool failed.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The directory cannot be created or listed.
    #[error("spool directory {path}: {source}")]
    Open {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A batch file cannot be written, read or removed.
    #[error("spool file {path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// One spooled batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// Sequence number: the order batches were spooled in.
    pub seq: u64,
    /// Documents in the batch.
    pub docs: u64,
    /// Size of the file.
    pub bytes: u64,
}

#[derive(Debug, Default)]
struct State {
    files: VecDeque<Entry>,
    /// Bytes of files plus bytes reserved by writes in progress.
    bytes: u64,
    docs: u64,
    next_seq: u64,
    writing: usize,
}

/// The spool.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    limit: u64,
    state: Mutex<State>,
    wake: Notify,
    metrics: Arc<Metrics>,
}

impl Spool {
    /// Opens (creating if needed) the spool in `dir`, bounded by `limit` bytes, and takes stock
    /// of batches left by a previous run.
    pub fn open(dir: &Path, limit: u64, metrics: Arc<Metrics>) -> Result<Spool, SpoolError> {
        let open_err = |source| SpoolError::Open {
            path: dir.to_owned(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(open_err)?;
        let mut state = State::default();
        for entry in std::fs::read_dir(dir).map_err(open_err)? {
            let entry = entry.map_err(open_err)?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with(".tmp-") {
                let _ = std::fs::remove_file(entry.path());
                continue;
            }
            let Some((seq, docs)) = parse_name(name) else {
                continue;
            };
            let bytes = entry.metadata().map_err(open_err)?.len();
            state.files.push_back(Entry { seq, docs, bytes });
            state.bytes += bytes;
            state.docs += docs;
            state.next_seq = state.next_seq.max(seq + 1);
        }
        state.files.make_contiguous().sort_by_key(|e| e.seq);
        if !state.files.is_empty() {
            tracing::info!(
                dir = %dir.display(),
                batches = state.files.len(),
                documents = state.docs,
                bytes = state.bytes,
                "spool holds batches from a previous run; they are sent first"
            );
        }
        Ok(Spool {
            dir: dir.to_owned(),
            limit,
            state: Mutex::new(state),
            wake: Notify::new(),
            metrics,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn path(&self, e: &Entry) -> PathBuf {
        self.dir.join(format!("{:020}-{}.json", e.seq, e.docs))
    }

    /// True while batches are spooled or being spooled: new batches then go to the spool too, so
    /// that the spool drains in order.
    pub fn is_backlogged(&self) -> bool {
        let s = self.lock();
        !s.files.is_empty() || s.writing > 0
    }

    /// Announces a write about to be queued on the blocking pool (see [`Spool::write`]).
    pub fn begin_write(&self) {
        self.lock().writing += 1;
    }

    /// Writes one batch (its request body). Must follow [`Spool::begin_write`]. Evicts the
    /// oldest batches if needed; a batch larger than the whole bound is dropped.
    pub fn write(&self, body: &[u8], docs: u64) -> Result<(), SpoolError> {
        let result = self.write_inner(body, docs);
        self.lock().writing -= 1;
        if result.is_ok() {
            self.wake.notify_one();
        }
        result
    }

    fn write_inner(&self, body: &[u8], docs: u64) -> Result<(), SpoolError> {
        let size = body.len() as u64;
        if size > self.limit {
            self.metrics.dropped(DropReason::SpoolFull, docs);
            return Ok(());
        }
        let mut evicted = Vec::new();
        let seq = {
            let mut s = self.lock();
            while s.bytes + size > self.limit {
                let Some(old) = s.files.pop_front() else {
                    break;
                };
                s.bytes -= old.bytes;
                s.docs -= old.docs;
                evicted.push(old);
            }
            s.bytes += size;
            s.next_seq += 1;
            s.next_seq - 1
        };
        for old in evicted {
            let _ = std::fs::remove_file(self.path(&old));
            self.metrics.dropped(DropReason::SpoolFull, old.docs);
        }
        let entry = Entry {
            seq,
            docs,
            bytes: size,
        };
        let tmp = self.dir.join(format!(".tmp-{seq}"));
        let path = self.path(&entry);
        let written = std::fs::File::create(&tmp)
            .and_then(|mut f| {
                f.write_all(body)?;
                f.sync_data()
            })
            .and_then(|()| std::fs::rename(&tmp, &path));
        let mut s = self.lock();
        match written {
            Ok(()) => {
                let pos = s.files.partition_point(|e| e.seq < seq);
                s.files.insert(pos, entry);
                s.docs += docs;
                Ok(())
            }
            Err(source) => {
                s.bytes -= size;
                drop(s);
                let _ = std::fs::remove_file(&tmp);
                Err(SpoolError::File { path, source })
            }
        }
    }

    /// The oldest batch.
    pub fn front(&self) -> Option<Entry> {
        self.lock().files.front().copied()
    }

    /// Reads a batch's request body; `Ok(None)` if it was evicted meanwhile.
    pub fn read(&self, e: &Entry) -> Result<Option<Vec<u8>>, SpoolError> {
        let path = self.path(e);
        match std::fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                self.forget(e.seq);
                Ok(None)
            }
            Err(source) => Err(SpoolError::File { path, source }),
        }
    }

    fn forget(&self, seq: u64) -> Option<Entry> {
        let mut s = self.lock();
        let pos = s.files.iter().position(|e| e.seq == seq)?;
        let e = s.files.remove(pos)?;
        s.bytes -= e.bytes;
        s.docs -= e.docs;
        Some(e)
    }

    /// Removes a delivered (or undeliverable) batch.
    pub fn remove(&self, e: &Entry) {
        if self.forget(e.seq).is_some() {
            let _ = std::fs::remove_file(self.path(e));
        }
    }

    /// Completes after a batch was written.
    pub async fn written(&self) {
        self.wake.notified().await;
    }

    /// Batches, documents and bytes in the spool.
    pub fn usage(&self) -> (usize, u64, u64) {
        let s = self.lock();
        (s.files.len(), s.docs, s.bytes)
    }

    /// The bound in bytes.
    pub fn limit(&self) -> u64 {
        self.limit
    }
}

fn parse_name(name: &str) -> Option<(u64, u64)> {
    let stem = name.strip_suffix(".json")?;
    let (seq, docs) = stem.split_once('-')?;
    if seq.len() != 20 {
        return None;
    }
    Some((seq.parse().ok()?, docs.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Dir(PathBuf);
    impl Dir {
        fn new(tag: &str) -> Dir {
            let p = std::env::temp_dir().join(format!(
                "fluoro-spool-{tag}-{}-{}",
                std::process::id(),
                fluoro_proto::ids::EntityId::generate()
            ));
            Dir(p)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn put(s: &Spool, body: &str, docs: u64) {
        s.begin_write();
        s.write(body.as_bytes(), docs).unwrap();
    }

    #[test]
    fn batches_come_back_in_order_and_survive_a_reopen() {
        let dir = Dir::new("order");
        let m = Arc::new(Metrics::default());
        let s = Spool::open(&dir.0, 1 << 20, Arc::clone(&m)).unwrap();
        assert!(!s.is_backlogged());
        put(&s, "first", 1);
        put(&s, "second", 2);
        assert!(s.is_backlogged());
        assert_eq!(s.usage(), (2, 3, 11));
        std::fs::write(dir.0.join(".tmp-99"), "half a batch").unwrap();
        std::fs::write(dir.0.join("README"), "not a batch").unwrap();
        drop(s);

        let s = Spool::open(&dir.0, 1 << 20, m).unwrap();
        assert_eq!(s.usage(), (2, 3, 11));
        assert!(!dir.0.join(".tmp-99").exists());
        let e = s.front().unwrap();
        assert_eq!(s.read(&e).unwrap().unwrap(), b"first");
        s.remove(&e);
        put(&s, "third", 1);
        let e = s.front().unwrap();
        assert_eq!(s.read(&e).unwrap().unwrap(), b"second");
        s.remove(&e);
        let e = s.front().unwrap();
        assert_eq!(s.read(&e).unwrap().unwrap(), b"third");
        assert_eq!(e.seq, 2, "sequence numbers continue after a reopen");
        s.remove(&e);
        assert_eq!(s.usage(), (0, 0, 0));
        assert!(!s.is_backlogged());
    }

    #[test]
    fn a_full_spool_drops_its_oldest_batches() {
        let dir = Dir::new("full");
        let m = Arc::new(Metrics::default());
        let s = Spool::open(&dir.0, 25, Arc::clone(&m)).unwrap();
        put(&s, "aaaaaaaaaa", 3);
        put(&s, "bbbbbbbbbb", 4);
        put(&s, "cccccccccc", 5);
        assert_eq!(s.usage(), (2, 9, 20));
        assert_eq!(m.snapshot().dropped["spool_full"], 3);
        assert_eq!(s.read(&s.front().unwrap()).unwrap().unwrap(), b"bbbbbbbbbb");
        // Larger than the whole spool: dropped, nothing evicted.
        put(&s, &"x".repeat(26), 7);
        assert_eq!(s.usage(), (2, 9, 20));
        assert_eq!(m.snapshot().dropped["spool_full"], 10);
        assert_eq!(std::fs::read_dir(&dir.0).unwrap().count(), 2);
    }
}

//! Storage: SQLite in WAL mode. The only module that touches SQL.
//!
//! One dedicated thread owns the write connection. API handlers send it closures through a
//! bounded queue and await the result; the thread drains whatever is queued, runs it in one
//! transaction. Control-plane requests (groups, sampling rules, ...) each run in their own
//! savepoint, so one refused request does not undo the others. Ingest and the aggregator's
//! updates run without one: a savepoint makes SQLite copy every page a request touches into a
//! sub-journal first (16 KiB each), which was a tenth of the writer's time, and these jobs fail
//! only when SQLite itself does; when one fails, the transaction is rolled back, the requests
//! already in it are told so (a 500 their clients retry), and the requests not yet run go into
//! a fresh transaction. A
//! second thread, the aggregator ([`aggregate`]), recomputes the summaries and graph statistics
//! of traces that changed, on its own read connection, and hands the writer only the small
//! updates to apply. Readers use their own connections from a small pool, on tokio's blocking
//! threads. Schema versions live in `PRAGMA user_version` ([`schema`]).
//!
//! Layout: documents are clustered by trace (`documents` is a `WITHOUT ROWID` table keyed by
//! `(trace_key, entity_id)`), so reading one trace is one range scan; traces are indexed by the
//! epoch in their id and by update time; service-graph statistics are pre-aggregated per minute
//! in `graph_buckets`, so a graph query merges at most one row per minute of its window.

pub mod aggregate;
pub mod cache;
pub mod checkpoint;
pub mod groups;
pub mod sampling;
pub mod schema;
pub mod telemetry;
pub mod traces;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use std::sync::mpsc;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::oneshot;

use crate::metrics::Metrics;

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite said no.
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The writer queue is full: answer 429 and let the client retry.
    #[error("the write queue is full ({0} requests waiting)")]
    Busy(usize),
    /// The writer thread is gone (shutting down).
    #[error("the store is shutting down")]
    Closed,
    /// Stored data could not be decoded (a bug or a damaged file).
    #[error("stored data is damaged: {0}")]
    Corrupt(String),
    /// A blocking task failed.
    #[error("internal: {0}")]
    Internal(String),
    /// The data directory could not be used.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Called once the transaction holding a write has committed (`None`) or failed.
type Finish = Box<dyn FnOnce(Option<&rusqlite::Error>) + Send>;
/// Runs a queued write; says whether to keep its changes.
type WriteFn = Box<dyn FnOnce(&Connection) -> (bool, Finish) + Send>;

/// A queued write and how it is isolated from the others in its transaction.
struct Job {
    run: WriteFn,
    /// In its own savepoint: an error undoes this job alone. Without: an error undoes the
    /// whole transaction.
    isolated: bool,
}

/// Settings of the store.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Database file.
    pub path: PathBuf,
    /// Depth of the write queue.
    pub write_queue: usize,
    /// Quiet time before a changed trace is aggregated.
    pub aggregate_delay: Duration,
    /// How long traces are kept.
    pub retention: Duration,
    /// Bytes of parsed documents kept for the aggregator ([`cache`]); 0 turns the cache off.
    pub aggregate_cache: usize,
    /// WAL bytes past which a checkpoint forces a restart ([`checkpoint`]).
    pub wal_limit: u64,
}

/// Handle to the store; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    tx: mpsc::SyncSender<Job>,
    capacity: usize,
    path: PathBuf,
    readers: Mutex<Vec<Connection>>,
    metrics: Arc<Metrics>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    aggregator: Mutex<Option<std::thread::JoinHandle<()>>>,
    checkpointer: Mutex<Option<std::thread::JoinHandle<()>>>,
    stop: Arc<AtomicBool>,
    cache: Arc<cache::DocCache>,
}

const MAX_IDLE_READERS: usize = 8;
/// SQLite page size for new databases.
pub const PAGE_SIZE: i64 = 16 * 1024;
/// Most write requests run in one transaction.
const MAX_BATCH: usize = 128;

fn open_connection(path: &Path, write: bool) -> rusqlite::Result<Connection> {
    let flags = if write {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "cache_size", -64_000)?; // 64 MB
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "mmap_size", 256 * 1024 * 1024)?;
    Ok(conn)
}

impl Store {
    /// Opens (creating and migrating) the database and starts the writer thread.
    pub fn open(cfg: &StoreConfig, metrics: Arc<Metrics>) -> Result<Store, StoreError> {
        if let Some(dir) = cfg.path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
                path: dir.to_owned(),
                source,
            })?;
        }
        let mut conn = open_connection(&cfg.path, true)?;
        // Only takes effect on a new database. 16 KiB pages hold ~15 one-kilobyte documents
        // each; with SQLite's default 4 KiB pages the document B-tree spills into overflow
        // pages and ingest runs at less than half the speed (docs/benchmarks.md).
        conn.pragma_update(None, "page_size", PAGE_SIZE)?;
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(mode, "sqlite refused WAL mode");
        }
        // Checkpoints run on their own thread ([`checkpoint`]), not inside the writer's commits.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        conn.pragma_update(None, "journal_size_limit", checkpoint::WAL_SIZE_LIMIT)?;
        schema::migrate(&mut conn)?;

        let (tx, rx) = mpsc::sync_channel::<Job>(cfg.write_queue);
        let writer = Writer {
            conn,
            rx,
            metrics: Arc::clone(&metrics),
            retention: cfg.retention,
        };
        let handle = std::thread::Builder::new()
            .name("fluoro-store-writer".into())
            .spawn(move || writer.run())
            .map_err(|e| StoreError::Internal(format!("cannot start writer thread: {e}")))?;
        let stop = Arc::new(AtomicBool::new(false));
        let checkpointer = checkpoint::Checkpointer::open(
            &cfg.path,
            cfg.wal_limit,
            Arc::clone(&stop),
            Arc::clone(&metrics),
        )?;
        let checkpointer = std::thread::Builder::new()
            .name("fluoro-checkpoint".into())
            .spawn(move || checkpointer.run())
            .map_err(|e| StoreError::Internal(format!("cannot start checkpoint thread: {e}")))?;
        let cache = Arc::new(cache::DocCache::new(cfg.aggregate_cache));
        let aggregator = aggregate::Aggregator::new(
            open_connection(&cfg.path, false)?,
            BlockingWriter {
                tx: tx.clone(),
                metrics: Arc::clone(&metrics),
                capacity: cfg.write_queue,
            },
            cfg.aggregate_delay,
            Arc::clone(&metrics),
            Arc::clone(&stop),
            Arc::clone(&cache),
        );
        let aggregator = std::thread::Builder::new()
            .name("fluoro-aggregator".into())
            .spawn(move || aggregator.run())
            .map_err(|e| StoreError::Internal(format!("cannot start aggregator thread: {e}")))?;
        Ok(Store {
            inner: Arc::new(Inner {
                tx,
                capacity: cfg.write_queue,
                path: cfg.path.clone(),
                readers: Mutex::new(Vec::new()),
                metrics,
                writer: Mutex::new(Some(handle)),
                aggregator: Mutex::new(Some(aggregator)),
                checkpointer: Mutex::new(Some(checkpointer)),
                stop,
                cache,
            }),
        })
    }

    /// Runs `f` in the writer's transaction. Fails with [`StoreError::Busy`] at once when the
    /// queue is full, so callers can answer 429 instead of waiting.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let rx = submit(
            &self.inner.tx,
            &self.inner.metrics,
            self.inner.capacity,
            Submit {
                wait: false,
                isolated: true,
            },
            f,
        )?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Stores validated documents in the writer's transaction (429-style [`StoreError::Busy`]
    /// when the queue is full) and, once committed, hands their parsed form to the
    /// aggregator's cache, on the writer thread so that the cache sees writes in commit order.
    /// Runs without a savepoint (see the module docs).
    pub async fn ingest(&self, docs: Vec<traces::IngestDoc>) -> Result<(), StoreError> {
        let cache = Arc::clone(&self.inner.cache);
        let metrics = Arc::clone(&self.inner.metrics);
        let rx = submit_then(
            &self.inner.tx,
            &self.inner.metrics,
            self.inner.capacity,
            Submit {
                wait: false,
                isolated: false,
            },
            move |conn| {
                let rows = traces::insert_documents(conn, &docs, traces::now_secs())?;
                Ok((rows, docs))
            },
            // Only committed rows go to the cache: a rolled-back row key can be given to
            // another trace by the next insert.
            move |(rows, docs)| cache.record(cache_writes(rows, docs), &metrics),
        )?;
        // What the cache had no room for is freed here, off the writer thread.
        drop(rx.await.map_err(|_| StoreError::Closed)??);
        Ok(())
    }

    /// Runs `f` on a read connection, off the async workers.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let conn = inner
                .readers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .pop();
            let conn = match conn {
                Some(c) => c,
                None => open_connection(&inner.path, false)?,
            };
            let out = f(&conn);
            let mut pool = inner
                .readers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if pool.len() < MAX_IDLE_READERS {
                pool.push(conn);
            }
            out
        })
        .await
        .map_err(|e| StoreError::Internal(format!("read task failed: {e}")))?
    }

    /// Stops accepting writes, lets the writer finish what is queued, lets the aggregator run
    /// a last pass without delay, and waits for both.
    pub async fn close(self) {
        let take = |m: &Mutex<Option<std::thread::JoinHandle<()>>>| {
            m.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take()
        };
        let writer = take(&self.inner.writer);
        let aggregator = take(&self.inner.aggregator);
        let checkpointer = take(&self.inner.checkpointer);
        self.inner.stop.store(true, Ordering::Release);
        // The aggregator holds a sender too: the writer ends once the aggregator has finished
        // its last pass and every handler holding a clone of the store has finished.
        drop(self);
        let _ = tokio::task::spawn_blocking(move || {
            if let Some(h) = aggregator {
                let _ = h.join();
            }
            if let Some(h) = checkpointer {
                let _ = h.join();
            }
            // The writer checkpoints the WAL one last time once it has drained its queue.
            if let Some(h) = writer {
                let _ = h.join();
            }
        })
        .await;
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }
}

pub(crate) type Reply<T> = oneshot::Receiver<Result<T, StoreError>>;

/// How a job is queued.
#[derive(Debug, Clone, Copy)]
struct Submit {
    /// Wait for room in the queue instead of failing with [`StoreError::Busy`].
    wait: bool,
    /// Run in its own savepoint ([`Job::isolated`]).
    isolated: bool,
}

/// The cache entries of what one ingest write stored.
fn cache_writes(
    rows: Vec<traces::RowWrite>,
    docs: Vec<traces::IngestDoc>,
) -> Vec<cache::TraceWrite> {
    let mut slots: Vec<Option<traces::IngestDoc>> = docs.into_iter().map(Some).collect();
    rows.into_iter()
        .map(|row| cache::TraceWrite {
            key: row.key,
            revision: row.revision,
            docs: row
                .docs
                .iter()
                .map(|&i| {
                    let d = slots.get_mut(i)?.take()?;
                    Some(cache::CachedDoc {
                        entity_id: d.entity_id,
                        in_progress: d.in_progress,
                        json_len: d.doc.len(),
                        segment: d.segment?,
                    })
                })
                .collect(),
        })
        .collect()
}

/// Queues `f` for the writer; unless `how.wait`, fails with [`StoreError::Busy`] at once when
/// the queue is full.
fn submit<T, F>(
    tx: &mpsc::SyncSender<Job>,
    metrics: &Metrics,
    capacity: usize,
    how: Submit,
    f: F,
) -> Result<Reply<T>, StoreError>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
{
    submit_then(tx, metrics, capacity, how, f, |v| v)
}

/// [`submit`], and once the transaction has committed, `then` turns the result into the reply,
/// on the writer thread, in commit order.
fn submit_then<T, U, F, G>(
    tx: &mpsc::SyncSender<Job>,
    metrics: &Metrics,
    capacity: usize,
    how: Submit,
    f: F,
    then: G,
) -> Result<Reply<U>, StoreError>
where
    T: Send + 'static,
    U: Send + 'static,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    G: FnOnce(T) -> U + Send + 'static,
{
    let (reply, rx) = oneshot::channel();
    let run: WriteFn = Box::new(move |conn| {
        let result = f(conn);
        let keep = result.is_ok();
        let finish: Finish = Box::new(move |commit_error| {
            let out = match (result, commit_error) {
                // This job's own error says more than the rollback it caused.
                (Err(e), _) => Err(e),
                (Ok(_), Some(e)) => Err(StoreError::Internal(format!(
                    "the write transaction was rolled back: {e}"
                ))),
                (Ok(v), None) => Ok(then(v)),
            };
            let _ = reply.send(out);
        });
        (keep, finish)
    });
    let job = Job {
        run,
        isolated: how.isolated,
    };
    // Counted before it is sent: the writer may take the job (and subtract it) before this
    // thread runs another instruction, and the gauge must never go below zero.
    let depth = &metrics.write_queue_depth;
    depth.fetch_add(1, Ordering::Relaxed);
    let sent = if how.wait {
        tx.send(job).map_err(|_| StoreError::Closed)
    } else {
        tx.try_send(job).map_err(|e| match e {
            mpsc::TrySendError::Full(_) => {
                metrics.write_queue_full.fetch_add(1, Ordering::Relaxed);
                StoreError::Busy(capacity)
            }
            mpsc::TrySendError::Disconnected(_) => StoreError::Closed,
        })
    };
    if sent.is_err() {
        depth.fetch_sub(1, Ordering::Relaxed);
    }
    sent.map(|()| rx)
}

/// The writer queue as seen from a plain thread (the aggregator).
#[derive(Debug, Clone)]
pub(crate) struct BlockingWriter {
    tx: mpsc::SyncSender<Job>,
    metrics: Arc<Metrics>,
    capacity: usize,
}

impl BlockingWriter {
    /// Queues `f` for the writer's transaction, without a savepoint (an error rolls back the
    /// transaction), and returns at once with the receiver of its result; when the queue is
    /// full it waits for room rather than failing (background work has no client to retry
    /// for it).
    pub(crate) fn submit<T, F>(&self, f: F) -> Result<Reply<T>, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let how = Submit {
            wait: true,
            isolated: false,
        };
        submit(&self.tx, &self.metrics, self.capacity, how, f)
    }
}

struct Writer {
    conn: Connection,
    rx: mpsc::Receiver<Job>,
    metrics: Arc<Metrics>,
    retention: Duration,
}

impl Writer {
    fn run(mut self) {
        let tick = Duration::from_secs(1);
        let mut last_retention = Instant::now() - Duration::from_secs(3600);
        let mut open = true;
        while open {
            let mut batch: Vec<Job> = Vec::new();
            // Wait for work, but wake up regularly for retention.
            match self.recv_timeout(tick) {
                Recv::Job(job) => batch.push(job),
                Recv::Timeout => {}
                Recv::Closed => open = false,
            }
            while batch.len() < MAX_BATCH {
                match self.rx.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            if !batch.is_empty() {
                self.metrics
                    .write_queue_depth
                    .fetch_sub(batch.len() as u64, Ordering::Relaxed);
                self.commit(batch);
            }
            if last_retention.elapsed() >= Duration::from_secs(60) {
                last_retention = Instant::now();
                match traces::expire(&mut self.conn, self.retention) {
                    Ok(0) => {}
                    Ok(n) => {
                        self.metrics
                            .traces_expired
                            .fetch_add(n as u64, Ordering::Relaxed);
                        tracing::info!(traces = n, "retention removed old traces");
                    }
                    Err(e) => tracing::error!(error = %e, "retention pass failed"),
                }
            }
        }
        if let Err(e) = self.conn.pragma_update(None, "wal_checkpoint", "TRUNCATE") {
            tracing::warn!(error = %e, "wal checkpoint at shutdown failed");
        }
        tracing::debug!("store writer stopped");
    }

    fn recv_timeout(&mut self, timeout: Duration) -> Recv {
        match self.rx.recv_timeout(timeout) {
            Ok(job) => Recv::Job(job),
            Err(mpsc::RecvTimeoutError::Timeout) => Recv::Timeout,
            Err(mpsc::RecvTimeoutError::Disconnected) => Recv::Closed,
        }
    }

    /// Runs `batch` in one transaction; when a job without a savepoint fails, rolls back what
    /// ran and starts again with the jobs not yet run.
    fn commit(&mut self, batch: Vec<Job>) {
        let mut jobs = batch.into_iter().peekable();
        while jobs.peek().is_some() {
            let started = Instant::now();
            let mut finishers = Vec::new();
            let result = self.transaction(&mut jobs, &mut finishers);
            if let Err(e) = &result {
                tracing::error!(error = %e, requests = finishers.len(), "write transaction failed");
                if finishers.is_empty() {
                    // The transaction could not even begin: the rest of the batch is dropped
                    // (each caller gets an error) instead of being retried in a loop.
                    let dropped = jobs.by_ref().count();
                    tracing::error!(requests = dropped, "write requests dropped: no transaction");
                }
            }
            for finish in finishers {
                finish(result.as_ref().err());
            }
            self.metrics.write_batches.fetch_add(1, Ordering::Relaxed);
            self.metrics
                .write_batch_micros
                .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        }
    }

    /// Runs jobs from `jobs` in one transaction until they run out or one without a savepoint
    /// fails (then the transaction is rolled back and the rest stay in `jobs`).
    fn transaction(
        &mut self,
        jobs: &mut impl Iterator<Item = Job>,
        finishers: &mut Vec<Finish>,
    ) -> rusqlite::Result<()> {
        // IMMEDIATE: the write lock is taken (waiting through the busy timeout) at the start.
        // A deferred transaction that read first and then wrote would fail at once with
        // "database is locked" if a checkpoint restarted the WAL in between.
        let mut tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        for job in jobs {
            if job.isolated {
                let mut sp = tx.savepoint()?;
                let (keep, finish) = (job.run)(&sp);
                finishers.push(finish);
                if keep {
                    sp.commit()?;
                } else {
                    sp.rollback()?;
                    sp.commit()?;
                }
            } else {
                let (keep, finish) = (job.run)(&tx);
                finishers.push(finish);
                if !keep {
                    tx.rollback()?;
                    return Err(rusqlite::Error::SqliteFailure(
                        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
                        Some("a write in the same transaction failed".into()),
                    ));
                }
            }
        }
        tx.commit()
    }
}

enum Recv {
    Job(Job),
    Timeout,
    Closed,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_db() -> PathBuf {
        std::env::temp_dir()
            .join(format!(
                "fluoro-store-test-{}-{}",
                std::process::id(),
                fluoro_proto::ids::EntityId::generate()
            ))
            .join("t.sqlite")
    }

    /// A store on `path` with `write_queue` slots, a 1 s aggregate delay and a small cache.
    fn open_store(path: &Path, write_queue: usize, metrics: Arc<Metrics>) -> Store {
        let config = StoreConfig {
            path: path.to_owned(),
            write_queue,
            aggregate_delay: Duration::from_secs(1),
            retention: Duration::from_secs(86_400),
            aggregate_cache: 1 << 20,
            wal_limit: checkpoint::DEFAULT_WAL_LIMIT_BYTES,
        };
        Store::open(&config, metrics).unwrap()
    }

    /// The names in the `groups` table, in order.
    async fn group_names(store: &Store) -> Vec<String> {
        store
            .read(|conn| {
                let mut s = conn.prepare("SELECT name FROM groups ORDER BY name")?;
                Ok(s.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?)
            })
            .await
            .unwrap()
    }

    /// Puts the writer inside a job that waits until the returned sender is used (or
    /// dropped), and returns once the writer is in it; the handle gives that job's result.
    async fn hold_writer(
        store: &Store,
    ) -> (
        mpsc::Sender<()>,
        tokio::task::JoinHandle<Result<(), StoreError>>,
    ) {
        let (release, blocked) = mpsc::channel::<()>();
        let (started, running) = oneshot::channel::<()>();
        let s = store.clone();
        let held = tokio::spawn(async move {
            s.write(move |_| {
                let _ = started.send(());
                let _ = blocked.recv();
                Ok(())
            })
            .await
        });
        running.await.unwrap();
        (release, held)
    }

    /// Backpressure: with the writer busy and its queue full, a write fails at once with
    /// `Busy` (the API turns it into 429) instead of waiting or being dropped later.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn full_queue_refuses_at_once() {
        let path = temp_db();
        let metrics = Arc::new(Metrics::default());
        let store = open_store(&path, 1, Arc::clone(&metrics));
        let (release, first) = hold_writer(&store).await; // the queue is empty
        // Queued synchronously on this thread while the writer is held, so the queue is
        // certainly full when the third arrives.
        let how = Submit {
            wait: false,
            isolated: true,
        };
        let inner = &store.inner;
        let second = submit(&inner.tx, &metrics, inner.capacity, how, |_| Ok(2)).unwrap();
        assert_eq!(metrics.write_queue_depth.load(Ordering::Relaxed), 1);
        let third = store.write(|_| Ok(3)).await;
        assert!(matches!(third, Err(StoreError::Busy(1))), "{third:?}");
        assert_eq!(metrics.write_queue_full.load(Ordering::Relaxed), 1);
        release.send(()).unwrap();
        first.await.unwrap().unwrap();
        assert_eq!(second.await.unwrap().unwrap(), 2);
        store.close().await;
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    /// A failing job without a savepoint rolls back its transaction: the jobs before it in the
    /// batch are told, the failing one gets its own error, the jobs after it commit in a fresh
    /// transaction.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failed_plain_job_rolls_back_its_transaction_only() {
        let path = temp_db();
        let metrics = Arc::new(Metrics::default());
        let store = open_store(&path, 8, Arc::clone(&metrics));
        // Hold the writer inside a first job so the next three land in one batch.
        let (release, first) = hold_writer(&store).await;
        let plain = Submit {
            wait: false,
            isolated: false,
        };
        let insert = |name: &'static str| {
            move |conn: &Connection| -> Result<(), StoreError> {
                conn.execute(
                    "INSERT INTO groups (name, arn, record) VALUES (?1, ?1, '{}')",
                    [name],
                )?;
                Ok(())
            }
        };
        let inner = &store.inner;
        let a = submit(&inner.tx, &metrics, inner.capacity, plain, insert("a")).unwrap();
        let b = submit(
            &inner.tx,
            &metrics,
            inner.capacity,
            plain,
            |conn: &Connection| {
                conn.execute(
                    "INSERT INTO groups (name, arn, record) VALUES ('b', 'b', '{}')",
                    [],
                )?;
                Err::<(), _>(StoreError::Internal("refused after writing".into()))
            },
        )
        .unwrap();
        let c = submit(&inner.tx, &metrics, inner.capacity, plain, insert("c")).unwrap();
        release.send(()).unwrap();
        first.await.unwrap().unwrap();
        let a = a.await.unwrap();
        assert!(
            matches!(&a, Err(StoreError::Internal(m)) if m.contains("rolled back")),
            "{a:?}"
        );
        let b = b.await.unwrap();
        assert!(
            matches!(&b, Err(StoreError::Internal(m)) if m == "refused after writing"),
            "{b:?}"
        );
        c.await.unwrap().unwrap();
        let names = group_names(&store).await;
        assert_eq!(names, vec!["c".to_owned()]);
        store.close().await;
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    /// The checkpoint thread copies the WAL into the database file while the writer goes on.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn checkpoint_thread_copies_the_wal() {
        let path = temp_db();
        let metrics = Arc::new(Metrics::default());
        let store = open_store(&path, 8, Arc::clone(&metrics));
        let empty = std::fs::metadata(&path).unwrap().len();
        store
            .write(|conn| {
                let record = "x".repeat(10_000);
                for i in 0..200 {
                    conn.execute(
                        "INSERT INTO groups (name, arn, record) VALUES (?1, ?1, ?2)",
                        rusqlite::params![format!("g{i}"), record],
                    )?;
                }
                Ok(())
            })
            .await
            .unwrap();
        let waited = Instant::now();
        // The file grows while a checkpoint runs; the counter moves once it has returned.
        while std::fs::metadata(&path).unwrap().len() < empty + 2_000_000
            || metrics.wal_checkpoints.load(Ordering::Relaxed) == 0
        {
            assert!(
                waited.elapsed() < Duration::from_secs(10),
                "the database file did not grow: the WAL was not checkpointed"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(metrics.wal_checkpoints_forced.load(Ordering::Relaxed), 0);
        store.close().await;
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    /// A failed write request is rolled back without undoing the others in its batch.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failed_request_rolls_back_alone() {
        let path = temp_db();
        let store = open_store(&path, 8, Arc::new(Metrics::default()));
        let bad = store.write(|conn| {
            conn.execute(
                "INSERT INTO groups (name, arn, record) VALUES ('a', 'arn:a', '{}')",
                [],
            )?;
            Err::<(), _>(StoreError::Internal("refused after writing".into()))
        });
        let good = store.write(|conn| {
            conn.execute(
                "INSERT INTO groups (name, arn, record) VALUES ('b', 'arn:b', '{}')",
                [],
            )?;
            Ok(())
        });
        let (bad, good) = tokio::join!(bad, good);
        assert!(bad.is_err());
        good.unwrap();
        let names = group_names(&store).await;
        assert_eq!(names, vec!["b".to_owned()]);
        store.close().await;
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }
}

//! The emitter: one thread that owns a UDP socket connected to the daemon and a bounded queue
//! in front of it.
//!
//! Callers only move finished documents into the queue (`try_send`): a full queue drops the
//! job, counts it and logs the first drop. The thread assembles subsegments into their parents,
//! serializes, frames (`fluoro_proto::frame`) and sends. A document that would not fit in one
//! datagram is split: its subsegments are moved out and sent as independent subsegments until
//! every piece fits, so nothing is lost to the 64 KiB limit; only a single entity that alone
//! exceeds the limit is dropped (and counted).

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Weak};
use std::time::Duration;

use fluoro_proto::frame;
use fluoro_proto::ids::{EntityId, TraceId};
use fluoro_proto::segment::Segment;

use crate::clock::Anchor;
use crate::entity::{Node, Returns};
use crate::record::Records;

/// How long the emitter thread sleeps when its queue is empty.
const POLL_INTERVAL: Duration = Duration::from_millis(2);

/// A closed subsegment waiting to be placed under its parent.
#[derive(Debug)]
pub(crate) struct Finished {
    pub(crate) id: EntityId,
    pub(crate) parent: EntityId,
    pub(crate) doc: Segment,
}

/// Work for the emitter thread. Closed plain subsegments travel as records (one contiguous
/// buffer per trace, `crate::record`); the segment and other subsegments as their nodes:
/// the caller moves a pointer, and this thread takes the document out (and sets `id` and the
/// default `namespace`), so the caller's path copies and allocates as little as possible.
/// The records closed before the nodes in `subs`.
#[derive(Debug)]
pub(crate) enum Job {
    /// A closed segment and the closed subsegments still held for it.
    Trace {
        trace_id: TraceId,
        segment_id: EntityId,
        segment: Arc<Node>,
        records: Records,
        subs: Vec<Arc<Node>>,
    },
    /// Closed subsegments sent on their own (streaming, Lambda, late subsegments).
    Stream {
        trace_id: TraceId,
        /// The trace's time anchor (for the records' times).
        anchor: Anchor,
        /// Where the nodes and the record buffer go back to.
        home: Weak<Returns>,
        records: Records,
        subs: Vec<Arc<Node>>,
    },
    /// One document as is (in-progress documents).
    Document(Box<Segment>),
    /// Reply once everything queued before it is sent.
    Flush(SyncSender<()>),
}

/// What the SDK counted since start. Nothing here is ever returned as an error to the host.
#[derive(Debug, Default)]
pub struct Stats {
    /// Datagrams sent to the daemon.
    pub sent: AtomicU64,
    /// Jobs refused because the queue was full.
    pub dropped_queue_full: AtomicU64,
    /// Entities dropped because alone they exceed one datagram.
    pub dropped_too_large: AtomicU64,
    /// Datagrams the socket refused (daemon down, no route, ...).
    pub send_errors: AtomicU64,
    /// Subsegments sent on their own because their segment held too many, was too large, or
    /// was already sent.
    pub streamed: AtomicU64,
    /// Instrumentation called with no active segment (`AWS_XRAY_CONTEXT_MISSING`).
    pub context_missing: AtomicU64,
    /// Annotations, metadata or other values refused (bad key, unserializable, reserved
    /// namespace).
    pub rejected_values: AtomicU64,
}

/// A copy of [`Stats`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// See [`Stats::sent`].
    pub sent: u64,
    /// See [`Stats::dropped_queue_full`].
    pub dropped_queue_full: u64,
    /// See [`Stats::dropped_too_large`].
    pub dropped_too_large: u64,
    /// See [`Stats::send_errors`].
    pub send_errors: u64,
    /// See [`Stats::streamed`].
    pub streamed: u64,
    /// See [`Stats::context_missing`].
    pub context_missing: u64,
    /// See [`Stats::rejected_values`].
    pub rejected_values: u64,
}

impl Stats {
    /// Reads every counter.
    pub fn snapshot(&self) -> StatsSnapshot {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StatsSnapshot {
            sent: r(&self.sent),
            dropped_queue_full: r(&self.dropped_queue_full),
            dropped_too_large: r(&self.dropped_too_large),
            send_errors: r(&self.send_errors),
            streamed: r(&self.streamed),
            context_missing: r(&self.context_missing),
            rejected_values: r(&self.rejected_values),
        }
    }
}

/// The caller's side of the emitter.
#[derive(Debug)]
pub(crate) struct Emitter {
    /// Dropping the last sender (with the recorder) ends the thread once the queue is empty.
    sender: Option<SyncSender<Job>>,
    pub(crate) stats: Arc<Stats>,
    logged_full: AtomicBool,
}

impl Emitter {
    /// Starts the thread. `None` address: an emitter that counts every job as dropped (the
    /// SDK is enabled but has nowhere to send).
    pub(crate) fn start(daemon: SocketAddr, capacity: usize, stats: Arc<Stats>) -> Emitter {
        let (tx, rx) = std::sync::mpsc::sync_channel(capacity.max(1));
        let thread_stats = Arc::clone(&stats);
        let thread = std::thread::Builder::new()
            .name("fluoro-sdk-emitter".into())
            .spawn(move || Worker::new(daemon, thread_stats).run(&rx));
        let sender = match thread {
            Ok(_detached) => Some(tx),
            Err(e) => {
                tracing::error!(error = %e, "fluoro-sdk: cannot start the emitter thread; tracing data will be dropped");
                None
            }
        };
        Emitter {
            sender,
            stats,
            logged_full: AtomicBool::new(false),
        }
    }

    /// Queues a job without blocking; a full queue drops it.
    pub(crate) fn submit(&self, job: Job) {
        let Some(tx) = &self.sender else {
            self.stats
                .dropped_queue_full
                .fetch_add(1, Ordering::Relaxed);
            return;
        };
        match tx.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(job) | TrySendError::Disconnected(job)) => {
                match job {
                    Job::Trace {
                        segment,
                        records,
                        subs,
                        ..
                    } => {
                        crate::entity::reclaim(std::iter::once(segment).chain(subs), Some(records));
                    }
                    Job::Stream { records, subs, .. } => {
                        crate::entity::reclaim(subs, Some(records));
                    }
                    Job::Document(_) | Job::Flush(_) => {}
                }
                let n = self
                    .stats
                    .dropped_queue_full
                    .fetch_add(1, Ordering::Relaxed);
                if n == 0 && !self.logged_full.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        "fluoro-sdk: emitter queue full, dropping documents (counted in stats)"
                    );
                }
            }
        }
    }

    /// Waits up to `timeout` for everything queued so far to be sent. Blocking: for shutdown
    /// and tests, never called by instrumentation.
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        let Some(tx) = &self.sender else {
            return false;
        };
        let (done_tx, done_rx) = std::sync::mpsc::sync_channel(1);
        let deadline = std::time::Instant::now() + timeout;
        let mut job = Job::Flush(done_tx);
        loop {
            match tx.try_send(job) {
                Ok(()) => break,
                Err(TrySendError::Full(j)) => {
                    if std::time::Instant::now() >= deadline {
                        return false;
                    }
                    job = j;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(TrySendError::Disconnected(_)) => return false,
            }
        }
        done_rx
            .recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
            .is_ok()
    }
}

struct Worker {
    socket: Option<UdpSocket>,
    stats: Arc<Stats>,
    buf: Vec<u8>,
    logged_send_error: bool,
    logged_too_large: bool,
}

impl Worker {
    fn new(daemon: SocketAddr, stats: Arc<Stats>) -> Worker {
        let bind: SocketAddr = if daemon.is_ipv4() {
            SocketAddr::from(([0, 0, 0, 0], 0))
        } else {
            SocketAddr::from(([0u16; 8], 0))
        };
        let socket = UdpSocket::bind(bind).and_then(|s| {
            s.connect(daemon)?;
            Ok(s)
        });
        let socket = match socket {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!(error = %e, %daemon, "fluoro-sdk: cannot open the UDP socket; documents will be counted as send errors");
                None
            }
        };
        Worker {
            socket,
            stats,
            buf: Vec::with_capacity(frame::MAX_UDP_PAYLOAD),
            logged_send_error: false,
            logged_too_large: false,
        }
    }

    fn run(mut self, rx: &Receiver<Job>) {
        // The thread polls instead of blocking in `recv`: a caller's `try_send` then never has
        // to wake it (a futex system call on every job), and documents wait at most
        // `POLL_INTERVAL` before they are sent.
        loop {
            crate::sampling::tick();
            let job = match rx.try_recv() {
                Ok(job) => job,
                Err(std::sync::mpsc::TryRecvError::Empty) => {
                    std::thread::sleep(POLL_INTERVAL);
                    continue;
                }
                Err(std::sync::mpsc::TryRecvError::Disconnected) => break,
            };
            match job {
                Job::Trace {
                    trace_id,
                    segment_id,
                    segment,
                    records,
                    subs,
                } => {
                    let mut doc = segment.take_segment();
                    let anchor = *segment.trace.anchor();
                    // Common case first: every subsegment a plain direct child, the whole in
                    // one datagram, written straight from the records.
                    let flat = subs.is_empty()
                        && (records.is_empty() || records.single_parent() == Some(segment_id));
                    if !(flat && self.send_flat(&doc, &records, &anchor)) {
                        let mut docs = finished_records(&records, &anchor);
                        docs.extend(finished(&subs));
                        let orphans = assemble(segment_id, &mut doc, docs);
                        self.send_fitting(doc, trace_id, None);
                        self.stream(trace_id, orphans);
                    }
                    let home = segment.trace.home.clone();
                    Returns::give(
                        &home,
                        std::iter::once(segment).chain(subs),
                        Some(records.into_buf()),
                    );
                }
                Job::Stream {
                    trace_id,
                    anchor,
                    home,
                    records,
                    subs,
                } => {
                    if subs.is_empty() && (records.is_empty() || records.single_parent().is_some())
                    {
                        self.stream_records(trace_id, &records, &anchor);
                    } else {
                        let mut docs = finished_records(&records, &anchor);
                        docs.extend(finished(&subs));
                        self.stream(trace_id, docs);
                    }
                    Returns::give(&home, subs, Some(records.into_buf()));
                }
                Job::Document(doc) => {
                    let t = doc
                        .trace_id
                        .as_deref()
                        .and_then(|t| TraceId::parse(t).ok())
                        .unwrap_or(TraceId::NOOP);
                    self.send_fitting(*doc, t, None);
                }
                Job::Flush(done) => {
                    let _ = done.try_send(());
                }
            }
        }
    }

    /// Sends closed subsegments as independent documents, each with its closed children.
    fn stream(&mut self, trace_id: TraceId, subs: Vec<Finished>) {
        if subs.is_empty() {
            return;
        }
        // Common case: siblings under one parent (which cannot be one of them): each is sent
        // as it is, without grouping.
        let parent = subs[0].parent;
        if subs.iter().all(|f| f.parent == parent) {
            for f in subs {
                self.stats.streamed.fetch_add(1, Ordering::Relaxed);
                self.send_fitting(f.doc, trace_id, Some(f.parent));
            }
            return;
        }
        let ids: std::collections::HashSet<EntityId> = subs.iter().map(|f| f.id).collect();
        let (roots, rest): (Vec<Finished>, Vec<Finished>) =
            subs.into_iter().partition(|f| !ids.contains(&f.parent));
        let mut children = group(rest);
        for mut r in roots {
            attach(&mut r.doc, r.id, &mut children);
            self.stats.streamed.fetch_add(1, Ordering::Relaxed);
            self.send_fitting(r.doc, trace_id, Some(r.parent));
        }
        // Cycles cannot happen (ids are unique and parents exist before children); anything
        // left is sent on its own rather than lost.
        for (parent, list) in children {
            for (_, doc) in list {
                self.send_fitting(doc, trace_id, Some(parent));
            }
        }
    }

    /// Sends the segment `doc` with `records` (its direct children) embedded, each written
    /// straight as JSON (`record::Rec::write_json`). False, with nothing sent, when the whole
    /// does not fit in one datagram: the caller then builds the documents and sends them the
    /// general way.
    fn send_flat(&mut self, doc: &Segment, records: &Records, anchor: &Anchor) -> bool {
        if doc.subsegments.is_some() {
            return false;
        }
        self.buf.clear();
        self.buf.extend_from_slice(frame::HEADER);
        self.buf.push(b'\n');
        let body = self.buf.len();
        if serde_json::to_writer(&mut self.buf, doc).is_err() {
            return false;
        }
        if !records.is_empty() {
            // `{...}` with at least one member (`id`): reopen it for `subsegments`.
            if self.buf.len() < body + 3 || self.buf.last() != Some(&b'}') {
                return false;
            }
            self.buf.pop();
            self.buf.extend_from_slice(b",\"subsegments\":[");
            for (i, r) in records.iter().enumerate() {
                if i > 0 {
                    self.buf.push(b',');
                }
                if r.write_json(anchor, None, &mut self.buf).is_err()
                    || self.buf.len() > frame::MAX_UDP_PAYLOAD
                {
                    return false;
                }
            }
            self.buf.extend_from_slice(b"]}");
        }
        if self.buf.len() > frame::MAX_UDP_PAYLOAD {
            return false;
        }
        self.send_buf();
        true
    }

    /// Sends each record as an independent subsegment, one datagram each (streaming, all
    /// under one parent).
    fn stream_records(&mut self, trace_id: TraceId, records: &Records, anchor: &Anchor) {
        let trace = trace_id.to_string();
        for r in records.iter() {
            self.stats.streamed.fetch_add(1, Ordering::Relaxed);
            self.buf.clear();
            self.buf.extend_from_slice(frame::HEADER);
            self.buf.push(b'\n');
            if r.write_json(anchor, Some(&trace), &mut self.buf).is_ok()
                && self.buf.len() <= frame::MAX_UDP_PAYLOAD
            {
                self.send_buf();
            } else {
                // Too large alone (or not writable): the general way counts and logs it.
                self.send_fitting(r.document(anchor), trace_id, Some(r.parent));
            }
        }
    }

    /// Serializes and sends `doc`; if it does not fit, moves its subsegments out one at a time
    /// (last first) as independent subsegments. `independent_parent`: the document is a
    /// subsegment sent on its own, with this parent.
    fn send_fitting(
        &mut self,
        mut doc: Segment,
        trace_id: TraceId,
        independent_parent: Option<EntityId>,
    ) {
        if let Some(parent) = independent_parent {
            doc.kind = Some("subsegment".to_owned());
            doc.trace_id = Some(trace_id.to_string());
            doc.parent_id = Some(parent.to_string());
        }
        let mut moved_out = Vec::new();
        loop {
            // Header, newline, document: written straight into the reused datagram buffer.
            self.buf.clear();
            self.buf.extend_from_slice(frame::HEADER);
            self.buf.push(b'\n');
            if serde_json::to_writer(&mut self.buf, &doc).is_err() {
                self.stats.dropped_too_large.fetch_add(1, Ordering::Relaxed);
                return;
            }
            let len = self.buf.len();
            if len <= frame::MAX_UDP_PAYLOAD {
                self.send_buf();
                break;
            }
            match doc.subsegments.as_mut().and_then(Vec::pop) {
                Some(child) => {
                    if doc.subsegments.as_ref().is_some_and(Vec::is_empty) {
                        doc.subsegments = None;
                    }
                    moved_out.push(child);
                }
                None => {
                    self.stats.dropped_too_large.fetch_add(1, Ordering::Relaxed);
                    if !self.logged_too_large {
                        self.logged_too_large = true;
                        tracing::warn!(
                            bytes = len,
                            "fluoro-sdk: a document alone exceeds one datagram and was dropped (counted in stats)"
                        );
                    }
                    return;
                }
            }
        }
        let parent = doc.id.as_deref().and_then(|i| EntityId::parse(i).ok());
        for child in moved_out {
            self.stats.streamed.fetch_add(1, Ordering::Relaxed);
            match parent {
                Some(p) => self.send_fitting(child, trace_id, Some(p)),
                None => {
                    self.stats.dropped_too_large.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    fn send_buf(&mut self) {
        let res = match &self.socket {
            Some(s) => s.send(&self.buf).map(|_| ()),
            None => Err(std::io::Error::other("no socket")),
        };
        match res {
            Ok(()) => {
                self.stats.sent.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                self.stats.send_errors.fetch_add(1, Ordering::Relaxed);
                if !self.logged_send_error {
                    self.logged_send_error = true;
                    tracing::warn!(error = %e, "fluoro-sdk: cannot send to the daemon (further errors counted in stats)");
                }
            }
        }
    }
}

fn finished(nodes: &[Arc<Node>]) -> Vec<Finished> {
    nodes.iter().filter_map(|n| n.take_finished()).collect()
}

fn finished_records(records: &Records, anchor: &Anchor) -> Vec<Finished> {
    records
        .documents(anchor)
        .into_iter()
        .map(|(id, parent, doc)| Finished { id, parent, doc })
        .collect()
}

type Children = HashMap<EntityId, Vec<(EntityId, Segment)>>;

fn group(subs: Vec<Finished>) -> Children {
    let mut m: Children = HashMap::new();
    for f in subs {
        m.entry(f.parent).or_default().push((f.id, f.doc));
    }
    m
}

/// Nests the children of `id` (recursively) into `doc`.
fn attach(doc: &mut Segment, id: EntityId, children: &mut Children) {
    let Some(list) = children.remove(&id) else {
        return;
    };
    let mut out = Vec::with_capacity(list.len());
    for (cid, mut cdoc) in list {
        attach(&mut cdoc, cid, children);
        out.push(cdoc);
    }
    doc.subsegments.get_or_insert_with(Vec::new).extend(out);
}

/// Nests `subs` under the segment; returns those whose parent is not in this tree (a
/// subsegment already streamed or still open).
fn assemble(segment_id: EntityId, segment: &mut Segment, subs: Vec<Finished>) -> Vec<Finished> {
    // Common case: every subsegment is a direct child of the segment; each document is moved
    // once, with no grouping.
    if subs.iter().all(|f| f.parent == segment_id) {
        if !subs.is_empty() {
            let list = segment.subsegments.get_or_insert_with(Vec::new);
            list.reserve(subs.len());
            list.extend(subs.into_iter().map(|f| f.doc));
        }
        return Vec::new();
    }
    let mut children = group(subs);
    attach(segment, segment_id, &mut children);
    children
        .into_iter()
        .flat_map(|(parent, list)| {
            list.into_iter()
                .map(move |(id, doc)| Finished { id, parent, doc })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(id: EntityId, name: &str) -> Segment {
        Segment {
            id: Some(id.to_string()),
            name: Some(name.to_owned()),
            ..Segment::default()
        }
    }

    #[test]
    fn assembles_nested_subsegments_in_any_order() {
        let (s, a, b, c) = (
            EntityId::new(1),
            EntityId::new(2),
            EntityId::new(3),
            EntityId::new(4),
        );
        let mut seg = doc(s, "seg");
        let orphans = assemble(
            s,
            &mut seg,
            vec![
                Finished {
                    id: b,
                    parent: a,
                    doc: doc(b, "b"),
                },
                Finished {
                    id: a,
                    parent: s,
                    doc: doc(a, "a"),
                },
                Finished {
                    id: c,
                    parent: EntityId::new(99),
                    doc: doc(c, "c"),
                },
            ],
        );
        let subs = seg.subsegments.unwrap();
        assert_eq!(subs.len(), 1);
        assert_eq!(subs[0].name.as_deref(), Some("a"));
        assert_eq!(
            subs[0].subsegments.as_ref().unwrap()[0].name.as_deref(),
            Some("b")
        );
        assert_eq!(orphans.len(), 1);
        assert_eq!(orphans[0].id, c);
    }

    #[test]
    fn assembles_flat_children_in_closing_order() {
        let s = EntityId::new(1);
        let mut seg = doc(s, "seg");
        let subs = (2..6)
            .map(|i| Finished {
                id: EntityId::new(i),
                parent: s,
                doc: doc(EntityId::new(i), &i.to_string()),
            })
            .collect();
        assert!(assemble(s, &mut seg, subs).is_empty());
        let names: Vec<_> = seg
            .subsegments
            .unwrap()
            .iter()
            .map(|d| d.name.clone().unwrap())
            .collect();
        assert_eq!(names, ["2", "3", "4", "5"]);
    }

    #[test]
    fn full_queue_drops_and_counts_without_blocking() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let stats = Arc::new(Stats::default());
        let emitter = Emitter::start(rx.local_addr().unwrap(), 1, Arc::clone(&stats));
        let start = std::time::Instant::now();
        for _ in 0..10_000 {
            emitter.submit(Job::Document(Box::new(doc(EntityId::new(5), "x"))));
        }
        assert!(start.elapsed() < Duration::from_secs(1));
        assert!(stats.dropped_queue_full.load(Ordering::Relaxed) > 0);
    }
}

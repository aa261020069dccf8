//! Segments and subsegments while they are open, and what happens when they close.
//!
//! An open entity is a [`Node`]: its ids, its end time (also its `ended` flag) and its document (a
//! `fluoro_proto::segment::Segment`) behind its own mutex. The nodes of one trace share a
//! [`Trace`], which holds the closed subsegments until they can be sent with their segment (or
//! streamed on their own) and counts the open ones: plain ones as records
//! ([`crate::record`]), their nodes kept on the closing thread for reuse; the others as their
//! nodes. Locks are per entity and per trace: there is no lock shared between requests.

use std::borrow::Cow;
use std::cell::RefCell;
use std::error::Error;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

use fluoro_proto::header::{Sampled, TraceHeader};
use fluoro_proto::ids::{EntityId, TraceId};
use fluoro_proto::segment::{
    AnnotationValue, Aws, Cause, CauseDetails, Exception, Http, HttpRequest, HttpResponse, Segment,
    Sql,
};
use serde::Serialize;
use serde_json::Number;

use crate::clock::{self, Anchor};
use crate::context;
use crate::emitter::{Finished, Job};
use crate::record::{Records, Val, timestamp};

use crate::recorder::Inner;
use crate::rng;

/// The wall clock (sampling bookkeeping; entities use [`clock`]).
pub(crate) fn now() -> SystemTime {
    SystemTime::now()
}

/// `Node::end` before the entity has ended.
const NOT_ENDED: u64 = u64::MAX;

/// A raw clock reading for `Node::end` (never the `NOT_ENDED` marker).
#[inline]
fn end_ticks() -> u64 {
    clock::ticks().min(NOT_ENDED - 1)
}

pub(crate) fn epoch_secs_f64(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Nodes (segments, and subsegments that were not plain) the emitter thread has emptied and
/// record buffers it has sent, on their way back to the thread whose trace they belonged to,
/// so that their memory is allocated, reused and finally freed on one thread. With glibc's
/// allocator, memory freed on another thread never returns to the allocating thread's cache
/// and both threads then take the arena lock on every allocation and free; that contention
/// cost more than the rest of the subsegment.
#[derive(Debug, Default)]
pub(crate) struct Returns(Mutex<Back>);

#[derive(Debug, Default)]
struct Back {
    nodes: Vec<Arc<Node>>,
    bufs: Vec<Vec<u8>>,
}

/// Nodes a thread's returns queue and pool hold at most; the emitter frees the rest itself.
const RETURNS_CAP: usize = 4096;

/// Record buffers a thread's returns queue and pool hold at most (with [`BUF_KEEP`], at most
/// 16 MiB each).
const BUFS_CAP: usize = 1024;

/// A record buffer larger than this is freed instead of kept for reuse (a segment of 100
/// short plain subsegments, the streaming threshold, needs about 9 KB).
const BUF_KEEP: usize = 16 * 1024;

impl Returns {
    /// Hands emptied nodes and a sent record buffer back (emitter thread). Nodes still
    /// referenced elsewhere are skipped when reused, not here.
    pub(crate) fn give(
        home: &Weak<Returns>,
        nodes: impl IntoIterator<Item = Arc<Node>>,
        buf: Option<Vec<u8>>,
    ) {
        let Some(r) = home.upgrade() else {
            return; // the thread has ended: the nodes are freed here
        };
        let mut q = lock(&r.0);
        let room = RETURNS_CAP.saturating_sub(q.nodes.len());
        q.nodes.extend(nodes.into_iter().take(room));
        if let Some(buf) = buf
            && buf.capacity() <= BUF_KEEP
            && q.bufs.len() < BUFS_CAP
        {
            q.bufs.push(buf);
        }
    }
}

/// A thread's free nodes and record buffers, refilled from its returns queue.
#[derive(Debug, Default)]
struct Pool {
    free: Vec<Arc<Node>>,
    bufs: Vec<Vec<u8>>,
    returns: Arc<Returns>,
}

impl Pool {
    /// A node nothing else refers to, ready to be overwritten.
    fn take_unique(&mut self) -> Option<Arc<Node>> {
        loop {
            if self.free.is_empty() {
                let mut q = lock(&self.returns.0);
                if q.nodes.is_empty() {
                    return None;
                }
                std::mem::swap(&mut self.free, &mut q.nodes);
            }
            let n = self.free.pop()?;
            // Plain loads; `alloc`'s `Arc::get_mut` makes the check that counts.
            if Arc::strong_count(&n) == 1 && Arc::weak_count(&n) == 0 {
                return Some(n);
            }
        }
    }

    /// A record buffer (empty when there is none to reuse).
    fn take_buf(&mut self) -> Vec<u8> {
        if self.bufs.is_empty() {
            std::mem::swap(&mut self.bufs, &mut lock(&self.returns.0).bufs);
        }
        self.bufs.pop().unwrap_or_default()
    }
}

thread_local! {
    static POOL: RefCell<Pool> = RefCell::new(Pool::default());
}

/// Where this thread's emptied nodes go back to.
fn home() -> Weak<Returns> {
    POOL.try_with(|p| {
        p.try_borrow()
            .map(|p| Arc::downgrade(&p.returns))
            .unwrap_or_default()
    })
    .unwrap_or_default()
}

/// A new open node, in a reused allocation from this thread's pool when there is one. Only
/// the fields that change are written (a node is a few hundred bytes).
fn alloc(
    trace: Cow<'_, Arc<Trace>>,
    id: EntityId,
    parent: Option<EntityId>,
    name: Cow<'static, str>,
    start: u64,
) -> Arc<Node> {
    let reused = POOL
        .try_with(|p| p.try_borrow_mut().ok().and_then(|mut p| p.take_unique()))
        .ok()
        .flatten();
    if let Some(mut a) = reused
        && let Some(n) = Arc::get_mut(&mut a)
    {
        // Drops the previous occupant's trace and name here, on this thread; a node reused
        // within its trace (the usual case) keeps its reference.
        if !Arc::ptr_eq(&n.trace, &trace) {
            n.trace = trace.into_owned();
        }
        n.id = id;
        n.parent = parent;
        n.name = name;
        n.start = start;
        *n.end.get_mut() = NOT_ENDED;
        let d = n.data.get_mut().unwrap_or_else(PoisonError::into_inner);
        // Emptied by the emitter; not when its job was dropped (queue full).
        if d.doc.is_some() || !d.annotations.is_empty() {
            *d = Data::default();
        }
        return a;
    }
    Arc::new(Node {
        trace: trace.into_owned(),
        id,
        parent,
        name,
        start,
        end: AtomicU64::new(NOT_ENDED),
        data: Mutex::new(Data::default()),
    })
}

/// Keeps the nodes and record buffer of a job the queue refused (caller's thread) for reuse
/// here.
pub(crate) fn reclaim(nodes: impl IntoIterator<Item = Arc<Node>>, records: Option<Records>) {
    let _ = POOL.try_with(|p| {
        if let Ok(mut p) = p.try_borrow_mut() {
            let room = RETURNS_CAP.saturating_sub(p.free.len());
            p.free.extend(nodes.into_iter().take(room));
            if let Some(r) = records
                && r.has_buf()
                && r.capacity() <= BUF_KEEP
                && p.bufs.len() < BUFS_CAP
            {
                p.bufs.push(r.into_buf());
            }
        }
    });
}

/// Keeps a closed subsegment's node, recorded as plain, for reuse on this thread.
#[inline]
fn keep(node: Arc<Node>) {
    // Plain loads: only a node nothing else holds is worth keeping.
    if Arc::strong_count(&node) != 1 || Arc::weak_count(&node) != 0 {
        return;
    }
    let _ = POOL.try_with(|p| {
        if let Ok(mut p) = p.try_borrow_mut()
            && p.free.len() < RETURNS_CAP
        {
            p.free.push(node);
        }
    });
}

/// An empty record buffer from this thread's pool.
fn records() -> Records {
    Records::with_buf(
        POOL.try_with(|p| {
            p.try_borrow_mut()
                .map(|mut p| p.take_buf())
                .unwrap_or_default()
        })
        .unwrap_or_default(),
    )
}

#[derive(Debug, Default)]
struct TraceState {
    /// Closed plain subsegments not yet handed to the emitter, as records; they closed
    /// before those in `finished`.
    records: Records,
    /// Closed subsegments not yet handed to the emitter that were not plain, and every one
    /// after the first of those (`mixed`), so that the two lists keep the closing order.
    finished: Vec<Arc<Node>>,
    /// A subsegment of this trace closed that was not plain.
    mixed: bool,
    /// The closed segment, waiting for its open subsegments.
    segment: Option<Arc<Node>>,
    /// The segment has been handed to the emitter (or is a facade that is never sent): later
    /// subsegments go out on their own.
    emitted: bool,
    /// Subsegments closed so far; `Trace::opened` minus this is how many are open. Counted
    /// under the lock the closing already takes (a plain add, not an atomic one).
    closed: usize,
}

/// What the entities of one trace share.
#[derive(Debug)]
pub(crate) struct Trace {
    pub(crate) recorder: Arc<Inner>,
    pub(crate) trace_id: TraceId,
    pub(crate) segment_id: EntityId,
    pub(crate) sampled: bool,
    /// `Lineage` and unknown keys of the incoming header, passed on downstream.
    pub(crate) incoming: Option<Box<TraceHeader>>,
    /// The caller's (sub)segment: the segment's `parent_id`.
    pub(crate) upstream_parent: Option<EntityId>,
    /// The centralized sampling rule that sampled this trace.
    pub(crate) rule: Option<Arc<str>>,
    /// Where its nodes go back to once sent: the pool of the thread that began it.
    pub(crate) home: Weak<Returns>,
    /// The wall-clock time the segment began and the raw clock reading beside it: its
    /// entities' raw readings become epoch times against it (see [`clock`]).
    anchor: Anchor,
    /// Subsegments begun so far (the only atomic add per subsegment for the count).
    opened: AtomicUsize,
    state: Mutex<TraceState>,
}

impl Trace {
    pub(crate) fn new(
        recorder: Arc<Inner>,
        trace_id: TraceId,
        segment_id: EntityId,
        sampled: bool,
        incoming: Option<Box<TraceHeader>>,
        facade: bool,
    ) -> Trace {
        Trace {
            recorder,
            trace_id,
            segment_id,
            sampled,
            upstream_parent: None,
            rule: None,
            home: home(),
            // Unsampled traces are never written: no clock read.
            anchor: if sampled { Anchor::now() } else { Anchor::NONE },
            incoming,
            opened: AtomicUsize::new(0),
            state: Mutex::new(TraceState {
                emitted: facade,
                ..TraceState::default()
            }),
        }
    }

    /// The segment has closed.
    fn segment_closed(&self, doc: Arc<Node>) {
        let mut st = lock(&self.state);
        if st.emitted {
            return;
        }
        // `closed` only moves under this lock and `opened` only grows: a subsegment begun
        // after this load closes after the segment is sent, and is streamed on its own.
        if self.opened.load(Ordering::Acquire) == st.closed {
            st.emitted = true;
            let records = std::mem::take(&mut st.records);
            let subs = std::mem::take(&mut st.finished);
            drop(st);
            self.recorder.emitter.submit(Job::Trace {
                trace_id: self.trace_id,
                segment_id: self.segment_id,
                segment: doc,
                records,
                subs,
            });
        } else {
            st.segment = Some(doc);
        }
    }

    /// The subsegment `node` has closed at raw reading `end`. A plain one (only what the hot
    /// path stages) is copied into the trace's records and its node returned, free for reuse
    /// on this thread; any other is kept until it is sent (`None`).
    fn subsegment_closed(&self, node: Arc<Node>, end: u64) -> Option<Arc<Node>> {
        let mut data = lock(&node.data);
        let mut st = lock(&self.state);
        let plain = !st.mixed && data.doc.is_none() && {
            if !st.records.has_buf() {
                st.records = records();
            }
            node.record(&data.annotations, end, &mut st.records)
        };
        let back = if plain {
            data.annotations.clear();
            drop(data);
            Some(node)
        } else {
            drop(data);
            st.mixed = true;
            st.finished.push(node);
            None
        };
        st.closed += 1;
        let open = self
            .opened
            .load(Ordering::Acquire)
            .saturating_sub(st.closed);
        let held = st.records.len() + st.finished.len();
        // Once the segment is sent (or is a Lambda facade, never sent), or when it holds too
        // many, closed subsegments go out on their own; their `parent_id` places them.
        let job = if st.emitted || held >= self.recorder.streaming_threshold {
            Some(Job::Stream {
                trace_id: self.trace_id,
                anchor: self.anchor,
                home: self.home.clone(),
                records: std::mem::take(&mut st.records),
                subs: std::mem::take(&mut st.finished),
            })
        } else if open == 0 {
            st.segment.take().map(|segment| {
                st.emitted = true;
                Job::Trace {
                    trace_id: self.trace_id,
                    segment_id: self.segment_id,
                    segment,
                    records: std::mem::take(&mut st.records),
                    subs: std::mem::take(&mut st.finished),
                }
            })
        } else {
            None
        };
        drop(st);
        if let Some(job) = job {
            self.recorder.emitter.submit(job);
        }
        back
    }

    /// The wall-clock anchor of this trace's times.
    pub(crate) fn anchor(&self) -> &Anchor {
        &self.anchor
    }
}

/// One open segment or subsegment.
///
/// What the hot path touches is staged here in cheap form (name, start and end as raw clock
/// readings, annotations as a small list); the rest of the document (`http`, `aws`, metadata,
/// cause, ...) lives in a `fluoro_proto` [`Segment`] allocated on first use. The document is
/// built (or, for a plain subsegment, written straight as JSON) once, when the entity is
/// sent: on the emitter thread for subsegments.
#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) trace: Arc<Trace>,
    pub(crate) id: EntityId,
    /// `None` for the segment.
    pub(crate) parent: Option<EntityId>,
    name: Cow<'static, str>,
    /// When it began: a raw [`clock`] reading, made an epoch time with the trace's anchor
    /// when the document is built.
    start: u64,
    /// When it ended, a raw [`clock`] reading (`NOT_ENDED` while open), which is also
    /// the `ended` flag: an atomic store instead of a lock when the guard drops. Written once,
    /// by the entity's only guard; the trace's lock or the emitter queue orders it before the
    /// emitter's read.
    end: AtomicU64,
    data: Mutex<Data>,
}

/// What an open entity stages: taken out whole by the emitter thread once it has closed.
#[derive(Debug, Default, Clone)]
pub(crate) struct Data {
    annotations: Staged,
    doc: Option<Box<Segment>>,
}

type Annotation = (Cow<'static, str>, StagedValue);

/// Annotations while the entity is open: the first four inline in the node (no allocation),
/// more in a vector.
#[derive(Debug, Default, Clone)]
struct Staged {
    inline: [Option<Annotation>; 4],
    more: Vec<Annotation>,
}

impl Staged {
    #[inline(always)]
    fn set(&mut self, key: Cow<'static, str>, value: StagedValue) {
        for slot in &mut self.inline {
            match slot {
                Some((k, v)) if *k == key => {
                    *v = value;
                    return;
                }
                Some(_) => {}
                None => {
                    *slot = Some((key, value));
                    return;
                }
            }
        }
        match self.more.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.more.push((key, value)),
        }
    }

    fn is_empty(&self) -> bool {
        self.inline[0].is_none()
    }

    /// Drops every annotation, writing only the slots in use.
    fn clear(&mut self) {
        for slot in &mut self.inline {
            if slot.is_none() {
                break;
            }
            *slot = None;
        }
        self.more.clear();
    }

    fn iter(&self) -> impl Iterator<Item = &Annotation> {
        self.inline.iter().flatten().chain(&self.more)
    }

    fn drain(self) -> impl Iterator<Item = Annotation> {
        self.inline.into_iter().flatten().chain(self.more)
    }
}

impl Node {
    /// The segment; `doc` holds what the recorder fills in at the start (trace id, parent,
    /// origin, aws, service), `None` when the trace is not sampled.
    pub(crate) fn new_segment(
        trace: Arc<Trace>,
        name: Cow<'static, str>,
        doc: Option<Box<Segment>>,
    ) -> Arc<Node> {
        let id = trace.segment_id;
        // The segment begins when its trace's anchor was read.
        let start = trace.anchor.ticks;
        let node = alloc(Cow::Owned(trace), id, None, name, start);
        if doc.is_some() {
            lock(&node.data).doc = doc;
        }
        node
    }

    /// A subsegment of `parent` (sampled traces only).
    pub(crate) fn new_subsegment(parent: &Arc<Node>, name: Cow<'static, str>) -> Arc<Node> {
        let trace = &parent.trace;
        trace.opened.fetch_add(1, Ordering::AcqRel);
        alloc(
            Cow::Borrowed(trace),
            rng::entity_id(),
            Some(parent.id),
            crate::recorder::clean_name(name),
            clock::ticks(),
        )
    }

    /// When the entity began, in microseconds since the epoch.
    fn start_micros(&self) -> u64 {
        self.trace.anchor.epoch_micros(self.start)
    }

    /// When the entity ended, in microseconds since the epoch; `None` while open.
    fn end_micros(&self) -> Option<u64> {
        match self.end.load(Ordering::Acquire) {
            NOT_ENDED => None,
            t => Some(self.trace.anchor.epoch_micros(t)),
        }
    }

    pub(crate) fn is_ended(&self) -> bool {
        self.end.load(Ordering::Relaxed) != NOT_ENDED
    }

    /// Ends the entity. `this` is the guard's reference; `spare`, the reference the context
    /// stack held (when the guard made it current), is the one moved to the trace, so that
    /// no other reference count moves.
    ///
    /// Only the entity's guard ends it, once (guards are not `Clone`), so the flag is a load
    /// and a store rather than an atomic swap.
    fn end(this: Arc<Self>, spare: Option<Arc<Self>>) {
        if this.is_ended() {
            return;
        }
        let end = end_ticks();
        this.end.store(end, Ordering::Release);
        if !this.trace.sampled {
            return;
        }
        let spare = spare.filter(|s| Arc::ptr_eq(&this, s));
        if this.parent.is_none() {
            match spare {
                Some(spare) => this.trace.segment_closed(spare),
                None => {
                    let trace = Arc::clone(&this.trace);
                    trace.segment_closed(this);
                }
            }
            return;
        }
        match spare {
            Some(spare) => {
                if let Some(back) = this.trace.subsegment_closed(spare, end) {
                    drop(back);
                    keep(this);
                }
            }
            None => {
                let trace = Arc::clone(&this.trace);
                if let Some(back) = trace.subsegment_closed(this, end) {
                    keep(back);
                }
            }
        }
    }

    /// Copies this closed plain subsegment (ids, name, raw times, `annotations`) into
    /// `records`. False, with nothing written, when it cannot be recorded (an annotation
    /// value other than a string, number or boolean; lengths beyond the format's).
    #[inline]
    fn record(&self, annotations: &Staged, end: u64, records: &mut Records) -> bool {
        let Some(parent) = self.parent else {
            return false;
        };
        let Some(mark) = records.begin(self.id, parent, self.start, end, &self.name) else {
            return false;
        };
        for (k, v) in annotations.iter() {
            let ok = match v.as_val() {
                Some(v) => records.annotation(mark, k, &v),
                None => false,
            };
            if !ok {
                records.abort(mark);
                return false;
            }
        }
        records.commit(mark, parent)
    }

    /// The document from the staged data.
    fn build(&self, data: Data, end: Option<u64>) -> Segment {
        let mut doc = data.doc.map(|d| *d).unwrap_or_default();
        doc.id = Some(self.id.to_string());
        doc.name = Some(self.name.to_string());
        doc.start_time = timestamp(self.start_micros());
        doc.end_time = end.and_then(timestamp);
        if !data.annotations.is_empty() {
            let m = doc.annotations.get_or_insert_with(Default::default);
            for (k, v) in data.annotations.drain() {
                m.insert(k.into_owned(), v.into_value());
            }
        }
        if self.parent.is_some() {
            if doc.namespace.is_none() {
                // The Python SDK's default for custom subsegments; integrations set
                // `remote` / `aws`.
                doc.namespace = Some("local".to_owned());
            }
        } else {
            self.segment_fields(&mut doc);
        }
        doc
    }

    /// What every segment carries: trace id, the caller as parent, and the recorder's
    /// `origin`, `aws` (SDK, plugins, sampling rule) and `service` under what code set.
    fn segment_fields(&self, doc: &mut Segment) {
        let t = &self.trace;
        let r = &t.recorder;
        doc.trace_id = Some(t.trace_id.to_string());
        if let Some(p) = t.upstream_parent {
            doc.parent_id = Some(p.to_string());
        }
        r.fill_segment(doc);
        if let (Some(rule), Some(x)) = (
            &t.rule,
            doc.aws.as_deref_mut().and_then(|a| a.xray.as_deref_mut()),
        ) {
            x.sampling_rule_name = Some(rule.to_string());
        }
    }

    /// The closed segment's document. Called once, on the emitter thread.
    pub(crate) fn take_segment(&self) -> Segment {
        let data = std::mem::take(&mut *lock(&self.data));
        self.build(data, self.end_micros())
    }

    /// The closed subsegment's document. Called once, on the emitter thread.
    pub(crate) fn take_finished(&self) -> Option<Finished> {
        let data = self.take_data();
        self.finish(data)
    }

    /// The closed entity's staged data, leaving the node empty. Called once, on the emitter
    /// thread.
    pub(crate) fn take_data(&self) -> Data {
        std::mem::take(&mut *lock(&self.data))
    }

    /// The closed subsegment's document from its data (`take_data`).
    pub(crate) fn finish(&self, data: Data) -> Option<Finished> {
        Some(Finished {
            id: self.id,
            parent: self.parent?,
            doc: self.build(data, self.end_micros()),
        })
    }

    /// A copy of the document as it is now, marked in progress.
    fn snapshot_in_progress(&self) -> Segment {
        let data = lock(&self.data);
        let mut doc = self.build(
            Data {
                annotations: data.annotations.clone(),
                doc: data.doc.clone(),
            },
            None,
        );
        drop(data);
        doc.in_progress = Some(true);
        doc.subsegments = None;
        doc.trace_id = Some(self.trace.trace_id.to_string());
        if let Some(p) = self.parent {
            doc.kind = Some("subsegment".to_owned());
            doc.parent_id = Some(p.to_string());
        }
        doc
    }
}

/// An unsampled segment: only what context and outgoing headers need (trace id, id, the
/// incoming header for `Lineage`), so an unsampled request costs one small allocation and no
/// recorder state. Nothing under it is recorded.
#[derive(Debug)]
pub(crate) struct Light {
    pub(crate) trace_id: TraceId,
    pub(crate) id: EntityId,
    /// `Lineage` and unknown keys of the incoming header, passed on downstream.
    pub(crate) incoming: Option<Box<TraceHeader>>,
    ended: AtomicBool,
}

impl Light {
    pub(crate) fn new(
        trace_id: TraceId,
        id: EntityId,
        incoming: Option<Box<TraceHeader>>,
    ) -> Arc<Light> {
        Arc::new(Light {
            trace_id,
            id,
            incoming,
            ended: AtomicBool::new(false),
        })
    }
}

/// What the context stack and an [`Entity`] hold: a recorded (sampled) entity, or an
/// unsampled segment.
#[derive(Debug, Clone)]
pub(crate) enum Handle {
    Sampled(Arc<Node>),
    Unsampled(Arc<Light>),
}

impl Handle {
    pub(crate) fn is_ended(&self) -> bool {
        match self {
            Handle::Sampled(n) => n.is_ended(),
            Handle::Unsampled(l) => l.ended.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn ptr_eq(&self, other: &Handle) -> bool {
        match (self, other) {
            (Handle::Sampled(a), Handle::Sampled(b)) => Arc::ptr_eq(a, b),
            (Handle::Unsampled(a), Handle::Unsampled(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    pub(crate) fn trace_id(&self) -> TraceId {
        match self {
            Handle::Sampled(n) => n.trace.trace_id,
            Handle::Unsampled(l) => l.trace_id,
        }
    }

    pub(crate) fn id(&self) -> EntityId {
        match self {
            Handle::Sampled(n) => n.id,
            Handle::Unsampled(l) => l.id,
        }
    }

    /// The node, when this entity is recorded.
    pub(crate) fn recording(&self) -> Option<&Arc<Node>> {
        match self {
            Handle::Sampled(n) if n.trace.sampled => Some(n),
            _ => None,
        }
    }

    fn incoming(&self) -> Option<&TraceHeader> {
        match self {
            Handle::Sampled(n) => n.trace.incoming.as_deref(),
            Handle::Unsampled(l) => l.incoming.as_deref(),
        }
    }

    /// Ends the entity; `spare` is the context stack's reference to it, if it was current.
    fn end(self, spare: Option<Handle>) {
        match self {
            Handle::Sampled(n) => Node::end(
                n,
                match spare {
                    Some(Handle::Sampled(s)) => Some(s),
                    _ => None,
                },
            ),
            Handle::Unsampled(l) => l.ended.store(true, Ordering::Relaxed),
        }
    }
}

/// Strings up to this many bytes are staged inline, without an allocation.
const SHORT: usize = 22;

/// An annotation value while its entity is open: short strings inline in the node (no
/// allocation on the caller's thread, nothing for the emitter thread to free across
/// threads); built into an `AnnotationValue` with the document.
#[doc(hidden)]
#[derive(Debug, Clone)]
pub struct StagedValue(Repr);

#[derive(Debug, Clone)]
enum Repr {
    Value(AnnotationValue),
    Short { len: u8, bytes: [u8; SHORT] },
}

impl StagedValue {
    fn value(v: AnnotationValue) -> StagedValue {
        StagedValue(Repr::Value(v))
    }

    #[inline]
    fn str(s: &str) -> StagedValue {
        match u8::try_from(s.len()) {
            Ok(len) if s.len() <= SHORT => {
                let mut bytes = [0u8; SHORT];
                bytes[..s.len()].copy_from_slice(s.as_bytes());
                StagedValue(Repr::Short { len, bytes })
            }
            _ => StagedValue::value(AnnotationValue::String(s.to_owned())),
        }
    }

    /// The value for a record; `None` for values a record does not carry (`Other`).
    #[inline]
    fn as_val(&self) -> Option<Val<'_>> {
        Some(match &self.0 {
            // Copied whole from a `str`.
            Repr::Short { len, bytes } => Val::Str(bytes.get(..usize::from(*len))?),
            Repr::Value(AnnotationValue::String(s)) => Val::Str(s.as_bytes()),
            Repr::Value(AnnotationValue::Number(n)) => Val::number(n)?,
            Repr::Value(AnnotationValue::Bool(b)) => Val::Bool(*b),
            Repr::Value(AnnotationValue::Other(_)) => return None,
        })
    }

    fn into_value(self) -> AnnotationValue {
        match self.0 {
            Repr::Value(v) => v,
            Repr::Short { len, bytes } => AnnotationValue::String(
                // Copied whole from a `&str`: always UTF-8.
                String::from_utf8_lossy(&bytes[..usize::from(len)]).into_owned(),
            ),
        }
    }
}

/// A value that can be an annotation: strings, booleans and numbers.
pub trait IntoAnnotation {
    /// The annotation value; `None` for non-finite floats.
    fn into_annotation(self) -> Option<AnnotationValue>;

    /// The value as the entity stages it (short strings without an allocation).
    #[doc(hidden)]
    fn into_staged(self) -> Option<StagedValue>
    where
        Self: Sized,
    {
        self.into_annotation().map(StagedValue::value)
    }
}

impl IntoAnnotation for &str {
    fn into_annotation(self) -> Option<AnnotationValue> {
        Some(AnnotationValue::String(self.to_owned()))
    }
    #[inline]
    fn into_staged(self) -> Option<StagedValue> {
        Some(StagedValue::str(self))
    }
}
impl IntoAnnotation for String {
    fn into_annotation(self) -> Option<AnnotationValue> {
        Some(AnnotationValue::String(self))
    }
}
impl IntoAnnotation for bool {
    fn into_annotation(self) -> Option<AnnotationValue> {
        Some(AnnotationValue::Bool(self))
    }
}
impl IntoAnnotation for f64 {
    fn into_annotation(self) -> Option<AnnotationValue> {
        Number::from_f64(self).map(AnnotationValue::Number)
    }
}
impl IntoAnnotation for f32 {
    fn into_annotation(self) -> Option<AnnotationValue> {
        f64::from(self).into_annotation()
    }
}
macro_rules! int_annotation {
    ($($t:ty),*) => {$(
        impl IntoAnnotation for $t {
            fn into_annotation(self) -> Option<AnnotationValue> {
                Some(AnnotationValue::Number(Number::from(self)))
            }
        }
    )*};
}
int_annotation!(i8, i16, i32, i64, u8, u16, u32, u64, isize, usize);

/// AWS's rule for annotation keys usable in filter expressions: ASCII letters, digits, `_`.
#[inline]
pub(crate) fn valid_annotation_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 500
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A handle on an open segment or subsegment (or a no-op when tracing is off, the request is
/// not sampled, or there was no segment). Cheap to clone; every method is a no-op on a no-op
/// entity and never fails: refused values are counted in [`crate::Recorder::stats`].
#[derive(Debug, Clone, Default)]
pub struct Entity {
    pub(crate) handle: Option<Handle>,
}

impl Entity {
    pub(crate) fn from_handle(handle: Option<Handle>) -> Entity {
        Entity { handle }
    }

    /// The node, if this entity records anything.
    fn recording(&self) -> Option<&Arc<Node>> {
        self.handle.as_ref().and_then(Handle::recording)
    }

    fn with_doc(&self, f: impl FnOnce(&mut Segment)) {
        if let Some(n) = self.recording() {
            f(lock(&n.data).doc.get_or_insert_with(Box::default));
        }
    }

    fn reject(&self, what: &str) {
        if let Some(n) = self.recording() {
            n.trace.recorder.reject(what);
        }
    }

    /// True when this entity's trace is sampled (its data will be sent).
    pub fn is_sampled(&self) -> bool {
        self.recording().is_some()
    }

    /// True for a no-op entity (no segment).
    pub fn is_noop(&self) -> bool {
        self.handle.is_none()
    }

    /// The trace id.
    pub fn trace_id(&self) -> Option<TraceId> {
        self.handle.as_ref().map(Handle::trace_id)
    }

    /// This entity's id.
    pub fn id(&self) -> Option<EntityId> {
        self.handle.as_ref().map(Handle::id)
    }

    /// Adds an annotation (indexed, searchable in filter expressions). Keys must be ASCII
    /// letters, digits or `_` (AWS's rule); other keys are refused and counted. Keys are
    /// `&'static str` (no allocation) or `String`, as OpenTelemetry's `Key` is.
    #[inline]
    pub fn annotate(&self, key: impl Into<Cow<'static, str>>, value: impl IntoAnnotation) {
        let Some(n) = self.recording() else { return };
        let key = key.into();
        if !valid_annotation_key(&key) {
            self.reject("annotation key (letters, digits and _ only)");
            return;
        }
        let Some(v) = value.into_staged() else {
            self.reject("annotation value (not a finite number)");
            return;
        };
        let mut data = lock(&n.data);
        data.annotations.set(key, v);
    }

    /// Adds metadata under `namespace` (not indexed; any `serde::Serialize` value).
    /// Namespaces starting with `AWS.` are reserved and refused.
    pub fn metadata(&self, namespace: &str, key: &str, value: impl Serialize) {
        let Some(n) = self.recording() else { return };
        if namespace.starts_with("AWS.") || namespace.is_empty() {
            self.reject("metadata namespace (empty or reserved AWS.)");
            return;
        }
        let Ok(v) = serde_json::to_value(value) else {
            self.reject("metadata value (serialization failed)");
            return;
        };
        let mut data = lock(&n.data);
        let doc = data.doc.get_or_insert_with(Box::default);
        let md = doc.metadata.get_or_insert_with(Default::default);
        let ns = md
            .entry(namespace.to_owned())
            .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
        if let serde_json::Value::Object(m) = ns {
            m.insert(key.to_owned(), v);
        }
    }

    /// Metadata in the `default` namespace.
    pub fn put_metadata(&self, key: &str, value: impl Serialize) {
        self.metadata("default", key, value);
    }

    /// Sets `http.request`.
    pub fn set_http_request(&self, request: HttpRequest) {
        self.with_doc(|d| {
            d.http.get_or_insert_with(Box::<Http>::default).request = Some(request);
        });
    }

    /// Sets `http.response` and the `error` (4xx), `throttle` (429) and `fault` (5xx) flags.
    pub fn set_http_response(&self, status: u16, content_length: Option<u64>) {
        self.with_doc(|d| {
            d.http.get_or_insert_with(Box::<Http>::default).response = Some(HttpResponse {
                status: Some(i64::from(status).into()),
                content_length: content_length.map(|l| i64::try_from(l).unwrap_or(i64::MAX).into()),
                ..HttpResponse::default()
            });
            apply_status(d, status);
        });
    }

    /// Sets the `error`, `throttle` and `fault` flags from an HTTP status, as every AWS SDK
    /// does.
    pub fn apply_status(&self, status: u16) {
        self.with_doc(|d| apply_status(d, status));
    }

    /// Marks a client error (`error`).
    pub fn mark_error(&self) {
        self.with_doc(|d| d.error = Some(true));
    }

    /// Marks a server error (`fault`).
    pub fn mark_fault(&self) {
        self.with_doc(|d| d.fault = Some(true));
    }

    /// Marks throttling (`throttle` and `error`).
    pub fn mark_throttle(&self) {
        self.with_doc(|d| {
            d.throttle = Some(true);
            d.error = Some(true);
        });
    }

    /// Records an error and its `source()` chain in `cause` and marks a `fault`, as the AWS
    /// SDKs do for exceptions.
    pub fn add_error<E: Error + ?Sized>(&self, err: &E) {
        self.add_error_with(err, false);
    }

    /// Like [`Entity::add_error`], for errors returned by a downstream service
    /// (`remote: true`).
    pub fn add_remote_error<E: Error + ?Sized>(&self, err: &E) {
        self.add_error_with(err, true);
    }

    fn add_error_with<E: Error + ?Sized>(&self, err: &E, remote: bool) {
        let Some(n) = self.recording() else { return };
        let exceptions = exceptions_from(err, &short_type_name::<E>(), remote);
        let mut data = lock(&n.data);
        let d = data.doc.get_or_insert_with(Box::default);
        d.fault = Some(true);
        let wd = n.trace.recorder.working_directory.clone();
        match d.cause.as_deref_mut() {
            Some(Cause::Details(c)) => c.exceptions.get_or_insert_with(Vec::new).extend(exceptions),
            _ => {
                d.cause = Some(Box::new(Cause::Details(CauseDetails {
                    working_directory: wd,
                    exceptions: Some(exceptions),
                    ..CauseDetails::default()
                })));
            }
        }
    }

    /// Sets `aws` fields (merged over what is there: `Some` fields replace).
    pub fn set_aws(&self, f: impl FnOnce(&mut Aws)) {
        self.with_doc(|d| f(d.aws.get_or_insert_with(Box::<Aws>::default)));
    }

    /// Sets `sql` (subsegments for database calls).
    pub fn set_sql(&self, sql: Sql) {
        self.with_doc(|d| d.sql = Some(Box::new(sql)));
    }

    /// Sets `user` (segments; indexed for filter expressions).
    pub fn set_user(&self, user: &str) {
        self.with_doc(|d| d.user = Some(user.to_owned()));
    }

    /// Sets `service.version` (segments).
    pub fn set_service_version(&self, version: &str) {
        self.with_doc(|d| {
            d.service.get_or_insert_with(Default::default).version = Some(version.to_owned());
        });
    }

    /// Sets `namespace` (`remote` for calls to other services, `aws` for AWS calls).
    pub fn set_namespace(&self, namespace: &str) {
        self.with_doc(|d| d.namespace = Some(namespace.to_owned()));
    }

    /// Sets `traced` on an outgoing-call subsegment: the callee is instrumented too, so its
    /// segment will name this subsegment as parent.
    pub fn set_traced(&self, traced: bool) {
        self.with_doc(|d| d.traced = Some(traced));
    }

    /// Edits the document directly, for fields without a method.
    pub fn update(&self, f: impl FnOnce(&mut Segment)) {
        self.with_doc(f);
    }

    /// Sends this entity now as an in-progress document (no `end_time`, `in_progress: true`);
    /// the complete document replaces it when the entity ends. For long requests.
    pub fn send_in_progress(&self) {
        let Some(n) = self.recording() else { return };
        if n.is_ended() {
            return;
        }
        let doc = n.snapshot_in_progress();
        n.trace
            .recorder
            .emitter
            .submit(Job::Document(Box::new(doc)));
    }

    /// The `X-Amzn-Trace-Id` value for a call made from this entity: `Parent` is this entity,
    /// `Sampled` the trace's decision, `Lineage` and unknown keys of the incoming header are
    /// passed on. `None` for a no-op entity.
    pub fn trace_header(&self) -> Option<TraceHeader> {
        let h = self.handle.as_ref()?;
        let sampled = if h.recording().is_some() {
            Sampled::Yes
        } else {
            Sampled::No
        };
        Some(match h.incoming() {
            Some(up) => up.for_downstream(h.id(), sampled),
            None => TraceHeader::new(h.trace_id(), Some(h.id()), Some(sampled)),
        })
    }

    /// The W3C `traceparent` value for a call made from this entity.
    pub fn traceparent(&self) -> Option<String> {
        let h = self.handle.as_ref()?;
        Some(crate::propagation::format_traceparent(
            h.trace_id(),
            h.id(),
            h.recording().is_some(),
        ))
    }

    /// Starts a subsegment of this entity. It is not made current: use
    /// [`crate::begin_subsegment`] for that, or [`Entity::scope`] / [`Entity::enter`].
    pub fn child(&self, name: impl Into<Cow<'static, str>>) -> EntityGuard {
        match self.recording() {
            Some(n) => EntityGuard::detached(Handle::Sampled(Node::new_subsegment(n, name.into()))),
            None => EntityGuard::noop(),
        }
    }

    /// Runs `fut` with this entity as its current entity: for futures handed to
    /// `tokio::spawn`, which do not inherit the spawner's task-local context.
    pub fn scope<F: std::future::Future>(
        &self,
        fut: F,
    ) -> impl std::future::Future<Output = F::Output> + use<F> {
        context::scope(self.handle.clone(), fut)
    }

    /// Makes this entity current on this thread (or task) until the returned guard drops:
    /// for threads and `spawn_blocking` closures.
    pub fn enter(&self) -> EnterGuard {
        if let Some(h) = &self.handle {
            context::push(h);
        }
        EnterGuard {
            handle: self.handle.clone(),
        }
    }
}

fn apply_status(d: &mut Segment, status: u16) {
    match status {
        429 => {
            d.error = Some(true);
            d.throttle = Some(true);
        }
        400..=499 => d.error = Some(true),
        500..=599 => d.fault = Some(true),
        _ => {}
    }
}

fn short_type_name<E: ?Sized>() -> String {
    let full = std::any::type_name::<E>();
    if full.starts_with("dyn ") {
        return "Error".to_owned();
    }
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base).to_owned()
}

/// The exception list for `err` and its sources (at most 10; the rest counted in `skipped`).
fn exceptions_from<E: Error + ?Sized>(err: &E, kind: &str, remote: bool) -> Vec<Exception> {
    const MAX: usize = 10;
    let mut out: Vec<Exception> = Vec::new();
    let mut msgs = vec![err.to_string()];
    let mut src = err.source();
    let mut skipped = 0i64;
    while let Some(s) = src {
        if msgs.len() < MAX {
            msgs.push(s.to_string());
        } else {
            skipped += 1;
        }
        src = s.source();
    }
    let ids: Vec<EntityId> = msgs.iter().map(|_| rng::entity_id()).collect();
    for (i, m) in msgs.into_iter().enumerate() {
        out.push(Exception {
            id: Some(ids[i].to_string()),
            message: Some(m),
            kind: (i == 0).then(|| kind.to_owned()),
            remote: remote.then_some(true),
            cause: ids.get(i + 1).map(ToString::to_string),
            skipped: (i + 1 == ids.len() && skipped > 0).then_some(skipped),
            ..Exception::default()
        });
    }
    out
}

/// An open segment or subsegment that ends when dropped (or at [`EntityGuard::end`]).
/// Dereferences to [`Entity`] for annotations, metadata and the rest.
#[derive(Debug)]
pub struct EntityGuard {
    entity: Entity,
    /// Pushed on this thread's or task's context stack (removed when ending).
    current: bool,
}

/// Returned by `begin_segment`.
pub type SegmentGuard = EntityGuard;
/// Returned by `begin_subsegment`.
pub type SubsegmentGuard = EntityGuard;

impl EntityGuard {
    pub(crate) fn noop() -> EntityGuard {
        EntityGuard {
            entity: Entity::default(),
            current: false,
        }
    }

    pub(crate) fn detached(handle: Handle) -> EntityGuard {
        EntityGuard {
            entity: Entity::from_handle(Some(handle)),
            current: false,
        }
    }

    pub(crate) fn current(handle: Handle) -> EntityGuard {
        context::push(&handle);
        EntityGuard {
            entity: Entity::from_handle(Some(handle)),
            current: true,
        }
    }

    pub(crate) fn handle(&self) -> Option<Handle> {
        self.entity.handle.clone()
    }

    /// The entity, to hand to other tasks or threads.
    pub fn entity(&self) -> &Entity {
        &self.entity
    }

    /// Ends the entity now (same as dropping the guard).
    pub fn end(self) {}
}

impl std::ops::Deref for EntityGuard {
    type Target = Entity;
    fn deref(&self) -> &Entity {
        &self.entity
    }
}

impl Drop for EntityGuard {
    fn drop(&mut self) {
        if let Some(h) = self.entity.handle.take() {
            let spare = if self.current {
                context::take(&h)
            } else {
                None
            };
            h.end(spare);
        }
    }
}

/// Keeps an entity current on this thread until dropped; see [`Entity::enter`].
#[derive(Debug)]
pub struct EnterGuard {
    handle: Option<Handle>,
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        if let Some(h) = &self.handle {
            context::remove(h);
        }
    }
}

/// Starts a subsegment of the current entity and makes it current until the guard drops.
/// Without a current segment this follows `AWS_XRAY_CONTEXT_MISSING` (log or ignore) and
/// returns a no-op guard.
pub fn begin_subsegment(name: impl Into<Cow<'static, str>>) -> SubsegmentGuard {
    let mut name = Some(name);
    match context::with_current(|parent| {
        let parent = parent.recording()?;
        name.take()
            .map(|n| Handle::Sampled(Node::new_subsegment(parent, n.into())))
    }) {
        Some(Some(node)) => EntityGuard::current(node),
        Some(None) => EntityGuard::noop(),
        None => {
            crate::recorder::context_missing("begin_subsegment");
            EntityGuard::noop()
        }
    }
}

/// Runs `fut` inside a new subsegment of the current entity, which is current for the
/// future's whole run (across `.await`s) and ends when it completes or is dropped.
pub async fn in_subsegment<F: std::future::Future>(
    name: impl Into<Cow<'static, str>>,
    fut: F,
) -> F::Output {
    let mut name = Some(name);
    let guard = match context::with_current(|parent| {
        let parent = parent.recording()?;
        name.take()
            .map(|n| Handle::Sampled(Node::new_subsegment(parent, n.into())))
    }) {
        Some(Some(node)) => EntityGuard::detached(node),
        Some(None) => EntityGuard::noop(),
        None => {
            crate::recorder::context_missing("in_subsegment");
            EntityGuard::noop()
        }
    };
    match guard.handle() {
        Some(node) => {
            let out = context::scope(Some(node), fut).await;
            drop(guard);
            out
        }
        // Unsampled or no context: keep whatever context the caller has.
        None => fut.await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DaemonAddress, EnvConfig};
    use crate::sampling::LocalRules;

    fn always(sink: &std::net::UdpSocket) -> crate::Recorder {
        crate::Recorder::builder("pool")
            .env(EnvConfig::from_lookup(|_| None))
            .daemon(DaemonAddress::parse(&sink.local_addr().unwrap().to_string()).unwrap())
            .sampling_rules(
                LocalRules::from_json(r#"{"version":2,"default":{"fixed_target":0,"rate":1}}"#)
                    .unwrap(),
            )
            .build()
    }

    /// A plain subsegment's record, written as JSON by the emitter or built into a document,
    /// says what `build` + serde says.
    #[test]
    fn record_json_matches_the_built_document() {
        let sink = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let rec = always(&sink);
        let _seg = rec.begin_segment("plain");
        let node =
            |g: &EntityGuard| Arc::clone(g.handle().as_ref().and_then(Handle::recording).unwrap());
        let sub = crate::begin_subsegment("a\\b/c \u{e9}t\u{e9}");
        sub.annotate("short", "c-42");
        sub.annotate("long", "x\"y\\z\n".repeat(8).as_str());
        sub.annotate("edge", "\u{e9}".repeat(11).as_str());
        sub.annotate("n", 3);
        sub.annotate("f", 2.5);
        sub.annotate("b", true);
        sub.annotate("n", -4);
        sub.annotate("u", u64::MAX);
        sub.annotate("i", i64::MIN);
        let n = node(&sub);
        let end = clock::ticks();
        let data = lock(&n.data).clone();
        let mut records = Records::default();
        assert!(n.record(&data.annotations, end, &mut records));
        let anchor = *n.trace.anchor();
        let built = n.build(data, Some(anchor.epoch_micros(end)));
        let built = serde_json::to_value(&built).unwrap();
        let r = records.iter().next().unwrap();
        let mut out = b"prefix".to_vec();
        r.write_json(&anchor, None, &mut out).unwrap();
        let plain: serde_json::Value = serde_json::from_slice(&out[6..]).unwrap();
        assert_eq!(plain, built);
        assert_eq!(serde_json::to_value(r.document(&anchor)).unwrap(), built);
        assert_eq!(plain["annotations"]["n"], -4);
        assert_eq!(plain["annotations"].as_object().unwrap().len(), 8);
        drop(sub);
    }

    /// Plain subsegments become records and their nodes stay on this thread; one that is not
    /// plain travels as its node, and so does every later one (the closing order is kept).
    #[test]
    fn plain_subsegments_are_recorded_others_kept_as_nodes() {
        let sink = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let rec = always(&sink);
        let seg = rec.begin_segment("mixed");
        let trace = Arc::clone(
            &seg.handle()
                .as_ref()
                .and_then(Handle::recording)
                .unwrap()
                .trace,
        );
        let held = || {
            let st = lock(&trace.state);
            (st.records.len(), st.finished.len(), st.mixed)
        };
        {
            let a = crate::begin_subsegment("a");
            a.annotate("k", 1);
        }
        assert_eq!(held(), (1, 0, false));
        {
            let b = crate::begin_subsegment("b");
            b.mark_error();
        }
        assert_eq!(held(), (1, 1, true));
        drop(crate::begin_subsegment("c"));
        assert_eq!(held(), (1, 2, true));
        drop(seg);
        assert_eq!(held(), (0, 0, true));
    }

    /// A plain subsegment's node is reused on this thread as soon as it closes; the segment's
    /// node, sent by the emitter, comes back with the trace's record buffer and is reused too.
    #[test]
    fn nodes_and_buffers_come_back_and_are_reused() {
        let sink = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let rec = always(&sink);
        let ptr =
            |g: &EntityGuard| Arc::as_ptr(g.handle().as_ref().and_then(Handle::recording).unwrap());
        let seg_ptr;
        {
            let seg = rec.begin_segment("pool");
            seg_ptr = ptr(&seg);
            let mut subs = Vec::new();
            for _ in 0..3 {
                let s = crate::begin_subsegment("work");
                s.annotate("k", "v");
                subs.push(ptr(&s));
            }
            assert!(subs.iter().all(|p| *p == subs[0]), "{subs:?}");
        }
        assert!(rec.flush(std::time::Duration::from_secs(5)));
        let (nodes, bufs) = POOL.with(|p| {
            let p = p.borrow();
            let q = lock(&p.returns.0);
            (q.nodes.len(), q.bufs.len())
        });
        assert_eq!((nodes, bufs), (1, 1));
        // The pool still holds the subsegments' node, then the segment's comes back.
        let a = rec.begin_segment("pool");
        let b = rec.begin_segment("pool");
        assert!([ptr(&a), ptr(&b)].contains(&seg_ptr));
        assert!(!b.handle().unwrap().is_ended());
        assert!(b.is_sampled());
    }
}

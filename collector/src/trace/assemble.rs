//! Documents of one trace → the assembled trace.
//!
//! Every document, and every subsegment embedded in one, is an *occurrence* of an entity id.
//! The same id can occur several times (an in-progress document and its complete replacement,
//! a subsegment streamed on its own and also embedded in its parent, a store that kept a
//! duplicate); one occurrence per id wins ([`better`]): a complete occurrence beats an
//! in-progress one, between two complete ones the later `end_time` wins, and a total order on
//! the rest keeps the choice independent of arrival order.
//!
//! The trees are then rebuilt from the winners: an entity's children are the subsegments
//! embedded in its winning occurrence, in the order sent, followed by the independent
//! subsegments whose `parent_id` names it, by start time then id. An embedded subsegment's
//! parent is the entity it is embedded in (Go writes the *root* segment's id in embedded
//! `parent_id`s, so that member is not used for embedded subsegments). Each id is placed once.
//! Segments (top-level documents without `"type": "subsegment"`) are the roots; independent
//! subsegments that cannot be reached from a segment become orphans.
//!
//! Nothing in a document is changed except its `subsegments` member; the inferred segments of
//! [`super::inferred`] are appended at the end.

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use std::cell::RefCell;
use std::cmp::Ordering;

use fluoro_proto::ids::TraceId;
use fluoro_proto::segment::Segment;

use super::AssembledTrace;
use super::inferred;

/// Assembles one trace from every top-level document the store holds for it (segments and
/// independent subsegments, in any order, duplicates allowed).
pub fn assemble(id: TraceId, docs: Vec<Segment>) -> AssembledTrace {
    if already_assembled(&docs) {
        return finish(id, docs, Vec::new());
    }
    assemble_general(id, docs)
}

/// True when the documents are their own assembly: no independent subsegment, and no entity id
/// occurring twice (top level or embedded, at any depth). Then every entity wins with its only
/// occurrence, its children are the subsegments embedded in it in the order sent, and nothing
/// is an orphan: rebuilding the trees would give the documents back unchanged. That is nearly
/// every trace (each service sends its segment with its subsegments embedded), and skipping the
/// rebuild halved assembly's cost in the aggregator (docs/benchmarks.md).
pub(super) fn already_assembled(docs: &[Segment]) -> bool {
    fn ids<'a>(seg: &'a Segment, out: &mut Vec<&'a str>) {
        if let Some(id) = seg.id.as_deref() {
            out.push(id);
        }
        for s in seg.subsegments.iter().flatten() {
            ids(s, out);
        }
    }
    if docs.iter().any(Segment::is_subsegment) {
        return false;
    }
    let mut all = Vec::with_capacity(4 * docs.len());
    for d in docs {
        ids(d, &mut all);
    }
    all.sort_unstable();
    all.windows(2).all(|w| w[0] != w[1])
}

/// The last steps of both paths: inferred segments appended, segments in order.
fn finish(id: TraceId, mut segments: Vec<Segment>, orphans: Vec<Segment>) -> AssembledTrace {
    let trace_id = id.to_string();
    segments.extend(inferred::inferred_segments(&segments, &trace_id));
    sort_segments(&mut segments);
    AssembledTrace {
        id,
        segments,
        orphans,
    }
}

/// [`assemble`] for any input: every occurrence of every id, winners chosen, trees rebuilt.
pub(super) fn assemble_general(id: TraceId, docs: Vec<Segment>) -> AssembledTrace {
    let arena = Arena::explode(docs);
    let mut b = Builder::new(&arena);

    // Segment roots: ids with a top-level occurrence that is not an independent subsegment,
    // plus top-level segments without an id (kept as they are). They are reserved first, so
    // that a segment is never nested as somebody's child.
    let mut roots: Vec<usize> = Vec::new();
    let mut seen_ids: HashSet<&str> = HashSet::new();
    for (i, o) in arena.occ.iter().enumerate() {
        if !o.top_level || o.independent {
            continue;
        }
        match o.id.as_deref() {
            Some(id) => {
                if seen_ids.insert(id) {
                    roots.push(b.winner(id));
                    b.placed.insert(id);
                }
            }
            None => roots.push(i),
        }
    }
    sort_occurrences(&arena, &mut roots);
    let segments: Vec<Segment> = roots.into_iter().map(|r| b.build(r)).collect();

    // Orphans: independent subsegments not reached from any segment. Each walks up its parent
    // chain through other unplaced entities, so that a chain of orphans nests as one tree.
    let mut pending: Vec<usize> = Vec::new();
    let mut pending_ids: HashSet<&str> = HashSet::new();
    for (i, o) in arena.occ.iter().enumerate() {
        if !o.top_level || !o.independent {
            continue;
        }
        match o.id.as_deref() {
            Some(id) => {
                if pending_ids.insert(id) {
                    pending.push(b.winner(id));
                }
            }
            None => pending.push(i),
        }
    }
    sort_occurrences(&arena, &mut pending);
    let mut orphans = Vec::new();
    for occ in pending {
        let Some(id) = arena.occ[occ].id.as_deref() else {
            orphans.push(b.build(occ));
            continue;
        };
        if b.placed.contains(id) {
            continue;
        }
        let root = b.orphan_root(id);
        b.placed.insert(root);
        orphans.push(b.build(b.winner(root)));
    }
    sort_segments(&mut orphans);
    finish(id, segments, orphans)
}

/// One occurrence of an entity: a top-level document or an embedded subsegment.
///
/// The document itself is moved out when its tree is built (each occurrence is built at most
/// once), so assembly copies no document; what ordering and linking need is kept beside it.
struct Occurrence {
    /// The document with `subsegments` taken out, until it is built.
    seg: RefCell<Option<Segment>>,
    /// Its `id`.
    id: Option<String>,
    /// Its `parent_id`.
    parent_id: Option<String>,
    /// `"type": "subsegment"`.
    independent: bool,
    /// `start_time`, missing as +inf (ordering).
    start: f64,
    /// `start_time`, missing as -inf (choosing between copies).
    begin: f64,
    /// `end_time`, missing as -inf.
    end: f64,
    /// Complete (see [`is_complete`]).
    complete: bool,
    /// Whether the document had a `subsegments` member (kept, even if empty, when rebuilt).
    had_subsegments: bool,
    /// Occurrences embedded in this one, in document order.
    children: Vec<usize>,
    /// The occurrence this one is embedded in.
    container: Option<usize>,
    /// A document of its own (as opposed to embedded).
    top_level: bool,
}

struct Arena {
    occ: Vec<Occurrence>,
    by_id: HashMap<String, Vec<usize>>,
}

impl Arena {
    fn explode(docs: Vec<Segment>) -> Arena {
        let mut arena = Arena {
            occ: Vec::new(),
            by_id: HashMap::new(),
        };
        for doc in docs {
            arena.push(doc, None);
        }
        arena
    }

    fn push(&mut self, mut seg: Segment, container: Option<usize>) -> usize {
        let subs = seg.subsegments.take();
        let idx = self.occ.len();
        if let Some(id) = &seg.id {
            self.by_id.entry(id.clone()).or_default().push(idx);
        }
        let secs =
            |t: &Option<fluoro_proto::segment::Timestamp>| t.as_ref().map(|t| t.as_secs_f64());
        self.occ.push(Occurrence {
            id: seg.id.clone(),
            parent_id: seg.parent_id.clone(),
            independent: seg.is_subsegment(),
            start: start_key(&seg),
            begin: secs(&seg.start_time).unwrap_or(f64::NEG_INFINITY),
            end: secs(&seg.end_time).unwrap_or(f64::NEG_INFINITY),
            complete: is_complete(&seg),
            seg: RefCell::new(Some(seg)),
            had_subsegments: subs.is_some(),
            children: Vec::new(),
            container,
            top_level: container.is_none(),
        });
        let children: Vec<usize> = subs
            .into_iter()
            .flatten()
            .map(|s| self.push(s, Some(idx)))
            .collect();
        self.occ[idx].children = children;
        idx
    }
}

/// A document is complete when it has an `end_time` and is not marked in progress.
pub(super) fn is_complete(seg: &Segment) -> bool {
    seg.in_progress != Some(true) && seg.end_time.is_some()
}

/// The two documents' text, compared by length then content: the last tie-break, reached only
/// for duplicates or anonymous documents (a document already moved out compares equal).
fn text_order(a: &Occurrence, b: &Occurrence) -> Ordering {
    let (a, b) = (a.seg.borrow(), b.seg.borrow());
    match (a.as_ref(), b.as_ref()) {
        (Some(a), Some(b)) => {
            let (ja, jb) = (a.to_json(), b.to_json());
            ja.len().cmp(&jb.len()).then_with(|| ja.cmp(&jb))
        }
        _ => Ordering::Equal,
    }
}

/// Which of two occurrences of the same id wins: `Greater` when `a` does.
fn better(a: &Occurrence, b: &Occurrence) -> Ordering {
    a.complete
        .cmp(&b.complete)
        .then_with(|| a.end.total_cmp(&b.end))
        .then_with(|| a.begin.total_cmp(&b.begin))
        // Same completeness and times: any total order will do, as long as it does not depend
        // on arrival order. Prefer the occurrence that says more, then the larger text.
        .then_with(|| text_order(a, b))
}

/// Start time for ordering: missing sorts last.
pub(super) fn start_key(seg: &Segment) -> f64 {
    seg.start_time
        .as_ref()
        .map_or(f64::INFINITY, |t| t.as_secs_f64())
}

/// Orders documents by start time, then id, then text (only reached for duplicate-free input
/// that still ties, e.g. two anonymous documents).
pub(super) fn order(a: &Segment, b: &Segment) -> Ordering {
    start_key(a)
        .total_cmp(&start_key(b))
        .then_with(|| a.id.cmp(&b.id))
        .then_with(|| a.to_json().cmp(&b.to_json()))
}

fn sort_segments(segs: &mut [Segment]) {
    segs.sort_by(order);
}

/// [`order`] for occurrences.
fn order_occ(a: &Occurrence, b: &Occurrence) -> Ordering {
    a.start
        .total_cmp(&b.start)
        .then_with(|| a.id.cmp(&b.id))
        .then_with(|| text_order(a, b))
}

fn sort_occurrences(arena: &Arena, occs: &mut [usize]) {
    occs.sort_by(|&a, &b| order_occ(&arena.occ[a], &arena.occ[b]));
}

struct Builder<'a> {
    arena: &'a Arena,
    winners: HashMap<&'a str, usize>,
    /// Parent id → ids of independent subsegments naming it, by start time then id.
    independent: HashMap<&'a str, Vec<&'a str>>,
    /// Ids already placed in some tree (or reserved for a segment root).
    placed: HashSet<&'a str>,
}

impl<'a> Builder<'a> {
    fn new(arena: &'a Arena) -> Builder<'a> {
        let winners: HashMap<&str, usize> = arena
            .by_id
            .iter()
            .map(|(id, occs)| {
                let best = occs
                    .iter()
                    .copied()
                    .max_by(|&a, &b| better(&arena.occ[a], &arena.occ[b]))
                    .unwrap_or(occs[0]);
                (id.as_str(), best)
            })
            .collect();
        let mut independent: HashMap<&str, Vec<&str>> = HashMap::new();
        for o in &arena.occ {
            if !o.top_level || !o.independent {
                continue;
            }
            if let (Some(id), Some(parent)) = (o.id.as_deref(), o.parent_id.as_deref()) {
                let list = independent.entry(parent).or_default();
                if !list.contains(&id) {
                    list.push(id);
                }
            }
        }
        for list in independent.values_mut() {
            list.sort_by(|a, b| order_occ(&arena.occ[winners[a]], &arena.occ[winners[b]]));
        }
        Builder {
            arena,
            winners,
            independent,
            placed: HashSet::new(),
        }
    }

    fn winner(&self, id: &str) -> usize {
        self.winners[id]
    }

    /// Rebuilds the tree of an occurrence (the winner of its id, or an anonymous one).
    fn build(&mut self, occ: usize) -> Segment {
        let arena = self.arena;
        let o = &arena.occ[occ];
        // Each occurrence is built at most once (every id is placed once), so it can be moved.
        let mut seg = o.seg.borrow_mut().take().unwrap_or_default();
        let mut kids = Vec::new();
        for &c in &o.children {
            match arena.occ[c].id.as_deref() {
                Some(cid) => {
                    if self.placed.insert(cid) {
                        let w = self.winner(cid);
                        kids.push(self.build(w));
                    }
                }
                None => kids.push(self.build(c)),
            }
        }
        if let Some(id) = o.id.as_deref() {
            let independent = self.independent.get(id).cloned().unwrap_or_default();
            for cid in independent {
                if self.placed.insert(cid) {
                    let w = self.winner(cid);
                    kids.push(self.build(w));
                }
            }
        }
        if !kids.is_empty() || o.had_subsegments {
            seg.subsegments = Some(kids);
        }
        seg
    }

    /// The parent id of an entity: the entity its winning occurrence is embedded in, or the
    /// `parent_id` of an independent document.
    fn parent_of(&self, id: &str) -> Option<&'a str> {
        let o = &self.arena.occ[self.winner(id)];
        match o.container {
            Some(c) => self.arena.occ[c].id.as_deref(),
            None => o.parent_id.as_deref(),
        }
    }

    /// Walks up from an unplaced entity through unplaced, known parents; returns the topmost.
    fn orphan_root(&self, id: &'a str) -> &'a str {
        let mut cur = id;
        let mut walked = HashSet::new();
        walked.insert(id);
        while let Some(p) = self.parent_of(cur) {
            if !self.winners.contains_key(p) || self.placed.contains(p) || !walked.insert(p) {
                break;
            }
            cur = p;
        }
        cur
    }
}

//! A flattened, indexed view of an assembled trace: every entity (segment or subsegment, at any
//! depth, orphans included) with the segment it belongs to, its children, the segments
//! downstream of it, and the trace's root segment.

use foldhash::{HashMap, HashMapExt};

use fluoro_proto::segment::Segment;

use super::AssembledTrace;

/// One segment or subsegment of the trace.
pub(super) struct Entity<'a> {
    pub(super) seg: &'a Segment,
    /// Index in `AssembledTrace::segments` of the segment it belongs to; `None` for orphans.
    pub(super) owner: Option<usize>,
    /// A top-level segment (as opposed to a subsegment).
    pub(super) is_segment: bool,
    /// Embedded subsegments (entity indices), in document order.
    pub(super) children: Vec<usize>,
}

pub(super) struct View<'a> {
    pub(super) trace: &'a AssembledTrace,
    pub(super) entities: Vec<Entity<'a>>,
    /// Entity index of each `AssembledTrace::segments` element.
    pub(super) segment_entity: Vec<usize>,
    /// Entities of the segment trees (not orphans) by id.
    pub(super) by_id: HashMap<&'a str, usize>,
    /// Parent id → entity indices of the segments naming it as `parent_id`, in segment order.
    pub(super) downstream: HashMap<&'a str, Vec<usize>>,
    /// Index in `AssembledTrace::segments` of the root segment.
    pub(super) root: Option<usize>,
    /// The root is a segment without `parent_id` (otherwise it was chosen as the earliest
    /// segment, and the trace is partial).
    pub(super) root_is_true: bool,
}

impl<'a> View<'a> {
    pub(super) fn new(trace: &'a AssembledTrace) -> View<'a> {
        // Sized for a few subsegments per document, so the maps rarely grow while filled.
        let guess = 4 * (trace.segments.len() + trace.orphans.len());
        let mut v = View {
            trace,
            entities: Vec::with_capacity(guess),
            segment_entity: Vec::with_capacity(trace.segments.len()),
            by_id: HashMap::with_capacity(guess),
            downstream: HashMap::with_capacity(trace.segments.len()),
            root: None,
            root_is_true: false,
        };
        for (i, seg) in trace.segments.iter().enumerate() {
            let e = v.add(seg, Some(i), true);
            v.segment_entity.push(e);
            if let Some(p) = seg.parent_id.as_deref() {
                v.downstream.entry(p).or_default().push(e);
            }
        }
        for seg in &trace.orphans {
            v.add(seg, None, false);
        }
        // Segments are sorted by start time, so the first match is the earliest.
        let real = |s: &&Segment| s.inferred != Some(true);
        let candidates = trace.segments.iter().enumerate().filter(|(_, s)| real(s));
        v.root = candidates
            .clone()
            .find(|(_, s)| s.parent_id.is_none())
            .map(|(i, _)| i);
        v.root_is_true = v.root.is_some();
        if v.root.is_none() {
            v.root = candidates.map(|(i, _)| i).next();
        }
        v
    }

    fn add(&mut self, seg: &'a Segment, owner: Option<usize>, is_segment: bool) -> usize {
        let idx = self.entities.len();
        self.entities.push(Entity {
            seg,
            owner,
            is_segment,
            children: Vec::new(),
        });
        if owner.is_some()
            && let Some(id) = seg.id.as_deref()
        {
            self.by_id.entry(id).or_insert(idx);
        }
        let children: Vec<usize> = seg
            .subsegments
            .iter()
            .flatten()
            .map(|c| self.add(c, owner, false))
            .collect();
        self.entities[idx].children = children;
        idx
    }

    /// The root segment.
    pub(super) fn root_segment(&self) -> Option<&'a Segment> {
        self.root.map(|i| &self.trace.segments[i])
    }

    /// Children of an entity across services: its subsegments, then the segments downstream
    /// of it.
    pub(super) fn tree_children(&self, e: usize) -> Vec<usize> {
        let mut out = self.entities[e].children.clone();
        if let Some(id) = self.entities[e].seg.id.as_deref()
            && let Some(d) = self.downstream.get(id)
        {
            out.extend(d.iter().copied().filter(|&s| s != e));
        }
        out
    }

    /// Segments that start a tree: no parent, or a parent not in the segment trees.
    pub(super) fn tree_roots(&self) -> Vec<usize> {
        self.segment_entity
            .iter()
            .copied()
            .filter(|&e| {
                self.entities[e]
                    .seg
                    .parent_id
                    .as_deref()
                    .is_none_or(|p| !self.by_id.contains_key(p))
            })
            .collect()
    }
}

//! Root-cause analysis (xray-api.md §5.3, **[design]**: AWS publishes no algorithm).
//!
//! The trace is walked as one tree across services: an entity's children are its subsegments
//! followed by the segments whose `parent_id` names it (downstream services, inferred ones
//! included). Walks start at every segment whose parent is not in the trace, the root first.
//!
//! Fault (error) root causes: a *culprit* is a faulted (errored) entity with no faulted
//! (errored) entity anywhere below it, so a fault that travelled up through entities that do
//! not carry the flag themselves (Node's custom `render` subsegment between a 502 response and
//! the 500 it got from downstream) is still traced to its origin. One root cause per distinct
//! path from the tree's top to a culprit; identical paths are reported once. The path is split
//! into one `Services` element per segment crossed (`Name`/`Names`/`Type`/`AccountId` from
//! [`service_id`], `Inferred` for inferred segments); each element's `EntityPath` lists the
//! entities traversed in that service, segment first. Every entity carries `Remote` (a
//! subsegment with namespace `aws`/`remote`, or one of its exceptions marked remote) and
//! `Exceptions` (`type` → `Name`, `message` → `Message`) when it carries the flag itself (an
//! empty list otherwise); a `cause` that only references an exception recorded elsewhere in the
//! trace (Java's bare id, Node's `{"id"}`) is resolved. `ClientImpacting` is true when the walk
//! started at the root segment and the root segment carries the flag.
//!
//! Response-time root cause: one per trace with a complete root. From the root, repeatedly
//! descend into the child that took longest, while its `Coverage` (duration ÷ the root's
//! response time) is at least [`COVERAGE_THRESHOLD`]. Same `Services` grouping; entities carry
//! `Coverage` and `Remote`.

use foldhash::{HashMap, HashMapExt};

use fluoro_proto::api::{
    ErrorRootCause, FaultRootCause, ResponseTimeRootCause, ResponseTimeRootCauseEntity, RootCause,
    RootCauseEntity, RootCauseException, RootCauseService,
};
use fluoro_proto::segment::{Cause, Exception, Segment};

use super::assemble::is_complete;
use super::summary::{is_errored, is_faulted, service_id};
use super::view::View;

/// A child is followed by the response-time analysis while it covers at least this share of
/// the root's response time.
pub(super) const COVERAGE_THRESHOLD: f64 = 0.5;

pub(super) struct RootCauses {
    pub(super) fault: Vec<FaultRootCause>,
    pub(super) error: Vec<ErrorRootCause>,
    pub(super) response_time: Vec<ResponseTimeRootCause>,
}

pub(super) fn root_causes(view: &View<'_>) -> RootCauses {
    let exceptions = exception_index(view);
    RootCauses {
        fault: flagged_causes(view, &exceptions, is_faulted),
        error: flagged_causes(view, &exceptions, is_errored),
        response_time: response_time_cause(view).into_iter().collect(),
    }
}

type ExceptionIndex<'a> = HashMap<&'a str, &'a Exception>;

fn exception_index<'a>(view: &View<'a>) -> ExceptionIndex<'a> {
    let mut out = HashMap::new();
    for e in &view.entities {
        if let Some(Cause::Details(d)) = e.seg.cause.as_deref() {
            for x in d.exceptions.iter().flatten() {
                if let Some(id) = x.id.as_deref() {
                    out.entry(id).or_insert(x);
                }
            }
        }
    }
    out
}

/// The exceptions an entity recorded, references resolved.
fn exceptions_of<'a>(seg: &'a Segment, index: &ExceptionIndex<'a>) -> Vec<&'a Exception> {
    match seg.cause.as_deref() {
        Some(Cause::Details(d)) => match d.exceptions.as_deref() {
            Some(list) if !list.is_empty() => list.iter().collect(),
            _ => {
                d.id.as_deref()
                    .and_then(|id| index.get(id).copied())
                    .into_iter()
                    .collect()
            }
        },
        Some(Cause::ExceptionId(id)) => index.get(id.as_str()).copied().into_iter().collect(),
        None => Vec::new(),
    }
}

fn is_remote(seg: &Segment, exceptions: &[&Exception]) -> bool {
    matches!(seg.namespace.as_deref(), Some("aws" | "remote"))
        || exceptions.iter().any(|x| x.remote == Some(true))
}

fn flagged_causes(
    view: &View<'_>,
    index: &ExceptionIndex<'_>,
    flagged: fn(&Segment) -> bool,
) -> Vec<RootCause<RootCauseEntity>> {
    let n = view.entities.len();
    // below[e]: some entity strictly below e is flagged (memoised, cycle-safe).
    let mut below: Vec<Option<bool>> = vec![None; n];
    let mut out: Vec<RootCause<RootCauseEntity>> = Vec::new();
    let root_entity = view.root.map(|r| view.segment_entity[r]);
    let mut tops = view.tree_roots();
    // The root first, so its causes come first.
    if let Some(r) = root_entity
        && let Some(pos) = tops.iter().position(|&t| t == r)
    {
        tops.remove(pos);
        tops.insert(0, r);
    }
    let mut visited = vec![false; n];
    for top in tops {
        let client = Some(top) == root_entity && flagged(view.entities[top].seg);
        let mut path = Vec::new();
        walk_flagged(
            view,
            top,
            flagged,
            &mut below,
            &mut visited,
            &mut path,
            &mut |path| {
                let cause = RootCause {
                    services: Some(services(view, path, |e| {
                        let seg = view.entities[e].seg;
                        let xs = exceptions_of(seg, index);
                        RootCauseEntity {
                            name: seg.name.clone(),
                            exceptions: Some(if flagged(seg) {
                                xs.iter()
                                    .map(|x| RootCauseException {
                                        name: x.kind.clone(),
                                        message: x.message.clone(),
                                    })
                                    .collect()
                            } else {
                                Vec::new()
                            }),
                            remote: Some(is_remote(seg, &xs)),
                        }
                    })),
                    client_impacting: Some(client),
                };
                if !out.contains(&cause) {
                    out.push(cause);
                }
            },
        );
    }
    out
}

/// Depth-first walk; calls `found` with the path (entity indices from the top) of every
/// culprit.
fn walk_flagged(
    view: &View<'_>,
    e: usize,
    flagged: fn(&Segment) -> bool,
    below: &mut [Option<bool>],
    visited: &mut [bool],
    path: &mut Vec<usize>,
    found: &mut dyn FnMut(&[usize]),
) {
    if visited[e] {
        return;
    }
    visited[e] = true;
    path.push(e);
    let has_below = flagged_below(view, e, flagged, below);
    if flagged(view.entities[e].seg) && !has_below {
        found(path);
    } else if has_below {
        for c in view.tree_children(e) {
            walk_flagged(view, c, flagged, below, visited, path, found);
        }
    }
    path.pop();
}

fn flagged_below(
    view: &View<'_>,
    e: usize,
    flagged: fn(&Segment) -> bool,
    below: &mut [Option<bool>],
) -> bool {
    if let Some(v) = below[e] {
        return v;
    }
    // Provisional answer breaks cycles (a parent_id loop between segments).
    below[e] = Some(false);
    let mut any = false;
    for c in view.tree_children(e) {
        let c_flagged = flagged(view.entities[c].seg);
        if c_flagged | flagged_below(view, c, flagged, below) {
            any = true;
        }
    }
    below[e] = Some(any);
    any
}

/// Splits a path into one element per service (segment) crossed.
fn services<E>(
    view: &View<'_>,
    path: &[usize],
    mut entity: impl FnMut(usize) -> E,
) -> Vec<RootCauseService<E>> {
    let mut out: Vec<RootCauseService<E>> = Vec::new();
    for &e in path {
        let ent = &view.entities[e];
        if ent.is_segment || out.is_empty() {
            let owner = ent.owner.map(|o| &view.trace.segments[o]);
            let sid = owner.map(service_id).unwrap_or_default();
            out.push(RootCauseService {
                name: sid.name,
                names: sid.names,
                r#type: sid.r#type,
                account_id: sid.account_id,
                entity_path: Some(Vec::new()),
                inferred: Some(owner.is_some_and(|s| s.inferred == Some(true))),
            });
        }
        if let Some(last) = out.last_mut() {
            last.entity_path
                .get_or_insert_with(Vec::new)
                .push(entity(e));
        }
    }
    out
}

fn duration(seg: &Segment) -> Option<f64> {
    if !is_complete(seg) {
        return None;
    }
    Some(seg.end_time.as_ref()?.as_secs_f64() - seg.start_time.as_ref()?.as_secs_f64())
}

fn response_time_cause(view: &View<'_>) -> Option<ResponseTimeRootCause> {
    let root = view.segment_entity[view.root?];
    let total = duration(view.entities[root].seg).filter(|&d| d > 0.0)?;
    let mut path = vec![root];
    let mut cur = root;
    loop {
        let mut best: Option<(usize, f64)> = None;
        for c in view.tree_children(cur) {
            if path.contains(&c) {
                continue;
            }
            if let Some(d) = duration(view.entities[c].seg)
                && best.is_none_or(|(_, b)| d > b)
            {
                best = Some((c, d));
            }
        }
        match best {
            Some((c, d)) if d / total >= COVERAGE_THRESHOLD => {
                path.push(c);
                cur = c;
            }
            _ => break,
        }
    }
    Some(RootCause {
        services: Some(services(view, &path, |e| {
            let seg = view.entities[e].seg;
            let xs = exceptions_of(seg, &HashMap::new());
            ResponseTimeRootCauseEntity {
                name: seg.name.clone(),
                coverage: duration(seg).map(|d| d / total),
                remote: Some(is_remote(seg, &xs)),
            }
        })),
        client_impacting: Some(true),
    })
}

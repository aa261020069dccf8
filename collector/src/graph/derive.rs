//! Assembled trace → [`GraphContribution`], following spec §4.3.

use foldhash::{HashMap, HashMapExt};

use fluoro_proto::segment::Segment;

use super::contribution::{EdgeStats, GraphContribution, NodeKey, NodeStats, Outcome};
use super::histogram::{Histogram, micros_of_secs};
use crate::trace::AssembledTrace;

/// The service-graph data of one assembled trace (spec §4.3 steps 1–7).
///
/// - Every top-level segment is a record of the node [`node_key`] gives it: instrumented
///   segments make `active` nodes, the inferred segments the assembler appended make `unknown`
///   ones.
/// - A segment whose `parent_id` names an entity of the trace (segment or subsegment, any depth)
///   adds an edge from the node of the segment holding that entity to its own node, unless both
///   are the same node. The edge record is the calling subsegment when the parent is one (the
///   caller's view: its timing and status), else the segment itself.
/// - A segment with no `parent_id` is a root: its node gets `Root`, and a `client` node named
///   after it gets an edge to it whose record is the root segment.
/// - A segment whose parent is not in the trace (lost or not yet arrived) gets no edge, is not
///   a root and gets no client node. Orphan subsegments add nothing.
/// - Aliases: when the calling subsegment is `namespace: remote` and its name differs from the
///   target node's (a host name such as `127.0.0.1` for an instrumented service), the edge
///   records the alias (`Name` = the subsegment name, `Type` = `remote`).
///
/// Records still in progress make nodes and edges exist but add nothing to the statistics or
/// histograms ("completed requests").
pub fn contribution(trace: &AssembledTrace) -> GraphContribution {
    let mut g = GraphContribution::new();
    let segments = &trace.segments;

    // Entity id → (index of the top-level segment holding it, the subsegment if it is one).
    let mut owners: HashMap<&str, (usize, Option<&Segment>)> =
        HashMap::with_capacity(4 * segments.len());
    for (i, seg) in segments.iter().enumerate() {
        if let Some(id) = seg.id.as_deref() {
            owners.entry(id).or_insert((i, None));
        }
        for sub in seg.subsegments.iter().flatten() {
            sub.walk(&mut |e| {
                if let Some(id) = e.id.as_deref() {
                    owners.entry(id).or_insert((i, Some(e)));
                }
            });
        }
    }

    let keys: Vec<NodeKey> = segments.iter().map(node_key).collect();
    for (i, seg) in segments.iter().enumerate() {
        let key = &keys[i];
        let node = g.nodes.entry(key.clone()).or_default();
        add_node_record(node, seg, seg.inferred != Some(true));

        match seg.parent_id.as_deref().filter(|p| !p.is_empty()) {
            None => {
                node.roots += 1;
                let client = NodeKey::client(key.name.clone());
                let client_node = g.nodes.entry(client.clone()).or_default();
                client_node.records += 1;
                extend_times(&mut client_node.start, &mut client_node.end, seg);
                let edge = g.edges.entry((client, key.clone())).or_default();
                add_edge_record(edge, seg, None);
            }
            Some(parent) => {
                let Some(&(owner, sub)) = owners.get(parent) else {
                    continue;
                };
                if keys[owner] == *key {
                    continue;
                }
                let data = sub.unwrap_or(seg);
                let alias = sub.and_then(|u| alias_of(u, key));
                let edge = g
                    .edges
                    .entry((keys[owner].clone(), key.clone()))
                    .or_default();
                add_edge_record(edge, data, alias);
            }
        }
    }
    g
}

/// The node a top-level segment belongs to (spec §4.3 steps 1–2, §4.4): the identity
/// [`crate::trace::service_id`] gives it, shared with the trace summaries' `ServiceIds`.
///
/// - An instrumented segment: (`name`, `origin` verbatim or none, `aws.account_id`).
/// - An inferred segment (made by the assembler from the calling subsegment, with the
///   canonical service name and the resource type as `origin`): named after its resource for
///   resource types (`AWS::DynamoDB::Table` → the table), else after itself (`SNS`, a host).
pub fn node_key(seg: &Segment) -> NodeKey {
    let id = crate::trace::service_id(seg);
    NodeKey {
        name: id.name.unwrap_or_default(),
        r#type: id.r#type,
        account_id: id.account_id,
    }
}

fn alias_of(caller: &Segment, target: &NodeKey) -> Option<NodeKey> {
    let name = caller.name.as_deref()?;
    (caller.namespace.as_deref() == Some("remote") && name != target.name)
        .then(|| NodeKey::new(name, Some("remote")))
}

/// Start/end seconds of a completed entity; `None` while in progress.
fn completed_span(e: &Segment) -> Option<(f64, f64)> {
    if e.in_progress == Some(true) {
        return None;
    }
    let start = e.start_time.as_ref()?.as_secs_f64();
    let end = e.end_time.as_ref()?.as_secs_f64();
    (start.is_finite() && end.is_finite()).then_some((start, end))
}

/// Classification of a completed record (spec §4.3 step 5: fault > throttle > error > ok,
/// from the flags or the HTTP status).
pub(crate) fn outcome(e: &Segment) -> Outcome {
    let status = e
        .http
        .as_deref()
        .and_then(|h| h.response.as_ref())
        .and_then(|r| r.status.as_ref())
        .and_then(|s| s.as_i64());
    let flag = |f: Option<bool>| f == Some(true);
    if flag(e.fault) || status.is_some_and(|s| (500..600).contains(&s)) {
        Outcome::Fault
    } else if flag(e.throttle) || status == Some(429) {
        Outcome::Throttle
    } else if flag(e.error) || status.is_some_and(|s| (400..500).contains(&s)) {
        Outcome::Error
    } else {
        Outcome::Ok
    }
}

fn extend_times(start: &mut Option<f64>, end: &mut Option<f64>, e: &Segment) {
    if let Some(s) = e
        .start_time
        .as_ref()
        .map(|t| t.as_secs_f64())
        .filter(|s| s.is_finite())
    {
        *start = Some(start.map_or(s, |x| x.min(s)));
    }
    if e.in_progress != Some(true)
        && let Some(t) = e
            .end_time
            .as_ref()
            .map(|t| t.as_secs_f64())
            .filter(|t| t.is_finite())
    {
        *end = Some(end.map_or(t, |x| x.max(t)));
    }
}

fn add_node_record(node: &mut NodeStats, seg: &Segment, instrumented: bool) {
    node.records += 1;
    if instrumented {
        node.instrumented += 1;
    }
    extend_times(&mut node.start, &mut node.end, seg);
    let Some((start, end)) = completed_span(seg) else {
        return;
    };
    let rt = micros_of_secs(end - start);
    node.counters.record(outcome(seg), rt);
    node.response_time.record_micros(rt);
    // Duration: until the last thing the segment did ends (async work may outlive the response).
    let mut last = end;
    for sub in seg.subsegments.iter().flatten() {
        sub.walk(&mut |e| {
            if let Some(t) = e.end_time.as_ref().map(|t| t.as_secs_f64())
                && t.is_finite()
            {
                last = last.max(t);
            }
        });
    }
    node.duration
        .add_to_bucket(Histogram::bucket_of_micros(micros_of_secs(last - start)), 1);
}

fn add_edge_record(edge: &mut EdgeStats, data: &Segment, alias: Option<NodeKey>) {
    edge.records += 1;
    extend_times(&mut edge.start, &mut edge.end, data);
    if let Some(a) = alias {
        *edge.aliases.entry(a).or_insert(0) += 1;
    }
    if let Some((start, end)) = completed_span(data) {
        let rt = micros_of_secs(end - start);
        edge.counters.record(outcome(data), rt);
        edge.response_time.record_micros(rt);
    }
}

//! [`GraphContribution`] → the API's `Service` list (spec §4.3 steps 7–9, §7).

use std::collections::{BTreeMap, HashMap};

use fluoro_proto::api::{Alias, EpochSeconds, Service};

use super::contribution::{GraphContribution, NodeKey};
use super::derive::contribution;
use crate::trace::AssembledTrace;

/// The nodes of `g` as `GetServiceGraph` returns them.
///
/// - `ReferenceId`s are 0..n-1 in node-key order (name, then type with "no type" first, then
///   account), so the same data always renders the same ids.
/// - `Names` = `[Name]`; `Root: true` only on nodes with a root segment (omitted otherwise);
///   `State` `active` for instrumented services, `unknown` for client and inferred nodes.
/// - Client nodes carry no `SummaryStatistics` and no histograms; every other node carries
///   both histograms, even when empty (`[]`, e.g. all its segments in progress).
/// - `Edges` sorted by target `ReferenceId`, `[]` for leaves; every edge carries `Aliases` and
///   `ResponseTimeHistogram` (possibly `[]`). Edge `SummaryStatistics` is always written.
/// - A client node is only listed with at least one edge (Grafana reads its statistics from
///   `Edges[0]`); an edge whose endpoint is not a node is dropped.
pub fn to_services(g: &GraphContribution) -> Vec<fluoro_proto::api::Service> {
    let mut outgoing: BTreeMap<&NodeKey, usize> = BTreeMap::new();
    for (src, dst) in g.edges.keys() {
        if g.nodes.contains_key(src) && g.nodes.contains_key(dst) {
            *outgoing.entry(src).or_insert(0) += 1;
        }
    }
    let listed: Vec<&NodeKey> = g
        .nodes
        .keys()
        .filter(|k| !k.is_client() || outgoing.contains_key(k))
        .collect();
    let ids: HashMap<&NodeKey, i32> = listed
        .iter()
        .enumerate()
        .map(|(i, k)| (*k, i32::try_from(i).unwrap_or(i32::MAX)))
        .collect();

    let mut edges_of: HashMap<&NodeKey, Vec<fluoro_proto::api::Edge>> = HashMap::new();
    for ((src, dst), e) in &g.edges {
        let (Some(_), Some(&target)) = (ids.get(src), ids.get(dst)) else {
            continue;
        };
        edges_of
            .entry(src)
            .or_default()
            .push(fluoro_proto::api::Edge {
                reference_id: target,
                start_time: e.start.map(EpochSeconds),
                end_time: e.end.map(EpochSeconds),
                summary_statistics: Some(e.counters.to_api()),
                response_time_histogram: e.response_time.entries(),
                aliases: e
                    .aliases
                    .keys()
                    .map(|a| Alias {
                        name: Some(a.name.clone()),
                        names: Some(vec![a.name.clone()]),
                        r#type: a.r#type.clone(),
                    })
                    .collect(),
                edge_type: e.edge_type.as_deref().map(Into::into),
                received_event_age_histogram: None,
            });
    }

    listed
        .iter()
        .map(|key| {
            let node = &g.nodes[*key];
            let mut edges = edges_of.remove(key).unwrap_or_default();
            edges.sort_by_key(|e| e.reference_id);
            let client = key.is_client();
            Service {
                reference_id: ids[key],
                name: Some(key.name.clone()),
                names: vec![key.name.clone()],
                root: (node.roots > 0 && !client).then_some(true),
                account_id: key.account_id.clone(),
                r#type: key.r#type.clone(),
                state: Some(
                    if node.instrumented > 0 {
                        "active"
                    } else {
                        "unknown"
                    }
                    .to_owned(),
                ),
                start_time: node.start.map(EpochSeconds),
                end_time: node.end.map(EpochSeconds),
                edges,
                summary_statistics: (!client).then(|| node.counters.to_api()),
                duration_histogram: (!client).then(|| node.duration.entries()),
                response_time_histogram: (!client).then(|| node.response_time.entries()),
            }
        })
        .collect()
}

/// `GetTraceGraph`: the graph of exactly these traces.
pub fn trace_graph(traces: &[AssembledTrace]) -> Vec<fluoro_proto::api::Service> {
    let mut g = GraphContribution::new();
    for t in traces {
        g.merge(&contribution(t));
    }
    to_services(&g)
}

//! [`GraphContribution`]: the service-graph data of one trace or of many, mergeable and
//! subtractable, with its JSON form (the stored form before the binary one, `super::binary`).

use std::collections::BTreeMap;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::histogram::Histogram;

/// The `Type` of client nodes.
pub const CLIENT_TYPE: &str = "client";

/// Identity of a node: name, type (the segment `origin`, `client`, `remote`, an AWS resource
/// type; `None` when the segment had no origin) and account. Ordered by name, then type, then
/// account: the order `ReferenceId`s are assigned in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct NodeKey {
    /// Canonical name.
    pub name: String,
    /// Node type; `None` for a service whose segments carry no `origin`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
    /// AWS account id, when the segments name one.
    #[serde(rename = "acct", default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
}

impl NodeKey {
    /// A key without an account.
    pub fn new(name: impl Into<String>, r#type: Option<&str>) -> NodeKey {
        NodeKey {
            name: name.into(),
            r#type: r#type.map(str::to_owned),
            account_id: None,
        }
    }

    /// The client node in front of the root service named `name`.
    pub fn client(name: impl Into<String>) -> NodeKey {
        NodeKey::new(name, Some(CLIENT_TYPE))
    }

    /// True for a client node.
    pub fn is_client(&self) -> bool {
        self.r#type.as_deref() == Some(CLIENT_TYPE)
    }
}

/// How one completed request ended, for the statistics. Precedence: fault > throttle > error
/// (spec §4.3 step 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx, or no flag and no status.
    Ok,
    /// Another 4xx (`error` flag or status 4xx other than 429).
    Error,
    /// 429 (`throttle` flag or status 429).
    Throttle,
    /// 5xx (`fault` flag or status 5xx).
    Fault,
}

/// Request counters of a node or an edge (the members of `ServiceStatistics`).
///
/// Response times are summed in whole microseconds so that sums merge and subtract exactly.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// 2xx.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ok: u64,
    /// 4xx other than 429.
    #[serde(rename = "err", default, skip_serializing_if = "is_zero")]
    pub error: u64,
    /// 429.
    #[serde(rename = "thr", default, skip_serializing_if = "is_zero")]
    pub throttle: u64,
    /// 5xx.
    #[serde(rename = "flt", default, skip_serializing_if = "is_zero")]
    pub fault: u64,
    /// Completed requests (`ok + error + throttle + fault`).
    #[serde(rename = "tot", default, skip_serializing_if = "is_zero")]
    pub total: u64,
    /// Sum of response times, microseconds.
    #[serde(rename = "rt_us", default, skip_serializing_if = "is_zero")]
    pub response_time_us: u64,
}

impl Counters {
    /// True when nothing was counted.
    pub fn is_zero(&self) -> bool {
        *self == Counters::default()
    }

    /// Counts one completed request.
    pub fn record(&mut self, outcome: Outcome, response_time_us: u64) {
        let slot = match outcome {
            Outcome::Ok => &mut self.ok,
            Outcome::Error => &mut self.error,
            Outcome::Throttle => &mut self.throttle,
            Outcome::Fault => &mut self.fault,
        };
        *slot = slot.saturating_add(1);
        self.total = self.total.saturating_add(1);
        self.response_time_us = self.response_time_us.saturating_add(response_time_us);
    }

    /// Adds `other`.
    pub fn merge(&mut self, other: &Counters) {
        self.ok = self.ok.saturating_add(other.ok);
        self.error = self.error.saturating_add(other.error);
        self.throttle = self.throttle.saturating_add(other.throttle);
        self.fault = self.fault.saturating_add(other.fault);
        self.total = self.total.saturating_add(other.total);
        self.response_time_us = self.response_time_us.saturating_add(other.response_time_us);
    }

    /// Removes `other` (saturating at zero).
    pub fn subtract(&mut self, other: &Counters) {
        self.ok = self.ok.saturating_sub(other.ok);
        self.error = self.error.saturating_sub(other.error);
        self.throttle = self.throttle.saturating_sub(other.throttle);
        self.fault = self.fault.saturating_sub(other.fault);
        self.total = self.total.saturating_sub(other.total);
        self.response_time_us = self.response_time_us.saturating_sub(other.response_time_us);
    }

    /// The API form (`ServiceStatistics` / `EdgeStatistics`).
    pub fn to_api(&self) -> fluoro_proto::api::ServiceStatistics {
        use fluoro_proto::api::{ErrorStatistics, FaultStatistics, ServiceStatistics};
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        ServiceStatistics {
            ok_count: n(self.ok),
            error_statistics: ErrorStatistics {
                throttle_count: n(self.throttle),
                other_count: n(self.error),
                total_count: n(self.throttle.saturating_add(self.error)),
            },
            fault_statistics: FaultStatistics {
                other_count: n(self.fault),
                total_count: n(self.fault),
            },
            total_count: n(self.total),
            total_response_time: self.response_time_us as f64 / 1_000_000.0,
        }
    }
}

/// What a node accumulates.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeStats {
    /// Records that make up the node (segments, in progress or not; for a client node, the
    /// root segments it called). The node exists while this is positive.
    #[serde(rename = "rec", default)]
    pub records: u64,
    /// Of those, segments sent by an instrumented service (neither inferred nor client):
    /// `State` is `active` when positive, `unknown` otherwise.
    #[serde(rename = "act", default, skip_serializing_if = "is_zero")]
    pub instrumented: u64,
    /// Root segments (no `parent_id`) among the records: `Root: true` when positive.
    #[serde(rename = "root", default, skip_serializing_if = "is_zero")]
    pub roots: u64,
    /// Statistics of the completed records.
    #[serde(rename = "st", default, skip_serializing_if = "Counters::is_zero")]
    pub counters: Counters,
    /// Durations (segment start to the last end of it or any of its subsegments).
    #[serde(rename = "dur", default, skip_serializing_if = "Histogram::is_empty")]
    pub duration: Histogram,
    /// Response times (segment end − start).
    #[serde(rename = "rt", default, skip_serializing_if = "Histogram::is_empty")]
    pub response_time: Histogram,
    /// Earliest record start, epoch seconds.
    #[serde(rename = "start", default, skip_serializing_if = "Option::is_none")]
    pub start: Option<f64>,
    /// Latest record end, epoch seconds.
    #[serde(rename = "end", default, skip_serializing_if = "Option::is_none")]
    pub end: Option<f64>,
}

/// What an edge accumulates (from the caller's view: the calling subsegment when there is one).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EdgeStats {
    /// Records on the edge (in progress or not). The edge exists while this is positive.
    #[serde(rename = "rec", default)]
    pub records: u64,
    /// Statistics of the completed records.
    #[serde(rename = "st", default, skip_serializing_if = "Counters::is_zero")]
    pub counters: Counters,
    /// Client-side response times.
    #[serde(rename = "rt", default, skip_serializing_if = "Histogram::is_empty")]
    pub response_time: Histogram,
    /// Other names the caller used for the target ((name, type) → records), see
    /// [`super::contribution`].
    #[serde(
        rename = "al",
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        with = "alias_list"
    )]
    pub aliases: BTreeMap<NodeKey, u64>,
    /// `EdgeType` (`link` for asynchronous links); `None` for ordinary synchronous calls.
    #[serde(rename = "ty", default, skip_serializing_if = "Option::is_none")]
    pub edge_type: Option<String>,
    /// Earliest record start, epoch seconds.
    #[serde(rename = "start", default, skip_serializing_if = "Option::is_none")]
    pub start: Option<f64>,
    /// Latest record end, epoch seconds.
    #[serde(rename = "end", default, skip_serializing_if = "Option::is_none")]
    pub end: Option<f64>,
}

/// The service-graph data of one trace, or the sum of many (a time bucket, a window).
///
/// Counters and histograms are exact under [`merge`](Self::merge) and
/// [`subtract`](Self::subtract): subtracting a contribution that was merged in restores every
/// counter, histogram and alias count, and removes nodes and edges whose record count falls to
/// zero. The `start`/`end` times are a min/max and cannot be undone: after a subtraction they
/// still cover the removed records (the window they report may be wider than the remaining data).
///
/// JSON form (compact; one per trace and one per minute bucket in stores written before
/// 2026-11-28, which are still read; new rows hold the binary form of `super::binary`):
/// `{"n":[{"k":{"name":..,"type":..,"acct":..},"s":{NodeStats}},..],"e":[{"s":0,"t":1,"d":{EdgeStats}},..]}`
/// where an edge's `s`/`t` index the `n` list (which is in key order).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GraphContribution {
    /// Nodes by identity.
    pub nodes: BTreeMap<NodeKey, NodeStats>,
    /// Edges by (source, target).
    pub edges: BTreeMap<(NodeKey, NodeKey), EdgeStats>,
}

impl GraphContribution {
    /// An empty contribution.
    pub fn new() -> GraphContribution {
        GraphContribution::default()
    }

    /// True when there is no node and no edge.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty() && self.edges.is_empty()
    }

    /// Adds `other` into `self`.
    ///
    /// Keys are cloned only when new: merging trace contributions into a bucket that already
    /// holds their nodes (nearly always) allocates nothing.
    pub fn merge(&mut self, other: &GraphContribution) {
        for (key, theirs) in &other.nodes {
            update(&mut self.nodes, key, |ours| {
                ours.records = ours.records.saturating_add(theirs.records);
                ours.instrumented = ours.instrumented.saturating_add(theirs.instrumented);
                ours.roots = ours.roots.saturating_add(theirs.roots);
                ours.counters.merge(&theirs.counters);
                ours.duration.merge(&theirs.duration);
                ours.response_time.merge(&theirs.response_time);
                ours.start = min_time(ours.start, theirs.start);
                ours.end = max_time(ours.end, theirs.end);
            });
        }
        for (key, theirs) in &other.edges {
            update(&mut self.edges, key, |ours| {
                ours.records = ours.records.saturating_add(theirs.records);
                ours.counters.merge(&theirs.counters);
                ours.response_time.merge(&theirs.response_time);
                for (alias, n) in &theirs.aliases {
                    update(&mut ours.aliases, alias, |c| *c = c.saturating_add(*n));
                }
                if ours.edge_type.is_none() {
                    ours.edge_type.clone_from(&theirs.edge_type);
                }
                ours.start = min_time(ours.start, theirs.start);
                ours.end = max_time(ours.end, theirs.end);
            });
        }
    }

    /// Removes `other` (previously merged in) from `self`. Nodes and edges left with no record
    /// are removed; `start`/`end` times are left as they were (see the type docs).
    pub fn subtract(&mut self, other: &GraphContribution) {
        for (key, theirs) in &other.nodes {
            let Some(ours) = self.nodes.get_mut(key) else {
                continue;
            };
            ours.records = ours.records.saturating_sub(theirs.records);
            ours.instrumented = ours.instrumented.saturating_sub(theirs.instrumented);
            ours.roots = ours.roots.saturating_sub(theirs.roots);
            ours.counters.subtract(&theirs.counters);
            ours.duration.subtract(&theirs.duration);
            ours.response_time.subtract(&theirs.response_time);
            if ours.records == 0 {
                self.nodes.remove(key);
            }
        }
        for (key, theirs) in &other.edges {
            let Some(ours) = self.edges.get_mut(key) else {
                continue;
            };
            ours.records = ours.records.saturating_sub(theirs.records);
            ours.counters.subtract(&theirs.counters);
            ours.response_time.subtract(&theirs.response_time);
            for (alias, n) in &theirs.aliases {
                if let Some(c) = ours.aliases.get_mut(alias) {
                    *c = c.saturating_sub(*n);
                    if *c == 0 {
                        ours.aliases.remove(alias);
                    }
                }
            }
            if ours.records == 0 {
                self.edges.remove(key);
            }
        }
    }

    /// The compact JSON form (see the type docs). The store no longer writes it; tests use it
    /// to stand for rows stored before the binary form.
    pub fn to_json(&self) -> String {
        // Plain data into a String: cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads the JSON form.
    pub fn from_json(s: &str) -> Result<GraphContribution, serde_json::Error> {
        serde_json::from_str(s)
    }
}

/// Applies `f` to the value under `key`, inserted as its default (with a clone of `key`) when
/// missing.
fn update<K: Ord + Clone, V: Default>(map: &mut BTreeMap<K, V>, key: &K, f: impl FnOnce(&mut V)) {
    match map.get_mut(key) {
        Some(v) => f(v),
        None => f(map.entry(key.clone()).or_default()),
    }
}

fn min_time(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

fn max_time(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

#[derive(Serialize, Deserialize)]
struct WireNode<K, S> {
    k: K,
    s: S,
}

#[derive(Serialize, Deserialize)]
struct WireEdge<D> {
    s: usize,
    t: usize,
    d: D,
}

#[derive(Serialize, Deserialize)]
struct Wire<N, E> {
    #[serde(default = "Vec::new")]
    n: Vec<N>,
    #[serde(default = "Vec::new")]
    e: Vec<E>,
}

impl Serialize for GraphContribution {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut index: BTreeMap<&NodeKey, usize> = BTreeMap::new();
        let mut n = Vec::with_capacity(self.nodes.len());
        for (k, v) in &self.nodes {
            index.insert(k, n.len());
            n.push(WireNode { k, s: v });
        }
        // An edge whose endpoint is not a node (only possible if the fields were edited by
        // hand) adds its endpoints as nodes with no records, so the form stays well-formed.
        let mut extra = Vec::new();
        let mut e = Vec::with_capacity(self.edges.len());
        let empty = NodeStats::default();
        for ((src, dst), d) in &self.edges {
            let mut idx = |k: &'_ NodeKey| -> usize {
                if let Some(&i) = index.get(k) {
                    return i;
                }
                let i = n.len() + extra.len();
                extra.push(k.clone());
                i
            };
            let (s_i, t_i) = (idx(src), idx(dst));
            e.push(WireEdge { s: s_i, t: t_i, d });
        }
        let extra_nodes: Vec<WireNode<&NodeKey, &NodeStats>> =
            extra.iter().map(|k| WireNode { k, s: &empty }).collect();
        n.extend(extra_nodes);
        Wire { n, e }.serialize(s)
    }
}

impl<'de> Deserialize<'de> for GraphContribution {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let wire = Wire::<WireNode<NodeKey, NodeStats>, WireEdge<EdgeStats>>::deserialize(d)?;
        let keys: Vec<NodeKey> = wire.n.iter().map(|n| n.k.clone()).collect();
        let mut out = GraphContribution::default();
        for node in wire.n {
            if node.s.records > 0 {
                out.nodes.insert(node.k, node.s);
            }
        }
        for edge in wire.e {
            let (Some(src), Some(dst)) = (keys.get(edge.s), keys.get(edge.t)) else {
                return Err(D::Error::custom(format!(
                    "edge {}→{} names a node that is not in the list of {}",
                    edge.s,
                    edge.t,
                    keys.len()
                )));
            };
            out.edges.insert((src.clone(), dst.clone()), edge.d);
        }
        Ok(out)
    }
}

/// Aliases travel as a list of `[name, type, count]`.
mod alias_list {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::NodeKey;

    pub(super) fn serialize<S: Serializer>(
        m: &BTreeMap<NodeKey, u64>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let v: Vec<(&str, Option<&str>, u64)> = m
            .iter()
            .map(|(k, &c)| (k.name.as_str(), k.r#type.as_deref(), c))
            .collect();
        v.serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<NodeKey, u64>, D::Error> {
        let v = Vec::<(String, Option<String>, u64)>::deserialize(d)?;
        Ok(v.into_iter()
            .filter(|(_, _, c)| *c > 0)
            .map(|(name, r#type, c)| {
                (
                    NodeKey {
                        name,
                        r#type,
                        account_id: None,
                    },
                    c,
                )
            })
            .collect())
    }
}

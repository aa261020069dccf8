//! The service graph: assembled traces → per-trace [`GraphContribution`]s that merge (and
//! subtract) exactly across traces and time buckets → the `Service`/`Edge` lists of
//! `GetServiceGraph` and `GetTraceGraph`, and the statistics of
//! `GetTimeSeriesServiceStatistics`.
//!
//! Pure functions and plain data: no I/O, no async, no SQL. It depends on `fluoro_proto` (the
//! segment model and API shapes) and on [`crate::trace`] for the assembled trace it reads; the
//! store persists contributions as JSON and must not need to know what is inside.
//!
//! Derivation follows spec `xray-api.md` §4.3 ([`contribution`]): one node per
//! (name, type = `origin`, account); inferred nodes for the inferred segments the assembler
//! appends; a `client` node per root service name; edges from the node holding the calling
//! entity to the called segment's node, with the caller's view as edge data. Histogram
//! bucketing is documented in [`Histogram`].
//!
//! Where we differ from, or add to, §4.3: histogram values are millisecond-exact only below
//! 1 s (coarser above, see [`Histogram`]); time series bucket by the trace's start minute
//! rather than record end time; edges reached through a `remote` call whose name differs from
//! the target's carry that name as an alias; `EdgeType: link` is not derived yet (span links
//! are not resolved), so every edge is an ordinary synchronous one. Files:
//!
//! - `contribution.rs`: [`GraphContribution`], [`NodeKey`], counters, merge/subtract, JSON;
//! - `binary.rs`: the compact binary form the store keeps;
//! - `derive.rs`: [`contribution`], [`node_key`];
//! - `histogram.rs`: [`Histogram`] and its bucketing;
//! - `render.rs`: [`to_services`], [`trace_graph`];
//! - `selector.rs`: [`EntitySelector`] and its parser;
//! - `series.rs`: [`time_series`].

mod binary;
mod contribution;
mod derive;
mod histogram;
mod render;
mod selector;
mod series;

pub use contribution::{
    CLIENT_TYPE, Counters, EdgeStats, GraphContribution, NodeKey, NodeStats, Outcome,
};
pub use derive::{contribution, node_key};
pub use histogram::Histogram;
pub use render::{to_services, trace_graph};
pub use selector::{EntitySelector, NodeMatcher};
pub use series::{BUCKET_SECS, time_series};

#[cfg(test)]
mod tests;

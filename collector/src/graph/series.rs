//! `GetTimeSeriesServiceStatistics`: per-minute contributions → statistics per period.

use std::collections::BTreeMap;

use fluoro_proto::api::{EpochSeconds, TimeSeriesServiceStatistics};

use super::contribution::{Counters, GraphContribution};
use super::histogram::Histogram;
use super::selector::EntitySelector;

/// Width of the store's buckets, seconds.
pub const BUCKET_SECS: u32 = 60;

/// Statistics of the selected node(s) or edge(s), one entry per period that has any.
///
/// - `buckets` are the store's minute buckets: (bucket start, the merged contributions of the
///   traces that started in that minute). A bucket is used when `[start, start + 60)` overlaps
///   `[start, end)` of the request.
/// - Periods are `period_secs` wide (0 is read as 60) and aligned on multiples of
///   `period_secs` since the epoch; a bucket counts in the period holding its start, so a
///   period shorter than a minute, or not a multiple of one, groups whole minutes.
/// - Only periods in which the selection has at least one node/edge are listed, ascending by
///   `Timestamp` (the period start).
/// - Service selectors fill `ServiceSummaryStatistics`, edge selectors (and
///   [`EntitySelector::ClientEdges`]) fill `EdgeSummaryStatistics`; both fill
///   `ResponseTimeHistogram` (the nodes' own response times, resp. the callers' view).
///
/// Spec §4.3 step 11 buckets on record end time; we bucket on the trace's start minute, the
/// granularity the store keeps.
pub fn time_series(
    buckets: &[(f64, GraphContribution)],
    selector: &EntitySelector,
    period_secs: u32,
    start: f64,
    end: f64,
) -> Vec<TimeSeriesServiceStatistics> {
    let period = f64::from(if period_secs == 0 {
        BUCKET_SECS
    } else {
        period_secs
    });
    let mut periods: BTreeMap<i64, (Counters, Histogram)> = BTreeMap::new();
    for (at, g) in buckets {
        if !(at.is_finite() && *at + f64::from(BUCKET_SECS) > start && *at < end) {
            continue;
        }
        let index = (at / period).floor() as i64;
        let mut add = |c: &Counters, h: &Histogram| {
            let slot = periods.entry(index).or_default();
            slot.0.merge(c);
            slot.1.merge(h);
        };
        match selector {
            EntitySelector::Service(m) => {
                for (k, n) in &g.nodes {
                    if !k.is_client() && m.matches(k) {
                        add(&n.counters, &n.response_time);
                    }
                }
            }
            EntitySelector::Edge(a, b) => {
                for ((src, dst), e) in &g.edges {
                    if a.matches(src) && b.matches(dst) {
                        add(&e.counters, &e.response_time);
                    }
                }
            }
            EntitySelector::ClientEdges => {
                for ((src, _), e) in &g.edges {
                    if src.is_client() {
                        add(&e.counters, &e.response_time);
                    }
                }
            }
        }
    }
    let service = matches!(selector, EntitySelector::Service(_));
    periods
        .into_iter()
        .map(|(index, (counters, histogram))| {
            let stats = Some(counters.to_api());
            TimeSeriesServiceStatistics {
                timestamp: Some(EpochSeconds(index as f64 * period)),
                edge_summary_statistics: if service { None } else { stats.clone() },
                service_summary_statistics: if service { stats } else { None },
                service_forecast_statistics: None,
                response_time_histogram: Some(histogram.entries()),
            }
        })
        .collect()
}

//! Latency histograms with a fixed bucketing, so that they merge and subtract exactly.
//!
//! # Bucketing
//!
//! A value (seconds) is first rounded to the nearest whole microsecond when it is measured (the
//! precision of the timestamps SDKs write), then to the nearest millisecond, then to three
//! significant digits of milliseconds:
//!
//! | value            | bucket width | example            |
//! |------------------|--------------|--------------------|
//! | below 1 s        | 1 ms         | 0.1574 s → 0.157   |
//! | 1 s to 10 s      | 10 ms        | 3.2318 s → 3.23    |
//! | 10 s to 100 s    | 100 ms       | 42.26 s → 42.3     |
//! | 100 s and above  | 1 s          | 612.4 s → 612      |
//!
//! Below one second this is exactly what X-Ray shows (values rounded to milliseconds, one entry
//! per distinct value, spec §4.3 step 8); above it, the coarser widths keep the number of
//! distinct buckets of a long-running service bounded (at most 900 per decade). Rounding is
//! half-up; a value exactly on a boundary belongs to the coarser range. Negative values (clock
//! skew between hosts) count as zero.
//!
//! A bucket is keyed by its value in whole milliseconds, so two histograms built from the same
//! observations are equal whatever the order of insertion, and `merge` followed by `subtract`
//! restores the original exactly.

use std::collections::BTreeMap;

use fluoro_proto::api::HistogramEntry;
use serde::{Deserialize, Serialize};

/// A distribution: bucket value in milliseconds → number of observations.
///
/// Serializes as a JSON object with the millisecond value as key: `{"5":2,"157":1}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Histogram(BTreeMap<u64, u64>);

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Histogram {
        Histogram::default()
    }

    /// The bucket (in milliseconds) of a value given in microseconds.
    pub fn bucket_of_micros(micros: u64) -> u64 {
        let ms = micros.saturating_add(500) / 1000;
        let step = match ms {
            0..1_000 => 1,
            1_000..10_000 => 10,
            10_000..100_000 => 100,
            _ => 1_000,
        };
        ms.saturating_add(step / 2) / step * step
    }

    /// The bucket (in milliseconds) of a value given in seconds.
    pub fn bucket_of_secs(secs: f64) -> u64 {
        Histogram::bucket_of_micros(micros_of_secs(secs))
    }

    /// Records one observation of `micros` microseconds.
    pub fn record_micros(&mut self, micros: u64) {
        self.add_to_bucket(Histogram::bucket_of_micros(micros), 1);
    }

    /// Records one observation of `secs` seconds.
    pub fn record_secs(&mut self, secs: f64) {
        self.record_micros(micros_of_secs(secs));
    }

    /// Adds `count` observations to the bucket `bucket_ms` (which should be a value
    /// [`Histogram::bucket_of_micros`] returns).
    pub fn add_to_bucket(&mut self, bucket_ms: u64, count: u64) {
        if count > 0 {
            let c = self.0.entry(bucket_ms).or_insert(0);
            *c = c.saturating_add(count);
        }
    }

    /// Adds every observation of `other`.
    pub fn merge(&mut self, other: &Histogram) {
        for (&bucket, &count) in &other.0 {
            self.add_to_bucket(bucket, count);
        }
    }

    /// Removes every observation of `other` (saturating at zero); empty buckets disappear.
    pub fn subtract(&mut self, other: &Histogram) {
        for (bucket, &count) in &other.0 {
            if let Some(c) = self.0.get_mut(bucket) {
                *c = c.saturating_sub(count);
                if *c == 0 {
                    self.0.remove(bucket);
                }
            }
        }
    }

    /// True when there are no observations.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Total number of observations.
    pub fn count(&self) -> u64 {
        self.0.values().fold(0, |a, &c| a.saturating_add(c))
    }

    /// The buckets, ascending: (value in milliseconds, count).
    pub fn buckets(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.0.iter().map(|(&b, &c)| (b, c))
    }

    /// The API form: one entry per bucket, ascending by value, `Value` in seconds.
    pub fn entries(&self) -> Vec<HistogramEntry> {
        self.0
            .iter()
            .map(|(&ms, &count)| HistogramEntry {
                value: ms as f64 / 1000.0,
                count: i32::try_from(count).unwrap_or(i32::MAX),
            })
            .collect()
    }
}

/// Seconds → whole microseconds, rounded; negative and non-finite values give 0.
pub(crate) fn micros_of_secs(secs: f64) -> u64 {
    if secs.is_finite() && secs > 0.0 {
        // Saturating float-to-int conversion; durations never come near the limit.
        (secs * 1_000_000.0).round() as u64
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_follow_the_documented_widths() {
        let cases = [
            (0.0, 0),
            (-1.0, 0),
            (0.0004, 0),
            (0.0005, 1),
            (0.1574, 157),
            (0.9994, 999),
            (0.9996, 1000),
            (1.004, 1000),
            (1.005, 1010),
            (3.2318, 3230),
            (9.996, 10_000),
            (42.26, 42_300),
            (99.96, 100_000),
            (612.4, 612_000),
            (612.5, 613_000),
        ];
        for (secs, ms) in cases {
            assert_eq!(Histogram::bucket_of_secs(secs), ms, "{secs}");
        }
    }

    #[test]
    fn merge_then_subtract_restores() {
        let mut a = Histogram::new();
        a.record_secs(0.005);
        a.record_secs(0.005);
        a.record_secs(2.5);
        let mut b = Histogram::new();
        b.record_secs(0.005);
        b.record_secs(0.2);
        let orig = a.clone();
        a.merge(&b);
        assert_eq!(a.count(), 5);
        a.subtract(&b);
        assert_eq!(a, orig);
        a.subtract(&orig);
        assert!(a.is_empty());
    }

    #[test]
    fn entries_are_seconds_ascending() {
        let mut h = Histogram::new();
        h.record_secs(0.157);
        h.record_secs(0.005);
        h.record_secs(0.005);
        let e = h.entries();
        assert_eq!(e.len(), 2);
        assert_eq!((e[0].value, e[0].count), (0.005, 2));
        assert_eq!((e[1].value, e[1].count), (0.157, 1));
        assert_eq!(serde_json::to_string(&h).unwrap(), r#"{"5":2,"157":1}"#);
    }
}

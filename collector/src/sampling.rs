//! Centralized sampling: how each rule's reservoir is split among the SDK clients that report
//! to it (GetSamplingTargets). Pure state, no I/O; the API layer persists rules and statistics.
//!
//! X-Ray's contract (spec `xray-wire.md` §6): a rule's `ReservoirSize` is its target of traced
//! requests per second across all clients; every client reports its counts every 10 s and gets
//! back a per-client `ReservoirQuota` valid until `ReservoirQuotaTTL`. Our split [design, spec
//! §6.7]: clients that reported in the last [`ACTIVE_WINDOW_SECS`] share the reservoir in
//! proportion to their request counts (largest remainder, ties by client id, so the quotas
//! always add up to the reservoir exactly); a client with no requests yet gets an equal share of
//! what the others leave.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// How often clients should report, in seconds.
pub const REPORT_INTERVAL_SECS: i32 = 10;
/// A client counts as active this long after its last report.
pub const ACTIVE_WINDOW_SECS: f64 = 30.0;
/// How long a quota stays valid: comfortably longer than the report interval, so one lost
/// report does not drop a client back to borrowing.
pub const QUOTA_TTL_SECS: f64 = 60.0;

#[derive(Debug, Clone, Copy)]
struct ClientReport {
    at: f64,
    requests: u64,
}

/// Per-rule, per-client recent reports.
#[derive(Debug, Default)]
pub struct SamplingState {
    rules: Mutex<BTreeMap<String, BTreeMap<String, ClientReport>>>,
}

/// A quota for one client.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quota {
    /// Traced requests per second this client may take from the reservoir.
    pub per_second: i32,
    /// Epoch seconds until which the quota holds.
    pub ttl: f64,
}

impl SamplingState {
    /// Records a client's report for a rule and returns its quota.
    pub fn report(
        &self,
        rule: &str,
        client: &str,
        requests: u64,
        reservoir: i32,
        now: f64,
    ) -> Quota {
        let mut rules = self
            .rules
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let clients = rules.entry(rule.to_owned()).or_default();
        clients.retain(|_, r| now - r.at <= ACTIVE_WINDOW_SECS);
        clients.insert(client.to_owned(), ClientReport { at: now, requests });
        let shares = split(reservoir.max(0) as u64, clients);
        Quota {
            per_second: shares.get(client).copied().unwrap_or(0) as i32,
            ttl: now + QUOTA_TTL_SECS,
        }
    }

    /// Forgets a deleted rule.
    pub fn forget(&self, rule: &str) {
        self.rules
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(rule);
    }
}

/// Splits `total` among clients in proportion to their requests (equally when none has any),
/// by largest remainder; ties go to the smaller client id.
fn split(total: u64, clients: &BTreeMap<String, ClientReport>) -> BTreeMap<String, u64> {
    let n = clients.len() as u64;
    let mut out = BTreeMap::new();
    if n == 0 {
        return out;
    }
    let sum: u64 = clients.values().map(|c| c.requests).sum();
    let weight = |c: &ClientReport| if sum == 0 { 1 } else { c.requests };
    let denom = if sum == 0 { n } else { sum };
    let mut given = 0;
    let mut remainders: Vec<(u64, &String)> = Vec::with_capacity(clients.len());
    for (id, c) in clients {
        let exact = u128::from(total) * u128::from(weight(c));
        let floor = (exact / u128::from(denom)) as u64;
        let rem = (exact % u128::from(denom)) as u64;
        given += floor;
        out.insert(id.clone(), floor);
        remainders.push((rem, id));
    }
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
    for (_, id) in remainders.into_iter().take((total - given) as usize) {
        if let Some(v) = out.get_mut(id) {
            *v += 1;
        }
    }
    out
}

/// Converts a statistics timestamp to seconds: Java sends epoch milliseconds.
pub fn timestamp_secs(t: f64) -> f64 {
    if t > 1e11 { t / 1000.0 } else { t }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(at: f64, requests: u64) -> ClientReport {
        ClientReport { at, requests }
    }

    #[test]
    fn split_is_proportional_and_exact() {
        let mut c = BTreeMap::new();
        c.insert("a".to_owned(), client(0.0, 300));
        c.insert("b".to_owned(), client(0.0, 100));
        let s = split(10, &c);
        assert_eq!(s["a"], 8); // 7.5 rounds up: larger remainder ties go to the smaller id
        assert_eq!(s["b"], 2);
        assert_eq!(s.values().sum::<u64>(), 10);
    }

    #[test]
    fn reservoir_of_one_goes_to_one_client() {
        let mut c = BTreeMap::new();
        c.insert("a".to_owned(), client(0.0, 0));
        c.insert("b".to_owned(), client(0.0, 0));
        let s = split(1, &c);
        assert_eq!((s["a"], s["b"]), (1, 0));
    }

    #[test]
    fn quiet_clients_drop_out() {
        let st = SamplingState::default();
        assert_eq!(st.report("r", "a", 10, 4, 0.0).per_second, 4);
        assert_eq!(st.report("r", "b", 10, 4, 5.0).per_second, 2);
        // `a` has not reported for longer than the active window.
        let q = st.report("r", "b", 10, 4, 5.0 + ACTIVE_WINDOW_SECS + 1.0);
        assert_eq!(q.per_second, 4);
        assert_eq!(q.ttl, 5.0 + ACTIVE_WINDOW_SECS + 1.0 + QUOTA_TTL_SECS);
    }

    #[test]
    fn java_millisecond_timestamps() {
        assert_eq!(timestamp_secs(1_700_000_000_000.0), 1_700_000_000.0);
        assert_eq!(timestamp_secs(1_700_000_000.0), 1_700_000_000.0);
    }
}

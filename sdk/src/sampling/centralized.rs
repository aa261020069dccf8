//! Centralized sampling through the daemon's TCP proxy, as the AWS SDKs do it (spec §6.3-6.6):
//! `GetSamplingRules` at start and every 5 minutes (and whenever `LastRuleModification` says
//! the rules changed), `GetSamplingTargets` every 10 s with the statistics of each rule used
//! since the last report, applying the reservoir quota, its TTL, the fixed rate and the
//! interval that come back. Without a quota (or after its TTL) a rule borrows one request
//! per second when its `ReservoirSize` is above zero. Rules older than an hour are stale: the
//! local rules decide again.
//!
//! Decisions take no lock: each thread keeps its own copy of the current rule list and
//! refreshes it when a version counter changes; the counters and reservoirs are atomics.
//! The poller is one thread with blocking HTTP/1.1 to the daemon (2 s timeouts); failures
//! are logged once and counted, never surfaced.

use std::cell::RefCell;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use fluoro_proto::api::{
    EpochSeconds, GetSamplingRulesResponse, GetSamplingTargetsRequest, GetSamplingTargetsResponse,
    SamplingRule, SamplingStatisticsDocument,
};

use super::{Decision, PerSecond, SamplingRequest, attr_match, epoch_secs};
use crate::rng;

/// How long fetched rules stay usable without a successful refresh.
const MANIFEST_TTL_SECS: u64 = 3600;
const NO_QUOTA: u64 = u64::MAX;

/// Polling periods (AWS's: 300 s and 10 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intervals {
    /// `GetSamplingRules`.
    pub rules: Duration,
    /// `GetSamplingTargets` (a target's `Interval` can lengthen it per rule).
    pub targets: Duration,
}

impl Default for Intervals {
    fn default() -> Self {
        Intervals {
            rules: crate::config::RULES_INTERVAL,
            targets: crate::config::TARGETS_INTERVAL,
        }
    }
}

#[derive(Debug)]
struct Rule {
    name: Arc<str>,
    priority: i32,
    reservoir_size: u64,
    service_name: String,
    service_type: String,
    host: String,
    http_method: String,
    url_path: String,
    fixed_rate: AtomicU64,
    quota: AtomicU64,
    quota_ttl: AtomicU64,
    /// Report period in seconds (a target's `Interval`).
    interval: AtomicU64,
    last_report: AtomicU64,
    requests: AtomicU64,
    sampled: AtomicU64,
    borrowed: AtomicU64,
    taken: PerSecond,
    borrow: PerSecond,
}

impl Rule {
    fn from_api(r: &SamplingRule, interval: u64) -> Option<Rule> {
        let name = r.rule_name.clone()?;
        Some(Rule {
            name: Arc::from(name),
            priority: r.priority,
            reservoir_size: u64::try_from(r.reservoir_size).unwrap_or(0),
            service_name: r.service_name.clone(),
            service_type: r.service_type.clone(),
            host: r.host.clone(),
            http_method: r.http_method.clone(),
            url_path: r.url_path.clone(),
            fixed_rate: AtomicU64::new(r.fixed_rate.to_bits()),
            quota: AtomicU64::new(NO_QUOTA),
            quota_ttl: AtomicU64::new(0),
            interval: AtomicU64::new(interval),
            last_report: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            sampled: AtomicU64::new(0),
            borrowed: AtomicU64::new(0),
            taken: PerSecond::default(),
            borrow: PerSecond::default(),
        })
    }

    fn matches(&self, req: &SamplingRequest<'_>) -> bool {
        if &*self.name == "Default" {
            return true;
        }
        attr_match(&self.service_name, req.service_name)
            && attr_match(&self.service_type, req.service_type)
            && attr_match(&self.host, req.host)
            && attr_match(&self.http_method, req.method)
            && attr_match(&self.url_path, req.url_path)
    }

    /// Spec §6.5.
    fn sample(&self, now: u64) -> bool {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let quota = self.quota.load(Ordering::Relaxed);
        if quota != NO_QUOTA && now <= self.quota_ttl.load(Ordering::Relaxed) {
            if self.taken.take(now, quota) {
                self.sampled.fetch_add(1, Ordering::Relaxed);
                return true;
            }
        } else if self.reservoir_size > 0 && self.borrow.take(now, 1) {
            self.borrowed.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        if rng::next_f64() < f64::from_bits(self.fixed_rate.load(Ordering::Relaxed)) {
            self.sampled.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        false
    }
}

/// Kept only if an SDK may use it (spec §6.4).
fn usable(r: &SamplingRule) -> bool {
    r.version == 1
        && r.resource_arn == "*"
        && r.attributes.is_empty()
        && !r.service_type.is_empty()
        && r.rule_name.as_deref().is_some_and(|n| !n.is_empty())
        && r.fixed_rate.is_finite()
}

#[derive(Debug, Default)]
struct Manifest {
    rules: Vec<Arc<Rule>>,
}

/// Shared between the recorder (decisions) and the poller thread.
#[derive(Debug)]
pub(crate) struct Centralized {
    manifest: Mutex<Arc<Manifest>>,
    version: AtomicU64,
    fetched_at: AtomicU64,
    client_id: String,
    daemon: SocketAddr,
    intervals: Intervals,
    logged_error: AtomicBool,
    pub(crate) errors: AtomicU64,
}

thread_local! {
    /// This thread's copy of the manifest: (owner, version, manifest).
    static LOCAL: RefCell<Option<(usize, u64, Arc<Manifest>)>> = const { RefCell::new(None) };
}

impl Centralized {
    /// Starts the poller thread for the daemon's TCP address.
    pub(crate) fn start(daemon: SocketAddr, intervals: Intervals) -> Arc<Centralized> {
        let c = Arc::new(Centralized {
            manifest: Mutex::new(Arc::new(Manifest::default())),
            version: AtomicU64::new(0),
            fetched_at: AtomicU64::new(0),
            client_id: format!(
                "{:016x}{:08x}",
                rng::next_u64(),
                rng::next_u64() & 0xffff_ffff
            ),
            daemon,
            intervals,
            logged_error: AtomicBool::new(false),
            errors: AtomicU64::new(0),
        });
        let weak = Arc::downgrade(&c);
        let spawned = std::thread::Builder::new()
            .name("fluoro-sdk-sampling".into())
            .spawn(move || poll(&weak));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "fluoro-sdk: cannot start the sampling poller; local rules decide");
        }
        c
    }

    /// The decision of the first matching centralized rule; `None` when there are no fresh
    /// rules (the local rules decide).
    pub(crate) fn sample(&self, req: &SamplingRequest<'_>) -> Option<Decision> {
        let now = epoch_secs();
        let fetched = self.fetched_at.load(Ordering::Relaxed);
        if fetched == 0 || now.saturating_sub(fetched) > MANIFEST_TTL_SECS {
            return None;
        }
        let version = self.version.load(Ordering::Acquire);
        let me = std::ptr::from_ref(self) as usize;
        LOCAL
            .try_with(|l| {
                let mut l = l.try_borrow_mut().ok()?;
                let stale = !matches!(&*l, Some((owner, v, _)) if *owner == me && *v == version);
                if stale {
                    let m =
                        Arc::clone(&self.manifest.lock().unwrap_or_else(PoisonError::into_inner));
                    *l = Some((me, version, m));
                }
                let (_, _, m) = l.as_ref()?;
                let rule = m.rules.iter().find(|r| r.matches(req))?;
                Some(Decision {
                    sampled: rule.sample(now),
                    rule_name: Some(Arc::clone(&rule.name)),
                })
            })
            .ok()
            .flatten()
    }

    fn error(&self, what: &str, e: &str) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if !self.logged_error.swap(true, Ordering::Relaxed) {
            tracing::warn!(call = what, error = e, daemon = %self.daemon, "fluoro-sdk: centralized sampling call failed (local rules decide until it works; further failures are counted)");
        }
    }

    fn fetch_rules(&self) -> bool {
        let body = match post(self.daemon, "/GetSamplingRules", "{}") {
            Ok(b) => b,
            Err(e) => {
                self.error("GetSamplingRules", &e);
                return false;
            }
        };
        let resp: GetSamplingRulesResponse = match serde_json::from_str(&body) {
            Ok(r) => r,
            Err(e) => {
                self.error("GetSamplingRules", &e.to_string());
                return false;
            }
        };
        let old = Arc::clone(&self.manifest.lock().unwrap_or_else(PoisonError::into_inner));
        let default_interval = self.intervals.targets.as_secs().max(1);
        let mut rules: Vec<Arc<Rule>> = resp
            .sampling_rule_records
            .iter()
            .map(|r| &r.sampling_rule)
            .filter(|r| usable(r))
            .filter_map(|r| {
                let new = Rule::from_api(r, default_interval)?;
                // Keep reservoir state and counters of rules that stay (by name).
                if let Some(prev) = old.rules.iter().find(|p| p.name == new.name) {
                    new.requests
                        .store(prev.requests.swap(0, Ordering::Relaxed), Ordering::Relaxed);
                    new.sampled
                        .store(prev.sampled.swap(0, Ordering::Relaxed), Ordering::Relaxed);
                    new.borrowed
                        .store(prev.borrowed.swap(0, Ordering::Relaxed), Ordering::Relaxed);
                    for (a, b) in [
                        (&new.quota, &prev.quota),
                        (&new.quota_ttl, &prev.quota_ttl),
                        (&new.interval, &prev.interval),
                        (&new.last_report, &prev.last_report),
                    ] {
                        a.store(b.load(Ordering::Relaxed), Ordering::Relaxed);
                    }
                }
                Some(Arc::new(new))
            })
            .collect();
        rules.sort_by(|a, b| {
            let da = &*a.name == "Default";
            let db = &*b.name == "Default";
            (da, a.priority, &a.name).cmp(&(db, b.priority, &b.name))
        });
        let now = super::precise_epoch_secs();
        *self.manifest.lock().unwrap_or_else(PoisonError::into_inner) =
            Arc::new(Manifest { rules });
        self.version.fetch_add(1, Ordering::Release);
        self.fetched_at.store(now, Ordering::Relaxed);
        true
    }

    /// Reports statistics of rules due for a report and applies the targets. Returns the
    /// `LastRuleModification` the service reported.
    fn report(&self) -> Option<f64> {
        let m = Arc::clone(&self.manifest.lock().unwrap_or_else(PoisonError::into_inner));
        let now = super::precise_epoch_secs();
        let mut docs = Vec::new();
        for r in &m.rules {
            let due =
                now >= r.last_report.load(Ordering::Relaxed) + r.interval.load(Ordering::Relaxed);
            if !due || r.requests.load(Ordering::Relaxed) == 0 {
                continue;
            }
            r.last_report.store(now, Ordering::Relaxed);
            let n = |a: &AtomicU64| i32::try_from(a.swap(0, Ordering::Relaxed)).unwrap_or(i32::MAX);
            docs.push(SamplingStatisticsDocument {
                rule_name: r.name.to_string(),
                client_id: self.client_id.clone(),
                timestamp: EpochSeconds(now as f64),
                request_count: n(&r.requests),
                sampled_count: n(&r.sampled),
                borrow_count: Some(n(&r.borrowed)),
            });
        }
        if docs.is_empty() {
            return None;
        }
        let mut last_mod = None;
        // At most 25 documents per call (the API's limit).
        for chunk in docs.chunks(25) {
            let req = GetSamplingTargetsRequest {
                sampling_statistics_documents: chunk.to_vec(),
                sampling_boost_statistics_documents: None,
            };
            let body = serde_json::to_string(&req).unwrap_or_default();
            let text = match post(self.daemon, "/SamplingTargets", &body) {
                Ok(t) => t,
                Err(e) => {
                    self.error("GetSamplingTargets", &e);
                    continue;
                }
            };
            let resp: GetSamplingTargetsResponse = match serde_json::from_str(&text) {
                Ok(r) => r,
                Err(e) => {
                    self.error("GetSamplingTargets", &e.to_string());
                    continue;
                }
            };
            for t in &resp.sampling_target_documents {
                let Some(r) = m.rules.iter().find(|r| *r.name == *t.rule_name) else {
                    continue;
                };
                r.fixed_rate
                    .store(t.fixed_rate.to_bits(), Ordering::Relaxed);
                if let Some(q) = t.reservoir_quota {
                    r.quota
                        .store(u64::try_from(q).unwrap_or(0), Ordering::Relaxed);
                }
                if let Some(ttl) = t.reservoir_quota_ttl {
                    r.quota_ttl.store(ttl.0.max(0.0) as u64, Ordering::Relaxed);
                }
                if let Some(i) = t.interval.filter(|i| *i > 0) {
                    r.interval
                        .store(u64::try_from(i).unwrap_or(10), Ordering::Relaxed);
                }
            }
            let lm = resp.last_rule_modification.0;
            last_mod = Some(last_mod.map_or(lm, |x: f64| x.max(lm)));
        }
        last_mod
    }
}

/// The poller: rules now, then every `intervals.rules` (with up to 5 s of jitter); targets
/// every `intervals.targets` (with up to 100 ms). Ends when the recorder is dropped.
fn poll(weak: &Weak<Centralized>) {
    let mut next_rules = 0.0f64;
    loop {
        let Some(c) = weak.upgrade() else { return };
        let now = crate::entity::epoch_secs_f64(crate::entity::now());
        if now >= next_rules {
            let ok = c.fetch_rules();
            let jitter = if c.intervals.rules >= Duration::from_secs(60) {
                rng::next_f64() * 5.0
            } else {
                0.0
            };
            // After a failure, retry at the next targets tick.
            next_rules = now
                + if ok {
                    c.intervals.rules.as_secs_f64() + jitter
                } else {
                    c.intervals.targets.as_secs_f64()
                };
        }
        let fetched = c.fetched_at.load(Ordering::Relaxed) as f64;
        if let Some(last_mod) = c.report()
            && last_mod > fetched
        {
            // The rules changed since we fetched them: fetch now.
            next_rules = 0.0;
        }
        let sleep = c.intervals.targets + Duration::from_millis((rng::next_u64() % 100) + 1);
        drop(c);
        // Sleep in short steps so a dropped recorder ends the thread promptly.
        let until = std::time::Instant::now() + sleep;
        while std::time::Instant::now() < until {
            if weak.strong_count() == 0 {
                return;
            }
            std::thread::sleep(Duration::from_millis(50).min(sleep));
        }
    }
}

/// One `POST` to the daemon's proxy; the body on 200, else an error text.
fn post(addr: SocketAddr, path: &str, body: &str) -> Result<String, String> {
    let timeout = Duration::from_secs(2);
    let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    s.take(4 << 20)
        .read_to_end(&mut raw)
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8(raw).map_err(|e| e.to_string())?;
    let (head, rest) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| "no HTTP header".to_owned())?;
    let status = head.split(' ').nth(1).unwrap_or("");
    if status != "200" {
        return Err(format!("HTTP {status}"));
    }
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return dechunk(rest);
    }
    Ok(rest.to_owned())
}

fn dechunk(mut s: &str) -> Result<String, String> {
    let mut out = String::new();
    loop {
        let (size, rest) = s.split_once("\r\n").ok_or("bad chunk")?;
        let n = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return Ok(out);
        }
        let chunk = rest.get(..n).ok_or("short chunk")?;
        out.push_str(chunk);
        s = rest.get(n + 2..).ok_or("short chunk")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: &str, reservoir: i32, rate: f64) -> Rule {
        Rule::from_api(
            &SamplingRule {
                rule_name: Some(name.into()),
                resource_arn: "*".into(),
                priority: 1,
                fixed_rate: rate,
                reservoir_size: reservoir,
                service_name: "*".into(),
                service_type: "*".into(),
                host: "*".into(),
                http_method: "*".into(),
                url_path: "*".into(),
                version: 1,
                ..SamplingRule::default()
            },
            10,
        )
        .unwrap()
    }

    #[test]
    fn borrows_one_per_second_without_quota() {
        let r = rule("r", 5, 0.0);
        let sampled = (0..100).filter(|_| r.sample(1000)).count();
        assert_eq!(sampled, 1);
        assert_eq!(r.borrowed.load(Ordering::Relaxed), 1);
        assert_eq!(r.requests.load(Ordering::Relaxed), 100);
        assert!(r.sample(1001));
        let none = rule("n", 0, 0.0);
        assert!(!(0..100).any(|_| none.sample(1000)));
    }

    #[test]
    fn quota_until_ttl_then_borrowing() {
        let r = rule("r", 5, 0.0);
        r.quota.store(3, Ordering::Relaxed);
        r.quota_ttl.store(2000, Ordering::Relaxed);
        assert_eq!((0..100).filter(|_| r.sample(1000)).count(), 3);
        assert_eq!(r.sampled.load(Ordering::Relaxed), 3);
        assert_eq!((0..100).filter(|_| r.sample(2001)).count(), 1);
        let all = rule("a", 0, 1.0);
        assert!((0..100).all(|_| all.sample(1000)));
    }

    #[test]
    fn unusable_rules_are_dropped() {
        let mut r = SamplingRule {
            rule_name: Some("x".into()),
            resource_arn: "*".into(),
            service_type: "*".into(),
            version: 1,
            ..SamplingRule::default()
        };
        assert!(usable(&r));
        r.attributes.insert("k".into(), "v".into());
        assert!(!usable(&r));
        r.attributes.clear();
        r.resource_arn = "arn:x".into();
        assert!(!usable(&r));
    }

    #[test]
    fn chunked_bodies() {
        assert_eq!(
            dechunk("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").unwrap(),
            "abcde"
        );
        assert!(dechunk("zz\r\n").is_err());
    }
}

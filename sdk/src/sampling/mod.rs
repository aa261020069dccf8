//! Sampling decisions: local rules in the X-Ray SDK JSON format (spec §6.1) and the matching
//! both local and centralized rules use (§6.2).
//!
//! Decisions take no lock: each rule's reservoir is one atomic word (`epoch second << 32 |
//! taken this second`), and the fixed-rate coin comes from the thread's generator.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Deserialize;

use crate::rng;

pub(crate) mod centralized;
pub use centralized::Intervals;

/// What a sampling rule is matched against. Absent attributes match any pattern, as in the
/// Python, Node and Go SDKs.
#[derive(Debug, Clone, Copy, Default)]
pub struct SamplingRequest<'a> {
    /// The segment name (`ServiceName`).
    pub service_name: Option<&'a str>,
    /// The plugin origin, e.g. `AWS::ECS::Container` (`ServiceType`).
    pub service_type: Option<&'a str>,
    /// The `Host` header.
    pub host: Option<&'a str>,
    /// The HTTP method.
    pub method: Option<&'a str>,
    /// The request path.
    pub url_path: Option<&'a str>,
}

/// A sampling decision and the rule that made it (recorded in `aws.xray.sampling_rule_name`
/// for centralized rules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Trace this request.
    pub sampled: bool,
    /// The centralized rule that decided, if any.
    pub rule_name: Option<std::sync::Arc<str>>,
}

/// Case-insensitive wildcard match: `*` any sequence, `?` one character.
pub(crate) fn wildcard_match(pattern: &str, text: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let p: Vec<char> = pattern.chars().flat_map(char::to_lowercase).collect();
    let t: Vec<char> = text.chars().flat_map(char::to_lowercase).collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

pub(crate) fn attr_match(pattern: &str, value: Option<&str>) -> bool {
    match value {
        None | Some("") => true,
        Some(v) => wildcard_match(pattern, v),
    }
}

pub(crate) fn precise_epoch_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Epoch seconds as last written by [`tick`].
static COARSE_SECS: AtomicU64 = AtomicU64::new(0);

/// Epoch seconds for reservoirs and trace ids: one atomic load of a clock the emitter thread
/// refreshes at least every 100 ms (a clock read costs more than the rest of an unsampled
/// request on some virtual machines); the real clock until an emitter has started.
pub(crate) fn epoch_secs() -> u64 {
    match COARSE_SECS.load(Ordering::Relaxed) {
        0 => precise_epoch_secs(),
        s => s,
    }
}

/// Refreshes the coarse clock (emitter thread).
pub(crate) fn tick() {
    COARSE_SECS.store(precise_epoch_secs(), Ordering::Relaxed);
}

/// A per-second counter in one atomic word: `second << 32 | used`.
#[derive(Debug, Default)]
pub(crate) struct PerSecond(AtomicU64);

impl PerSecond {
    /// Takes one of `limit` slots of the current second; false when they are used up.
    pub(crate) fn take(&self, now_sec: u64, limit: u64) -> bool {
        if limit == 0 {
            return false;
        }
        let mut cur = self.0.load(Ordering::Relaxed);
        loop {
            let (sec, used) = (cur >> 32, cur & 0xffff_ffff);
            let next = if sec == (now_sec & 0xffff_ffff) {
                if used >= limit {
                    return false;
                }
                cur + 1
            } else {
                ((now_sec & 0xffff_ffff) << 32) | 1
            };
            match self
                .0
                .compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(actual) => cur = actual,
            }
        }
    }
}

/// Local sampling rules could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SamplingRulesError {
    /// Not JSON of the expected shape.
    #[error("sampling rules: {0}")]
    Json(#[from] serde_json::Error),
    /// Shape is right, values are not.
    #[error("sampling rules: {0}")]
    Invalid(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    version: u32,
    default: DefaultRuleJson,
    #[serde(default)]
    rules: Vec<RuleJson>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DefaultRuleJson {
    fixed_target: u64,
    rate: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleJson {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    host: Option<String>,
    #[serde(default)]
    service_name: Option<String>,
    http_method: String,
    url_path: String,
    fixed_target: u64,
    rate: f64,
}

#[derive(Debug)]
struct LocalRule {
    host: String,
    http_method: String,
    url_path: String,
    fixed_target: u64,
    rate: f64,
    reservoir: PerSecond,
}

impl LocalRule {
    fn sample(&self, now: u64) -> bool {
        self.reservoir.take(now, self.fixed_target) || rng::next_f64() < self.rate
    }
}

/// Local rules: tried in order, first match wins, then the default (spec §6.1).
#[derive(Debug)]
pub struct LocalRules {
    rules: Vec<LocalRule>,
    default: LocalRule,
}

impl Default for LocalRules {
    /// One request each second plus 5 % of the rest, as every AWS SDK ships.
    fn default() -> Self {
        LocalRules {
            rules: Vec::new(),
            default: LocalRule {
                host: "*".into(),
                http_method: "*".into(),
                url_path: "*".into(),
                fixed_target: 1,
                rate: 0.05,
                reservoir: PerSecond::default(),
            },
        }
    }
}

impl LocalRules {
    /// Parses a rules file (`version` 1 with `service_name` or 2 with `host`).
    pub fn from_json(json: &str) -> Result<LocalRules, SamplingRulesError> {
        let f: RulesFile = serde_json::from_str(json)?;
        if f.version != 1 && f.version != 2 {
            return Err(SamplingRulesError::Invalid(format!(
                "version {} (expected 1 or 2)",
                f.version
            )));
        }
        let check_rate = |r: f64, what: &str| {
            if (0.0..=1.0).contains(&r) {
                Ok(())
            } else {
                Err(SamplingRulesError::Invalid(format!(
                    "{what}: rate {r} is not in [0, 1]"
                )))
            }
        };
        check_rate(f.default.rate, "default")?;
        let mut rules = Vec::with_capacity(f.rules.len());
        for (i, r) in f.rules.into_iter().enumerate() {
            let what = r.description.clone().unwrap_or_else(|| format!("rule {i}"));
            check_rate(r.rate, &what)?;
            let host = match (f.version, r.host, r.service_name) {
                (2, Some(h), None) | (1, None, Some(h)) => h,
                (2, ..) => {
                    return Err(SamplingRulesError::Invalid(format!(
                        "{what}: version 2 rules need host (and no service_name)"
                    )));
                }
                _ => {
                    return Err(SamplingRulesError::Invalid(format!(
                        "{what}: version 1 rules need service_name (and no host)"
                    )));
                }
            };
            rules.push(LocalRule {
                host,
                http_method: r.http_method,
                url_path: r.url_path,
                fixed_target: r.fixed_target,
                rate: r.rate,
                reservoir: PerSecond::default(),
            });
        }
        Ok(LocalRules {
            rules,
            default: LocalRule {
                host: "*".into(),
                http_method: "*".into(),
                url_path: "*".into(),
                fixed_target: f.default.fixed_target,
                rate: f.default.rate,
                reservoir: PerSecond::default(),
            },
        })
    }

    /// Decides for one request.
    pub fn sample(&self, req: &SamplingRequest<'_>) -> bool {
        let now = epoch_secs();
        for r in &self.rules {
            if attr_match(&r.host, req.host)
                && attr_match(&r.http_method, req.method)
                && attr_match(&r.url_path, req.url_path)
            {
                return r.sample(now);
            }
        }
        self.default.sample(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        for (p, t, m) in [
            ("*", "anything", true),
            ("", "", true),
            ("", "x", false),
            ("/api/*", "/API/move", true),
            ("/api/?", "/api/ab", false),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("GET", "get", true),
            ("*.example.com", "www.example.com", true),
        ] {
            assert_eq!(wildcard_match(p, t), m, "{p} {t}");
        }
    }

    #[test]
    fn reservoir_counts_per_second() {
        let r = PerSecond::default();
        assert!(r.take(10, 2));
        assert!(r.take(10, 2));
        assert!(!r.take(10, 2));
        assert!(r.take(11, 2));
        assert!(!r.take(11, 0));
    }

    #[test]
    fn default_rules_take_one_per_second_then_five_percent() {
        let rules = LocalRules::default();
        let req = SamplingRequest::default();
        let n = 20_000;
        let sampled = (0..n).filter(|_| rules.sample(&req)).count();
        // 1 or 2 from the reservoir (a second boundary may pass) + ~5 % of the rest.
        assert!((700..1300).contains(&sampled), "{sampled}");
    }

    #[test]
    fn rules_file_first_match_wins() {
        let rules = LocalRules::from_json(
            r#"{"version":2,"default":{"fixed_target":0,"rate":0},
                "rules":[{"description":"health","host":"*","http_method":"GET","url_path":"/health","fixed_target":0,"rate":0},
                         {"host":"api.*","http_method":"*","url_path":"/orders/*","fixed_target":0,"rate":1}]}"#,
        )
        .unwrap();
        let req = |host, method, path| SamplingRequest {
            host: Some(host),
            method: Some(method),
            url_path: Some(path),
            ..SamplingRequest::default()
        };
        assert!(!rules.sample(&req("api.x", "GET", "/health")));
        assert!(rules.sample(&req("api.x", "POST", "/orders/1")));
        assert!(!rules.sample(&req("web.x", "POST", "/orders/1")));
        let v1 = LocalRules::from_json(
            r#"{"version":1,"default":{"fixed_target":0,"rate":0},
                "rules":[{"service_name":"*","http_method":"*","url_path":"*","fixed_target":0,"rate":1}]}"#,
        )
        .unwrap();
        assert!(v1.sample(&SamplingRequest::default()));
    }

    #[test]
    fn bad_rules_files_are_refused() {
        for bad in [
            r#"{"version":3,"default":{"fixed_target":1,"rate":0.05}}"#,
            r#"{"version":2,"default":{"fixed_target":1,"rate":5}}"#,
            r#"{"version":2,"default":{"fixed_target":1,"rate":0.05,"host":"*"}}"#,
            r#"{"version":2,"default":{"fixed_target":1,"rate":0.05},"rules":[{"service_name":"a","http_method":"*","url_path":"*","fixed_target":1,"rate":0.1}]}"#,
            r#"{"version":2,"default":{"fixed_target":-1,"rate":0.05}}"#,
        ] {
            assert!(LocalRules::from_json(bad).is_err(), "{bad}");
        }
    }
}

//! Index terms: what lets the store find candidate traces for a filter without assembling every
//! trace in the window.
//!
//! When a trace settles, [`terms`] lists facts about it as 64-bit term hashes (its service
//! names, which services faulted, errored or throttled, its root flags, error statuses, users
//! and annotation values); the store indexes them by (term, trace-id time). For a filter,
//! [`needs`] gives a condition over those terms that every matching trace satisfies: a
//! necessary condition, never a sufficient one. The store uses it to pick candidates, and the
//! reference evaluator still decides each candidate, so the answer is the evaluator's answer
//! whenever `needs` is sound. The property test in `filter/tests.rs` checks that soundness over
//! random filters and traces.
//!
//! Terms are case-folded (ASCII) so that one index serves case-sensitive and case-insensitive
//! matching. Hashes are FNV-1a (stable across builds, unlike `std`'s hasher); a collision only
//! adds a candidate that the evaluator then rejects.

use fluoro_proto::api::TraceSummary;

use super::ast::{Comparison, Filter, Keyword, NodeRef, Op, Value};
use super::eval::{is_errored, is_faulted, is_throttled};
use crate::trace::{AssembledTrace, service_id};

/// A condition over a trace's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// The trace has this term.
    Term(i64),
    /// All of these hold.
    And(Vec<Need>),
    /// One of these holds.
    Or(Vec<Need>),
}

impl Need {
    /// Whether a trace with these terms (sorted) satisfies the condition.
    pub fn holds(&self, terms: &[i64]) -> bool {
        match self {
            Need::Term(t) => terms.binary_search(t).is_ok(),
            Need::And(v) => v.iter().all(|n| n.holds(terms)),
            Need::Or(v) => v.iter().any(|n| n.holds(terms)),
        }
    }

    /// The conjuncts that are a term or a disjunction of terms: each can drive an index scan.
    pub fn drivers(&self) -> Vec<Vec<i64>> {
        let one = |n: &Need| -> Option<Vec<i64>> {
            match n {
                Need::Term(t) => Some(vec![*t]),
                Need::Or(v) => v
                    .iter()
                    .map(|x| match x {
                        Need::Term(t) => Some(*t),
                        _ => None,
                    })
                    .collect(),
                Need::And(_) => None,
            }
        };
        let mut out = Vec::new();
        self.conjuncts(&mut |n| out.extend(one(n)));
        out
    }

    /// Visits the conjuncts, nested `And`s flattened.
    fn conjuncts(&self, f: &mut impl FnMut(&Need)) {
        match self {
            Need::And(v) => v.iter().for_each(|n| n.conjuncts(f)),
            other => f(other),
        }
    }
}

/// Statuses at or above this are indexed (below, almost every trace would carry one).
const MIN_INDEXED_STATUS: i64 = 300;

fn fnv(parts: &[&str]) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h ^= 0x1f;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        for b in p.bytes() {
            h ^= u64::from(b.to_ascii_lowercase());
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h as i64
}

fn num_text(n: f64) -> String {
    // 0.0 and -0.0 compare equal, so they must hash alike.
    if n == 0.0 { "0".into() } else { format!("{n}") }
}

fn service_term(name: &str) -> i64 {
    fnv(&["s", name])
}

fn service_flag_term(flag: &str, name: &str) -> i64 {
    fnv(&["sf", flag, name])
}

fn root_flag_term(flag: &str) -> i64 {
    fnv(&["f", flag])
}

fn status_term(status: i64) -> i64 {
    fnv(&["st", &status.to_string()])
}

fn user_term(user: &str) -> i64 {
    fnv(&["u", user])
}

fn annotation_key_term(key: &str) -> i64 {
    // Annotation keys are case-sensitive: the key is hashed as written (the fold is harmless:
    // keys differing only in case share a term and the evaluator tells them apart).
    fnv(&["ak", key])
}

fn annotation_value_term(key: &str, v: &Value) -> Option<i64> {
    Some(match v {
        Value::String(s) => fnv(&["av", key, "s", s]),
        Value::Number(n) => fnv(&["av", key, "n", &num_text(*n)]),
        Value::Bool(b) => fnv(&["av", key, "b", if *b { "1" } else { "0" }]),
    })
}

/// The terms of a trace, sorted and without duplicates.
pub fn terms(trace: &AssembledTrace, summary: &TraceSummary) -> Vec<i64> {
    let mut out = Vec::new();
    for seg in &trace.segments {
        let sid = service_id(seg);
        let flags: Vec<&str> = [
            (is_faulted(seg), "fault"),
            (is_errored(seg), "error"),
            (is_throttled(seg), "throttle"),
        ]
        .into_iter()
        .filter_map(|(on, f)| on.then_some(f))
        .collect();
        for name in sid.name.iter().chain(sid.names.iter().flatten()) {
            out.push(service_term(name));
            for f in &flags {
                out.push(service_flag_term(f, name));
            }
        }
    }
    let flag = |b: Option<bool>| b == Some(true);
    for (on, f) in [
        (flag(summary.has_fault), "fault"),
        (flag(summary.has_error), "error"),
        (flag(summary.has_throttle), "throttle"),
        (flag(summary.is_partial), "partial"),
    ] {
        if on {
            out.push(root_flag_term(f));
        }
    }
    if let Some(s) = summary
        .http
        .as_ref()
        .and_then(|h| h.http_status)
        .map(i64::from)
        .filter(|s| *s >= MIN_INDEXED_STATUS)
    {
        out.push(status_term(s));
    }
    for u in summary.users.iter().flatten() {
        if let Some(name) = &u.user_name {
            out.push(user_term(name));
        }
    }
    for (key, values) in summary.annotations.iter().flatten() {
        out.push(annotation_key_term(key));
        for v in values {
            let Some(v) = v.annotation_value.as_ref() else {
                continue;
            };
            let value = if let Some(s) = &v.string_value {
                Value::String(s.clone())
            } else if let Some(n) = v.number_value {
                Value::Number(n)
            } else if let Some(b) = v.boolean_value {
                Value::Bool(b)
            } else {
                continue;
            };
            out.extend(annotation_value_term(key, &value));
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

fn all(parts: Vec<Need>) -> Option<Need> {
    match parts.len() {
        0 => None,
        1 => parts.into_iter().next(),
        _ => Some(Need::And(parts)),
    }
}

fn node_need(n: &NodeRef) -> Option<Need> {
    n.name.as_deref().map(|name| Need::Term(service_term(name)))
}

fn is_true(cmp: &Comparison) -> bool {
    matches!(
        cmp,
        Comparison::Present | Comparison::Is(Op::Eq, Value::Bool(true))
    )
}

/// A flag every matching segment of a `service(...) { block }` must carry.
fn block_flags(block: &Filter) -> Option<FlagNeed> {
    match block {
        Filter::Test(t) if is_true(&t.cmp) => match t.keyword {
            Keyword::Fault => Some(FlagNeed::One("fault")),
            Keyword::Error => Some(FlagNeed::One("error")),
            Keyword::Throttle => Some(FlagNeed::One("throttle")),
            _ => None,
        },
        Filter::And(v) => {
            let found: Vec<FlagNeed> = v.iter().filter_map(block_flags).collect();
            (!found.is_empty()).then_some(FlagNeed::All(found))
        }
        Filter::Or(v) => v
            .iter()
            .map(block_flags)
            .collect::<Option<Vec<_>>>()
            .map(FlagNeed::Any),
        _ => None,
    }
}

enum FlagNeed {
    One(&'static str),
    All(Vec<FlagNeed>),
    Any(Vec<FlagNeed>),
}

fn flag_need(f: &FlagNeed, name: &str) -> Need {
    match f {
        FlagNeed::One(flag) => Need::Term(service_flag_term(flag, name)),
        FlagNeed::All(v) => Need::And(v.iter().map(|x| flag_need(x, name)).collect()),
        FlagNeed::Any(v) => Need::Or(v.iter().map(|x| flag_need(x, name)).collect()),
    }
}

/// A condition every trace matching `filter` satisfies, or `None` when the index cannot narrow
/// it (every trace in the window is a candidate).
pub fn needs(filter: &Filter) -> Option<Need> {
    match filter {
        Filter::All | Filter::Not(_) | Filter::Group { .. } => None,
        Filter::RootCause { .. } | Filter::RootCauseJson(_) => None,
        Filter::And(v) => all(v.iter().filter_map(needs).collect()),
        Filter::Or(v) => v
            .iter()
            .map(needs)
            .collect::<Option<Vec<_>>>()
            .map(Need::Or),
        Filter::Test(t) => match (&t.keyword, &t.cmp) {
            (Keyword::Fault, c) if is_true(c) => Some(Need::Term(root_flag_term("fault"))),
            (Keyword::Error, c) if is_true(c) => Some(Need::Term(root_flag_term("error"))),
            (Keyword::Throttle, c) if is_true(c) => Some(Need::Term(root_flag_term("throttle"))),
            (Keyword::Partial, c) if is_true(c) => Some(Need::Term(root_flag_term("partial"))),
            (Keyword::HttpStatus, Comparison::Is(Op::Eq, Value::Number(n))) => {
                let s = *n as i64;
                (s as f64 == *n && s >= MIN_INDEXED_STATUS).then(|| Need::Term(status_term(s)))
            }
            (Keyword::User, Comparison::Is(Op::Eq, Value::String(u))) => {
                Some(Need::Term(user_term(u)))
            }
            _ => None,
        },
        Filter::Annotation { key, cmp } => match cmp {
            Comparison::Is(Op::Eq, v) => annotation_value_term(key, v).map(Need::Term),
            Comparison::Is(Op::Ne, _) => None,
            _ => Some(Need::Term(annotation_key_term(key))),
        },
        Filter::Service { node, block } => {
            let node = node.as_ref()?;
            let base = node_need(node)?;
            let flags = block.as_deref().and_then(block_flags);
            Some(match (flags, node.name.as_deref()) {
                (Some(f), Some(name)) => all(vec![base, flag_need(&f, name)])?,
                _ => base,
            })
        }
        Filter::Edge { from, to, .. } => all([node_need(from), node_need(to)]
            .into_iter()
            .flatten()
            .collect()),
    }
}

//! The in-memory reference evaluator: one filter against one assembled trace and its summary
//! (spec §3.4). It is the oracle the SQL path is checked against, so it favours plain code
//! over speed.

use std::collections::HashMap;

use fluoro_proto::api::{
    ResponseTimeRootCauseEntity, RootCause, RootCauseEntity, RootCauseService, ServiceId,
    TraceSummary,
};
use fluoro_proto::segment::{AnnotationValue, Segment};

use super::ast::{
    Comparison, Filter, GroupKey, Keyword, NodeRef, Op, RootCauseKind, RootCauseLevel, Value,
    ValueType,
};
use crate::trace::{AssembledTrace, service_id};

/// A group the evaluator can resolve `group.name` / `group.arn` against.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupFilter {
    /// The group's name.
    pub name: String,
    /// The group's ARN.
    pub arn: String,
    /// The group's parsed filter expression.
    pub filter: Filter,
}

/// Evaluation settings.
#[derive(Debug, Clone, Copy, Default)]
pub struct EvalOptions<'a> {
    /// Groups known to `group.name` / `group.arn` (an unknown group matches nothing).
    pub groups: &'a [GroupFilter],
    /// Compare strings ignoring ASCII case (default: case-sensitive; spec §3.3 leaves this
    /// open).
    pub ignore_case: bool,
}

/// Whether the trace satisfies the filter, with no groups known and case-sensitive strings.
pub fn matches(filter: &Filter, trace: &AssembledTrace, summary: &TraceSummary) -> bool {
    matches_with(filter, trace, summary, &EvalOptions::default())
}

/// Whether the trace satisfies the filter, with these options.
pub fn matches_with(
    filter: &Filter,
    trace: &AssembledTrace,
    summary: &TraceSummary,
    options: &EvalOptions<'_>,
) -> bool {
    let mut ev = Evaluator {
        trace,
        summary,
        options,
        root: root_segment(trace),
        groups_open: Vec::new(),
        edges: None,
    };
    ev.eval(filter, &Subject::Trace)
}

/// What a (sub-)expression is evaluated against.
enum Subject<'s> {
    /// The trace as a whole (its root segment and summary).
    Trace,
    /// One segment (in `service() {}`) or call record (in `edge() {}`).
    Segment(&'s Segment),
    /// One root-cause element.
    RootCause(&'s RcElem),
}

/// A keyword's value(s) for a subject.
enum Val {
    Bool(bool),
    Num(Option<f64>),
    /// Every value the subject has (existential comparison); empty when it has none.
    Str(Vec<String>),
}

struct Evaluator<'a> {
    trace: &'a AssembledTrace,
    summary: &'a TraceSummary,
    options: &'a EvalOptions<'a>,
    root: Option<&'a Segment>,
    /// Indices of the groups being evaluated (cycle detection).
    groups_open: Vec<usize>,
    /// The trace's edges, computed on first use.
    edges: Option<Vec<Edge<'a>>>,
}

/// One call between two nodes and its record (spec §4.3 step 3).
struct Edge<'a> {
    from: ServiceId,
    to: ServiceId,
    record: &'a Segment,
}

impl<'a> Evaluator<'a> {
    fn eval(&mut self, f: &Filter, subject: &Subject<'_>) -> bool {
        match f {
            Filter::All => true,
            Filter::And(items) => items.iter().all(|i| self.eval(i, subject)),
            Filter::Or(items) => items.iter().any(|i| self.eval(i, subject)),
            Filter::Not(inner) => !self.eval(inner, subject),
            Filter::Test(t) => {
                let v = self.keyword_value(t.keyword, subject);
                self.compare(&v, &t.cmp)
            }
            Filter::Annotation { key, cmp } => {
                let values = match subject {
                    Subject::Trace => self.trace_annotations(key),
                    Subject::Segment(seg) => segment_annotations(seg, key),
                    Subject::RootCause(_) => Vec::new(),
                };
                self.compare_annotation(&values, cmp)
            }
            Filter::Service { node, block } => {
                let trace = self.trace;
                trace.segments.iter().any(|seg| {
                    let sid = service_id(seg);
                    node.as_ref().is_none_or(|n| node_matches(n, &sid))
                        && block
                            .as_deref()
                            .is_none_or(|b| self.eval(b, &Subject::Segment(seg)))
                })
            }
            Filter::Edge { from, to, block } => {
                let edges = self.edges.take().unwrap_or_else(|| edges(self.trace));
                let found = edges.iter().any(|e| {
                    node_matches(from, &e.from)
                        && node_matches(to, &e.to)
                        && block
                            .as_deref()
                            .is_none_or(|b| self.eval(b, &Subject::Segment(e.record)))
                });
                self.edges = Some(edges);
                found
            }
            Filter::Group { by, equal, value } => self.group(*by, value) == *equal,
            Filter::RootCause { kind, level, block } => {
                let elems = root_cause_elements(self.summary, *kind, *level);
                elems.iter().any(|e| {
                    block
                        .as_deref()
                        .is_none_or(|b| self.eval(b, &Subject::RootCause(e)))
                })
            }
            Filter::RootCauseJson(patterns) => {
                let causes = all_root_causes_json(self.summary);
                let ic = self.options.ignore_case;
                patterns
                    .iter()
                    .all(|p| causes.iter().any(|c| json_matches(p, c, ic)))
            }
        }
    }

    fn group(&mut self, by: GroupKey, value: &str) -> bool {
        let groups = self.options.groups;
        let Some(i) = groups.iter().position(|g| match by {
            GroupKey::Name => g.name == value,
            GroupKey::Arn => g.arn == value,
        }) else {
            return false;
        };
        if self.groups_open.contains(&i) {
            // A group whose filter refers back to itself: the cycle matches nothing.
            return false;
        }
        self.groups_open.push(i);
        let r = self.eval(&groups[i].filter, &Subject::Trace);
        self.groups_open.pop();
        r
    }

    fn keyword_value(&self, k: Keyword, subject: &Subject<'_>) -> Val {
        match subject {
            Subject::Trace => self.trace_value(k),
            Subject::Segment(seg) => self.segment_value(k, seg),
            Subject::RootCause(e) => root_cause_value(k, e),
        }
    }

    fn trace_value(&self, k: Keyword) -> Val {
        let s = self.summary;
        let http = s.http.as_ref();
        let flag = |b: Option<bool>| b == Some(true);
        let one = |v: Option<&String>| Val::Str(v.cloned().into_iter().collect());
        match k {
            Keyword::Ok => Val::Bool(!flag(s.has_fault) && !flag(s.has_error)),
            Keyword::Error => Val::Bool(flag(s.has_error)),
            Keyword::Fault => Val::Bool(flag(s.has_fault)),
            Keyword::Throttle => Val::Bool(flag(s.has_throttle)),
            Keyword::Partial => Val::Bool(flag(s.is_partial)),
            Keyword::Inferred => Val::Bool(
                self.trace
                    .segments
                    .iter()
                    .any(|seg| seg.inferred == Some(true)),
            ),
            Keyword::ResponseTime => Val::Num(s.response_time),
            Keyword::Duration => Val::Num(s.duration),
            Keyword::HttpStatus => Val::Num(http.and_then(|h| h.http_status).map(f64::from)),
            Keyword::HttpUrl => one(http.and_then(|h| h.http_url.as_ref())),
            Keyword::HttpMethod => one(http.and_then(|h| h.http_method.as_ref())),
            Keyword::HttpUserAgent => one(http.and_then(|h| h.user_agent.as_ref())),
            Keyword::HttpClientIp => one(http.and_then(|h| h.client_ip.as_ref())),
            Keyword::User => Val::Str(
                s.users
                    .iter()
                    .flatten()
                    .filter_map(|u| u.user_name.clone())
                    .collect(),
            ),
            Keyword::AvailabilityZone => Val::Str(
                s.availability_zones
                    .iter()
                    .flatten()
                    .filter_map(|z| z.name.clone())
                    .collect(),
            ),
            Keyword::InstanceId => Val::Str(
                s.instance_ids
                    .iter()
                    .flatten()
                    .filter_map(|i| i.id.clone())
                    .collect(),
            ),
            Keyword::ResourceArn => Val::Str(
                s.resource_arns
                    .iter()
                    .flatten()
                    .filter_map(|a| a.arn.clone())
                    .collect(),
            ),
            // Not valid at the trace level (the parser rejects them): no value.
            other => absent(other.value_type()),
        }
    }

    fn segment_value(&self, k: Keyword, seg: &Segment) -> Val {
        let req = seg.http.as_ref().and_then(|h| h.request.as_ref());
        let one = |v: Option<&String>| Val::Str(v.cloned().into_iter().collect());
        let ec2 = seg.aws.as_ref().and_then(|a| a.ec2.as_deref());
        let ecs = seg.aws.as_ref().and_then(|a| a.ecs.as_deref());
        match k {
            Keyword::Ok => Val::Bool(!is_faulted(seg) && !is_errored(seg) && !is_throttled(seg)),
            Keyword::Error => Val::Bool(is_errored(seg)),
            Keyword::Fault => Val::Bool(is_faulted(seg)),
            Keyword::Throttle => Val::Bool(is_throttled(seg)),
            Keyword::Partial => Val::Bool(!is_complete(seg)),
            Keyword::Inferred => Val::Bool(seg.inferred == Some(true)),
            Keyword::Root => Val::Bool(self.root.is_some_and(|r| std::ptr::eq(r, seg))),
            Keyword::ResponseTime => Val::Num(response_time(seg)),
            Keyword::Duration => Val::Num(duration(seg)),
            Keyword::HttpStatus => Val::Num(status(seg).map(|s| s as f64)),
            Keyword::HttpUrl => one(req.and_then(|r| r.url.as_ref())),
            Keyword::HttpMethod => one(req.and_then(|r| r.method.as_ref())),
            Keyword::HttpUserAgent => one(req.and_then(|r| r.user_agent.as_ref())),
            Keyword::HttpClientIp => one(req.and_then(|r| r.client_ip.as_ref())),
            Keyword::User => one(seg.user.as_ref()),
            Keyword::Name => {
                let sid = service_id(seg);
                let mut names: Vec<String> = sid.name.into_iter().collect();
                for n in sid.names.into_iter().flatten() {
                    if !names.contains(&n) {
                        names.push(n);
                    }
                }
                Val::Str(names)
            }
            Keyword::Type => Val::Str(service_id(seg).r#type.into_iter().collect()),
            Keyword::AvailabilityZone => Val::Str(
                ec2.and_then(|e| e.availability_zone.clone())
                    .into_iter()
                    .chain(ecs.and_then(|e| e.availability_zone.clone()))
                    .collect(),
            ),
            Keyword::InstanceId => one(ec2.and_then(|e| e.instance_id.as_ref())),
            Keyword::ResourceArn => one(seg.resource_arn.as_ref()),
            other => absent(other.value_type()),
        }
    }

    fn trace_annotations(&self, key: &str) -> Vec<AVal> {
        let Some(values) = self.summary.annotations.as_ref().and_then(|a| a.get(key)) else {
            return Vec::new();
        };
        values
            .iter()
            .filter_map(|v| {
                let v = v.annotation_value.as_ref()?;
                if let Some(s) = &v.string_value {
                    Some(AVal::Str(s.clone()))
                } else if let Some(n) = v.number_value {
                    Some(AVal::Num(n))
                } else {
                    v.boolean_value.map(AVal::Bool)
                }
            })
            .collect()
    }

    fn compare(&self, v: &Val, cmp: &Comparison) -> bool {
        match (v, cmp) {
            (Val::Bool(b), Comparison::Present) => *b,
            (Val::Bool(b), Comparison::Is(op, Value::Bool(want))) => match op {
                Op::Eq => b == want,
                Op::Ne => b != want,
                _ => false,
            },
            (Val::Num(n), Comparison::Present) => n.is_some(),
            (Val::Num(Some(n)), Comparison::Is(op, Value::Number(want))) => num_op(*n, *op, *want),
            (Val::Str(list), Comparison::Present) => !list.is_empty(),
            (Val::Str(list), Comparison::Is(op, Value::String(want))) => list
                .iter()
                .any(|s| str_op(s, *op, want, self.options.ignore_case)),
            _ => false,
        }
    }

    fn compare_annotation(&self, values: &[AVal], cmp: &Comparison) -> bool {
        values.iter().any(|v| match (v, cmp) {
            (AVal::Bool(b), Comparison::Present) => *b,
            (_, Comparison::Present) => true,
            (AVal::Bool(b), Comparison::Is(op, Value::Bool(want))) => match op {
                Op::Eq => b == want,
                Op::Ne => b != want,
                _ => false,
            },
            (AVal::Num(n), Comparison::Is(op, Value::Number(want))) => num_op(*n, *op, *want),
            (AVal::Str(s), Comparison::Is(op, Value::String(want))) => {
                str_op(s, *op, want, self.options.ignore_case)
            }
            // A value of another type than the one compared with.
            _ => false,
        })
    }
}

fn absent(ty: ValueType) -> Val {
    match ty {
        ValueType::Bool => Val::Bool(false),
        ValueType::Number => Val::Num(None),
        ValueType::String => Val::Str(Vec::new()),
    }
}

fn num_op(n: f64, op: Op, want: f64) -> bool {
    match op {
        Op::Eq => n == want,
        Op::Ne => n != want,
        Op::Lt => n < want,
        Op::Le => n <= want,
        Op::Gt => n > want,
        Op::Ge => n >= want,
        Op::Contains | Op::BeginsWith | Op::EndsWith => false,
    }
}

fn str_op(s: &str, op: Op, want: &str, ignore_case: bool) -> bool {
    let (s, want) = if ignore_case {
        (s.to_ascii_lowercase(), want.to_ascii_lowercase())
    } else {
        (s.to_owned(), want.to_owned())
    };
    match op {
        Op::Eq => s == want,
        Op::Ne => s != want,
        Op::Contains => s.contains(&want),
        Op::BeginsWith => s.starts_with(&want),
        Op::EndsWith => s.ends_with(&want),
        Op::Lt | Op::Le | Op::Gt | Op::Ge => false,
    }
}

/// An indexed annotation value.
enum AVal {
    Str(String),
    Num(f64),
    Bool(bool),
}

/// The annotations recorded under `key` by a segment and its subsegments.
fn segment_annotations(seg: &Segment, key: &str) -> Vec<AVal> {
    let mut out = Vec::new();
    seg.walk(&mut |e| {
        if let Some(v) = e.annotations.as_ref().and_then(|a| a.get(key)) {
            match v {
                AnnotationValue::String(s) => out.push(AVal::Str(s.clone())),
                AnnotationValue::Number(n) => {
                    if let Some(n) = n.as_f64() {
                        out.push(AVal::Num(n));
                    }
                }
                AnnotationValue::Bool(b) => out.push(AVal::Bool(*b)),
                AnnotationValue::Other(_) => {}
            }
        }
    });
    out
}

/// The root segment, chosen as `trace::summarize` does: the earliest real segment without
/// `parent_id`, else the earliest real segment.
fn root_segment(trace: &AssembledTrace) -> Option<&Segment> {
    let real = || trace.segments.iter().filter(|s| s.inferred != Some(true));
    real()
        .find(|s| s.parent_id.is_none())
        .or_else(|| real().next())
}

fn node_matches(n: &NodeRef, sid: &ServiceId) -> bool {
    n.name.as_ref().is_none_or(|name| {
        sid.name.as_ref() == Some(name) || sid.names.iter().flatten().any(|x| x == name)
    }) && n
        .r#type
        .as_ref()
        .is_none_or(|t| sid.r#type.as_ref() == Some(t))
        && n.account_id
            .as_ref()
            .is_none_or(|a| sid.account_id.as_ref() == Some(a))
}

/// The calls between nodes of the trace (spec §4.3 step 3): for each segment whose `parent_id`
/// names an entity of another node's segment, an edge from that node to the segment's node,
/// whose record is the calling subsegment (or the segment itself when its parent is a
/// segment). Client edges are not included.
fn edges(trace: &AssembledTrace) -> Vec<Edge<'_>> {
    // Entity id → (entity, index of the segment it belongs to, is a segment).
    let mut by_id: HashMap<&str, (&Segment, usize, bool)> = HashMap::new();
    for (i, seg) in trace.segments.iter().enumerate() {
        seg.walk(&mut |e| {
            if let Some(id) = e.id.as_deref() {
                by_id.entry(id).or_insert((e, i, std::ptr::eq(e, seg)));
            }
        });
    }
    let mut out = Vec::new();
    for seg in &trace.segments {
        let Some(&(caller, owner, caller_is_segment)) =
            seg.parent_id.as_deref().and_then(|p| by_id.get(p))
        else {
            continue;
        };
        let from = service_id(&trace.segments[owner]);
        let to = service_id(seg);
        if from == to {
            continue;
        }
        out.push(Edge {
            from,
            to,
            record: if caller_is_segment { seg } else { caller },
        });
    }
    out
}

fn status(seg: &Segment) -> Option<i64> {
    seg.http
        .as_ref()?
        .response
        .as_ref()?
        .status
        .as_ref()?
        .as_i64()
}

pub(super) fn is_faulted(seg: &Segment) -> bool {
    seg.fault == Some(true) || status(seg).is_some_and(|s| (500..600).contains(&s))
}

/// `error` or `throttle` flag, or a 4xx response (a throttle is a client error).
pub(super) fn is_errored(seg: &Segment) -> bool {
    seg.error == Some(true)
        || seg.throttle == Some(true)
        || status(seg).is_some_and(|s| (400..500).contains(&s))
}

pub(super) fn is_throttled(seg: &Segment) -> bool {
    seg.throttle == Some(true) || status(seg) == Some(429)
}

fn is_complete(seg: &Segment) -> bool {
    seg.in_progress != Some(true) && seg.end_time.is_some()
}

/// `end_time - start_time` of a complete entity.
fn response_time(seg: &Segment) -> Option<f64> {
    if !is_complete(seg) {
        return None;
    }
    Some(seg.end_time.as_ref()?.as_secs_f64() - seg.start_time.as_ref()?.as_secs_f64())
}

/// From the start to the latest end in the entity's subtree (async work included).
fn duration(seg: &Segment) -> Option<f64> {
    let start = seg.start_time.as_ref()?.as_secs_f64();
    response_time(seg)?;
    let mut end = f64::NEG_INFINITY;
    seg.walk(&mut |e| {
        if let Some(t) = &e.end_time {
            end = end.max(t.as_secs_f64());
        }
    });
    Some(end - start)
}

/// One element of a root-cause list, with what the block keywords read.
#[derive(Debug, Clone, Default)]
struct RcElem {
    /// `name`: service names, entity name, or exception name.
    names: Vec<String>,
    /// `type`: the (enclosing) service's type.
    r#type: Option<String>,
    /// `message`: exception messages (of the exception, or of the entity's exceptions).
    messages: Vec<String>,
    /// `remote`: the entity (or the exception's entity) is remote.
    remote: bool,
    /// `inferred`: the (enclosing) service is inferred.
    inferred: bool,
    /// `coverage`: response-time entities only.
    coverage: Option<f64>,
    /// Position in the root cause's list at this level (0-based).
    index: usize,
    /// Last in that list.
    last: bool,
}

fn root_cause_value(k: Keyword, e: &RcElem) -> Val {
    match k {
        Keyword::Name => Val::Str(e.names.clone()),
        Keyword::Type => Val::Str(e.r#type.clone().into_iter().collect()),
        Keyword::Message => Val::Str(e.messages.clone()),
        Keyword::Remote => Val::Bool(e.remote),
        Keyword::Inferred => Val::Bool(e.inferred),
        Keyword::First => Val::Bool(e.index == 0),
        Keyword::Last => Val::Bool(e.last),
        Keyword::Index => Val::Num(Some(e.index as f64)),
        Keyword::Coverage => Val::Num(e.coverage),
        other => absent(other.value_type()),
    }
}

/// What root-cause elements need from an entity of either shape.
trait CauseEntity {
    fn name(&self) -> Option<&String>;
    fn exceptions(&self) -> Vec<(Option<String>, Option<String>)>;
    fn remote(&self) -> bool;
    fn coverage(&self) -> Option<f64>;
}

impl CauseEntity for RootCauseEntity {
    fn name(&self) -> Option<&String> {
        self.name.as_ref()
    }
    fn exceptions(&self) -> Vec<(Option<String>, Option<String>)> {
        self.exceptions
            .iter()
            .flatten()
            .map(|x| (x.name.clone(), x.message.clone()))
            .collect()
    }
    fn remote(&self) -> bool {
        self.remote == Some(true)
    }
    fn coverage(&self) -> Option<f64> {
        None
    }
}

impl CauseEntity for ResponseTimeRootCauseEntity {
    fn name(&self) -> Option<&String> {
        self.name.as_ref()
    }
    fn exceptions(&self) -> Vec<(Option<String>, Option<String>)> {
        Vec::new()
    }
    fn remote(&self) -> bool {
        self.remote == Some(true)
    }
    fn coverage(&self) -> Option<f64> {
        self.coverage
    }
}

fn root_cause_elements(
    s: &TraceSummary,
    kind: RootCauseKind,
    level: RootCauseLevel,
) -> Vec<RcElem> {
    match kind {
        RootCauseKind::Fault => elements(s.fault_root_causes.iter().flatten(), level),
        RootCauseKind::Error => elements(s.error_root_causes.iter().flatten(), level),
        RootCauseKind::ResponseTime => {
            elements(s.response_time_root_causes.iter().flatten(), level)
        }
    }
}

/// The elements of every root cause at a level; index/first/last are per root cause.
fn elements<'c, E: CauseEntity + 'c>(
    causes: impl Iterator<Item = &'c RootCause<E>>,
    level: RootCauseLevel,
) -> Vec<RcElem> {
    let mut out = Vec::new();
    for cause in causes {
        let mut list: Vec<RcElem> = Vec::new();
        for svc in cause.services.iter().flatten() {
            service_elements(svc, level, &mut list);
        }
        let n = list.len();
        for (i, mut e) in list.into_iter().enumerate() {
            e.index = i;
            e.last = i + 1 == n;
            out.push(e);
        }
    }
    out
}

fn service_elements<E: CauseEntity>(
    svc: &RootCauseService<E>,
    level: RootCauseLevel,
    list: &mut Vec<RcElem>,
) {
    let inferred = svc.inferred == Some(true);
    let entities = svc.entity_path.iter().flatten();
    match level {
        RootCauseLevel::Service => {
            let mut names: Vec<String> = svc.name.clone().into_iter().collect();
            for n in svc.names.iter().flatten() {
                if !names.contains(n) {
                    names.push(n.clone());
                }
            }
            list.push(RcElem {
                names,
                r#type: svc.r#type.clone(),
                messages: entities
                    .flat_map(|e| e.exceptions())
                    .filter_map(|(_, m)| m)
                    .collect(),
                inferred,
                ..RcElem::default()
            });
        }
        RootCauseLevel::Entity => {
            for e in entities {
                list.push(RcElem {
                    names: e.name().cloned().into_iter().collect(),
                    r#type: svc.r#type.clone(),
                    messages: e.exceptions().into_iter().filter_map(|(_, m)| m).collect(),
                    remote: e.remote(),
                    inferred,
                    coverage: e.coverage(),
                    ..RcElem::default()
                });
            }
        }
        RootCauseLevel::Exception => {
            for e in entities {
                for (name, message) in e.exceptions() {
                    list.push(RcElem {
                        names: name.into_iter().collect(),
                        r#type: svc.r#type.clone(),
                        messages: message.into_iter().collect(),
                        remote: e.remote(),
                        inferred,
                        ..RcElem::default()
                    });
                }
            }
        }
    }
}

/// Every root cause of the trace (fault, error, response time) as API JSON.
fn all_root_causes_json(s: &TraceSummary) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for c in s.fault_root_causes.iter().flatten() {
        out.extend(serde_json::to_value(c).ok());
    }
    for c in s.error_root_causes.iter().flatten() {
        out.extend(serde_json::to_value(c).ok());
    }
    for c in s.response_time_root_causes.iter().flatten() {
        out.extend(serde_json::to_value(c).ok());
    }
    out
}

/// A JSON pattern against a value: objects match when every member of the pattern matches the
/// value's member of that name; arrays element by element with the same length; numbers by
/// value; everything else by equality.
fn json_matches(p: &serde_json::Value, v: &serde_json::Value, ignore_case: bool) -> bool {
    use serde_json::Value as J;
    match (p, v) {
        (J::Object(pm), J::Object(vm)) => pm.iter().all(|(k, pv)| {
            vm.get(k)
                .is_some_and(|vv| json_matches(pv, vv, ignore_case))
        }),
        (J::Array(pa), J::Array(va)) => {
            pa.len() == va.len()
                && pa
                    .iter()
                    .zip(va)
                    .all(|(a, b)| json_matches(a, b, ignore_case))
        }
        (J::Number(a), J::Number(b)) => a.as_f64() == b.as_f64(),
        (J::String(a), J::String(b)) => str_op(b, Op::Eq, a, ignore_case),
        _ => p == v,
    }
}

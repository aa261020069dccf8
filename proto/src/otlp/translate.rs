//! OpenTelemetry spans → X-Ray segment documents.
//!
//! One span becomes one top-level document, following the conventions AWS's own exporter and
//! the X-Ray SDKs share (the mapping table is in `docs/opentelemetry.md`):
//!
//! - `SERVER` and `CONSUMER` spans, and spans without a parent, become **segments** named after
//!   the resource's `service.name`; every other span becomes an **independent subsegment**
//!   (`"type": "subsegment"`, `parent_id` = the parent span) that the collector merges under
//!   its parent when it assembles the trace;
//! - `CLIENT` and `PRODUCER` spans are downstream calls: `namespace: aws` and the AWS service
//!   name for AWS SDK spans (`rpc.system = aws-api`), `namespace: remote` and the peer's name
//!   for the rest, so the service graph draws (or infers) the downstream node;
//! - `http.*`, `url.*`, `server.*`, `client.*`, `user_agent.*` (old and new semantic-convention
//!   names) fill `http`; `aws.*` and `rpc.*` fill `aws`; `db.*` fills `sql`;
//! - resource attributes give the segment's `origin` (`cloud.platform`), its `aws` block
//!   (EC2, ECS, EKS, Elastic Beanstalk, account) and `service.version`;
//! - span status, HTTP status and `exception` events give `error`/`throttle`/`fault`/`cause`;
//! - other attributes become annotations when their value is a string, number or bool and
//!   [`TranslateOptions::indexed`] selects them (keys rewritten to X-Ray's `[A-Za-z0-9_]`), and
//!   metadata (`default` namespace, original keys) otherwise;
//! - span links become `links`.
//!
//! Ids are kept bit for bit: the 128-bit trace id is written in its X-Ray form
//! `1-<first 8 hex>-<last 24 hex>` (whether or not its first half is an epoch), the 64-bit span
//! id is the entity id. A span that cannot become a valid document (bad ids, no start time) is
//! rejected with a reason and the rest of the request is kept.

use std::collections::BTreeSet;
use std::fmt;

use serde_json::{Map, Number, Value};

use super::pb::collector::trace::v1::ExportTraceServiceRequest;
use super::pb::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use super::pb::trace::v1::{Span, span, status};
use crate::ids::{EntityId, TraceId};
use crate::segment::{
    AnnotationValue, Annotations, Aws, Cause, CauseDetails, Ec2, Ecs, Eks, ElasticBeanstalk,
    Exception, Http, HttpRequest, HttpResponse, IntOrString, Link, Metadata, Segment, Service, Sql,
    StackFrame, Timestamp, XraySdk,
};
use crate::validate::{MAX_NAME_CHARS, is_name_char};

/// Most annotations one document gets; further indexable attributes go to metadata.
pub const MAX_ANNOTATIONS: usize = 50;
/// Most stack frames kept per exception.
pub const MAX_STACK_FRAMES: usize = 50;
/// Name given to a document whose span and service have no usable name.
pub const FALLBACK_NAME: &str = "span";

/// Which span attributes become annotations (indexed, usable in filter expressions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Indexed {
    /// Every attribute with a string, number or bool value (the default).
    All,
    /// None: every attribute goes to metadata.
    None,
    /// Only these attribute keys (as the span carries them, before key rewriting).
    Keys(BTreeSet<String>),
}

impl Indexed {
    /// Parses `all`, `none` or a comma-separated list of attribute keys.
    pub fn parse(s: &str) -> Result<Indexed, String> {
        match s.trim() {
            "all" | "*" => Ok(Indexed::All),
            "none" | "" => Ok(Indexed::None),
            list => {
                let keys: BTreeSet<String> = list
                    .split(',')
                    .map(str::trim)
                    .filter(|k| !k.is_empty())
                    .map(str::to_owned)
                    .collect();
                if keys.is_empty() {
                    return Err(format!("{s:?}: expected all, none or a list of keys"));
                }
                Ok(Indexed::Keys(keys))
            }
        }
    }

    fn selects(&self, key: &str) -> bool {
        match self {
            Indexed::All => true,
            Indexed::None => false,
            Indexed::Keys(k) => k.contains(key),
        }
    }
}

/// How spans are translated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranslateOptions {
    /// Which attributes become annotations.
    pub indexed: Indexed,
}

impl Default for TranslateOptions {
    fn default() -> Self {
        TranslateOptions {
            indexed: Indexed::All,
        }
    }
}

/// Why a span was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SpanErrorCode {
    /// `trace_id` is not 16 bytes or is all zero.
    InvalidTraceId,
    /// `span_id` is not 8 bytes or is all zero.
    InvalidSpanId,
    /// `parent_span_id` is neither empty nor 8 non-zero bytes.
    InvalidParentSpanId,
    /// `start_time_unix_nano` is zero, or the end precedes the start.
    InvalidTime,
}

impl SpanErrorCode {
    /// The code as it appears in metrics and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            SpanErrorCode::InvalidTraceId => "InvalidTraceId",
            SpanErrorCode::InvalidSpanId => "InvalidSpanId",
            SpanErrorCode::InvalidParentSpanId => "InvalidParentSpanId",
            SpanErrorCode::InvalidTime => "InvalidTime",
        }
    }
}

/// A span that could not be translated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanError {
    /// What is wrong.
    pub code: SpanErrorCode,
    /// The span's id as hex, when it has one.
    pub span_id: String,
    /// Human-readable detail.
    pub reason: String,
}

impl fmt::Display for SpanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "span {:?}: {}: {}",
            self.span_id,
            self.code.as_str(),
            self.reason
        )
    }
}

impl std::error::Error for SpanError {}

/// The outcome of translating one export request.
#[derive(Debug, Clone, Default)]
pub struct Translation {
    /// One document per accepted span, in request order.
    pub segments: Vec<Segment>,
    /// One entry per rejected span.
    pub rejected: Vec<SpanError>,
}

/// Translates every span of an export request.
pub fn translate_request(req: &ExportTraceServiceRequest, opts: &TranslateOptions) -> Translation {
    let mut out = Translation::default();
    for rs in &req.resource_spans {
        let resource = rs.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
        let res = ResourceInfo::new(resource);
        for ss in &rs.scope_spans {
            for sp in &ss.spans {
                match translate_span(&res, ss.scope.as_ref(), sp, opts) {
                    Ok(seg) => out.segments.push(seg),
                    Err(e) => out.rejected.push(e),
                }
            }
        }
    }
    out
}

/// Nests translated documents whose parent is in the same batch under that parent, as embedded
/// subsegments (without their own `type`, `trace_id` and `parent_id`), the way X-Ray SDKs send a
/// segment with its subsegments: fewer, larger documents for the same entities. A document
/// whose parent is elsewhere stays independent, and so does a segment (a server span) under
/// another. When a nested document would exceed `max_document_bytes`, its children stay
/// independent instead (recursively), so nesting never turns a valid span into an invalid
/// document. Returns each document with its JSON, roots in first-seen order.
pub fn nest(segments: Vec<Segment>, max_document_bytes: usize) -> Vec<(Segment, String)> {
    use std::collections::{HashMap, HashSet};
    let n = segments.len();
    let mut parent: Vec<Option<usize>> = {
        let index: HashMap<(&str, &str), usize> = segments
            .iter()
            .enumerate()
            .filter_map(|(i, s)| Some(((s.trace_id.as_deref()?, s.id.as_deref()?), i)))
            .collect();
        segments
            .iter()
            .map(|s| {
                if !s.is_subsegment() {
                    return None;
                }
                let key = (s.trace_id.as_deref()?, s.parent_id.as_deref()?);
                index.get(&key).copied()
            })
            .collect()
    };
    // Malformed input can make a cycle of parents: cut it where the walk comes back.
    for i in 0..n {
        let mut seen = HashSet::new();
        let mut cur = i;
        while let Some(p) = parent[cur] {
            if !seen.insert(cur) {
                parent[cur] = None;
                break;
            }
            cur = p;
        }
    }
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, p) in parent.iter().enumerate() {
        if let Some(p) = p {
            children[*p].push(i);
        }
    }
    let mut slots: Vec<Option<Segment>> = segments.into_iter().map(Some).collect();
    let mut out = Vec::with_capacity(n);
    for (i, p) in parent.iter().enumerate() {
        if p.is_none()
            && let Some(tree) = take_tree(i, &mut slots, &children, false)
        {
            place(tree, &mut out, max_document_bytes);
        }
    }
    out
}

/// Document `i` with its descendants embedded (moved out of `slots`); `embedded` strips what
/// embedded subsegments do not carry.
fn take_tree(
    i: usize,
    slots: &mut [Option<Segment>],
    children: &[Vec<usize>],
    embedded: bool,
) -> Option<Segment> {
    let mut seg = slots[i].take()?;
    if embedded {
        seg.kind = None;
        seg.trace_id = None;
        seg.parent_id = None;
    }
    if !children[i].is_empty() {
        let subs: Vec<Segment> = children[i]
            .iter()
            .filter_map(|&c| take_tree(c, slots, children, true))
            .collect();
        seg.subsegments.get_or_insert_with(Vec::new).extend(subs);
    }
    Some(seg)
}

/// Emits a document with what was nested under it if it fits; otherwise the document alone and
/// each nested child (independent again, with what fits under it) on its own. Translated
/// documents carry no subsegments of their own, so everything under `tree` was nested here.
fn place(mut tree: Segment, out: &mut Vec<(Segment, String)>, max: usize) {
    let json = tree.to_json();
    if json.len() <= max || tree.subsegments.as_ref().is_none_or(Vec::is_empty) {
        out.push((tree, json));
        return;
    }
    let subs = tree.subsegments.take().unwrap_or_default();
    let (trace, id) = (tree.trace_id.clone(), tree.id.clone());
    let json = tree.to_json();
    out.push((tree, json));
    for mut child in subs {
        child.kind = Some("subsegment".to_owned());
        child.trace_id.clone_from(&trace);
        child.parent_id.clone_from(&id);
        place(child, out, max);
    }
}

/// What the resource contributes to every segment of its spans, computed once per resource.
#[derive(Debug, Clone, Default)]
pub struct ResourceInfo {
    service_name: Option<String>,
    origin: Option<&'static str>,
    service: Option<Service>,
    aws: Option<Aws>,
    metadata: Map<String, Value>,
}

impl ResourceInfo {
    /// Reads a resource's attributes.
    pub fn new(attrs: &[KeyValue]) -> ResourceInfo {
        let mut a = Attrs::new(attrs);
        let service_name = a.str(&["service.name"]).map(str::to_owned);
        let version = a.str(&["service.version"]).map(str::to_owned);
        let service = version.map(|v| Service {
            version: Some(v),
            ..Service::default()
        });
        let provider = a.str(&["cloud.provider"]);
        let platform = a.str(&["cloud.platform"]);
        let mut aws = Aws::default();
        let mut any_aws = false;
        let origin = match (provider, platform) {
            (Some("aws") | None, Some("aws_ec2")) => {
                aws.ec2 = Some(Box::new(Ec2 {
                    instance_id: a.string(&["host.id"]),
                    availability_zone: a.string(&["cloud.availability_zone"]),
                    instance_type: a.string(&["host.type"]),
                    ami_id: a.string(&["host.image.id"]),
                    ..Ec2::default()
                }));
                Some("AWS::EC2::Instance")
            }
            (Some("aws") | None, Some("aws_ecs")) => {
                aws.ecs = Some(Box::new(Ecs {
                    container: a.string(&["container.name", "host.name"]),
                    container_id: a.string(&["container.id"]),
                    container_arn: a.string(&["aws.ecs.container.arn"]),
                    task_arn: a.string(&["aws.ecs.task.arn"]),
                    task_family: a.string(&["aws.ecs.task.family"]),
                    cluster_arn: a.string(&["aws.ecs.cluster.arn"]),
                    availability_zone: a.string(&["cloud.availability_zone"]),
                    launch_type: a.string(&["aws.ecs.launchtype"]),
                    ..Ecs::default()
                }));
                Some("AWS::ECS::Container")
            }
            (Some("aws") | None, Some("aws_eks")) => {
                aws.eks = Some(Box::new(Eks {
                    pod: a.string(&["k8s.pod.name", "host.name"]),
                    cluster_name: a.string(&["k8s.cluster.name"]),
                    container_id: a.string(&["container.id"]),
                    ..Eks::default()
                }));
                Some("AWS::EKS::Container")
            }
            (Some("aws") | None, Some("aws_elastic_beanstalk")) => {
                aws.elastic_beanstalk = Some(Box::new(ElasticBeanstalk {
                    environment_name: a.string(&["service.namespace"]),
                    version_label: a.string(&["service.version"]),
                    deployment_id: a.int(&["service.instance.id"]).map(Number::from),
                    ..ElasticBeanstalk::default()
                }));
                Some("AWS::ElasticBeanstalk::Environment")
            }
            (Some("aws") | None, Some("aws_lambda")) => Some("AWS::Lambda::Function"),
            (Some("aws") | None, Some("aws_api_gateway")) => Some("AWS::ApiGateway::Stage"),
            _ => None,
        };
        any_aws |= origin.is_some();
        if let Some(acct) = a.string(&["cloud.account.id"]) {
            aws.account_id = Some(acct);
            any_aws = true;
        }
        if let Some(lang) = a.str(&["telemetry.sdk.language"]) {
            aws.xray = Some(Box::new(XraySdk {
                sdk: Some(format!("opentelemetry for {lang}")),
                sdk_version: a.string(&["telemetry.sdk.version"]),
                // Said only when true, as the X-Ray agents do.
                auto_instrumentation: a.str(&["telemetry.auto.version"]).map(|_| true),
                ..XraySdk::default()
            }));
            any_aws = true;
        }
        // Resource attributes the mapping above did not use, kept as metadata.
        let mut metadata = Map::new();
        for kv in a.unused() {
            if let Some(v) = kv.value.as_ref().and_then(any_to_json) {
                metadata.insert(kv.key.clone(), v);
            }
        }
        ResourceInfo {
            service_name,
            origin,
            service,
            aws: any_aws.then_some(aws),
            metadata,
        }
    }
}

/// Attributes with the keys the mapping consumed marked, so the rest can become annotations
/// and metadata.
struct Attrs<'a> {
    kv: &'a [KeyValue],
    used: Vec<bool>,
}

impl<'a> Attrs<'a> {
    fn new(kv: &'a [KeyValue]) -> Attrs<'a> {
        Attrs {
            kv,
            used: vec![false; kv.len()],
        }
    }

    /// The value of the first of `keys` present (later duplicates of a key are ignored).
    fn get(&mut self, keys: &[&str]) -> Option<&'a any_value::Value> {
        for key in keys {
            if let Some(i) = self.kv.iter().position(|kv| kv.key == *key)
                && let Some(v) = self.kv[i].value.as_ref().and_then(|v| v.value.as_ref())
            {
                self.used[i] = true;
                return Some(v);
            }
        }
        None
    }

    fn str(&mut self, keys: &[&str]) -> Option<&'a str> {
        for key in keys {
            if let Some(any_value::Value::StringValue(s)) = self.get(&[key])
                && !s.is_empty()
            {
                return Some(s);
            }
        }
        None
    }

    fn string(&mut self, keys: &[&str]) -> Option<String> {
        self.str(keys).map(str::to_owned)
    }

    fn int(&mut self, keys: &[&str]) -> Option<i64> {
        for key in keys {
            match self.get(&[key]) {
                Some(any_value::Value::IntValue(i)) => return Some(*i),
                Some(any_value::Value::StringValue(s)) => {
                    if let Ok(i) = s.trim().parse() {
                        return Some(i);
                    }
                }
                Some(any_value::Value::DoubleValue(d)) if d.fract() == 0.0 => {
                    return Some(*d as i64);
                }
                _ => {}
            }
        }
        None
    }

    /// Strings of a string array (or a single string) attribute.
    fn strings(&mut self, keys: &[&str]) -> Option<Vec<String>> {
        match self.get(keys)? {
            any_value::Value::StringValue(s) => Some(vec![s.clone()]),
            any_value::Value::ArrayValue(a) => Some(
                a.values
                    .iter()
                    .filter_map(|v| match &v.value {
                        Some(any_value::Value::StringValue(s)) => Some(s.clone()),
                        _ => None,
                    })
                    .collect(),
            ),
            _ => None,
        }
    }

    fn unused(&self) -> impl Iterator<Item = &'a KeyValue> + '_ {
        self.kv
            .iter()
            .zip(&self.used)
            .filter(|(_, used)| !**used)
            .map(|(kv, _)| kv)
    }
}

/// An OTLP attribute value as JSON (bytes as lowercase hex); `None` for an empty value.
/// (A profiling-only string-table reference counts as empty, as the specification asks of
/// non-profiling receivers.)
pub fn any_to_json(v: &AnyValue) -> Option<Value> {
    Some(match v.value.as_ref()? {
        any_value::Value::StringValueStrindex(_) => return None,
        any_value::Value::StringValue(s) => Value::String(s.clone()),
        any_value::Value::BoolValue(b) => Value::Bool(*b),
        any_value::Value::IntValue(i) => Value::Number((*i).into()),
        any_value::Value::DoubleValue(d) => Number::from_f64(*d).map_or(Value::Null, Value::Number),
        any_value::Value::BytesValue(b) => Value::String(hex(b)),
        any_value::Value::ArrayValue(a) => {
            Value::Array(a.values.iter().filter_map(any_to_json).collect())
        }
        any_value::Value::KvlistValue(l) => Value::Object(
            l.values
                .iter()
                .filter_map(|kv| Some((kv.key.clone(), any_to_json(kv.value.as_ref()?)?)))
                .collect(),
        ),
    })
}

fn hex(b: &[u8]) -> String {
    use fmt::Write as _;
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

/// The trace id of an OTLP span, if valid (16 bytes, not all zero).
pub fn trace_id_of(bytes: &[u8]) -> Option<TraceId> {
    let b: [u8; 16] = bytes.try_into().ok()?;
    let id = TraceId::from_bytes(b);
    (!id.is_noop()).then_some(id)
}

/// The entity id of an OTLP span id, if valid (8 bytes, not all zero).
pub fn entity_id_of(bytes: &[u8]) -> Option<EntityId> {
    let b: [u8; 8] = bytes.try_into().ok()?;
    let id = EntityId::from_bytes(b);
    (id != EntityId::NOOP).then_some(id)
}

/// A name X-Ray accepts: characters it does not allow are dropped, at most 200 characters.
pub fn sanitize_name(name: &str) -> Option<String> {
    let s: String = name
        .chars()
        .filter(|c| is_name_char(*c))
        .take(MAX_NAME_CHARS)
        .collect();
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

/// An annotation key X-Ray accepts: `[A-Za-z0-9_]`, other characters become `_`.
pub fn annotation_key(key: &str) -> String {
    key.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

fn secs(nanos: u64) -> Option<Timestamp> {
    // Microsecond precision, as X-Ray SDKs write: keeps documents short and round-trips.
    Timestamp::from_secs_f64((nanos / 1_000) as f64 / 1e6)
}

fn kind_name(kind: i32) -> &'static str {
    match span::SpanKind::try_from(kind) {
        Ok(span::SpanKind::Internal) => "INTERNAL",
        Ok(span::SpanKind::Server) => "SERVER",
        Ok(span::SpanKind::Client) => "CLIENT",
        Ok(span::SpanKind::Producer) => "PRODUCER",
        Ok(span::SpanKind::Consumer) => "CONSUMER",
        _ => "UNSPECIFIED",
    }
}

/// Translates one span.
pub fn translate_span(
    res: &ResourceInfo,
    scope: Option<&InstrumentationScope>,
    sp: &Span,
    opts: &TranslateOptions,
) -> Result<Segment, SpanError> {
    let fail = |code, reason: String| SpanError {
        code,
        span_id: hex(&sp.span_id),
        reason,
    };
    let trace = trace_id_of(&sp.trace_id).ok_or_else(|| {
        fail(
            SpanErrorCode::InvalidTraceId,
            format!(
                "trace id {:?} is not 16 bytes with a non-zero bit",
                hex(&sp.trace_id)
            ),
        )
    })?;
    let id = entity_id_of(&sp.span_id).ok_or_else(|| {
        fail(
            SpanErrorCode::InvalidSpanId,
            "span id is not 8 bytes with a non-zero bit".to_owned(),
        )
    })?;
    let parent = if sp.parent_span_id.is_empty() {
        None
    } else {
        Some(entity_id_of(&sp.parent_span_id).ok_or_else(|| {
            fail(
                SpanErrorCode::InvalidParentSpanId,
                format!(
                    "parent span id {:?} is not 8 bytes with a non-zero bit",
                    hex(&sp.parent_span_id)
                ),
            )
        })?)
    };
    if sp.start_time_unix_nano == 0 {
        return Err(fail(
            SpanErrorCode::InvalidTime,
            "start_time_unix_nano is 0".to_owned(),
        ));
    }
    if sp.end_time_unix_nano != 0 && sp.end_time_unix_nano < sp.start_time_unix_nano {
        return Err(fail(
            SpanErrorCode::InvalidTime,
            "end_time_unix_nano precedes start_time_unix_nano".to_owned(),
        ));
    }

    let kind = span::SpanKind::try_from(sp.kind).unwrap_or(span::SpanKind::Unspecified);
    let is_segment =
        matches!(kind, span::SpanKind::Server | span::SpanKind::Consumer) || parent.is_none();
    let is_call = matches!(kind, span::SpanKind::Client | span::SpanKind::Producer);

    let mut a = Attrs::new(&sp.attributes);
    let mut seg = Segment {
        id: Some(id.to_string()),
        trace_id: Some(trace.to_string()),
        parent_id: parent.map(|p| p.to_string()),
        start_time: secs(sp.start_time_unix_nano),
        ..Segment::default()
    };
    if sp.end_time_unix_nano == 0 {
        seg.in_progress = Some(true);
    } else {
        seg.end_time = secs(sp.end_time_unix_nano);
    }

    let http = http_block(&mut a, kind);
    let status_code = http
        .as_ref()
        .and_then(|h| h.response.as_ref())
        .and_then(|r| r.status.as_ref())
        .and_then(IntOrString::as_i64);
    let rpc_system = a.str(&["rpc.system"]);
    let is_aws_call = rpc_system == Some("aws-api");
    let aws_service = a.str(&["rpc.service", "aws.service"]);
    let mut aws = aws_block(&mut a, is_aws_call);
    let db_system = a.str(&["db.system.name", "db.system"]);
    let sql = db_system.map(|system| sql_block(&mut a, system));
    let peer = a.str(&["peer.service"]);
    let host = a.str(&[
        "server.address",
        "net.peer.name",
        "network.peer.address",
        "net.sock.peer.addr",
    ]);

    if is_segment {
        seg.name = res.service_name.as_deref().and_then(sanitize_name);
        seg.origin = res.origin.map(str::to_owned);
        seg.service = res.service.clone().map(Box::new);
        if let Some(r) = &res.aws {
            let mut merged = r.clone();
            if let Some(span_aws) = aws.take() {
                merge_aws(&mut merged, span_aws);
            }
            aws = Some(merged);
        }
        seg.user = a.string(&["enduser.id"]);
    } else {
        seg.kind = Some("subsegment".to_owned());
        if is_call {
            if is_aws_call {
                seg.namespace = Some("aws".to_owned());
                seg.name = aws_service.and_then(sanitize_name);
            } else {
                seg.namespace = Some("remote".to_owned());
                let url_host = http
                    .as_ref()
                    .and_then(|h| h.request.as_ref())
                    .and_then(|r| r.url.as_deref())
                    .and_then(url_host);
                let remote = match (peer, &sql, host.or(url_host)) {
                    (Some(p), _, _) => Some(p.to_owned()),
                    (None, Some(sql), Some(h)) => {
                        let db = sql.url.as_deref().unwrap_or(h);
                        Some(if db == h {
                            h.to_owned()
                        } else {
                            format!("{db}@{h}")
                        })
                    }
                    (None, _, Some(h)) => Some(h.to_owned()),
                    (None, _, None) => aws_service.map(str::to_owned),
                };
                seg.name = remote.as_deref().and_then(sanitize_name);
            }
        }
    }
    if seg.name.is_none() {
        seg.name = Some(sanitize_name(&sp.name).unwrap_or_else(|| FALLBACK_NAME.to_owned()));
    }

    // Errors: the HTTP status first (4xx error, 429 also throttle, 5xx fault), then the span
    // status (an error span with no HTTP verdict is a fault).
    let otel_error = sp
        .status
        .as_ref()
        .is_some_and(|s| s.code == status::StatusCode::Error as i32);
    match status_code {
        Some(429) => {
            seg.error = Some(true);
            seg.throttle = Some(true);
        }
        Some(400..=499) => seg.error = Some(true),
        Some(500..=599) => seg.fault = Some(true),
        _ if otel_error => seg.fault = Some(true),
        _ => {}
    }
    let status_message = sp
        .status
        .as_ref()
        .filter(|_| otel_error)
        .map(|s| s.message.as_str())
        .filter(|m| !m.is_empty());
    seg.cause = cause(sp, id, status_message).map(Box::new);

    seg.http = http.map(Box::new);
    seg.aws = aws.map(Box::new);
    seg.sql = sql.map(Box::new);
    seg.links = links(sp);

    let (annotations, mut metadata) = attributes(&a, &opts.indexed);
    if !annotations.is_empty() {
        seg.annotations = Some(annotations);
    }
    // `metadata.otel` says only what the document cannot: the kind when it is not the one its
    // form implies, the span name when it is neither the document's name nor, for an AWS
    // call, `<service>.<operation>` (the AWS SDK instrumentations' name).
    let mut otel = Map::new();
    if kind != implied_kind(&seg) {
        otel.insert("kind".into(), Value::String(kind_name(sp.kind).to_owned()));
    }
    if sp.name != implied_span_name(&seg) {
        otel.insert("span_name".into(), Value::String(sp.name.clone()));
    }
    if let Some(s) = scope.filter(|s| !s.name.is_empty()) {
        let mut m = Map::new();
        m.insert("name".into(), Value::String(s.name.clone()));
        if !s.version.is_empty() {
            m.insert("version".into(), Value::String(s.version.clone()));
        }
        otel.insert("scope".into(), Value::Object(m));
    }
    if is_segment && !res.metadata.is_empty() {
        otel.insert("resource".into(), Value::Object(res.metadata.clone()));
    }
    if !otel.is_empty() {
        metadata.insert("otel".into(), Value::Object(otel));
    }
    if !metadata.is_empty() {
        seg.metadata = Some(metadata);
    }
    Ok(seg)
}

/// The span kind a document's form implies: `SERVER` for a segment, `CLIENT` for an `aws` or
/// `remote` subsegment, `INTERNAL` for any other subsegment (what [`super::export`] gives back
/// when the document records no kind).
pub fn implied_kind(seg: &Segment) -> span::SpanKind {
    if !seg.is_subsegment() {
        span::SpanKind::Server
    } else if matches!(seg.namespace.as_deref(), Some("aws" | "remote")) {
        span::SpanKind::Client
    } else {
        span::SpanKind::Internal
    }
}

/// The span name a document implies: `<service>.<operation>` for an AWS call with an
/// operation, its name otherwise.
pub fn implied_span_name(seg: &Segment) -> String {
    let name = seg.name.as_deref().unwrap_or(FALLBACK_NAME);
    match (
        seg.namespace.as_deref(),
        seg.aws.as_ref().and_then(|a| a.operation.as_deref()),
    ) {
        (Some("aws"), Some(op)) => format!("{name}.{op}"),
        _ => name.to_owned(),
    }
}

fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host.starts_with('[') {
        host.split_once(']').map_or(host, |(h, _)| &h[1..])
    } else {
        host.split(':').next().unwrap_or(host)
    };
    (!host.is_empty()).then_some(host)
}

fn http_block(a: &mut Attrs<'_>, kind: span::SpanKind) -> Option<Http> {
    let method = a.string(&["http.request.method", "http.method"]);
    let status = a.int(&["http.response.status_code", "http.status_code"]);
    let user_agent = a.string(&["user_agent.original", "http.user_agent"]);
    let length = a.int(&["http.response.body.size", "http.response_content_length"]);
    let mut url = a.string(&["url.full", "http.url"]);
    if url.is_none() && (method.is_some() || status.is_some()) {
        let server = kind == span::SpanKind::Server;
        let scheme = a.str(&["url.scheme", "http.scheme"]).unwrap_or("http");
        let host = if server {
            a.str(&[
                "server.address",
                "http.host",
                "net.host.name",
                "http.server_name",
            ])
        } else {
            a.str(&["server.address", "net.peer.name", "http.host"])
        };
        let port = if server {
            a.int(&["server.port", "net.host.port"])
        } else {
            a.int(&["server.port", "net.peer.port"])
        };
        let target = match a.str(&["http.target"]) {
            Some(t) => Some(t.to_owned()),
            None => a.str(&["url.path"]).map(|p| match a.str(&["url.query"]) {
                Some(q) => format!("{p}?{q}"),
                None => p.to_owned(),
            }),
        };
        if let Some(host) = host {
            let default_port = matches!((scheme, port), ("http", Some(80)) | ("https", Some(443)));
            let port = port
                .filter(|_| !default_port)
                .map(|p| format!(":{p}"))
                .unwrap_or_default();
            url = Some(format!(
                "{scheme}://{host}{port}{}",
                target.as_deref().unwrap_or("")
            ));
        } else {
            url = target;
        }
    }
    let (client_ip, forwarded) = if kind == span::SpanKind::Server {
        match a.string(&["client.address", "http.client_ip"]) {
            Some(ip) => (Some(ip), Some(true)),
            None => (
                a.string(&["network.peer.address", "net.sock.peer.addr", "net.peer.ip"]),
                None,
            ),
        }
    } else {
        (None, None)
    };
    if method.is_none() && status.is_none() && url.is_none() {
        return None;
    }
    let request = HttpRequest {
        method,
        url,
        user_agent,
        client_ip,
        x_forwarded_for: forwarded,
        ..HttpRequest::default()
    };
    // A call known only by its status has no request block.
    let request = (request != HttpRequest::default()).then_some(request);
    let response = (status.is_some() || length.is_some()).then(|| HttpResponse {
        status: status.map(IntOrString::from),
        content_length: length.map(IntOrString::from),
        ..HttpResponse::default()
    });
    Some(Http {
        request,
        response,
        ..Http::default()
    })
}

fn aws_block(a: &mut Attrs<'_>, aws_call: bool) -> Option<Aws> {
    let mut aws = Aws {
        operation: a.string(&["aws.operation"]),
        region: a.string(&["aws.region"]),
        request_id: a.string(&["aws.request_id", "aws.requestId"]),
        queue_url: a.string(&["aws.sqs.queue_url", "aws.queue_url"]),
        bucket_name: a.string(&["aws.s3.bucket", "aws.bucket_name"]),
        function_name: a.string(&["aws.lambda.function.name", "aws.function_name"]),
        ..Aws::default()
    };
    if let Some(t) = a.str(&["aws.table_name"]) {
        aws.table_name = Some(t.to_owned());
    } else if let Some(mut tables) = a.strings(&["aws.dynamodb.table_names"]) {
        if tables.len() == 1 {
            aws.table_name = tables.pop();
        } else if !tables.is_empty() {
            aws.table_names = Some(tables);
        }
    }
    if aws_call {
        if aws.operation.is_none() {
            aws.operation = a.string(&["rpc.method"]);
        }
        if aws.queue_url.is_none() {
            aws.queue_url = a.string(&["messaging.url"]);
        }
    }
    (aws != Aws::default()).then_some(aws)
}

fn merge_aws(into: &mut Aws, from: Aws) {
    macro_rules! take {
        ($($f:ident),*) => { $( if from.$f.is_some() { into.$f = from.$f; } )* };
    }
    take!(
        operation,
        region,
        request_id,
        queue_url,
        bucket_name,
        function_name,
        table_name,
        table_names
    );
}

fn sql_block(a: &mut Attrs<'_>, system: &str) -> Sql {
    Sql {
        database_type: Some(system.to_owned()),
        url: a.string(&["db.namespace", "db.name"]),
        connection_string: a.string(&["db.connection_string"]),
        sanitized_query: a.string(&["db.query.text", "db.statement"]),
        user: a.string(&["db.user"]),
        ..Sql::default()
    }
}

fn cause(sp: &Span, id: EntityId, status_message: Option<&str>) -> Option<Cause> {
    let mut exceptions = Vec::new();
    for (i, ev) in sp.events.iter().enumerate() {
        if ev.name != "exception" {
            continue;
        }
        let mut a = Attrs::new(&ev.attributes);
        let stack = a.str(&["exception.stacktrace"]).map(stack_frames);
        // Stable per event, so a retried export writes the same document.
        let ex_id = EntityId::new(
            id.get()
                .rotate_left(17)
                .wrapping_add((i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15))
                | 1,
        );
        exceptions.push(Exception {
            id: Some(ex_id.to_string()),
            kind: a.string(&["exception.type"]),
            message: a.string(&["exception.message"]),
            truncated: stack.as_ref().map(|(_, t)| *t).filter(|t| *t > 0),
            stack: stack.map(|(frames, _)| frames),
            ..Exception::default()
        });
    }
    if exceptions.is_empty() {
        let msg = status_message?;
        exceptions.push(Exception {
            id: Some(EntityId::new(id.get().rotate_left(17) | 1).to_string()),
            message: Some(msg.to_owned()),
            ..Exception::default()
        });
    }
    Some(Cause::Details(CauseDetails {
        exceptions: Some(exceptions),
        ..CauseDetails::default()
    }))
}

/// Stack frames from an `exception.stacktrace`: Python's `File "p", line n, in f` and Java's
/// `at a.b.C.m(F.java:n)` lines are parsed; other lines are kept as labels. Returns the frames
/// (innermost first, at most [`MAX_STACK_FRAMES`]) and how many were dropped.
fn stack_frames(trace: &str) -> (Vec<StackFrame>, i64) {
    let mut frames = Vec::new();
    let mut python = false;
    for line in trace.lines() {
        let l = line.trim();
        if l.is_empty() {
            continue;
        }
        if let Some(rest) = l.strip_prefix("File \"") {
            python = true;
            let (path, rest) = rest.split_once('"').unwrap_or((rest, ""));
            let mut frame = StackFrame {
                path: Some(path.to_owned()),
                ..StackFrame::default()
            };
            for part in rest.split(',') {
                let part = part.trim();
                if let Some(n) = part.strip_prefix("line ") {
                    frame.line = n.trim().parse().ok();
                } else if let Some(f) = part.strip_prefix("in ") {
                    frame.label = Some(f.trim().to_owned());
                }
            }
            frames.push(frame);
        } else if let Some(rest) = l.strip_prefix("at ") {
            let (label, loc) = rest.split_once('(').unwrap_or((rest, ""));
            let loc = loc.trim_end_matches(')');
            let (path, line) = loc.rsplit_once(':').unwrap_or((loc, ""));
            frames.push(StackFrame {
                label: Some(label.to_owned()),
                path: (!path.is_empty()).then(|| path.to_owned()),
                line: line.parse().ok(),
                ..StackFrame::default()
            });
        }
    }
    // Python prints the innermost frame last; X-Ray lists it first.
    if python {
        frames.reverse();
    }
    let dropped = frames.len().saturating_sub(MAX_STACK_FRAMES);
    frames.truncate(MAX_STACK_FRAMES);
    (frames, dropped as i64)
}

fn links(sp: &Span) -> Option<Vec<Link>> {
    let out: Vec<Link> = sp
        .links
        .iter()
        .filter_map(|l| {
            let trace = trace_id_of(&l.trace_id)?;
            let id = entity_id_of(&l.span_id)?;
            let attributes: Map<String, Value> = l
                .attributes
                .iter()
                .filter_map(|kv| Some((kv.key.clone(), any_to_json(kv.value.as_ref()?)?)))
                .collect();
            Some(Link {
                trace_id: Some(trace.to_string()),
                id: Some(id.to_string()),
                attributes: (!attributes.is_empty()).then_some(attributes),
                ..Link::default()
            })
        })
        .collect();
    (!out.is_empty()).then_some(out)
}

/// Attributes the mapping did not consume: indexable ones to annotations (up to
/// [`MAX_ANNOTATIONS`]), the rest to metadata's `default` namespace.
fn attributes(a: &Attrs<'_>, indexed: &Indexed) -> (Annotations, Metadata) {
    let mut annotations = Annotations::new();
    let mut rest = Map::new();
    for kv in a.unused() {
        let Some(v) = kv.value.as_ref() else { continue };
        let scalar = match v.value.as_ref() {
            Some(any_value::Value::StringValue(s)) => Some(AnnotationValue::String(s.clone())),
            Some(any_value::Value::BoolValue(b)) => Some(AnnotationValue::Bool(*b)),
            Some(any_value::Value::IntValue(i)) => Some(AnnotationValue::Number((*i).into())),
            Some(any_value::Value::DoubleValue(d)) => {
                Number::from_f64(*d).map(AnnotationValue::Number)
            }
            _ => None,
        };
        match scalar {
            Some(s) if indexed.selects(&kv.key) && annotations.len() < MAX_ANNOTATIONS => {
                annotations.insert(annotation_key(&kv.key), s);
            }
            _ => {
                if let Some(j) = any_to_json(v) {
                    rest.insert(kv.key.clone(), j);
                }
            }
        }
    }
    let mut metadata = Metadata::new();
    if !rest.is_empty() {
        metadata.insert("default".into(), Value::Object(rest));
    }
    (annotations, metadata)
}

#[cfg(test)]
mod tests;

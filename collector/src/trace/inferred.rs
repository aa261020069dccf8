//! Inferred segments: what X-Ray generates for downstream calls that sent no segment of their
//! own (xray-api.md §2.2, §4.3 step 2; xray-wire.md §8).
//!
//! Rules:
//! - a candidate is a subsegment with `namespace` `aws` or `remote` that is the *outermost* such
//!   subsegment on its branch of a segment (calls nested inside a call are the client's detail,
//!   e.g. Go's `connect`/`dns` children);
//! - no inferred segment when a segment of the trace has `parent_id` equal to the call's id (the
//!   downstream is traced and represents itself);
//! - no inferred segment when the call says the downstream is traced (`traced: true` at the top
//!   level, as Node writes it, or in `http.request`, as Go does): its own segment is expected,
//!   and a stand-in would be a node that vanishes from the service graph when the real one
//!   arrives. Until it does the trace is partial (see `summary`);
//! - the inferred segment: id derived from the call's id (stable across assemblies),
//!   `parent_id` = the call's id, `trace_id`, the call's `start_time`/`end_time` (or
//!   `in_progress: true`), its `http` and `aws` (with `aws.resource_names` completed), its
//!   `error`/`throttle`/`fault` flags, `inferred: true`, and:
//!   - `aws` calls: `name` = the canonical AWS service name (`dynamodb` → `DynamoDB`), `origin`
//!     = the resource type when the call names one resource (`AWS::DynamoDB::Table`,
//!     `AWS::S3::Bucket`, `AWS::SQS::Queue`), else `AWS::<Service>` (`AWS::SNS` even with a
//!     topic, as observed; `AWS::Lambda` for Lambda);
//!   - `remote` calls: `name` = the call's name (a host, or `db@host` for SQL), `origin` =
//!     `remote`, the node type xray-api.md §4.3 gives remote nodes.
//!
//! Node identity of an inferred segment ([`inferred_node_name`]): resource-typed nodes are
//! named after the resource (a DynamoDB table node is named after its table, §4.2), others
//! after the segment.

use foldhash::{HashSet, HashSetExt};

use fluoro_proto::ids::EntityId;
use fluoro_proto::segment::{Aws, Segment};

/// The inferred segments for the calls in these (assembled, real) segments, in segment order.
pub(super) fn inferred_segments(segments: &[Segment], trace_id: &str) -> Vec<Segment> {
    let downstream: HashSet<&str> = segments
        .iter()
        .filter_map(|s| s.parent_id.as_deref())
        .collect();
    let mut ids: HashSet<&str> = HashSet::with_capacity(4 * segments.len());
    for s in segments {
        s.walk(&mut |e| {
            if let Some(id) = e.id.as_deref() {
                ids.insert(id);
            }
        });
    }
    let mut taken = Taken {
        ids,
        derived: HashSet::new(),
    };
    let mut out = Vec::new();
    for seg in segments {
        for sub in seg.subsegments.iter().flatten() {
            collect_calls(sub, &downstream, &mut |call| {
                if let Some(inf) = infer(call, trace_id, &mut taken) {
                    out.push(inf);
                }
            });
        }
    }
    out
}

/// Visits the outermost `aws`/`remote` subsegments of a subtree that have no downstream segment
/// and do not declare a traced downstream.
fn collect_calls<'s>(sub: &'s Segment, downstream: &HashSet<&str>, f: &mut dyn FnMut(&'s Segment)) {
    if is_call(sub) {
        let has_downstream = sub.id.as_deref().is_some_and(|id| downstream.contains(id));
        if !has_downstream && !declares_traced(sub) {
            f(sub);
        }
        return;
    }
    for c in sub.subsegments.iter().flatten() {
        collect_calls(c, downstream, f);
    }
}

/// A subsegment describing a downstream call.
pub(super) fn is_call(sub: &Segment) -> bool {
    matches!(sub.namespace.as_deref(), Some("aws" | "remote"))
}

/// The call says its downstream is instrumented (Node: top level; Go: `http.request`).
pub(super) fn declares_traced(sub: &Segment) -> bool {
    sub.traced == Some(true)
        || sub
            .http
            .as_ref()
            .and_then(|h| h.request.as_ref())
            .and_then(|r| r.traced)
            == Some(true)
}

/// Ids in use in a trace: its entities' and those given to inferred segments so far.
struct Taken<'a> {
    ids: HashSet<&'a str>,
    derived: HashSet<String>,
}

impl Taken<'_> {
    fn contains(&self, id: &str) -> bool {
        self.ids.contains(id) || self.derived.contains(id)
    }
}

fn infer(call: &Segment, trace_id: &str, taken: &mut Taken<'_>) -> Option<Segment> {
    let call_id = call.id.clone()?;
    let id = derive_id(&call_id, taken);
    taken.derived.insert(id.clone());
    let mut aws = call.aws.as_deref().cloned();
    let (name, origin) = if call.namespace.as_deref() == Some("aws") {
        let given = call.name.clone().unwrap_or_default();
        let service = canonical_service(&given);
        let name = service.map_or(given, |s| s.name.to_owned());
        let (origin, resources) = aws_resource(service, &name, aws.as_ref());
        if !resources.is_empty() {
            let a = aws.get_or_insert_with(Aws::default);
            let names = a.resource_names.get_or_insert_with(Vec::new);
            for r in resources {
                if !names.contains(&r) {
                    names.push(r);
                }
            }
        }
        (Some(name), origin)
    } else {
        (call.name.clone(), "remote".to_owned())
    };
    Some(Segment {
        id: Some(id),
        name,
        trace_id: Some(trace_id.to_owned()),
        parent_id: Some(call_id),
        start_time: call.start_time.clone(),
        end_time: call.end_time.clone(),
        in_progress: call.end_time.is_none().then_some(true),
        origin: Some(origin),
        http: call.http.clone(),
        aws: aws.map(Box::new),
        error: call.error,
        throttle: call.throttle,
        fault: call.fault,
        inferred: Some(true),
        ..Segment::default()
    })
}

/// A 16-hex id derived from the call's id: the same call always yields the same inferred id,
/// never one already used in the trace.
fn derive_id(call_id: &str, taken: &Taken<'_>) -> String {
    let seed = match EntityId::parse(call_id) {
        Ok(e) => e.get(),
        Err(_) => call_id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        }),
    };
    let mut x = seed ^ 0x1f3d_5b79_a0c2_e4f6;
    loop {
        x = splitmix64(x);
        let id = EntityId::new(x).to_string();
        if x != 0 && id != call_id && !taken.contains(&id) {
            return id;
        }
    }
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// An AWS service as X-Ray names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct AwsService {
    /// Canonical name (the inferred segment's name).
    pub(super) name: &'static str,
    /// `AWS::<...>` namespace of its origins.
    origin: &'static str,
}

const fn svc(name: &'static str, origin: &'static str) -> AwsService {
    AwsService { name, origin }
}

/// Canonical service for the name an SDK gave an `aws` subsegment: Python's endpoint prefix
/// (`dynamodb`), Node v3's client name (`DynamoDB`), Go's ServiceID (`Secrets Manager`), ...
/// Matching ignores case and anything not a letter or digit.
pub(super) fn canonical_service(sdk_name: &str) -> Option<AwsService> {
    let key: String = sdk_name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    Some(match key.as_str() {
        "dynamodb" => svc("DynamoDB", "DynamoDB"),
        "s3" => svc("S3", "S3"),
        "sqs" => svc("SQS", "SQS"),
        "sns" => svc("SNS", "SNS"),
        "lambda" => svc("Lambda", "Lambda"),
        "kinesis" => svc("Kinesis", "Kinesis"),
        "firehose" | "kinesisfirehose" => svc("Firehose", "KinesisFirehose"),
        "sts" => svc("STS", "STS"),
        "secretsmanager" => svc("SecretsManager", "SecretsManager"),
        "ssm" => svc("SSM", "SSM"),
        "eventbridge" | "events" | "cloudwatchevents" => svc("EventBridge", "Events"),
        "sfn" | "states" | "stepfunctions" => svc("StepFunctions", "StepFunctions"),
        "kms" => svc("KMS", "KMS"),
        "ses" | "sesv2" | "email" => svc("SES", "SES"),
        "cloudwatch" | "monitoring" => svc("CloudWatch", "CloudWatch"),
        "cloudwatchlogs" | "logs" => svc("CloudWatchLogs", "Logs"),
        "apigateway" => svc("APIGateway", "ApiGateway"),
        "athena" => svc("Athena", "Athena"),
        "ec2" => svc("EC2", "EC2"),
        "ecs" => svc("ECS", "ECS"),
        "iam" => svc("IAM", "IAM"),
        "cognitoidentityprovider" | "cognitoidp" => svc("CognitoIdentityProvider", "Cognito"),
        "bedrockruntime" => svc("BedrockRuntime", "Bedrock"),
        "appsync" => svc("AppSync", "AppSync"),
        "rds" => svc("RDS", "RDS"),
        "xray" => svc("XRay", "XRay"),
        _ => return None,
    })
}

/// Origins that name a single resource: inferred nodes of these types are named after it.
const RESOURCE_ORIGINS: &[&str] = &[
    "AWS::DynamoDB::Table",
    "AWS::S3::Bucket",
    "AWS::SQS::Queue",
    "AWS::Lambda",
];

/// Origin of the inferred segment and the resource names the call identifies.
fn aws_resource(
    service: Option<AwsService>,
    name: &str,
    aws: Option<&Aws>,
) -> (String, Vec<String>) {
    let extra_str = |key: &str| {
        aws.and_then(|a| a.extra.get(key))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    let Some(service) = service else {
        let ns: String = name.chars().filter(char::is_ascii_alphanumeric).collect();
        return (format!("AWS::{ns}"), Vec::new());
    };
    let base = format!("AWS::{}", service.origin);
    let resource = |kind: &str, r: String| (format!("{base}::{kind}"), vec![r]);
    match service.name {
        "DynamoDB" => {
            if let Some(t) = aws.and_then(|a| a.table_name.clone()) {
                return resource("Table", t);
            }
            match aws.and_then(|a| a.table_names.clone()) {
                Some(mut tables) if tables.len() == 1 => resource("Table", tables.remove(0)),
                Some(tables) => (base, tables),
                None => (base, Vec::new()),
            }
        }
        "S3" => match aws
            .and_then(|a| a.bucket_name.clone())
            .or_else(|| extra_str("bucket"))
        {
            Some(b) => resource("Bucket", b),
            None => (base, Vec::new()),
        },
        "SQS" => {
            let queue = aws
                .and_then(|a| a.queue_url.as_deref())
                .and_then(|u| u.trim_end_matches('/').rsplit('/').next())
                .filter(|q| !q.is_empty())
                .map(str::to_owned)
                .or_else(|| extra_str("queue_name"));
            match queue {
                Some(q) => resource("Queue", q),
                None => (base, Vec::new()),
            }
        }
        "SNS" => {
            let topic = aws.and_then(|a| a.topic_arn.clone());
            (base, topic.into_iter().collect())
        }
        "Lambda" => {
            let function = aws
                .and_then(|a| a.function_name.as_deref().or(a.function_arn.as_deref()))
                .map(function_name);
            (base, function.into_iter().collect())
        }
        "Kinesis" => (base, extra_str("stream_name").into_iter().collect()),
        _ => (base, Vec::new()),
    }
}

/// `orders-fn`, `arn:aws:lambda:us-east-1:123:function:orders-fn[:alias]` or
/// `123:function:orders-fn` → `orders-fn`.
fn function_name(s: &str) -> String {
    match s.split_once(":function:") {
        Some((_, rest)) => rest.split(':').next().unwrap_or(rest).to_owned(),
        None => s.to_owned(),
    }
}

/// The service-graph node name of an inferred segment whose type names a single resource (the
/// first of `aws.resource_names`); `None` for every other segment.
pub(super) fn inferred_node_name(seg: &Segment) -> Option<&str> {
    if seg.inferred != Some(true) {
        return None;
    }
    let origin = seg.origin.as_deref()?;
    if !RESOURCE_ORIGINS.contains(&origin) {
        return None;
    }
    seg.aws
        .as_ref()?
        .resource_names
        .as_ref()?
        .first()
        .map(String::as_str)
}

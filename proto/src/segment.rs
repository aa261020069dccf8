//! The typed model of X-Ray segment and subsegment documents.
//!
//! One [`Segment`] type serves segments, independent subsegments and embedded subsegments, as
//! X-Ray's own schema does. Every object in the model keeps the members it does not know in an
//! `extra` map, and a member that arrived as JSON `null` is kept there too, so that
//! `to_json(from_json(doc))` equals `doc` as a JSON value: nothing lost, nothing added. The quirks
//! real SDKs put on the wire parse without special cases: numbers or strings for `status` and
//! `content_length` ([`IntOrString`]), integer or fractional or exponent timestamps
//! ([`Timestamp`] keeps the number as written), `cause` as an object or a bare exception id
//! ([`Cause`]), `null` stack `line`/`path`, Go's `Dummy`, Node's top-level `traced`, Python's
//! `type`/`trace_id`/`in_progress` on embedded subsegments.
//!
//! The model holds data; [`crate::validate`] decides whether X-Ray would accept it.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

use crate::ids::{EntityId, IdError, TraceId};

/// A string (or map key) that borrows from the input when it has no escapes.
pub(crate) struct Key<'de>(pub(crate) Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// Declares a document object: every member optional, unknown members kept in `extra`.
///
/// Serialization writes the known members in declaration order, then `extra`. A known member
/// whose value is `null` is stored in `extra` as `null` (its typed field stays `None`).
macro_rules! document_object {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* $field:ident : $ty:ty = $key:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: Option<$ty>, )*
            /// Members this model does not name, and named members that were `null`.
            pub extra: Map<String, Value>,
        }

        impl $name {
            /// The member names this type models.
            pub const KNOWN_KEYS: &'static [&'static str] = &[$($key),*];
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(None)?;
                $( if let Some(v) = &self.$field { m.serialize_entry($key, v)?; } )*
                for (k, v) in &self.extra {
                    m.serialize_entry(k, v)?;
                }
                m.end()
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str(concat!("a JSON object (", stringify!($name), ")"))
                    }
                    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<$name, A::Error> {
                        let mut out = $name::default();
                        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
                            match &*key {
                                $( $key => {
                                    match map.next_value::<Option<$ty>>()? {
                                        Some(v) => {
                                            out.$field = Some(v);
                                            if !out.extra.is_empty() { out.extra.remove($key); }
                                        }
                                        None => {
                                            out.$field = None;
                                            out.extra.insert(key.into_owned(), Value::Null);
                                        }
                                    }
                                } )*
                                _ => {
                                    let v = map.next_value::<Value>()?;
                                    out.extra.insert(key.into_owned(), v);
                                }
                            }
                        }
                        Ok(out)
                    }
                }
                d.deserialize_map(V)
            }
        }
    };
}

/// An epoch-seconds timestamp, kept as the JSON number it was written as (so `1795795180` stays
/// an integer and `1.795795180909E9` re-reads as the same value).
#[derive(Clone, PartialEq)]
pub struct Timestamp(Number);

impl Timestamp {
    /// A timestamp from fractional epoch seconds; `None` for NaN or infinity.
    pub fn from_secs_f64(secs: f64) -> Option<Timestamp> {
        Number::from_f64(secs).map(Timestamp)
    }

    /// Fractional epoch seconds.
    pub fn as_secs_f64(&self) -> f64 {
        self.0.as_f64().unwrap_or(f64::NAN)
    }

    /// The number as written.
    pub fn as_number(&self) -> &Number {
        &self.0
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Number::deserialize(d).map(Timestamp)
    }
}

/// A number that some SDKs write as a string (`content_length` from Node's AWS SDK v2 patch,
/// `status: ""`). Kept as written.
#[derive(Debug, Clone, PartialEq)]
pub enum IntOrString {
    /// Written as a JSON number.
    Number(Number),
    /// Written as a JSON string.
    String(String),
}

impl IntOrString {
    /// The integer value, parsing a numeric string; `None` for anything else.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            IntOrString::Number(n) => n
                .as_i64()
                .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
            IntOrString::String(s) => s.trim().parse().ok(),
        }
    }
}

impl From<i64> for IntOrString {
    fn from(v: i64) -> Self {
        IntOrString::Number(v.into())
    }
}

impl Serialize for IntOrString {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            IntOrString::Number(n) => n.serialize(s),
            IntOrString::String(v) => s.serialize_str(v),
        }
    }
}

impl<'de> Deserialize<'de> for IntOrString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = IntOrString;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number or a string")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<IntOrString, E> {
                Ok(IntOrString::Number(v.into()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<IntOrString, E> {
                Ok(IntOrString::Number(v.into()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<IntOrString, E> {
                Number::from_f64(v)
                    .map(IntOrString::Number)
                    .ok_or_else(|| E::custom("not a finite number"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<IntOrString, E> {
                Ok(IntOrString::String(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<IntOrString, E> {
                Ok(IntOrString::String(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// An annotation value. X-Ray indexes strings, numbers and booleans; anything else is kept so
/// nothing is lost, but is not indexable.
#[derive(Debug, Clone, PartialEq)]
pub enum AnnotationValue {
    /// A string.
    String(String),
    /// A number, as written.
    Number(Number),
    /// A boolean.
    Bool(bool),
    /// `null`, an array or an object: kept, never indexed.
    Other(Value),
}

impl From<&str> for AnnotationValue {
    fn from(v: &str) -> Self {
        AnnotationValue::String(v.to_owned())
    }
}
impl From<String> for AnnotationValue {
    fn from(v: String) -> Self {
        AnnotationValue::String(v)
    }
}
impl From<bool> for AnnotationValue {
    fn from(v: bool) -> Self {
        AnnotationValue::Bool(v)
    }
}
impl From<i64> for AnnotationValue {
    fn from(v: i64) -> Self {
        AnnotationValue::Number(v.into())
    }
}

impl Serialize for AnnotationValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            AnnotationValue::String(v) => s.serialize_str(v),
            AnnotationValue::Number(n) => n.serialize(s),
            AnnotationValue::Bool(b) => s.serialize_bool(*b),
            AnnotationValue::Other(v) => v.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for AnnotationValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = AnnotationValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an annotation value")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<AnnotationValue, E> {
                Ok(AnnotationValue::Bool(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<AnnotationValue, E> {
                Ok(AnnotationValue::Number(v.into()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<AnnotationValue, E> {
                Ok(AnnotationValue::Number(v.into()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<AnnotationValue, E> {
                Ok(
                    Number::from_f64(v).map_or(AnnotationValue::Other(Value::Null), |n| {
                        AnnotationValue::Number(n)
                    }),
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<AnnotationValue, E> {
                Ok(AnnotationValue::String(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<AnnotationValue, E> {
                Ok(AnnotationValue::String(v))
            }
            fn visit_unit<E: de::Error>(self) -> Result<AnnotationValue, E> {
                Ok(AnnotationValue::Other(Value::Null))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, a: A) -> Result<AnnotationValue, A::Error> {
                Value::deserialize(de::value::SeqAccessDeserializer::new(a))
                    .map(AnnotationValue::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, a: A) -> Result<AnnotationValue, A::Error> {
                Value::deserialize(de::value::MapAccessDeserializer::new(a))
                    .map(AnnotationValue::Other)
            }
        }
        d.deserialize_any(V)
    }
}

/// Annotations: key → string, number or boolean, indexed for filter expressions.
pub type Annotations = BTreeMap<String, AnnotationValue>;

/// Metadata: namespace → any JSON (usually an object of key → value). Not indexed.
pub type Metadata = Map<String, Value>;

document_object! {
    /// A segment or subsegment document.
    pub struct Segment {
        /// 16 hex digits, unique within the trace.
        id: String = "id",
        /// Service name (segments) or operation name (subsegments); ≤ 200 characters.
        name: String = "name",
        /// `1-<8 hex>-<24 hex>`; required on segments and independent subsegments.
        trace_id: String = "trace_id",
        /// Upstream caller's subsegment id (segments) or parent (independent subsegments).
        parent_id: String = "parent_id",
        /// Epoch seconds.
        start_time: Timestamp = "start_time",
        /// Epoch seconds; absent while `in_progress`.
        end_time: Timestamp = "end_time",
        /// `true` until the complete document replaces this one.
        in_progress: bool = "in_progress",
        /// `"subsegment"` on documents sent separately (Python also writes it on embedded ones).
        kind: String = "type",
        /// `aws`, `remote` or `local` on subsegments.
        namespace: String = "namespace",
        /// Resource type, e.g. `AWS::EC2::Instance`.
        origin: String = "origin",
        /// User id, indexed for filter expressions.
        user: String = "user",
        /// ARN of the resource running the service.
        resource_arn: String = "resource_arn",
        /// Service version and runtime.
        service: Box<Service> = "service",
        /// HTTP request and response.
        http: Box<Http> = "http",
        /// AWS resource data.
        aws: Box<Aws> = "aws",
        /// SQL query data (subsegments).
        sql: Box<Sql> = "sql",
        /// Client error (4xx).
        error: bool = "error",
        /// Throttled (429).
        throttle: bool = "throttle",
        /// Server error (5xx).
        fault: bool = "fault",
        /// Exceptions, or the id of an exception recorded elsewhere.
        cause: Box<Cause> = "cause",
        /// Indexed key/value pairs.
        annotations: Annotations = "annotations",
        /// Namespaced, unindexed data.
        metadata: Metadata = "metadata",
        /// Embedded subsegments.
        subsegments: Vec<Segment> = "subsegments",
        /// Sibling subsegments that completed before this one.
        precursor_ids: Vec<String> = "precursor_ids",
        /// Node writes `traced` at the top level of HTTP subsegments.
        traced: bool = "traced",
        /// Span links (OpenTelemetry).
        links: Vec<Link> = "links",
        /// Set by X-Ray on segments it generates for downstream calls; read side only.
        inferred: bool = "inferred",
    }
}

document_object! {
    /// `service`: the version and runtime of the application.
    pub struct Service {
        /// Application version.
        version: String = "version",
        /// Runtime name, e.g. `python`.
        runtime: String = "runtime",
        /// Runtime version.
        runtime_version: String = "runtime_version",
        /// Package name (Node).
        name: String = "name",
        /// Compiler (OpenTelemetry).
        compiler: String = "compiler",
        /// Compiler version (OpenTelemetry).
        compiler_version: String = "compiler_version",
    }
}

document_object! {
    /// `http`.
    pub struct Http {
        /// The request as received or sent.
        request: HttpRequest = "request",
        /// The response.
        response: HttpResponse = "response",
    }
}

document_object! {
    /// `http.request`.
    pub struct HttpRequest {
        /// `GET`, `POST`, ... (Python's `requests` patch writes lowercase).
        method: String = "method",
        /// Scheme, host and path (Node keeps the query string).
        url: String = "url",
        /// `User-Agent`.
        user_agent: String = "user_agent",
        /// Caller's address.
        client_ip: String = "client_ip",
        /// `client_ip` came from `X-Forwarded-For` and can be forged.
        x_forwarded_for: bool = "x_forwarded_for",
        /// Downstream call is instrumented (subsegments; Go writes it here).
        traced: bool = "traced",
    }
}

document_object! {
    /// `http.response`.
    pub struct HttpResponse {
        /// HTTP status.
        status: IntOrString = "status",
        /// Body length.
        content_length: IntOrString = "content_length",
    }
}

document_object! {
    /// `aws`: the resource running the service (segments) or the AWS resource called
    /// (subsegments). Open-ended: SDKs add whitelisted request parameters, kept in `extra`.
    pub struct Aws {
        /// Account owning the resource.
        account_id: String = "account_id",
        /// API operation, e.g. `PutItem`.
        operation: String = "operation",
        /// Region of the resource.
        region: String = "region",
        /// AWS request id.
        request_id: String = "request_id",
        /// SQS queue URL.
        queue_url: String = "queue_url",
        /// DynamoDB table.
        table_name: String = "table_name",
        /// DynamoDB tables of batch calls (Python).
        table_names: Vec<String> = "table_names",
        /// Retry count (Node, Java).
        retries: Number = "retries",
        /// S3 `x-amz-id-2`.
        id_2: String = "id_2",
        /// Resources touched, added by X-Ray and Lambda.
        resource_names: Vec<String> = "resource_names",
        /// Lambda function name.
        function_name: String = "function_name",
        /// Lambda function ARN.
        function_arn: String = "function_arn",
        /// SNS topic ARN.
        topic_arn: String = "topic_arn",
        /// S3 bucket.
        bucket_name: String = "bucket_name",
        /// SDK information and the matched sampling rule.
        xray: Box<XraySdk> = "xray",
        /// EC2 plugin data.
        ec2: Box<Ec2> = "ec2",
        /// ECS plugin data.
        ecs: Box<Ecs> = "ecs",
        /// EKS plugin data.
        eks: Box<Eks> = "eks",
        /// Elastic Beanstalk plugin data.
        elastic_beanstalk: Box<ElasticBeanstalk> = "elastic_beanstalk",
        /// CloudWatch log groups.
        cloudwatch_logs: Vec<CloudwatchLogs> = "cloudwatch_logs",
        /// API Gateway stage data (written by API Gateway).
        api_gateway: Box<ApiGateway> = "api_gateway",
    }
}

document_object! {
    /// `aws.xray`.
    pub struct XraySdk {
        /// `X-Ray for Python`, `X-Ray for Node.js`, ...
        sdk: String = "sdk",
        /// SDK version.
        sdk_version: String = "sdk_version",
        /// Instrumented by an agent.
        auto_instrumentation: bool = "auto_instrumentation",
        /// Package (Node).
        package: String = "package",
        /// Matched sampling rule (Python, Go).
        sampling_rule_name: String = "sampling_rule_name",
        /// Matched sampling rule (Node, Java).
        rule_name: String = "rule_name",
    }
}

document_object! {
    /// `aws.ec2`.
    pub struct Ec2 {
        /// Instance id.
        instance_id: String = "instance_id",
        /// Availability zone.
        availability_zone: String = "availability_zone",
        /// Instance type (Java, Node).
        instance_size: String = "instance_size",
        /// Instance type (Python).
        instance_type: String = "instance_type",
        /// AMI id.
        ami_id: String = "ami_id",
    }
}

document_object! {
    /// `aws.ecs`.
    pub struct Ecs {
        /// Container host name.
        container: String = "container",
        /// Container id.
        container_id: String = "container_id",
        /// Container ARN.
        container_arn: String = "container_arn",
        /// Task ARN (OpenTelemetry).
        task_arn: String = "task_arn",
        /// Task family (OpenTelemetry).
        task_family: String = "task_family",
        /// Cluster ARN (OpenTelemetry).
        cluster_arn: String = "cluster_arn",
        /// Availability zone (OpenTelemetry).
        availability_zone: String = "availability_zone",
        /// `ec2` or `fargate` (OpenTelemetry).
        launch_type: String = "launch_type",
    }
}

document_object! {
    /// `aws.eks`.
    pub struct Eks {
        /// Pod name.
        pod: String = "pod",
        /// Cluster name.
        cluster_name: String = "cluster_name",
        /// Container id.
        container_id: String = "container_id",
    }
}

document_object! {
    /// `aws.elastic_beanstalk`.
    pub struct ElasticBeanstalk {
        /// Environment name (most SDKs).
        environment_name: String = "environment_name",
        /// Environment name (Node).
        environment: String = "environment",
        /// Application version label.
        version_label: String = "version_label",
        /// Deployment id (a number).
        deployment_id: Number = "deployment_id",
    }
}

document_object! {
    /// One entry of `aws.cloudwatch_logs`.
    pub struct CloudwatchLogs {
        /// Log group name.
        log_group: String = "log_group",
        /// Log group ARN.
        arn: String = "arn",
    }
}

document_object! {
    /// `aws.api_gateway`.
    pub struct ApiGateway {
        /// Account id.
        account_id: String = "account_id",
        /// REST API id.
        rest_api_id: String = "rest_api_id",
        /// Stage name.
        stage: String = "stage",
        /// Request id.
        request_id: String = "request_id",
    }
}

document_object! {
    /// `sql`.
    pub struct Sql {
        /// Non-URL connection string, without password.
        connection_string: String = "connection_string",
        /// Connection URL, without password.
        url: String = "url",
        /// The query with values removed.
        sanitized_query: String = "sanitized_query",
        /// Database engine.
        database_type: String = "database_type",
        /// Engine version.
        database_version: String = "database_version",
        /// Driver name and version.
        driver_version: String = "driver_version",
        /// Database user.
        user: String = "user",
        /// `call` or `statement`.
        preparation: String = "preparation",
    }
}

document_object! {
    /// A span link (OpenTelemetry): another trace or span this one relates to.
    pub struct Link {
        /// Linked trace.
        trace_id: String = "trace_id",
        /// Linked span (16 hex).
        id: String = "id",
        /// Link attributes.
        attributes: Map<String, Value> = "attributes",
    }
}

/// `cause`: either the details of what went wrong, or the id of an exception recorded elsewhere
/// in the trace (Java writes a bare string; Node an object holding only `id`, which is a
/// [`CauseDetails`] with just `id` set).
#[derive(Debug, Clone, PartialEq)]
pub enum Cause {
    /// A bare 16-hex exception id.
    ExceptionId(String),
    /// The cause object.
    Details(CauseDetails),
}

impl Serialize for Cause {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Cause::ExceptionId(id) => s.serialize_str(id),
            Cause::Details(d) => d.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Cause {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Cause;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a cause object or an exception id string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Cause, E> {
                Ok(Cause::ExceptionId(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Cause, E> {
                Ok(Cause::ExceptionId(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, a: A) -> Result<Cause, A::Error> {
                CauseDetails::deserialize(de::value::MapAccessDeserializer::new(a))
                    .map(Cause::Details)
            }
        }
        d.deserialize_any(V)
    }
}

document_object! {
    /// The `cause` object.
    pub struct CauseDetails {
        /// Id of an exception recorded elsewhere (Node, Java).
        id: String = "id",
        /// Message (Java).
        message: String = "message",
        /// Working directory of the process.
        working_directory: String = "working_directory",
        /// Library paths.
        paths: Vec<String> = "paths",
        /// The exceptions.
        exceptions: Vec<Exception> = "exceptions",
    }
}

document_object! {
    /// One exception.
    pub struct Exception {
        /// 16 hex digits; the only member X-Ray requires.
        id: String = "id",
        /// Message.
        message: String = "message",
        /// Exception type (class name).
        kind: String = "type",
        /// Caused by an error returned by a downstream service.
        remote: bool = "remote",
        /// Stack frames omitted.
        truncated: i64 = "truncated",
        /// Exceptions skipped between this one and its cause.
        skipped: i64 = "skipped",
        /// Id of the exception that caused this one.
        cause: String = "cause",
        /// Stack frames.
        stack: Vec<StackFrame> = "stack",
    }
}

document_object! {
    /// One stack frame; every member optional, `line` and `path` may be `null`.
    pub struct StackFrame {
        /// File (often just the base name).
        path: String = "path",
        /// Line number.
        line: i64 = "line",
        /// Function or method.
        label: String = "label",
    }
}

/// A document that is not JSON of the right shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message} (line {line}, column {column})", if path.is_empty() || path == "." { String::new() } else { format!("{path}: ") })]
pub struct ParseError {
    /// Member path of the offending value, e.g. `http.response.status`; empty at the top.
    pub path: String,
    /// What the JSON parser said.
    pub message: String,
    /// Line in the input (1-based).
    pub line: usize,
    /// Column in the input (1-based).
    pub column: usize,
    /// True when the input was not JSON at all (as opposed to JSON of the wrong shape).
    pub syntax: bool,
}

impl Segment {
    /// Parses a document. On failure it parses again, slowly, to report where.
    pub fn from_json(s: &str) -> Result<Segment, ParseError> {
        match serde_json::from_str::<Segment>(s) {
            Ok(seg) => Ok(seg),
            Err(fast) => {
                let mut de = serde_json::Deserializer::from_str(s);
                let (path, e) = match serde_path_to_error::deserialize::<_, Segment>(&mut de) {
                    Ok(_) => (String::new(), fast),
                    Err(e) => (e.path().to_string(), e.into_inner()),
                };
                Err(ParseError {
                    path,
                    message: strip_position(&e.to_string()),
                    line: e.line(),
                    column: e.column(),
                    syntax: e.is_syntax() || e.is_eof(),
                })
            }
        }
    }

    /// Writes the document as compact JSON.
    pub fn to_json(&self) -> String {
        // Serializing plain data into a String cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// True for an independent subsegment (`"type": "subsegment"`).
    pub fn is_subsegment(&self) -> bool {
        self.kind.as_deref() == Some("subsegment")
    }

    /// The parsed `trace_id`, if present.
    pub fn parsed_trace_id(&self) -> Option<Result<TraceId, IdError>> {
        self.trace_id.as_deref().map(TraceId::parse)
    }

    /// The parsed `id`, if present.
    pub fn parsed_id(&self) -> Option<Result<EntityId, IdError>> {
        self.id.as_deref().map(EntityId::parse)
    }

    /// Visits this entity and every embedded subsegment, depth first, parents before children.
    pub fn walk<'a>(&'a self, f: &mut dyn FnMut(&'a Segment)) {
        f(self);
        for s in self.subsegments.iter().flatten() {
            s.walk(f);
        }
    }
}

fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(doc: &str) {
        let seg = Segment::from_json(doc).unwrap();
        let back: Value = serde_json::from_str(&seg.to_json()).unwrap();
        let orig: Value = serde_json::from_str(doc).unwrap();
        assert_eq!(back, orig);
    }

    #[test]
    fn quirks_round_trip() {
        round_trip(
            r#"{"id":"70de5b6f19ff9a0a","name":"x","trace_id":"1-58406520-a006649127e371903a2de979",
               "start_time":1480615200,"end_time":1.795795180909E9,"Dummy":false,"traced":true,
               "http":{"request":{"traced":true},"response":{"status":"","content_length":"42"}},
               "cause":"b8a9c2d1e0f01234",
               "subsegments":[{"id":"70de5b6f19ff9a0b","name":"y","start_time":1,"in_progress":true,
                  "cause":{"id":"b8a9c2d1e0f01234"},
                  "annotations":{"a":1,"b":"s","c":true,"d":null,"e":[1]}}],
               "aws":{"xray":{"sdk":"X-Ray for Go"},"custom":{"k":1}},
               "metadata":{"default":{"k":null}}}"#,
        );
    }

    #[test]
    fn null_members_are_kept() {
        let doc = r#"{"cause":{"exceptions":[{"id":"0123456789abcdef","stack":[{"path":null,"line":null,"label":"f"}]}]}}"#;
        round_trip(doc);
        let seg = Segment::from_json(doc).unwrap();
        let Some(Cause::Details(c)) = seg.cause.as_deref() else {
            panic!("cause")
        };
        let frame = &c.exceptions.as_ref().unwrap()[0].stack.as_ref().unwrap()[0];
        assert_eq!(frame.line, None);
        assert_eq!(frame.extra.get("line"), Some(&Value::Null));
    }

    #[test]
    fn segment_stays_small() {
        // Big nested objects are boxed: a subsegment that has none of them costs little to
        // build and move. Guards the parse benchmark (docs/benchmarks.md).
        assert!(
            std::mem::size_of::<Segment>() <= 640,
            "{}",
            std::mem::size_of::<Segment>()
        );
    }

    #[test]
    fn errors_name_the_member() {
        let e = Segment::from_json(r#"{"http":{"response":{"status":true}}}"#).unwrap_err();
        assert_eq!(e.path, "http.response.status");
        assert!(!e.syntax);
        let e = Segment::from_json(r#"{"subsegments":[{"error":"yes"}]}"#).unwrap_err();
        assert_eq!(e.path, "subsegments[0].error");
        let e = Segment::from_json(r#"{"id":"#).unwrap_err();
        assert!(e.syntax);
    }
}

//! Segment documents → OpenTelemetry spans: the reverse of [`super::translate`], used to
//! forward what the collector stores to another OTLP backend.
//!
//! Every entity (segment, embedded or independent subsegment) becomes one span with the same
//! ids: the trace id's 128 bits, the entity id as span id, the parent as `parent_id` or, for an
//! embedded subsegment, the entity it is embedded in. Segments are `SERVER` spans under a
//! resource with `service.name` = the segment name (and `cloud.platform` from `origin`);
//! subsegments with `namespace: aws` or `remote` are `CLIENT` spans, others `INTERNAL`. `http`,
//! `aws`, `sql` go back to the current semantic-convention attribute names, annotations become
//! attributes, `fault`/`error` an `ERROR` status, and `cause` exceptions `exception` events. A
//! segment whose name or ids are unusable yields nothing (the collector validated it on the way
//! in, so this does not happen to stored documents).

use serde_json::Value;

use super::pb::collector::trace::v1::ExportTraceServiceRequest;
use super::pb::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use super::pb::resource::v1::Resource;
use super::pb::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span, status};
use crate::ids::{EntityId, TraceId};
use crate::segment::{AnnotationValue, Cause, IntOrString, Segment};

/// Instrumentation scope name on exported spans.
pub const SCOPE: &str = "fluoro";

/// The spans of one top-level document, grouped under their resource.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentSpans {
    /// The resource: `service.name` (the segment's name, or the service the independent
    /// subsegment belongs to when known) and `cloud.platform`.
    pub resource: Vec<KeyValue>,
    /// One span per entity.
    pub spans: Vec<Span>,
}

/// The spans of one stored top-level document.
pub fn document_spans(seg: &Segment) -> Option<DocumentSpans> {
    let trace = TraceId::parse(seg.trace_id.as_deref()?).ok()?;
    let parent = match seg.parent_id.as_deref() {
        Some(p) => Some(EntityId::parse(p).ok()?),
        None => None,
    };
    let service = if seg.is_subsegment() {
        // An independent subsegment's service is its segment's; the document does not say.
        "unknown_service".to_owned()
    } else {
        seg.name.clone()?
    };
    let mut resource = vec![string("service.name", &service)];
    if !seg.is_subsegment()
        && let Some(platform) = seg.origin.as_deref().and_then(platform)
    {
        resource.push(string("cloud.provider", "aws"));
        resource.push(string("cloud.platform", platform));
    }
    let mut spans = Vec::new();
    walk(seg, trace, parent, !seg.is_subsegment(), &mut spans);
    Some(DocumentSpans { resource, spans })
}

/// An export request for these documents (one resource per document).
pub fn export_request<'a>(
    docs: impl IntoIterator<Item = &'a Segment>,
) -> ExportTraceServiceRequest {
    let resource_spans = docs
        .into_iter()
        .filter_map(document_spans)
        .map(|d| ResourceSpans {
            resource: Some(Resource {
                attributes: d.resource,
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: SCOPE.to_owned(),
                    ..InstrumentationScope::default()
                }),
                spans: d.spans,
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        })
        .collect();
    ExportTraceServiceRequest { resource_spans }
}

fn platform(origin: &str) -> Option<&'static str> {
    Some(match origin {
        "AWS::EC2::Instance" => "aws_ec2",
        "AWS::ECS::Container" => "aws_ecs",
        "AWS::EKS::Container" => "aws_eks",
        "AWS::ElasticBeanstalk::Environment" => "aws_elastic_beanstalk",
        "AWS::Lambda::Function" | "AWS::Lambda" => "aws_lambda",
        "AWS::ApiGateway::Stage" => "aws_api_gateway",
        _ => return None,
    })
}

fn kv(k: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: k.to_owned(),
        value: Some(AnyValue { value: Some(v) }),
        ..KeyValue::default()
    }
}

fn string(k: &str, v: &str) -> KeyValue {
    kv(k, any_value::Value::StringValue(v.to_owned()))
}

fn json_value(v: &Value) -> any_value::Value {
    match v {
        Value::Bool(b) => any_value::Value::BoolValue(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => any_value::Value::IntValue(i),
            None => any_value::Value::DoubleValue(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => any_value::Value::StringValue(s.clone()),
        Value::Array(a) => any_value::Value::ArrayValue(ArrayValue {
            values: a
                .iter()
                .map(|x| AnyValue {
                    value: Some(json_value(x)),
                })
                .collect(),
        }),
        Value::Object(o) => any_value::Value::KvlistValue(KeyValueList {
            values: o.iter().map(|(k, x)| kv(k, json_value(x))).collect(),
        }),
        Value::Null => any_value::Value::StringValue(String::new()),
    }
}

fn nanos(t: Option<&crate::segment::Timestamp>) -> u64 {
    t.map(crate::segment::Timestamp::as_secs_f64)
        .filter(|s| s.is_finite() && *s > 0.0)
        // Microseconds (what documents carry), so f64 noise does not show as stray nanoseconds.
        .map_or(0, |s| (s * 1e6).round() as u64 * 1_000)
}

fn walk(
    seg: &Segment,
    trace: TraceId,
    parent: Option<EntityId>,
    is_segment: bool,
    out: &mut Vec<Span>,
) {
    let Some(id) = seg.id.as_deref().and_then(|i| EntityId::parse(i).ok()) else {
        return;
    };
    let call = matches!(seg.namespace.as_deref(), Some("aws" | "remote"));
    let otel = seg.metadata.as_ref().and_then(|m| m.get("otel"));
    // The kind a translated span recorded because its form did not imply it, else the form's.
    let kind = otel
        .and_then(|o| o.get("kind"))
        .and_then(Value::as_str)
        .and_then(|k| span::SpanKind::from_str_name(&format!("SPAN_KIND_{k}")))
        .unwrap_or(if is_segment {
            span::SpanKind::Server
        } else if call {
            span::SpanKind::Client
        } else {
            span::SpanKind::Internal
        });
    let mut attrs = Vec::new();
    if let Some(http) = &seg.http {
        if let Some(req) = &http.request {
            if let Some(m) = &req.method {
                attrs.push(string("http.request.method", m));
            }
            if let Some(u) = &req.url {
                attrs.push(string("url.full", u));
            }
            if let Some(ua) = &req.user_agent {
                attrs.push(string("user_agent.original", ua));
            }
            if let Some(ip) = &req.client_ip {
                attrs.push(string("client.address", ip));
            }
        }
        if let Some(resp) = &http.response {
            if let Some(s) = resp.status.as_ref().and_then(IntOrString::as_i64) {
                attrs.push(kv(
                    "http.response.status_code",
                    any_value::Value::IntValue(s),
                ));
            }
            if let Some(l) = resp.content_length.as_ref().and_then(IntOrString::as_i64) {
                attrs.push(kv("http.response.body.size", any_value::Value::IntValue(l)));
            }
        }
    }
    if seg.namespace.as_deref() == Some("aws") {
        attrs.push(string("rpc.system", "aws-api"));
        if let Some(n) = &seg.name {
            attrs.push(string("rpc.service", n));
        }
    }
    if let Some(aws) = &seg.aws {
        let pairs = [
            ("rpc.method", &aws.operation),
            ("aws.region", &aws.region),
            ("aws.request_id", &aws.request_id),
            ("aws.sqs.queue_url", &aws.queue_url),
            ("aws.s3.bucket", &aws.bucket_name),
            ("aws.lambda.function.name", &aws.function_name),
            ("cloud.account.id", &aws.account_id),
        ];
        for (k, v) in pairs {
            if let Some(v) = v {
                attrs.push(string(k, v));
            }
        }
        let tables: Vec<String> = match (&aws.table_name, &aws.table_names) {
            (Some(t), _) => vec![t.clone()],
            (None, Some(ts)) => ts.clone(),
            _ => Vec::new(),
        };
        if !tables.is_empty() {
            attrs.push(kv(
                "aws.dynamodb.table_names",
                json_value(&Value::from(tables)),
            ));
        }
    }
    if let Some(sql) = &seg.sql {
        let pairs = [
            ("db.system.name", &sql.database_type),
            ("db.namespace", &sql.url),
            ("db.query.text", &sql.sanitized_query),
            ("db.user", &sql.user),
        ];
        for (k, v) in pairs {
            if let Some(v) = v {
                attrs.push(string(k, v));
            }
        }
    }
    if call
        && seg.namespace.as_deref() == Some("remote")
        && let Some(n) = &seg.name
    {
        attrs.push(string("peer.service", n));
    }
    if let Some(u) = &seg.user {
        attrs.push(string("enduser.id", u));
    }
    for (k, v) in seg.annotations.iter().flatten() {
        let v = match v {
            AnnotationValue::String(s) => any_value::Value::StringValue(s.clone()),
            AnnotationValue::Bool(b) => any_value::Value::BoolValue(*b),
            AnnotationValue::Number(n) => json_value(&Value::Number(n.clone())),
            AnnotationValue::Other(o) => json_value(o),
        };
        attrs.push(kv(k, v));
    }
    let failed = seg.fault == Some(true) || seg.error == Some(true);
    let events = exception_events(seg, nanos(seg.end_time.as_ref()));
    // The recorded span name, else `<service>.<operation>` for an AWS call (the AWS SDK
    // instrumentations' name), else the document's name.
    let operation = seg.aws.as_ref().and_then(|a| a.operation.as_deref());
    let name = match (
        otel.and_then(|o| o.get("span_name"))
            .and_then(Value::as_str),
        operation,
    ) {
        (Some(n), _) => n.to_owned(),
        (None, Some(op)) if seg.namespace.as_deref() == Some("aws") => {
            format!("{}.{op}", seg.name.as_deref().unwrap_or("span"))
        }
        (None, _) => seg.name.as_deref().unwrap_or("span").to_owned(),
    };
    let start = nanos(seg.start_time.as_ref());
    out.push(Span {
        trace_id: trace.to_bytes().to_vec(),
        span_id: id.to_bytes().to_vec(),
        parent_span_id: parent.map_or_else(Vec::new, |p| p.to_bytes().to_vec()),
        name,
        kind: kind as i32,
        start_time_unix_nano: start,
        // An in-progress entity has no end; OTLP spans are complete, so it ends where it began.
        end_time_unix_nano: nanos(seg.end_time.as_ref()).max(start),
        attributes: attrs,
        events,
        status: failed.then(|| Status {
            code: status::StatusCode::Error as i32,
            message: String::new(),
        }),
        ..Span::default()
    });
    for sub in seg.subsegments.iter().flatten() {
        walk(sub, trace, Some(id), false, out);
    }
}

fn exception_events(seg: &Segment, at: u64) -> Vec<span::Event> {
    let Some(Cause::Details(d)) = seg.cause.as_deref() else {
        return Vec::new();
    };
    d.exceptions
        .iter()
        .flatten()
        .map(|e| {
            let mut attrs = Vec::new();
            if let Some(t) = &e.kind {
                attrs.push(string("exception.type", t));
            }
            if let Some(m) = &e.message {
                attrs.push(string("exception.message", m));
            }
            if let Some(stack) = &e.stack {
                let text: Vec<String> = stack
                    .iter()
                    .map(|f| {
                        format!(
                            "at {}({}:{})",
                            f.label.as_deref().unwrap_or("?"),
                            f.path.as_deref().unwrap_or("?"),
                            f.line.unwrap_or(0)
                        )
                    })
                    .collect();
                attrs.push(string("exception.stacktrace", &text.join("\n")));
            }
            span::Event {
                time_unix_nano: at,
                name: "exception".to_owned(),
                attributes: attrs,
                ..span::Event::default()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp::translate::{TranslateOptions, translate_request};

    const DOC: &str = r#"{"id":"70de5b6f19ff9a0a","name":"checkout","trace_id":"1-581cf771-a006649127e371903a2de979","start_time":1478293361.271,"end_time":1478293361.449,"origin":"AWS::EC2::Instance","fault":true,
      "http":{"request":{"method":"GET","url":"http://shop/cart"},"response":{"status":500}},
      "annotations":{"tier":"gold"},
      "cause":{"exceptions":[{"id":"1111111111111111","type":"KeyError","message":"cart","stack":[{"path":"app.py","line":3,"label":"get"}]}]},
      "subsegments":[{"id":"53995c3f42cd8ad8","name":"DynamoDB","start_time":1478293361.3,"end_time":1478293361.4,"namespace":"aws","aws":{"operation":"GetItem","table_name":"carts","region":"us-east-1"}},
                     {"id":"63995c3f42cd8ad8","name":"db.local","start_time":1478293361.3,"end_time":1478293361.4,"namespace":"remote","sql":{"database_type":"postgresql","url":"shop"}}]}"#;

    #[test]
    fn entities_become_spans_with_the_same_ids() {
        let seg = Segment::from_json(DOC).unwrap();
        let d = document_spans(&seg).unwrap();
        assert_eq!(d.resource[0], string("service.name", "checkout"));
        assert!(d.resource.contains(&string("cloud.platform", "aws_ec2")));
        assert_eq!(d.spans.len(), 3);
        let root = &d.spans[0];
        assert_eq!(root.kind, span::SpanKind::Server as i32);
        assert_eq!(
            root.trace_id,
            TraceId::parse("1-581cf771-a006649127e371903a2de979")
                .unwrap()
                .to_bytes()
        );
        assert_eq!(root.status.as_ref().unwrap().code, 2);
        assert_eq!(root.events[0].name, "exception");
        assert_eq!(d.spans[1].parent_span_id, root.span_id);
        assert_eq!(d.spans[1].kind, span::SpanKind::Client as i32);
        assert_eq!(root.start_time_unix_nano, 1_478_293_361_271_000_000);
    }

    /// Translated documents record the span kind and name only when their form does not imply
    /// them; the export gives back the original kind and name either way.
    #[test]
    fn translated_spans_come_back_with_their_kind_and_name() {
        use crate::otlp::pb::collector::trace::v1::ExportTraceServiceRequest;
        use crate::otlp::pb::common::v1::{AnyValue, KeyValue, any_value};
        use crate::otlp::pb::resource::v1::Resource;
        use crate::otlp::pb::trace::v1::{ResourceSpans, ScopeSpans};
        let attr = |k: &str, v: &str| KeyValue {
            key: k.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(v.into())),
            }),
            ..KeyValue::default()
        };
        let sp = |id: u8, parent: Option<u8>, kind: span::SpanKind, name: &str, attrs| Span {
            trace_id: vec![
                0x58, 0x1c, 0xf7, 0x71, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
            ],
            span_id: vec![0, 0, 0, 0, 0, 0, 0xcd, id],
            parent_span_id: parent.map_or_else(Vec::new, |p| vec![0, 0, 0, 0, 0, 0, 0xcd, p]),
            name: name.into(),
            kind: kind as i32,
            start_time_unix_nano: 1_478_293_361_271_000_000,
            end_time_unix_nano: 1_478_293_361_449_000_000,
            attributes: attrs,
            ..Span::default()
        };
        let spans = vec![
            sp(1, None, span::SpanKind::Server, "GET /cart/{id}", vec![]),
            sp(
                2,
                Some(1),
                span::SpanKind::Client,
                "DynamoDB.GetItem",
                vec![
                    attr("rpc.system", "aws-api"),
                    attr("rpc.service", "DynamoDB"),
                    attr("rpc.method", "GetItem"),
                ],
            ),
            sp(
                3,
                Some(1),
                span::SpanKind::Producer,
                "orders publish",
                vec![attr("peer.service", "orders")],
            ),
            sp(4, Some(1), span::SpanKind::Internal, "render", vec![]),
            sp(
                5,
                Some(3),
                span::SpanKind::Consumer,
                "orders process",
                vec![],
            ),
        ];
        let req = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![attr("service.name", "cart")],
                    ..Resource::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..ScopeSpans::default()
                }],
                ..ResourceSpans::default()
            }],
        };
        let t = translate_request(&req, &TranslateOptions::default());
        assert!(t.rejected.is_empty(), "{:?}", t.rejected);
        let otel = |i: usize| {
            t.segments[i]
                .metadata
                .as_ref()
                .and_then(|m| m.get("otel"))
                .cloned()
                .unwrap_or(Value::Null)
        };
        // Implied by the form: nothing recorded.
        assert_eq!(otel(1), Value::Null);
        assert_eq!(otel(3), Value::Null);
        assert_eq!(otel(0), serde_json::json!({"span_name": "GET /cart/{id}"}));
        assert_eq!(
            otel(2),
            serde_json::json!({"kind": "PRODUCER", "span_name": "orders publish"})
        );
        assert_eq!(
            otel(4),
            serde_json::json!({"kind": "CONSUMER", "span_name": "orders process"})
        );
        let back = export_request(t.segments.iter());
        let spans: Vec<(String, i32)> = back
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .map(|s| (s.name.clone(), s.kind))
            .collect();
        assert_eq!(
            spans,
            [
                ("GET /cart/{id}".to_owned(), span::SpanKind::Server as i32),
                ("DynamoDB.GetItem".to_owned(), span::SpanKind::Client as i32),
                ("orders publish".to_owned(), span::SpanKind::Producer as i32),
                ("render".to_owned(), span::SpanKind::Internal as i32),
                ("orders process".to_owned(), span::SpanKind::Consumer as i32),
            ]
        );
    }

    #[test]
    fn round_trip_through_the_translation_keeps_the_shape() {
        let seg = Segment::from_json(DOC).unwrap();
        let req = export_request([&seg]);
        let t = translate_request(&req, &TranslateOptions::default());
        assert!(t.rejected.is_empty(), "{:?}", t.rejected);
        assert_eq!(t.segments.len(), 3);
        let root = &t.segments[0];
        assert_eq!(root.name.as_deref(), Some("checkout"));
        assert_eq!(root.origin.as_deref(), Some("AWS::EC2::Instance"));
        assert_eq!(root.fault, Some(true));
        assert!(root.annotations.as_ref().unwrap().contains_key("tier"));
        let ddb = &t.segments[1];
        assert_eq!(ddb.name.as_deref(), Some("DynamoDB"));
        assert_eq!(ddb.namespace.as_deref(), Some("aws"));
        let aws = ddb.aws.as_ref().unwrap();
        assert_eq!(aws.operation.as_deref(), Some("GetItem"));
        assert_eq!(aws.table_name.as_deref(), Some("carts"));
        let db = &t.segments[2];
        assert_eq!(db.name.as_deref(), Some("db.local"));
        assert_eq!(db.namespace.as_deref(), Some("remote"));
        assert_eq!(
            db.sql.as_ref().unwrap().database_type.as_deref(),
            Some("postgresql")
        );
    }
}

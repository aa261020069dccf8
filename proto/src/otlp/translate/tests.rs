//! Translation checked against the semantic conventions, one convention per test.

use serde_json::json;

use super::*;
use crate::otlp::pb::common::v1::{ArrayValue, KeyValue};
use crate::otlp::pb::resource::v1::Resource;
use crate::otlp::pb::trace::v1::{ResourceSpans, ScopeSpans, Status};
use crate::validate::{ValidateOptions, validate};

const TRACE: [u8; 16] = [
    0x5f, 0x1e, 0x3a, 0x10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
];
const START: u64 = 1_700_000_000_123_456_789;

fn s(k: &str, v: &str) -> KeyValue {
    kv(k, any_value::Value::StringValue(v.into()))
}
fn i(k: &str, v: i64) -> KeyValue {
    kv(k, any_value::Value::IntValue(v))
}
fn kv(k: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..KeyValue::default()
    }
}

fn span(kind: span::SpanKind, id: u8, parent: Option<u8>, attrs: Vec<KeyValue>) -> Span {
    Span {
        trace_id: TRACE.to_vec(),
        span_id: vec![0, 0, 0, 0, 0, 0, 0xab, id],
        parent_span_id: parent.map_or_else(Vec::new, |p| vec![0, 0, 0, 0, 0, 0, 0xab, p]),
        name: "GET /users/{id}".into(),
        kind: kind as i32,
        start_time_unix_nano: START,
        end_time_unix_nano: START + 250_000_000,
        attributes: attrs,
        ..Span::default()
    }
}

fn resource() -> Vec<KeyValue> {
    vec![
        s("service.name", "checkout"),
        s("service.version", "1.2.3"),
        s("telemetry.sdk.language", "python"),
        s("telemetry.sdk.version", "1.39.1"),
        s("cloud.provider", "aws"),
        s("cloud.platform", "aws_ec2"),
        s("cloud.account.id", "123456789012"),
        s("host.id", "i-0abc"),
        s("cloud.availability_zone", "us-east-1a"),
        s("deployment.environment", "prod"),
    ]
}

/// Translates one span under [`resource`] and checks the document validates.
#[allow(clippy::needless_pass_by_value)] // Tests read better building the span inline.
fn one(sp: Span) -> Value {
    one_with(&sp, &TranslateOptions::default())
}

fn one_with(sp: &Span, opts: &TranslateOptions) -> Value {
    let res = ResourceInfo::new(&resource());
    let seg = translate_span(&res, None, sp, opts).unwrap();
    validate(&seg, &ValidateOptions::default()).unwrap_or_else(|e| panic!("{e}: {seg:?}"));
    serde_json::from_str(&seg.to_json()).unwrap()
}

#[test]
fn server_span_is_a_segment_named_after_the_service() {
    let d = one(span(
        span::SpanKind::Server,
        1,
        Some(9),
        vec![
            s("http.request.method", "GET"),
            s("url.scheme", "https"),
            s("server.address", "shop.example.com"),
            i("server.port", 443),
            s("url.path", "/users/7"),
            s("url.query", "x=1"),
            i("http.response.status_code", 200),
            s("user_agent.original", "curl/8"),
            s("client.address", "10.0.0.9"),
            s("http.route", "/users/{id}"),
            s("enduser.id", "alice"),
        ],
    ));
    assert_eq!(d["name"], "checkout");
    assert_eq!(d["trace_id"], "1-5f1e3a10-0102030405060708090a0b0c");
    assert_eq!(d["id"], "000000000000ab01");
    assert_eq!(d["parent_id"], "000000000000ab09");
    assert!(d.get("type").is_none());
    assert_eq!(d["start_time"], json!(1_700_000_000.123_456));
    assert_eq!(d["end_time"], json!(1_700_000_000.373_456));
    assert_eq!(
        d["http"],
        json!({"request": {"method": "GET", "url": "https://shop.example.com/users/7?x=1",
            "user_agent": "curl/8", "client_ip": "10.0.0.9", "x_forwarded_for": true},
            "response": {"status": 200}})
    );
    assert_eq!(d["origin"], "AWS::EC2::Instance");
    assert_eq!(d["aws"]["ec2"]["instance_id"], "i-0abc");
    assert_eq!(d["aws"]["ec2"]["availability_zone"], "us-east-1a");
    assert_eq!(d["aws"]["account_id"], "123456789012");
    assert_eq!(d["aws"]["xray"]["sdk"], "opentelemetry for python");
    assert_eq!(d["service"]["version"], "1.2.3");
    assert_eq!(d["user"], "alice");
    assert_eq!(d["annotations"], json!({"http_route": "/users/{id}"}));
    // A segment implies SERVER: the kind is not recorded.
    assert!(d["metadata"]["otel"].get("kind").is_none(), "{d}");
    // Resource attributes the mapping did not use.
    assert_eq!(
        d["metadata"]["otel"]["resource"],
        json!({"deployment.environment": "prod"})
    );
    assert!(d.get("error").is_none() && d.get("fault").is_none());
}

#[test]
fn old_http_conventions_fill_the_same_fields() {
    let d = one(span(
        span::SpanKind::Server,
        1,
        None,
        vec![
            s("http.method", "POST"),
            s("http.scheme", "http"),
            s("http.host", "api:8080"),
            s("http.target", "/orders"),
            i("http.status_code", 404),
            s("http.user_agent", "ua"),
            s("net.sock.peer.addr", "10.1.1.1"),
        ],
    ));
    assert_eq!(
        d["http"],
        json!({"request": {"method": "POST", "url": "http://api:8080/orders", "user_agent": "ua",
            "client_ip": "10.1.1.1"}, "response": {"status": 404}})
    );
    assert_eq!(d["error"], true);
    assert!(d.get("fault").is_none());
}

#[test]
fn client_span_is_a_remote_subsegment_named_after_the_peer() {
    let d = one(span(
        span::SpanKind::Client,
        2,
        Some(1),
        vec![
            s("http.method", "GET"),
            s("http.url", "http://inventory.internal:9000/items?id=1"),
            i("http.status_code", 503),
        ],
    ));
    assert_eq!(d["type"], "subsegment");
    assert_eq!(d["namespace"], "remote");
    assert_eq!(d["name"], "inventory.internal");
    assert_eq!(d["parent_id"], "000000000000ab01");
    assert_eq!(d["fault"], true);
    assert!(d.get("origin").is_none() && d.get("aws").is_none());
    // Resource attributes are not repeated on subsegments.
    assert!(d["metadata"]["otel"].get("resource").is_none());

    let d = one(span(
        span::SpanKind::Client,
        2,
        Some(1),
        vec![
            s("peer.service", "payments"),
            s("server.address", "10.0.0.1"),
        ],
    ));
    assert_eq!(d["name"], "payments");
}

#[test]
fn aws_sdk_span_is_an_aws_subsegment() {
    let d = one(span(
        span::SpanKind::Client,
        3,
        Some(1),
        vec![
            s("rpc.system", "aws-api"),
            s("rpc.service", "DynamoDB"),
            s("rpc.method", "GetItem"),
            s("aws.region", "eu-west-1"),
            s("aws.request_id", "REQ1"),
            kv(
                "aws.dynamodb.table_names",
                any_value::Value::ArrayValue(ArrayValue {
                    values: vec![AnyValue {
                        value: Some(any_value::Value::StringValue("users".into())),
                    }],
                }),
            ),
            i("http.status_code", 200),
        ],
    ));
    assert_eq!(d["namespace"], "aws");
    assert_eq!(d["name"], "DynamoDB");
    assert_eq!(
        d["aws"],
        json!({"operation": "GetItem", "region": "eu-west-1", "request_id": "REQ1", "table_name": "users"})
    );
    assert_eq!(d["http"], json!({"response": {"status": 200}}));
    let d = one(span(
        span::SpanKind::Producer,
        3,
        Some(1),
        vec![
            s("rpc.system", "aws-api"),
            s("rpc.service", "SQS"),
            s("rpc.method", "SendMessage"),
            s(
                "aws.sqs.queue_url",
                "https://sqs.us-east-1.amazonaws.com/1/q",
            ),
        ],
    ));
    assert_eq!(d["name"], "SQS");
    assert_eq!(
        d["aws"]["queue_url"],
        "https://sqs.us-east-1.amazonaws.com/1/q"
    );
}

#[test]
fn database_span_fills_sql() {
    let d = one(span(
        span::SpanKind::Client,
        4,
        Some(1),
        vec![
            s("db.system", "postgresql"),
            s("db.name", "shop"),
            s("db.user", "app"),
            s("db.statement", "SELECT * FROM t WHERE id = ?"),
            s("net.peer.name", "db.internal"),
        ],
    ));
    assert_eq!(d["namespace"], "remote");
    assert_eq!(d["name"], "shop@db.internal");
    assert_eq!(
        d["sql"],
        json!({"url": "shop", "sanitized_query": "SELECT * FROM t WHERE id = ?",
            "database_type": "postgresql", "user": "app"})
    );
    // New names.
    let d = one(span(
        span::SpanKind::Client,
        4,
        Some(1),
        vec![
            s("db.system.name", "mysql"),
            s("db.namespace", "orders"),
            s("db.query.text", "SELECT 1"),
            s("server.address", "mysql.local"),
        ],
    ));
    assert_eq!(d["name"], "orders@mysql.local");
    assert_eq!(d["sql"]["database_type"], "mysql");
    assert_eq!(d["sql"]["sanitized_query"], "SELECT 1");
}

#[test]
fn internal_spans_are_plain_subsegments_and_roots_are_segments() {
    let d = one(span(span::SpanKind::Internal, 5, Some(1), vec![]));
    assert_eq!(d["type"], "subsegment");
    assert!(d.get("namespace").is_none());
    // `{` and `}` are not allowed in X-Ray names.
    assert_eq!(d["name"], "GET /users/id");
    assert_eq!(d["metadata"]["otel"]["span_name"], "GET /users/{id}");

    let d = one(span(span::SpanKind::Internal, 5, None, vec![]));
    assert!(d.get("type").is_none());
    assert_eq!(d["name"], "checkout");
    // A client span with no parent is the root of its trace too.
    let d = one(span(span::SpanKind::Client, 5, None, vec![]));
    assert!(d.get("type").is_none());
}

#[test]
fn status_and_exception_events_give_fault_and_cause() {
    let mut sp = span(span::SpanKind::Server, 1, None, vec![]);
    sp.status = Some(Status {
        code: status::StatusCode::Error as i32,
        message: "boom".into(),
    });
    sp.events.push(span::Event {
        name: "exception".into(),
        attributes: vec![
            s("exception.type", "ValueError"),
            s("exception.message", "bad value"),
            s(
                "exception.stacktrace",
                "Traceback (most recent call last):\n  File \"/app/main.py\", line 10, in handler\n    f()\n  File \"/app/lib.py\", line 3, in f\n    raise ValueError\nValueError: bad value",
            ),
        ],
        ..span::Event::default()
    });
    let d = one(sp.clone());
    assert_eq!(d["fault"], true);
    let ex = &d["cause"]["exceptions"][0];
    assert_eq!(ex["type"], "ValueError");
    assert_eq!(ex["message"], "bad value");
    assert_eq!(
        ex["stack"],
        json!([{"path": "/app/lib.py", "line": 3, "label": "f"},
               {"path": "/app/main.py", "line": 10, "label": "handler"}])
    );
    assert_eq!(ex["id"].as_str().unwrap().len(), 16);
    // Stable ids: a retried export writes the same document.
    assert_eq!(one(sp.clone())["cause"], d["cause"]);

    // No exception event: the status message is the cause.
    sp.events.clear();
    let d = one(sp);
    assert_eq!(d["cause"]["exceptions"][0]["message"], "boom");

    let d = one(span(
        span::SpanKind::Server,
        1,
        None,
        vec![i("http.response.status_code", 429)],
    ));
    assert_eq!(
        (d["error"].clone(), d["throttle"].clone()),
        (json!(true), json!(true))
    );
}

#[test]
fn attributes_become_annotations_or_metadata() {
    let attrs = vec![
        s("app.tenant", "acme"),
        i("app.retries", 3),
        kv("app.flag", any_value::Value::BoolValue(true)),
        kv("app.ratio", any_value::Value::DoubleValue(0.5)),
        kv(
            "app.tags",
            any_value::Value::ArrayValue(ArrayValue {
                values: vec![AnyValue {
                    value: Some(any_value::Value::StringValue("a".into())),
                }],
            }),
        ),
    ];
    let d = one(span(span::SpanKind::Internal, 5, Some(1), attrs.clone()));
    assert_eq!(
        d["annotations"],
        json!({"app_tenant": "acme", "app_retries": 3, "app_flag": true, "app_ratio": 0.5})
    );
    assert_eq!(d["metadata"]["default"], json!({"app.tags": ["a"]}));

    let only = TranslateOptions {
        indexed: Indexed::parse("app.tenant, app.flag").unwrap(),
    };
    let d = one_with(
        &span(span::SpanKind::Internal, 5, Some(1), attrs.clone()),
        &only,
    );
    assert_eq!(
        d["annotations"],
        json!({"app_tenant": "acme", "app_flag": true})
    );
    assert_eq!(d["metadata"]["default"]["app.retries"], 3);

    let none = TranslateOptions {
        indexed: Indexed::parse("none").unwrap(),
    };
    let d = one_with(&span(span::SpanKind::Internal, 5, Some(1), attrs), &none);
    assert!(d.get("annotations").is_none());
    assert_eq!(d["metadata"]["default"]["app.tenant"], "acme");
    assert!(Indexed::parse(" , ").is_err());
}

#[test]
fn span_links_become_links() {
    let mut sp = span(span::SpanKind::Consumer, 6, Some(1), vec![]);
    sp.links.push(span::Link {
        trace_id: vec![0x11; 16],
        span_id: vec![0x22; 8],
        attributes: vec![s("reason", "batch")],
        ..span::Link::default()
    });
    sp.links.push(span::Link {
        trace_id: vec![0; 16],
        span_id: vec![0x22; 8],
        ..span::Link::default()
    });
    let d = one(sp);
    assert_eq!(
        d["links"],
        json!([{"trace_id": "1-11111111-111111111111111111111111", "id": "2222222222222222",
            "attributes": {"reason": "batch"}}])
    );
}

#[test]
fn random_w3c_ids_keep_their_bits_in_x_ray_form() {
    let mut sp = span(span::SpanKind::Server, 1, None, vec![]);
    sp.trace_id = vec![
        0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32,
        0x10,
    ];
    let d = one(sp);
    let x = d["trace_id"].as_str().unwrap();
    assert_eq!(x, "1-fedcba98-76543210fedcba9876543210");
    assert_eq!(
        TraceId::parse(x).unwrap().to_w3c_hex(),
        "fedcba9876543210fedcba9876543210"
    );
}

#[test]
fn bad_spans_are_rejected_and_the_rest_kept() {
    let good = span(span::SpanKind::Server, 1, None, vec![]);
    let mut short_trace = good.clone();
    short_trace.trace_id.pop();
    let mut zero_span = good.clone();
    zero_span.span_id = vec![0; 8];
    let mut bad_parent = good.clone();
    bad_parent.parent_span_id = vec![1, 2, 3];
    let mut no_start = good.clone();
    no_start.start_time_unix_nano = 0;
    let mut backwards = good.clone();
    backwards.end_time_unix_nano = START - 1;
    let req = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: resource(),
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: vec![
                    short_trace,
                    good,
                    zero_span,
                    bad_parent,
                    no_start,
                    backwards,
                ],
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    };
    let t = translate_request(&req, &TranslateOptions::default());
    assert_eq!(t.segments.len(), 1);
    let codes: Vec<_> = t.rejected.iter().map(|e| e.code).collect();
    assert_eq!(
        codes,
        [
            SpanErrorCode::InvalidTraceId,
            SpanErrorCode::InvalidSpanId,
            SpanErrorCode::InvalidParentSpanId,
            SpanErrorCode::InvalidTime,
            SpanErrorCode::InvalidTime,
        ]
    );
    assert!(t.rejected[0].to_string().contains("InvalidTraceId"));
}

#[test]
fn names_are_made_valid() {
    assert_eq!(sanitize_name("a{b}<c>").as_deref(), Some("abc"));
    assert_eq!(sanitize_name("{}"), None);
    assert_eq!(sanitize_name(&"x".repeat(300)).unwrap().len(), 200);
    assert_eq!(annotation_key("http.route-x"), "http_route_x");
    assert_eq!(url_host("https://user@[::1]:8080/p"), Some("::1"));
    assert_eq!(url_host("http://h:1/p?q"), Some("h"));
}

#[test]
fn children_in_the_same_batch_are_nested_under_their_parent() {
    let res = ResourceInfo::new(&resource());
    let opts = TranslateOptions::default();
    let t = |sp: Span| translate_span(&res, None, &sp, &opts).unwrap();
    let mut internal = span(span::SpanKind::Internal, 3, Some(1), vec![]);
    internal.name = "work".into();
    let segs = vec![
        t(span(
            span::SpanKind::Client,
            2,
            Some(3),
            vec![s("server.address", "db")],
        )),
        t(span(span::SpanKind::Server, 1, None, vec![])),
        t(internal),
        // Parent not in this batch: stays independent.
        t(span(span::SpanKind::Internal, 4, Some(9), vec![])),
        // A server span under another is its own segment.
        t(span(span::SpanKind::Server, 5, Some(2), vec![])),
    ];
    let out = nest(segs.clone(), 64 * 1024);
    let ids: Vec<&str> = out.iter().map(|(s, _)| s.id.as_deref().unwrap()).collect();
    assert_eq!(
        ids,
        ["000000000000ab01", "000000000000ab04", "000000000000ab05"]
    );
    let root: Value = serde_json::from_str(&out[0].1).unwrap();
    let work = &root["subsegments"][0];
    assert_eq!(work["name"], "work");
    assert!(work.get("type").is_none() && work.get("trace_id").is_none());
    assert!(work.get("parent_id").is_none());
    assert_eq!(work["subsegments"][0]["name"], "db");
    validate(&out[0].0, &ValidateOptions::default()).unwrap();
    assert_eq!(out[1].0.kind.as_deref(), Some("subsegment"));

    // Just too large together: the root alone, its child keeps the grandchild embedded.
    let smaller = nest(segs.clone(), out[0].1.len() - 1);
    assert_eq!(smaller.len(), 4);
    // Far too large: each stays on its own, nothing lost.
    let small = nest(segs, 10);
    assert_eq!(small.len(), 5);
    for (seg, json) in &small {
        assert!(seg.subsegments.is_none());
        assert_eq!(&seg.to_json(), json);
    }
}

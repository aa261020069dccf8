//! Unit tests of assembly, inferred segments, summaries and root causes, on hand-written
//! documents.

use fluoro_proto::api::{AnnotationValue, ServiceId, TraceSummary};
use fluoro_proto::ids::TraceId;
use fluoro_proto::segment::Segment;
use serde_json::{Value, json};

use super::assemble::{already_assembled, assemble_general};
use super::inferred::canonical_service;
use super::{AssembledTrace, assemble, service_id, summarize};

const TRACE: &str = "1-6b09aba5-e51d6fb3253cb064452df5a4";

fn tid() -> TraceId {
    TraceId::parse(TRACE).unwrap()
}

fn doc(v: &Value) -> Segment {
    Segment::from_json(&v.to_string()).unwrap()
}

/// A complete segment.
fn seg(id: &str, name: &str, parent: Option<&str>, start: f64, end: f64) -> Value {
    let mut v =
        json!({"id": id, "name": name, "trace_id": TRACE, "start_time": start, "end_time": end});
    if let Some(p) = parent {
        v["parent_id"] = json!(p);
    }
    v
}

/// A complete independent subsegment.
fn sub(id: &str, name: &str, parent: &str, start: f64, end: f64) -> Value {
    json!({"type": "subsegment", "id": id, "name": name, "trace_id": TRACE, "parent_id": parent,
           "start_time": start, "end_time": end})
}

/// A complete embedded subsegment.
fn emb(id: &str, name: &str, start: f64, end: f64) -> Value {
    json!({"id": id, "name": name, "start_time": start, "end_time": end})
}

fn with(mut v: Value, key: &str, val: Value) -> Value {
    v[key] = val;
    v
}

/// Assembles `docs`, checking that the shortcut for traces that need no rebuilding (when it
/// applies) gives what the general path gives.
fn run(docs: &[Value]) -> AssembledTrace {
    let segs: Vec<Segment> = docs.iter().map(doc).collect();
    let general = assemble_general(tid(), segs.clone());
    let t = assemble(tid(), segs);
    assert_eq!(t, general, "the shortcut differs from the general path");
    t
}

#[test]
fn shortcut_agrees_with_the_general_path_on_the_real_captures() {
    // Every captured trace has independent subsegments (Node streams every subsegment, the
    // Lambda function's subsegments hang under the facade), so whole traces take the general
    // path; their segment documents alone (as a service sending embedded subsegments would
    // store them) take the shortcut.
    let mut shortcut = 0;
    for (id, docs) in crate::filter::tests::fixture_docs() {
        let segments: Vec<Segment> = docs
            .iter()
            .filter(|d| !d.is_subsegment())
            .cloned()
            .collect();
        for docs in [docs, segments] {
            shortcut += usize::from(already_assembled(&docs));
            let general = assemble_general(id, docs.clone());
            assert_eq!(assemble(id, docs), general, "trace {id}");
        }
    }
    assert!(shortcut > 0, "no capture took the shortcut");
}

/// Every permutation of `docs` assembles to the same trace; returns it.
fn run_all_orders(docs: &[Value]) -> AssembledTrace {
    let first = run(docs);
    let mut idx: Vec<usize> = (0..docs.len()).collect();
    permute(&mut idx, 0, &mut |order| {
        let docs: Vec<Value> = order.iter().map(|&i| docs[i].clone()).collect();
        assert_eq!(run(&docs), first, "order {order:?}");
    });
    first
}

fn permute(v: &mut Vec<usize>, k: usize, f: &mut dyn FnMut(&[usize])) {
    if k == v.len() {
        f(v);
        return;
    }
    for i in k..v.len() {
        v.swap(k, i);
        permute(v, k + 1, f);
        v.swap(k, i);
    }
}

/// `id(children...)` outline of a trace's trees, for compact assertions.
fn outline(segs: &[Segment]) -> Vec<String> {
    fn one(s: &Segment) -> String {
        let kids: Vec<String> = s.subsegments.iter().flatten().map(one).collect();
        let id = s.id.clone().unwrap_or_default();
        if kids.is_empty() {
            id
        } else {
            format!("{id}({})", kids.join(","))
        }
    }
    segs.iter().map(one).collect()
}

fn real(t: &AssembledTrace) -> Vec<&Segment> {
    t.segments
        .iter()
        .filter(|s| s.inferred != Some(true))
        .collect()
}

fn inferred(t: &AssembledTrace) -> Vec<&Segment> {
    t.segments
        .iter()
        .filter(|s| s.inferred == Some(true))
        .collect()
}

fn sid(name: &str, ty: Option<&str>, account: Option<&str>) -> ServiceId {
    ServiceId {
        name: Some(name.to_owned()),
        names: Some(vec![name.to_owned()]),
        account_id: account.map(str::to_owned),
        r#type: ty.map(str::to_owned),
    }
}

// ---------------------------------------------------------------------------------------------
// Assembly

#[test]
fn children_and_grandchildren_arriving_before_their_parents_nest_in_place() {
    let docs = [
        sub(
            "00000000000000c2",
            "grandchild",
            "00000000000000c1",
            10.2,
            10.3,
        ),
        sub("00000000000000c1", "child", "00000000000000a1", 10.1, 10.4),
        sub(
            "00000000000000c3",
            "second-child",
            "00000000000000a1",
            10.05,
            10.1,
        ),
        seg("00000000000000a1", "svc", None, 10.0, 11.0),
    ];
    let t = run_all_orders(&docs);
    assert_eq!(
        outline(&t.segments),
        ["00000000000000a1(00000000000000c3,00000000000000c1(00000000000000c2))"]
    );
    assert!(t.orphans.is_empty());
    // Merged independent subsegments keep their fields as sent.
    let child = &t.segments[0].subsegments.as_ref().unwrap()[1];
    assert_eq!(child.kind.as_deref(), Some("subsegment"));
    assert_eq!(child.parent_id.as_deref(), Some("00000000000000a1"));
    assert_eq!(child.trace_id.as_deref(), Some(TRACE));
}

#[test]
fn independent_subsegment_nests_under_an_embedded_subsegment_of_a_later_document() {
    let s = with(
        seg("00000000000000a1", "frontend", None, 1.0, 2.0),
        "subsegments",
        json!([with(
            emb("00000000000000b1", "render", 1.1, 1.9),
            "subsegments",
            json!([emb("00000000000000b2", "inner", 1.2, 1.8)])
        )]),
    );
    let docs = [
        sub("00000000000000c1", "call", "00000000000000b2", 1.3, 1.4),
        s,
        sub("00000000000000c2", "late", "00000000000000c1", 1.31, 1.32),
    ];
    let t = run_all_orders(&docs);
    assert_eq!(
        outline(&t.segments),
        [
            "00000000000000a1(00000000000000b1(00000000000000b2(00000000000000c1(00000000000000c2))))"
        ]
    );
}

#[test]
fn complete_document_replaces_in_progress_one_in_any_order() {
    let open = json!({"id": "00000000000000a1", "name": "svc", "trace_id": TRACE,
                      "start_time": 5.0, "in_progress": true});
    let done = with(
        seg("00000000000000a1", "svc", None, 5.0, 6.0),
        "subsegments",
        json!([emb("00000000000000b1", "work", 5.1, 5.9)]),
    );
    let open_sub = json!({"type": "subsegment", "id": "00000000000000c1", "name": "call",
                          "trace_id": TRACE, "parent_id": "00000000000000b1",
                          "start_time": 5.2, "in_progress": true});
    let done_sub = sub("00000000000000c1", "call", "00000000000000b1", 5.2, 5.3);
    let t = run_all_orders(&[open, done, open_sub, done_sub]);
    assert_eq!(real(&t).len(), 1);
    assert_eq!(
        outline(&t.segments),
        ["00000000000000a1(00000000000000b1(00000000000000c1))"]
    );
    let s = &t.segments[0];
    assert_eq!(s.in_progress, None);
    assert_eq!(s.end_time.as_ref().unwrap().as_secs_f64(), 6.0);
    let c = &s.subsegments.as_ref().unwrap()[0]
        .subsegments
        .as_ref()
        .unwrap()[0];
    assert_eq!(c.end_time.as_ref().unwrap().as_secs_f64(), 5.3);
    assert!(!summarize(&t).is_partial.unwrap());
}

#[test]
fn of_two_complete_duplicates_the_later_end_time_wins() {
    let a = with(
        seg("00000000000000a1", "svc", None, 1.0, 2.0),
        "user",
        json!("early"),
    );
    let b = with(
        seg("00000000000000a1", "svc", None, 1.0, 3.0),
        "user",
        json!("late"),
    );
    let t = run_all_orders(&[a.clone(), b, a]);
    assert_eq!(t.segments.len(), 1);
    assert_eq!(t.segments[0].user.as_deref(), Some("late"));
}

#[test]
fn subsegment_both_embedded_and_independent_appears_once_complete_wins() {
    // Go-style: the segment went out with the subsegment still open; the complete subsegment
    // was sent on its own later.
    let s = with(
        seg("00000000000000a1", "svc", None, 1.0, 2.0),
        "subsegments",
        json!([
            emb("00000000000000b0", "first", 1.01, 1.02),
            {"id": "00000000000000b1", "name": "slow", "start_time": 1.1, "in_progress": true},
            emb("00000000000000b2", "last", 1.5, 1.6)
        ]),
    );
    let late = with(
        sub("00000000000000b1", "slow", "00000000000000a1", 1.1, 2.5),
        "subsegments",
        json!([emb("00000000000000b3", "inner", 1.2, 1.3)]),
    );
    let t = run_all_orders(&[s, late]);
    assert_eq!(
        outline(&t.segments),
        // Stays at its embedded position, with the complete document's children.
        ["00000000000000a1(00000000000000b0,00000000000000b1(00000000000000b3),00000000000000b2)"]
    );
    let slow = &t.segments[0].subsegments.as_ref().unwrap()[1];
    assert_eq!(slow.end_time.as_ref().unwrap().as_secs_f64(), 2.5);
    assert_eq!(slow.in_progress, None);
}

#[test]
fn independent_subsegment_also_embedded_in_its_complete_parent_is_not_duplicated() {
    let s = with(
        seg("00000000000000a1", "svc", None, 1.0, 2.0),
        "subsegments",
        json!([emb("00000000000000b1", "work", 1.1, 1.2)]),
    );
    let again = sub("00000000000000b1", "work", "00000000000000a1", 1.1, 1.2);
    let t = run_all_orders(&[s, again]);
    assert_eq!(outline(&t.segments), ["00000000000000a1(00000000000000b1)"]);
}

#[test]
fn subsegments_without_parent_are_orphans_and_chains_of_them_nest() {
    let docs = [
        seg("00000000000000a1", "svc", None, 1.0, 2.0),
        sub("00000000000000c1", "lost", "00000000000000ff", 1.1, 1.2),
        sub(
            "00000000000000c2",
            "under-lost",
            "00000000000000c1",
            1.15,
            1.16,
        ),
        sub("00000000000000c3", "other", "00000000000000fe", 1.0, 1.05),
    ];
    let t = run_all_orders(&docs);
    assert_eq!(outline(&t.segments), ["00000000000000a1"]);
    assert_eq!(
        outline(&t.orphans),
        ["00000000000000c3", "00000000000000c1(00000000000000c2)"]
    );
    let s = summarize(&t);
    assert_eq!(s.is_partial, Some(true));
}

#[test]
fn segments_are_sorted_by_start_time_then_id() {
    let docs = [
        seg("00000000000000a3", "c", Some("00000000000000ff"), 3.0, 4.0),
        seg("00000000000000a2", "b", None, 1.0, 5.0),
        seg("00000000000000a1", "a", Some("00000000000000fe"), 1.0, 2.0),
    ];
    let t = run_all_orders(&docs);
    let ids: Vec<_> = t.segments.iter().map(|s| s.id.clone().unwrap()).collect();
    assert_eq!(
        ids,
        ["00000000000000a1", "00000000000000a2", "00000000000000a3"]
    );
}

// ---------------------------------------------------------------------------------------------
// Inferred segments

fn dynamo_call(id: &str, table: Option<&str>) -> Value {
    dynamo_call_at(id, table, 1.2, 1.3)
}

fn dynamo_call_at(id: &str, table: Option<&str>, start: f64, end: f64) -> Value {
    let mut aws = json!({"operation": "GetItem", "region": "us-east-1", "request_id": "R1"});
    if let Some(t) = table {
        aws["table_name"] = json!(t);
    }
    json!({"id": id, "name": "dynamodb", "namespace": "aws", "start_time": start, "end_time": end,
           "http": {"response": {"status": 400}}, "aws": aws, "error": true, "fault": true,
           "cause": {"exceptions": [{"id": "e000000000000001", "type": "ClientError",
                                      "message": "boom", "remote": true}]}})
}

#[test]
fn aws_call_with_table_gets_an_inferred_dynamodb_table_segment() {
    let s = with(
        seg("00000000000000a1", "svc", None, 1.0, 2.0),
        "subsegments",
        json!([dynamo_call("00000000000000b1", Some("orders"))]),
    );
    let t = run(std::slice::from_ref(&s));
    let inf = inferred(&t);
    assert_eq!(inf.len(), 1);
    let i = inf[0];
    let expected = json!({
        "id": i.id.clone().unwrap(),
        "name": "DynamoDB",
        "trace_id": TRACE,
        "parent_id": "00000000000000b1",
        "start_time": 1.2,
        "end_time": 1.3,
        "origin": "AWS::DynamoDB::Table",
        "http": {"response": {"status": 400}},
        "aws": {"operation": "GetItem", "region": "us-east-1", "request_id": "R1",
                "table_name": "orders", "resource_names": ["orders"]},
        "error": true,
        "fault": true,
        "inferred": true
    });
    assert_eq!(
        serde_json::from_str::<Value>(&i.to_json()).unwrap(),
        expected
    );
    let id = i.id.clone().unwrap();
    assert_eq!(id.len(), 16);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_ne!(id, "00000000000000b1");
    // Deterministic.
    assert_eq!(run(&[s]), t);
    // Node identity: named after the table.
    assert_eq!(
        service_id(i),
        sid("orders", Some("AWS::DynamoDB::Table"), None)
    );
}

#[test]
fn aws_call_without_table_is_typed_by_service_only() {
    let s = with(
        seg("00000000000000a1", "svc", None, 1.0, 2.0),
        "subsegments",
        json!([dynamo_call("00000000000000b1", None)]),
    );
    let t = run(&[s]);
    let i = inferred(&t)[0];
    assert_eq!(i.origin.as_deref(), Some("AWS::DynamoDB"));
    assert_eq!(service_id(i), sid("DynamoDB", Some("AWS::DynamoDB"), None));
}

#[test]
fn traced_downstream_gets_no_inferred_segment() {
    let caller = with(
        seg("00000000000000a1", "front", None, 1.0, 2.0),
        "subsegments",
        json!([{"id": "00000000000000b1", "name": "back.internal", "namespace": "remote",
                "start_time": 1.1, "end_time": 1.9, "traced": true,
                "http": {"request": {"url": "http://back.internal/x", "method": "GET"},
                         "response": {"status": 200}}}]),
    );
    let callee = seg(
        "00000000000000c1",
        "back",
        Some("00000000000000b1"),
        1.2,
        1.8,
    );
    let t = run_all_orders(&[caller.clone(), callee]);
    assert!(inferred(&t).is_empty());
    assert_eq!(summarize(&t).is_partial, Some(false));

    // Without the callee's segment: still no stand-in (it declared itself traced), and the
    // trace is partial until the callee's segment arrives.
    let t = run(&[caller]);
    assert!(inferred(&t).is_empty());
    assert_eq!(summarize(&t).is_partial, Some(true));
}

#[test]
fn go_style_traced_in_http_request_also_counts() {
    let caller = with(
        seg("00000000000000a1", "front", None, 1.0, 2.0),
        "subsegments",
        json!([{"id": "00000000000000b1", "name": "back", "namespace": "remote",
                "start_time": 1.1, "end_time": 1.9,
                "http": {"request": {"url": "http://back/x", "method": "GET", "traced": true}}}]),
    );
    let t = run(&[caller]);
    assert!(inferred(&t).is_empty());
    assert_eq!(summarize(&t).is_partial, Some(true));
}

#[test]
fn remote_call_is_inferred_as_a_remote_node_and_nested_calls_are_not() {
    let s = with(
        seg("00000000000000a1", "front", None, 1.0, 2.0),
        "subsegments",
        json!([
            {"id": "00000000000000b1", "name": "api.example.com", "namespace": "remote",
             "start_time": 1.1, "end_time": 1.5,
             "http": {"request": {"url": "https://api.example.com/", "method": "GET"},
                      "response": {"status": 503}}, "fault": true,
             "subsegments": [{"id": "00000000000000b2", "name": "connect", "namespace": "remote",
                              "start_time": 1.1, "end_time": 1.2}]},
            {"id": "00000000000000b3", "name": "db@host", "namespace": "remote",
             "start_time": 1.6, "end_time": 1.7, "sql": {"database_type": "PostgreSQL"}},
            {"id": "00000000000000b4", "name": "local-work", "namespace": "local",
             "start_time": 1.7, "end_time": 1.8}
        ]),
    );
    let t = run(&[s]);
    let inf = inferred(&t);
    assert_eq!(inf.len(), 2);
    assert_eq!(inf[0].name.as_deref(), Some("api.example.com"));
    assert_eq!(inf[0].origin.as_deref(), Some("remote"));
    assert_eq!(inf[0].parent_id.as_deref(), Some("00000000000000b1"));
    assert_eq!(inf[0].fault, Some(true));
    assert_eq!(
        inf[0].http,
        t.segments[0].subsegments.as_ref().unwrap()[0].http
    );
    assert_eq!(inf[1].name.as_deref(), Some("db@host"));
    assert_eq!(service_id(inf[1]), sid("db@host", Some("remote"), None));
}

#[test]
fn aws_service_names_and_resource_types() {
    assert_eq!(canonical_service("dynamodb").unwrap().name, "DynamoDB");
    assert_eq!(canonical_service("DynamoDB").unwrap().name, "DynamoDB");
    assert_eq!(
        canonical_service("Secrets Manager").unwrap().name,
        "SecretsManager"
    );
    assert_eq!(
        canonical_service("secretsmanager").unwrap().name,
        "SecretsManager"
    );
    assert_eq!(canonical_service("sfn").unwrap().name, "StepFunctions");
    assert_eq!(canonical_service("events").unwrap().name, "EventBridge");
    assert_eq!(canonical_service("frobnicator"), None);

    // Distinct start times, so that the inferred segments sort in call order.
    let call = |id: &str, name: &str, aws: Value| {
        let start = 1.0 + f64::from(u8::from_str_radix(&id[15..], 16).unwrap()) / 100.0;
        json!({"id": id, "name": name, "namespace": "aws", "start_time": start,
               "end_time": start + 0.005, "aws": aws})
    };
    let s = with(
        seg("00000000000000a1", "svc", None, 1.0, 2.0),
        "subsegments",
        json!([
            call(
                "00000000000000b1",
                "sqs",
                json!({"operation": "SendMessage",
                 "queue_url": "https://sqs.us-east-1.amazonaws.com/123456789012/jobs"})
            ),
            call(
                "00000000000000b2",
                "S3",
                json!({"operation": "PutObject", "bucket_name": "media"})
            ),
            call(
                "00000000000000b3",
                "SNS",
                json!({"operation": "Publish",
                 "topic_arn": "arn:aws:sns:us-east-1:123456789012:alerts"})
            ),
            call(
                "00000000000000b4",
                "lambda",
                json!({"operation": "Invoke",
                 "function_name": "arn:aws:lambda:us-east-1:123456789012:function:worker:live"})
            ),
            call(
                "00000000000000b5",
                "sts",
                json!({"operation": "GetCallerIdentity"})
            ),
            call(
                "00000000000000b6",
                "Frobnicator",
                json!({"operation": "Frob"})
            )
        ]),
    );
    let t = run(&[s]);
    let got: Vec<(String, String, ServiceId)> = inferred(&t)
        .iter()
        .map(|s| {
            (
                s.name.clone().unwrap(),
                s.origin.clone().unwrap(),
                service_id(s),
            )
        })
        .collect();
    let expect = |name: &str, origin: &str, node: &str| {
        (
            name.to_owned(),
            origin.to_owned(),
            sid(node, Some(origin), None),
        )
    };
    assert_eq!(
        got,
        [
            expect("SQS", "AWS::SQS::Queue", "jobs"),
            expect("S3", "AWS::S3::Bucket", "media"),
            expect("SNS", "AWS::SNS", "SNS"),
            expect("Lambda", "AWS::Lambda", "worker"),
            expect("STS", "AWS::STS", "STS"),
            expect("Frobnicator", "AWS::Frobnicator", "Frobnicator"),
        ]
    );
    let sns = inferred(&t)[2];
    assert_eq!(
        sns.aws.as_ref().unwrap().resource_names,
        Some(vec!["arn:aws:sns:us-east-1:123456789012:alerts".to_owned()])
    );
}

// ---------------------------------------------------------------------------------------------
// Summary

/// front (root) → render → call (traced) → back (downstream segment) → dynamodb call.
fn two_services(front_flags: &Value, back_flags: &Value, call_flags: &Value) -> Vec<Value> {
    let mut front = with(
        seg("00000000000000a1", "front", None, 10.0, 11.0),
        "subsegments",
        json!([{"id": "00000000000000b1", "name": "render", "start_time": 10.1, "end_time": 10.9,
                "annotations": {"template": "product"}}]),
    );
    for (k, v) in front_flags.as_object().unwrap() {
        front[k] = v.clone();
    }
    front["http"] = json!({"request": {"url": "http://front/x", "method": "GET",
                                       "user_agent": "curl", "client_ip": "10.0.0.1"},
                           "response": {"status": front["status"].as_i64().unwrap_or(200)}});
    front["annotations"] = json!({"item": "42", "n": 4, "ok": true});
    front["user"] = json!("alice");
    let mut call = sub(
        "00000000000000c1",
        "back.local",
        "00000000000000b1",
        10.2,
        10.8,
    );
    call["namespace"] = json!("remote");
    call["traced"] = json!(true);
    for (k, v) in call_flags.as_object().unwrap() {
        call[k] = v.clone();
    }
    let mut back = with(
        seg(
            "00000000000000d1",
            "back",
            Some("00000000000000c1"),
            10.3,
            10.7,
        ),
        "origin",
        json!("AWS::EC2::Instance"),
    );
    back["aws"] = json!({"account_id": "111122223333",
                         "ec2": {"instance_id": "i-0abc", "availability_zone": "us-east-1a"}});
    back["resource_arn"] = json!("arn:aws:ec2:us-east-1:111122223333:instance/i-0abc");
    back["annotations"] = json!({"item": "42", "n": 4.0});
    back["user"] = json!("alice");
    back["subsegments"] = json!([dynamo_call_at(
        "00000000000000e1",
        Some("orders"),
        10.4,
        10.5
    )]);
    for (k, v) in back_flags.as_object().unwrap() {
        back[k] = v.clone();
    }
    front.as_object_mut().unwrap().remove("status");
    vec![front, call, back]
}

fn front_id() -> ServiceId {
    sid("front", None, None)
}
fn back_id() -> ServiceId {
    sid("back", Some("AWS::EC2::Instance"), Some("111122223333"))
}
fn orders_id() -> ServiceId {
    sid("orders", Some("AWS::DynamoDB::Table"), None)
}

#[test]
fn summary_of_a_two_service_trace() {
    let docs = two_services(&json!({}), &json!({}), &json!({}));
    let t = run_all_orders(&docs);
    let s = summarize(&t);
    assert_eq!(s.id, TRACE);
    assert_eq!(s.start_time.unwrap().0, 10.0);
    assert_eq!(s.duration, Some(1.0));
    assert_eq!(s.response_time, Some(1.0));
    // The DynamoDB call is faulted, but only the root counts for HasFault/HasError.
    assert_eq!(s.has_fault, Some(false));
    assert_eq!(s.has_error, Some(false));
    assert_eq!(s.has_throttle, Some(false));
    assert_eq!(s.is_partial, Some(false));
    let http = s.http.clone().unwrap();
    assert_eq!(http.http_url.as_deref(), Some("http://front/x"));
    assert_eq!(http.http_status, Some(200));
    assert_eq!(http.http_method.as_deref(), Some("GET"));
    assert_eq!(http.user_agent.as_deref(), Some("curl"));
    assert_eq!(http.client_ip.as_deref(), Some("10.0.0.1"));
    assert_eq!(
        s.service_ids,
        Some(vec![front_id(), back_id(), orders_id()])
    );
    assert_eq!(s.entry_point, Some(front_id()));
    assert_eq!(
        s.resource_arns.as_ref().unwrap()[0].arn.as_deref(),
        Some("arn:aws:ec2:us-east-1:111122223333:instance/i-0abc")
    );
    assert_eq!(
        s.instance_ids.as_ref().unwrap()[0].id.as_deref(),
        Some("i-0abc")
    );
    assert_eq!(
        s.availability_zones.as_ref().unwrap()[0].name.as_deref(),
        Some("us-east-1a")
    );
    assert_eq!(s.revision, Some(0));

    // Annotations: distinct values, each with the services that recorded it; 4 and 4.0 are
    // the same number; subsegment annotations count for their segment's service.
    let ann = s.annotations.as_ref().unwrap();
    let item = &ann["item"];
    assert_eq!(item.len(), 1);
    assert_eq!(
        item[0].annotation_value,
        Some(AnnotationValue::string("42"))
    );
    assert_eq!(item[0].service_ids, Some(vec![front_id(), back_id()]));
    assert_eq!(ann["n"].len(), 1);
    assert_eq!(
        ann["n"][0].annotation_value,
        Some(AnnotationValue::number(4.0))
    );
    assert_eq!(
        ann["ok"][0].annotation_value,
        Some(AnnotationValue::boolean(true))
    );
    assert_eq!(ann["ok"][0].service_ids, Some(vec![front_id()]));
    assert_eq!(ann["template"][0].service_ids, Some(vec![front_id()]));
    let users = s.users.as_ref().unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].user_name.as_deref(), Some("alice"));
    assert_eq!(users[0].service_ids, Some(vec![front_id(), back_id()]));
}

#[test]
fn has_fault_and_error_look_at_the_root_only_has_throttle_at_everything() {
    let t = run(&two_services(
        &json!({}),
        &json!({"fault": true}),
        &json!({"throttle": true}),
    ));
    let s = summarize(&t);
    assert_eq!(
        (s.has_fault, s.has_error, s.has_throttle),
        (Some(false), Some(false), Some(true))
    );

    let t = run(&two_services(
        &json!({"status": 502, "fault": true}),
        &json!({}),
        &json!({}),
    ));
    let s = summarize(&t);
    assert_eq!(
        (s.has_fault, s.has_error, s.has_throttle),
        (Some(true), Some(false), Some(false))
    );
    assert_eq!(s.http.unwrap().http_status, Some(502));

    let t = run(&two_services(
        &json!({"status": 404, "error": true}),
        &json!({}),
        &json!({}),
    ));
    let s = summarize(&t);
    assert_eq!((s.has_fault, s.has_error), (Some(false), Some(true)));
}

#[test]
fn is_partial_cases() {
    // An in-progress subsegment.
    let mut docs = two_services(&json!({}), &json!({}), &json!({}));
    docs[1].as_object_mut().unwrap().remove("end_time");
    docs[1]["in_progress"] = json!(true);
    assert_eq!(summarize(&run(&docs)).is_partial, Some(true));

    // The downstream segment declared by a traced call has not arrived.
    let docs = two_services(&json!({}), &json!({}), &json!({}));
    assert_eq!(summarize(&run(&docs[..2])).is_partial, Some(true));

    // A segment whose parent is not in the trace; the root has no parent.
    let mut docs = two_services(&json!({}), &json!({}), &json!({}));
    docs.remove(1);
    let s = summarize(&run(&docs));
    assert_eq!(s.is_partial, Some(true));
    assert_eq!(s.entry_point, Some(front_id()));

    // No segment without a parent: the earliest one is the root, and the trace is partial.
    let docs = [
        seg(
            "00000000000000a2",
            "late",
            Some("00000000000000ff"),
            2.0,
            3.0,
        ),
        seg(
            "00000000000000a1",
            "early",
            Some("00000000000000fe"),
            1.0,
            4.0,
        ),
    ];
    let s = summarize(&run(&docs));
    assert_eq!(s.is_partial, Some(true));
    assert_eq!(s.entry_point, Some(sid("early", None, None)));
    assert_eq!(s.response_time, Some(3.0));

    // Several segments without a parent: the earliest.
    let docs = [
        seg("00000000000000a2", "second", None, 2.0, 3.0),
        seg("00000000000000a1", "first", None, 1.0, 1.5),
    ];
    let s = summarize(&run(&docs));
    assert_eq!(s.entry_point, Some(sid("first", None, None)));
    assert_eq!(s.duration, Some(2.0));

    // Only orphans (Lambda: user subsegments arrive before the function segment).
    let docs = [with(
        sub("00000000000000c1", "handle", "00000000000000ff", 1.0, 2.0),
        "annotations",
        json!({"order": "o-1"}),
    )];
    let s = summarize(&run(&docs));
    assert_eq!(s.is_partial, Some(true));
    assert_eq!(s.entry_point, None);
    assert_eq!(s.has_fault, Some(false));
    assert_eq!(s.start_time.unwrap().0, 1.0);
    let ann = s.annotations.unwrap();
    assert_eq!(
        ann["order"][0].annotation_value,
        Some(AnnotationValue::string("o-1"))
    );
    assert_eq!(ann["order"][0].service_ids, Some(vec![]));
}

#[test]
fn empty_collections_are_emitted() {
    let t = run(&[seg("00000000000000a1", "svc", None, 1.0, 2.0)]);
    let v: Value = serde_json::to_value(summarize(&t)).unwrap();
    assert_eq!(v["Annotations"], json!({}));
    for k in [
        "Users",
        "ResourceARNs",
        "InstanceIds",
        "AvailabilityZones",
        "FaultRootCauses",
        "ErrorRootCauses",
    ] {
        assert_eq!(v[k], json!([]), "{k}");
    }
    assert_eq!(v["HasFault"], json!(false));
    assert_eq!(v["HasError"], json!(false));
    assert_eq!(v["HasThrottle"], json!(false));
    assert_eq!(v["IsPartial"], json!(false));
    assert_eq!(v["Http"], json!({}));
    assert_eq!(v["ServiceIds"], json!([{"Name": "svc", "Names": ["svc"]}]));
}

// ---------------------------------------------------------------------------------------------
// Root causes

fn causes_json(s: &TraceSummary, which: &str) -> Value {
    serde_json::to_value(s).unwrap()[which].clone()
}

#[test]
fn fault_root_cause_follows_the_fault_through_unflagged_entities_to_its_origin() {
    // front 502 → render (no flag) → call (fault) → back (fault, with exception) → dynamodb ok.
    let back_cause = json!({"working_directory": "/srv", "exceptions": [
        {"id": "e0000000000000aa", "type": "BackendError", "message": "down", "remote": false}]});
    let mut docs = two_services(
        &json!({"status": 502, "fault": true}),
        &json!({"fault": true, "cause": back_cause}),
        &json!({"fault": true}),
    );
    // Make the DynamoDB call succeed so `back` is the deepest faulted entity.
    docs[2]["subsegments"][0] = with(
        with(docs[2]["subsegments"][0].clone(), "fault", json!(false)),
        "error",
        json!(false),
    );
    docs[2]["subsegments"][0]["http"] = json!({"response": {"status": 200}});
    docs[2]["subsegments"][0]
        .as_object_mut()
        .unwrap()
        .remove("cause");
    let s = summarize(&run(&docs));
    assert_eq!(
        causes_json(&s, "FaultRootCauses"),
        json!([{
            "Services": [
                {"Name": "front", "Names": ["front"], "EntityPath": [
                    {"Name": "front", "Exceptions": [], "Remote": false},
                    {"Name": "render", "Exceptions": [], "Remote": false},
                    {"Name": "back.local", "Exceptions": [], "Remote": true}],
                 "Inferred": false},
                {"Name": "back", "Names": ["back"], "Type": "AWS::EC2::Instance",
                 "AccountId": "111122223333", "EntityPath": [
                    {"Name": "back", "Exceptions": [{"Name": "BackendError", "Message": "down"}],
                     "Remote": false}],
                 "Inferred": false}
            ],
            "ClientImpacting": true
        }])
    );
    assert_eq!(causes_json(&s, "ErrorRootCauses"), json!([]));
}

#[test]
fn fault_in_an_inferred_service_that_the_root_did_not_see_is_not_client_impacting() {
    let s = summarize(&run(&two_services(&json!({}), &json!({}), &json!({}))));
    // The DynamoDB call (error + fault, remote ClientError) → its inferred segment.
    let expected_services = json!([
        {"Name": "front", "Names": ["front"], "EntityPath": [
            {"Name": "front", "Exceptions": [], "Remote": false},
            {"Name": "render", "Exceptions": [], "Remote": false},
            {"Name": "back.local", "Exceptions": [], "Remote": true}],
         "Inferred": false},
        {"Name": "back", "Names": ["back"], "Type": "AWS::EC2::Instance",
         "AccountId": "111122223333", "EntityPath": [
            {"Name": "back", "Exceptions": [], "Remote": false},
            {"Name": "dynamodb", "Exceptions": [{"Name": "ClientError", "Message": "boom"}],
             "Remote": true}],
         "Inferred": false},
        {"Name": "orders", "Names": ["orders"], "Type": "AWS::DynamoDB::Table",
         "EntityPath": [{"Name": "DynamoDB", "Exceptions": [], "Remote": false}],
         "Inferred": true}
    ]);
    assert_eq!(
        causes_json(&s, "FaultRootCauses"),
        json!([{"Services": expected_services, "ClientImpacting": false}])
    );
    assert_eq!(
        causes_json(&s, "ErrorRootCauses"),
        json!([{"Services": expected_services, "ClientImpacting": false}])
    );
}

#[test]
fn referenced_exceptions_are_resolved() {
    // Java/Node: the segment's cause only names the exception its subsegment recorded.
    let s = with(
        with(
            seg("00000000000000a1", "svc", None, 1.0, 2.0),
            "fault",
            json!(true),
        ),
        "subsegments",
        json!([{"id": "00000000000000b1", "name": "work", "start_time": 1.1, "end_time": 1.9,
                "fault": true, "cause": {"id": "e0000000000000bb", "exceptions": []}},
               {"id": "00000000000000b2", "name": "origin", "start_time": 1.1, "end_time": 1.2,
                "cause": {"exceptions": [{"id": "e0000000000000bb", "type": "Oops",
                                          "message": "m"}]}}]),
    );
    let sum = summarize(&run(&[s]));
    assert_eq!(
        causes_json(&sum, "FaultRootCauses"),
        json!([{"Services": [{"Name": "svc", "Names": ["svc"], "EntityPath": [
            {"Name": "svc", "Exceptions": [], "Remote": false},
            {"Name": "work", "Exceptions": [{"Name": "Oops", "Message": "m"}], "Remote": false}],
            "Inferred": false}], "ClientImpacting": true}])
    );
}

#[test]
fn response_time_root_cause_follows_the_longest_child_while_it_covers_half() {
    let docs = two_services(&json!({}), &json!({}), &json!({}));
    let s = summarize(&run(&docs));
    // front 1.0 s → render 0.8 → back.local 0.6 → back 0.4 (< 0.5: stop before it).
    let v = causes_json(&s, "ResponseTimeRootCauses");
    let services = v[0]["Services"].as_array().unwrap();
    assert_eq!(services.len(), 1);
    let path = services[0]["EntityPath"].as_array().unwrap();
    let names: Vec<&str> = path.iter().map(|e| e["Name"].as_str().unwrap()).collect();
    assert_eq!(names, ["front", "render", "back.local"]);
    let cov: Vec<f64> = path
        .iter()
        .map(|e| e["Coverage"].as_f64().unwrap())
        .collect();
    for (got, want) in cov.iter().zip([1.0, 0.8, 0.6]) {
        assert!((got - want).abs() < 1e-9, "{cov:?}");
    }
    assert_eq!(path[2]["Remote"], json!(true));
    assert_eq!(v[0]["ClientImpacting"], json!(true));
}

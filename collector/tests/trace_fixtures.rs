//! Trace assembly and summaries over the real SDK captures (`shared/fixtures/`): every trace
//! assembles to the same result whatever order its datagrams arrive in, nothing is lost or
//! duplicated, and a few traces, worked out by hand from the capture files, come out exactly as
//! X-Ray would show them.

use std::collections::BTreeSet;

use fluoro_collector::trace::{AssembledTrace, assemble, service_id, summarize};
use fluoro_proto::ids::TraceId;
use fluoro_proto::segment::Segment;
use serde_json::{Value, json};

mod support;

/// Every captured document, in arrival order, grouped by trace id (traces in first-seen order).
fn traces() -> Vec<(String, Vec<Segment>)> {
    let t = support::fixture_traces(&["python", "node"]);
    let count: usize = t.iter().map(|(_, d)| d.len()).sum();
    assert!(count >= 150, "expected every capture, found {count}");
    t
}

fn trace(id: &str) -> (TraceId, Vec<Segment>) {
    let docs = traces()
        .into_iter()
        .find(|(t, _)| t == id)
        .unwrap_or_else(|| panic!("no trace {id} in the fixtures"))
        .1;
    (TraceId::parse(id).unwrap(), docs)
}

/// Deterministic Fisher–Yates (xorshift64).
fn shuffled<T: Clone>(items: &[T], mut seed: u64) -> Vec<T> {
    let mut v = items.to_vec();
    for i in (1..v.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let j = (seed % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
    v
}

fn json_of(seg: &Segment) -> Value {
    serde_json::from_str(&seg.to_json()).unwrap()
}

fn without_subsegments(mut v: Value) -> Value {
    v.as_object_mut().unwrap().remove("subsegments");
    v
}

/// `id(children...)` outline; inferred segments show as `inferred<-<parent id>`.
fn outline(segs: &[Segment]) -> Vec<String> {
    fn one(s: &Segment) -> String {
        if s.inferred == Some(true) {
            return format!("inferred<-{}", s.parent_id.as_deref().unwrap());
        }
        let kids: Vec<String> = s.subsegments.iter().flatten().map(one).collect();
        let id = s.id.clone().unwrap();
        if kids.is_empty() {
            id
        } else {
            format!("{id}({})", kids.join(","))
        }
    }
    segs.iter().map(one).collect()
}

fn find<'a>(segs: &'a [Segment], id: &str) -> Option<&'a Segment> {
    let mut found = None;
    for s in segs {
        s.walk(&mut |e| {
            if e.id.as_deref() == Some(id) && found.is_none() {
                found = Some(e);
            }
        });
    }
    found
}

fn inferred_under<'a>(t: &'a AssembledTrace, parent: &str) -> &'a Segment {
    t.segments
        .iter()
        .find(|s| s.inferred == Some(true) && s.parent_id.as_deref() == Some(parent))
        .unwrap_or_else(|| panic!("no inferred segment under {parent}"))
}

fn approx(got: Option<f64>, want: f64) {
    let got = got.expect("value present");
    assert!((got - want).abs() < 1e-6, "got {got}, want {want}");
}

#[test]
fn every_trace_assembles_the_same_in_any_arrival_order() {
    let all = traces();
    assert_eq!(all.len(), 26);
    for (id, docs) in &all {
        let tid = TraceId::parse(id).unwrap();
        let arrival = assemble(tid, docs.clone());
        let mut reversed = docs.clone();
        reversed.reverse();
        assert_eq!(assemble(tid, reversed), arrival, "{id}: reversed");
        for seed in [0x9e37_79b9_7f4a_7c15_u64, 42, 0xdead_beef] {
            assert_eq!(
                assemble(tid, shuffled(docs, seed)),
                arrival,
                "{id}: shuffled with seed {seed:#x}"
            );
        }
        assert_eq!(
            summarize(&assemble(tid, shuffled(docs, 7))),
            summarize(&arrival),
            "{id}: summary"
        );
    }
}

#[test]
fn nothing_is_lost_or_duplicated_and_documents_are_kept_as_sent() {
    for (id, docs) in traces() {
        let t = assemble(TraceId::parse(&id).unwrap(), docs.clone());
        // Every capture here is a complete trace: nothing left over, nothing partial.
        assert!(
            t.orphans.is_empty(),
            "{id}: orphans {:?}",
            outline(&t.orphans)
        );
        assert_eq!(summarize(&t).is_partial, Some(false), "{id}");

        let mut sent = BTreeSet::new();
        for d in &docs {
            d.walk(&mut |e| {
                sent.insert(e.id.clone().unwrap());
            });
        }
        let mut got = Vec::new();
        for s in t.segments.iter().filter(|s| s.inferred != Some(true)) {
            s.walk(&mut |e| got.push(e.id.clone().unwrap()));
        }
        let unique: BTreeSet<String> = got.iter().cloned().collect();
        assert_eq!(unique.len(), got.len(), "{id}: an entity appears twice");
        assert_eq!(unique, sent, "{id}");

        // Every complete document comes back exactly as sent, apart from where its
        // subsegments live (in-progress ones were replaced).
        for d in docs.iter().filter(|d| d.in_progress != Some(true)) {
            let back = find(&t.segments, d.id.as_deref().unwrap()).unwrap();
            assert_eq!(
                without_subsegments(json_of(back)),
                without_subsegments(json_of(d)),
                "{id}: {}",
                d.id.as_deref().unwrap()
            );
        }

        // Inferred segments hang off a subsegment of the trace and never share an id.
        for inf in t.segments.iter().filter(|s| s.inferred == Some(true)) {
            let parent = find(&t.segments, inf.parent_id.as_deref().unwrap()).unwrap();
            assert_eq!(parent.namespace.as_deref(), Some("aws"), "{id}");
            assert!(!unique.contains(inf.id.as_deref().unwrap()), "{id}");
        }
    }
}

/// Python Lambda trace (captures python/000001..000008): API Gateway stage → Lambda service →
/// Lambda function → `handle_order` (streamed before the function segment) → two DynamoDB
/// calls and a call to the Flask `inventory-service`, which calls DynamoDB itself and fails
/// with a 500; API Gateway answers 502.
#[test]
fn python_lambda_trace() {
    let (tid, docs) = trace("1-6b09aba5-e51d6fb3253cb064452df5a4");
    let t = assemble(tid, docs);
    assert_eq!(
        outline(&t.segments),
        [
            // orders-api/prod (AWS::ApiGateway::Stage), root, with its `Lambda` call.
            "7c645b1c5e920f58(d56c2a321af6f388)",
            // orders-fn (AWS::Lambda), parent = the `Lambda` call: no inferred segment for it.
            "94550c0784be037b",
            // orders-fn (AWS::Lambda::Function): Lambda's own subsegments as embedded, then
            // `handle_order` (parent_id = the function segment) with its three calls.
            "cd666fa81253913a(573af75fc733f545,765e70d6d40798a8,c91906633306d670,\
             2f2dd42e0f3e305d(751d328e839e225f,31d8429c660a7172,53060ddd500fd5fe))",
            "inferred<-751d328e839e225f",
            "inferred<-31d8429c660a7172",
            // inventory-service, parent = the `127.0.0.1` call: no inferred segment for it.
            "f6cff12ee4c4b250(ce527c54c758e7fa)",
            "inferred<-ce527c54c758e7fa",
        ]
        .map(|s| s.replace(' ', ""))
    );
    let names: Vec<(&str, Option<&str>)> = t
        .segments
        .iter()
        .map(|s| (s.name.as_deref().unwrap(), s.origin.as_deref()))
        .collect();
    assert_eq!(
        names,
        [
            ("orders-api/prod", Some("AWS::ApiGateway::Stage")),
            ("orders-fn", Some("AWS::Lambda")),
            ("orders-fn", Some("AWS::Lambda::Function")),
            ("DynamoDB", Some("AWS::DynamoDB::Table")),
            ("DynamoDB", Some("AWS::DynamoDB::Table")),
            ("inventory-service", Some("AWS::ECS::Container")),
            ("DynamoDB", Some("AWS::DynamoDB::Table")),
        ]
    );

    // The first DynamoDB call (python/000001), as X-Ray infers it.
    let customers = inferred_under(&t, "751d328e839e225f");
    let inferred_id = customers.id.clone().unwrap();
    assert_eq!(inferred_id.len(), 16);
    assert!(inferred_id.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(
        json_of(customers),
        json!({
            "id": inferred_id,
            "name": "DynamoDB",
            "trace_id": "1-6b09aba5-e51d6fb3253cb064452df5a4",
            "parent_id": "751d328e839e225f",
            "start_time": 1795795877.5545988,
            "end_time": 1795795877.5592446,
            "origin": "AWS::DynamoDB::Table",
            "http": {"response": {"status": 200}},
            "aws": {"operation": "GetItem", "region": "us-east-1",
                    "request_id": "9AE86C15E345420BAA94160092A370BC",
                    "table_name": "customers", "resource_names": ["customers"]},
            "inferred": true
        })
    );
    let table_of = |parent: &str| {
        inferred_under(&t, parent)
            .aws
            .as_ref()
            .unwrap()
            .resource_names
            .clone()
            .unwrap()
    };
    assert_eq!(table_of("31d8429c660a7172"), ["orders"]);
    assert_eq!(table_of("ce527c54c758e7fa"), ["inventory"]);

    // `handle_order` is nested as sent, streamed-subsegment members included.
    let handle = find(&t.segments, "2f2dd42e0f3e305d").unwrap();
    assert_eq!(handle.kind.as_deref(), Some("subsegment"));
    assert_eq!(handle.parent_id.as_deref(), Some("cd666fa81253913a"));
    assert_eq!(handle.in_progress, Some(false));

    let s = summarize(&t);
    let v = serde_json::to_value(&s).unwrap();
    assert_eq!(v["Id"], json!("1-6b09aba5-e51d6fb3253cb064452df5a4"));
    approx(s.start_time.map(|t| t.0), 1795795877.4719355);
    // API Gateway spans the whole trace: .4719355 → .6307137.
    approx(s.duration, 0.1587782);
    approx(s.response_time, 0.1587782);
    assert_eq!(v["HasFault"], json!(true));
    assert_eq!(v["HasError"], json!(false));
    assert_eq!(v["HasThrottle"], json!(false));
    assert_eq!(v["IsPartial"], json!(false));
    assert_eq!(
        v["Http"],
        json!({"HttpURL": "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/prod/orders/ord-d30316f4-0000",
               "HttpStatus": 502, "HttpMethod": "GET", "UserAgent": "okhttp/4.12.0",
               "ClientIp": "198.51.100.27"})
    );
    let apigw = json!({"Name": "orders-api/prod", "Names": ["orders-api/prod"],
                       "Type": "AWS::ApiGateway::Stage"});
    let lambda = json!({"Name": "orders-fn", "Names": ["orders-fn"], "Type": "AWS::Lambda"});
    let function = json!({"Name": "orders-fn", "Names": ["orders-fn"],
                          "AccountId": "123456789012", "Type": "AWS::Lambda::Function"});
    let inventory_svc = json!({"Name": "inventory-service", "Names": ["inventory-service"],
                               "Type": "AWS::ECS::Container"});
    let table = |n: &str| json!({"Name": n, "Names": [n], "Type": "AWS::DynamoDB::Table"});
    assert_eq!(
        v["ServiceIds"],
        json!([
            apigw,
            lambda,
            function,
            table("customers"),
            table("orders"),
            inventory_svc,
            table("inventory")
        ])
    );
    assert_eq!(v["EntryPoint"], apigw);
    assert_eq!(
        v["Annotations"],
        json!({
            "aws:api_id": [{"AnnotationValue": {"StringValue": "a1b2c3d4e5"}, "ServiceIds": [apigw]}],
            "aws:api_stage": [{"AnnotationValue": {"StringValue": "prod"}, "ServiceIds": [apigw]}],
            "items": [{"AnnotationValue": {"NumberValue": 2.0}, "ServiceIds": [function]}],
            "order_id": [{"AnnotationValue": {"StringValue": "ord-d30316f4-0000"}, "ServiceIds": [function]}],
            "priority": [{"AnnotationValue": {"BooleanValue": false}, "ServiceIds": [function]}],
            "run_id": [{"AnnotationValue": {"StringValue": "run-d30316f4"}, "ServiceIds": [function]}],
            "tier": [{"AnnotationValue": {"StringValue": "silver"}, "ServiceIds": [function]}]
        })
    );
    assert_eq!(
        v["Users"],
        json!([{"UserName": "cust-0007", "ServiceIds": [inventory_svc]}])
    );
    assert_eq!(
        v["ResourceARNs"],
        json!([{"ARN": "arn:aws:apigateway:us-east-1::/restapis/a1b2c3d4e5/stages/prod"},
               {"ARN": "arn:aws:lambda:us-east-1:123456789012:function:orders-fn"}])
    );
    assert_eq!(v["InstanceIds"], json!([]));
    assert_eq!(v["AvailabilityZones"], json!([]));

    // The 502 is traced to the inventory service's StockBackendError, through entities that do
    // not carry the fault themselves (the Lambda hops, handle_order).
    let entity =
        |name: &str, remote: bool| json!({"Name": name, "Exceptions": [], "Remote": remote});
    let with_services = |svc: &Value, path: Value| {
        let mut s = svc.clone();
        s["EntityPath"] = path;
        s["Inferred"] = json!(false);
        s
    };
    assert_eq!(
        v["FaultRootCauses"],
        json!([{
            "Services": [
                with_services(&apigw, json!([entity("orders-api/prod", false), entity("Lambda", true)])),
                with_services(&lambda, json!([entity("orders-fn", false)])),
                with_services(&function, json!([entity("orders-fn", false),
                                                entity("handle_order", false),
                                                entity("127.0.0.1", true)])),
                with_services(&inventory_svc, json!([{
                    "Name": "inventory-service",
                    "Exceptions": [{"Name": "StockBackendError",
                                    "Message": "stock backend unavailable for sku-boom-489"}],
                    "Remote": false}])),
            ],
            "ClientImpacting": true
        }])
    );
    assert_eq!(v["ErrorRootCauses"], json!([]));

    // Response time: the Lambda hops each cover most of the API's 0.159 s; inside the function
    // no child covers half of it (Invocation .554339 → .622421 is the longest).
    let rt = &v["ResponseTimeRootCauses"][0]["Services"];
    let path: Vec<Vec<&str>> = rt
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            s["EntityPath"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["Name"].as_str().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(
        path,
        [
            vec!["orders-api/prod", "Lambda"],
            vec!["orders-fn"],
            vec!["orders-fn"]
        ]
    );
    let total = 1795795877.6307137 - 1795795877.4719355;
    approx(
        rt[2]["EntityPath"][0]["Coverage"].as_f64(),
        (1795795877.625421 - 1795795877.494339) / total,
    );
}

/// python/000032..000036: the handler itself raised; the function segment and API Gateway
/// (502) carry the fault, Lambda's service segment (200) does not.
#[test]
fn python_lambda_handler_failure_root_cause() {
    let (tid, docs) = trace("1-6b09aba6-1d4245d634df221ec6512b16");
    let t = assemble(tid, docs);
    assert_eq!(
        outline(&t.segments),
        [
            "f4458ee6a0a98a43(7545f490cf251349)",
            "45be45cb5dff1336",
            "1b64182cefe62378(6ec37d2545ac066b,9c8ce5e5be97ec7b,57b3b5a34dbe04ea(43a0d9bd7c457c21))",
            "inferred<-43a0d9bd7c457c21",
        ]
    );
    let v = serde_json::to_value(summarize(&t)).unwrap();
    assert_eq!(v["HasFault"], json!(true));
    let upstream = json!([{"Name": "UpstreamError",
                           "Message": "unexpected payload shape for order ord-d30316f4-0004"}]);
    assert_eq!(
        v["FaultRootCauses"],
        json!([{
            "Services": [
                {"Name": "orders-api/prod", "Names": ["orders-api/prod"],
                 "Type": "AWS::ApiGateway::Stage",
                 "EntityPath": [{"Name": "orders-api/prod", "Exceptions": [], "Remote": false},
                                {"Name": "Lambda", "Exceptions": [], "Remote": true}],
                 "Inferred": false},
                {"Name": "orders-fn", "Names": ["orders-fn"], "Type": "AWS::Lambda",
                 "EntityPath": [{"Name": "orders-fn", "Exceptions": [], "Remote": false}],
                 "Inferred": false},
                {"Name": "orders-fn", "Names": ["orders-fn"], "Type": "AWS::Lambda::Function",
                 "AccountId": "123456789012",
                 "EntityPath": [{"Name": "orders-fn", "Exceptions": upstream, "Remote": false},
                                {"Name": "handle_order", "Exceptions": upstream, "Remote": false}],
                 "Inferred": false}
            ],
            "ClientImpacting": true
        }])
    );
}

/// python/000009..000014: API Gateway throttled (429); a DynamoDB call failed with a 400
/// ProvisionedThroughputExceededException (Python marks it error *and* fault).
#[test]
fn python_dynamodb_failure_is_traced_to_the_inferred_table() {
    let (tid, docs) = trace("1-6b09aba5-96748c1a5f10d9c57621ccaf");
    let t = assemble(tid, docs);
    let orders = inferred_under(&t, "723623d79305eb02");
    assert_eq!(orders.error, Some(true));
    assert_eq!(orders.fault, Some(true));
    assert_eq!(service_id(orders).name.as_deref(), Some("orders"));

    let v = serde_json::to_value(summarize(&t)).unwrap();
    assert_eq!(v["HasFault"], json!(false));
    assert_eq!(v["HasError"], json!(true));
    assert_eq!(v["HasThrottle"], json!(true));
    let services = || {
        let ddb = json!([{"Name": "ProvisionedThroughputExceededException",
            "Message": "An error occurred (ProvisionedThroughputExceededException) when calling \
                        the GetItem operation (reached max retries: 0): The level of configured \
                        provisioned throughput for the table was exceeded."}]);
        json!([
            {"Name": "orders-api/prod", "Names": ["orders-api/prod"], "Type": "AWS::ApiGateway::Stage",
             "EntityPath": [{"Name": "orders-api/prod", "Exceptions": [], "Remote": false},
                            {"Name": "Lambda", "Exceptions": [], "Remote": true}],
             "Inferred": false},
            {"Name": "orders-fn", "Names": ["orders-fn"], "Type": "AWS::Lambda",
             "EntityPath": [{"Name": "orders-fn", "Exceptions": [], "Remote": false}],
             "Inferred": false},
            {"Name": "orders-fn", "Names": ["orders-fn"], "Type": "AWS::Lambda::Function",
             "AccountId": "123456789012",
             "EntityPath": [{"Name": "orders-fn", "Exceptions": [], "Remote": false},
                            {"Name": "handle_order", "Exceptions": [], "Remote": false},
                            {"Name": "dynamodb", "Exceptions": ddb, "Remote": true}],
             "Inferred": false},
            {"Name": "orders", "Names": ["orders"], "Type": "AWS::DynamoDB::Table",
             "EntityPath": [{"Name": "DynamoDB", "Exceptions": [], "Remote": false}],
             "Inferred": true}
        ])
    };
    // API Gateway's 429 is an error the client saw; it was not a fault.
    assert_eq!(
        v["ErrorRootCauses"],
        json!([{"Services": services(), "ClientImpacting": true}])
    );
    assert_eq!(
        v["FaultRootCauses"],
        json!([{"Services": services(), "ClientImpacting": false}])
    );
}

/// node/000001..000003: shop-frontend → custom `render` subsegment → streamed `127.0.0.1` call
/// (`traced: true`, parent = `render`, embedded in the frontend document that arrives *last*)
/// → catalog-service.
#[test]
fn node_frontend_to_catalog_trace() {
    let (tid, docs) = trace("1-6b09abae-f47fdd9445ec71a2b334fd41");
    let t = assemble(tid, docs);
    assert_eq!(
        outline(&t.segments),
        [
            "1e8931fa5354907c(5187cc086cb99d8c(32304e826b75130d))",
            "320163627716d8cf",
        ]
    );
    assert!(t.orphans.is_empty());
    let call = find(&t.segments, "32304e826b75130d").unwrap();
    assert_eq!(call.traced, Some(true));
    assert_eq!(call.kind.as_deref(), Some("subsegment"));

    let s = summarize(&t);
    let v = serde_json::to_value(&s).unwrap();
    let front = json!({"Name": "shop-frontend", "Names": ["shop-frontend"]});
    let catalog = json!({"Name": "catalog-service", "Names": ["catalog-service"],
                         "Type": "AWS::ECS::Container"});
    approx(s.start_time.map(|t| t.0), 1795795885.761);
    approx(s.duration, 0.022);
    approx(s.response_time, 0.022);
    assert_eq!(v["HasFault"], json!(false));
    assert_eq!(v["HasError"], json!(false));
    assert_eq!(v["HasThrottle"], json!(false));
    assert_eq!(v["IsPartial"], json!(false));
    assert_eq!(v["ServiceIds"], json!([front, catalog]));
    assert_eq!(v["EntryPoint"], front);
    assert_eq!(
        v["Http"],
        json!({"HttpURL": "http://127.0.0.1:43283/shop/8684?tier=gold&run=run-6e5b3f10&n=4",
               "HttpStatus": 200, "HttpMethod": "GET", "UserAgent": "Python-urllib/3.11",
               "ClientIp": "127.0.0.1"})
    );
    assert_eq!(
        v["Annotations"],
        json!({
            "cart_items": [{"AnnotationValue": {"NumberValue": 4.0}, "ServiceIds": [front]}],
            "item": [{"AnnotationValue": {"StringValue": "8684"}, "ServiceIds": [front, catalog]}],
            "run_id": [{"AnnotationValue": {"StringValue": "run-6e5b3f10"}, "ServiceIds": [front]}],
            "template": [{"AnnotationValue": {"StringValue": "product"}, "ServiceIds": [front]}],
            "tier": [{"AnnotationValue": {"StringValue": "gold"}, "ServiceIds": [front]}]
        })
    );
    assert_eq!(v["Users"], json!([]));
    assert_eq!(v["FaultRootCauses"], json!([]));
    assert_eq!(v["ErrorRootCauses"], json!([]));
}

/// node/000029..000032: the frontend first sent an in-progress segment; the complete one
/// replaces it.
#[test]
fn node_in_progress_segment_is_replaced() {
    let (tid, docs) = trace("1-6b09abaf-e264cab36128c1ad9ce407c2");
    assert_eq!(docs.len(), 4);
    let t = assemble(tid, docs);
    assert_eq!(
        outline(&t.segments),
        [
            "24e7d47d7c759dde(9ce95b25d921fa64(5885a3a048a81193))",
            "7144b2864adfdfe7",
        ]
    );
    let front = &t.segments[0];
    assert_eq!(front.in_progress, None);
    assert_eq!(
        front.end_time.as_ref().unwrap().as_secs_f64(),
        1795795887.263
    );
    let s = summarize(&t);
    assert_eq!(s.is_partial, Some(false));
    approx(s.response_time, 1795795887.263 - 1795795886.554);
}

/// node/000004..000006: catalog-service fails (500), the frontend answers 502; the `render`
/// subsegment between them carries no flag.
#[test]
fn node_fault_is_traced_to_the_catalog() {
    let (tid, docs) = trace("1-6b09abae-7e3199acce603d0709881263");
    let v = serde_json::to_value(summarize(&assemble(tid, docs))).unwrap();
    assert_eq!(v["HasFault"], json!(true));
    assert_eq!(
        v["FaultRootCauses"],
        json!([{
            "Services": [
                {"Name": "shop-frontend", "Names": ["shop-frontend"], "EntityPath": [
                    {"Name": "shop-frontend", "Exceptions": [], "Remote": false},
                    {"Name": "render", "Exceptions": [], "Remote": false},
                    {"Name": "127.0.0.1", "Exceptions": [], "Remote": true}],
                 "Inferred": false},
                {"Name": "catalog-service", "Names": ["catalog-service"],
                 "Type": "AWS::ECS::Container", "EntityPath": [
                    {"Name": "catalog-service",
                     "Exceptions": [{"Name": "Error",
                                     "Message": "catalog database unavailable for boom-0849"}],
                     "Remote": false}],
                 "Inferred": false}
            ],
            "ClientImpacting": true
        }])
    );
}

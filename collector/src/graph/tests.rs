//! Unit tests of the service graph, over hand-built assembled traces.

use fluoro_proto::api::{HistogramEntry, Service, ServiceStatistics};
use fluoro_proto::ids::TraceId;
use fluoro_proto::segment::Segment;

use super::*;
use crate::trace::AssembledTrace;

fn seg(json: &str) -> Segment {
    Segment::from_json(json).unwrap_or_else(|e| panic!("{e}: {json}"))
}

fn trace(segments: Vec<Segment>) -> AssembledTrace {
    AssembledTrace {
        id: TraceId::parse("1-6b09aba5-e51d6fb3253cb064452df5a4").unwrap(),
        segments,
        orphans: Vec::new(),
    }
}

fn find<'a>(services: &'a [Service], name: &str, r#type: Option<&str>) -> &'a Service {
    services
        .iter()
        .find(|s| s.name.as_deref() == Some(name) && s.r#type.as_deref() == r#type)
        .unwrap_or_else(|| panic!("no node ({name}, {type:?}) in {services:#?}"))
}

/// (target name, target type) of every edge of `s`.
fn targets<'a>(services: &'a [Service], s: &Service) -> Vec<(&'a str, Option<&'a str>)> {
    s.edges
        .iter()
        .map(|e| {
            let t = &services[usize::try_from(e.reference_id).unwrap()];
            (t.name.as_deref().unwrap(), t.r#type.as_deref())
        })
        .collect()
}

fn edge<'a>(
    services: &[Service],
    from: &'a Service,
    to: (&str, Option<&str>),
) -> &'a fluoro_proto::api::Edge {
    let to = find(services, to.0, to.1);
    from.edges
        .iter()
        .find(|e| e.reference_id == to.reference_id)
        .unwrap_or_else(|| panic!("no edge {:?} → {:?}", from.name, to.name))
}

#[track_caller]
fn assert_time(actual: Option<fluoro_proto::api::EpochSeconds>, expected: f64) {
    let a = actual.expect("time present").0;
    assert!((a - expected).abs() < 1e-6, "{a} vs {expected}");
}

/// ok, other 4xx, 429, 5xx, total, total response time.
fn stats(ok: i64, err: i64, thr: i64, flt: i64, rt: f64) -> ServiceStatistics {
    let mut s = ServiceStatistics {
        ok_count: ok,
        total_count: ok + err + thr + flt,
        total_response_time: rt,
        ..ServiceStatistics::default()
    };
    s.error_statistics.other_count = err;
    s.error_statistics.throttle_count = thr;
    s.error_statistics.total_count = err + thr;
    s.fault_statistics.other_count = flt;
    s.fault_statistics.total_count = flt;
    s
}

fn hist(entries: &[(f64, i32)]) -> Vec<HistogramEntry> {
    entries
        .iter()
        .map(|&(value, count)| HistogramEntry { value, count })
        .collect()
}

/// Compares statistics with the response time to the microsecond.
#[track_caller]
fn assert_stats(actual: Option<&ServiceStatistics>, expected: &ServiceStatistics) {
    let actual = actual.expect("statistics present");
    let mut a = actual.clone();
    let mut e = expected.clone();
    assert!(
        (a.total_response_time - e.total_response_time).abs() < 1e-6,
        "{a:?} vs {e:?}"
    );
    a.total_response_time = 0.0;
    e.total_response_time = 0.0;
    assert_eq!(a, e);
}

fn render(traces: &[AssembledTrace]) -> Vec<Service> {
    trace_graph(traces)
}

// ---------------------------------------------------------------------------------------------
// Single service.

fn single_root(id: &str, start: f64, end: f64, status: i64) -> AssembledTrace {
    trace(vec![seg(&format!(
        r#"{{"id":"{id}","name":"web","origin":"AWS::EC2::Instance","trace_id":"1-6b09aba5-e51d6fb3253cb064452df5a4",
            "start_time":{start},"end_time":{end},"http":{{"response":{{"status":{status}}}}},
            "subsegments":[{{"id":"a{}","name":"work","start_time":{start},"end_time":{}}}]}}"#,
        &id[1..],
        end + 0.5
    ))])
}

#[test]
fn single_service_gets_a_client_node() {
    let services = render(&[single_root("1000000000000001", 100.0, 100.005, 200)]);
    assert_eq!(services.len(), 2);
    // "AWS::EC2::Instance" sorts before "client".
    let web = &services[0];
    let client = &services[1];
    assert_eq!(web.name.as_deref(), Some("web"));
    assert_eq!(web.names, vec!["web".to_owned()]);
    assert_eq!(web.r#type.as_deref(), Some("AWS::EC2::Instance"));
    assert_eq!(web.root, Some(true));
    assert_eq!(web.state.as_deref(), Some("active"));
    assert_eq!(web.start_time.map(|t| t.0), Some(100.0));
    assert_eq!(web.end_time.map(|t| t.0), Some(100.005));
    assert!(web.edges.is_empty());
    assert_stats(web.summary_statistics.as_ref(), &stats(1, 0, 0, 0, 0.005));
    assert_eq!(web.response_time_histogram, Some(hist(&[(0.005, 1)])));
    // Duration runs to the end of the subsegment that outlived the response.
    assert_eq!(web.duration_histogram, Some(hist(&[(0.505, 1)])));

    assert_eq!(client.reference_id, 1);
    assert_eq!(client.name.as_deref(), Some("web"));
    assert_eq!(client.r#type.as_deref(), Some("client"));
    assert_eq!(client.state.as_deref(), Some("unknown"));
    assert_eq!(client.root, None);
    assert_eq!(client.summary_statistics, None);
    assert_eq!(client.duration_histogram, None);
    assert_eq!(client.response_time_histogram, None);
    assert_eq!(client.edges.len(), 1);
    let e = &client.edges[0];
    assert_eq!(e.reference_id, 0);
    assert_stats(e.summary_statistics.as_ref(), &stats(1, 0, 0, 0, 0.005));
    assert_eq!(e.response_time_histogram, hist(&[(0.005, 1)]));
    assert!(e.aliases.is_empty());
    assert_eq!(e.edge_type, None);
}

#[test]
fn an_in_progress_root_is_drawn_without_statistics() {
    let t = trace(vec![seg(
        r#"{"id":"1000000000000001","name":"web","start_time":100.0,"in_progress":true}"#,
    )]);
    let services = render(&[t]);
    assert_eq!(services.len(), 2);
    let web = find(&services, "web", None);
    let client = find(&services, "web", Some("client"));
    assert_eq!(web.root, Some(true));
    assert_stats(web.summary_statistics.as_ref(), &stats(0, 0, 0, 0, 0.0));
    assert_eq!(web.response_time_histogram, Some(Vec::new()));
    assert_eq!(web.duration_histogram, Some(Vec::new()));
    assert_eq!(web.start_time.map(|t| t.0), Some(100.0));
    assert_eq!(web.end_time, None);
    assert_eq!(client.edges.len(), 1);
    assert_eq!(client.edges[0].response_time_histogram, Vec::new());
}

// ---------------------------------------------------------------------------------------------
// Two services: statistics and histograms, caller's view on the edge.

/// frontend (root) → `backend.local` remote subsegment → backend segment. The subsegment
/// takes 10 ms longer than the backend segment (network).
fn two_services(n: u32, status: i64, flags: &str) -> AssembledTrace {
    let base = 1000.0 + f64::from(n);
    let sub_flags = flags;
    trace(vec![
        seg(&format!(
            r#"{{"id":"f00000000000000{n}","name":"frontend","start_time":{base},"end_time":{},
                "http":{{"response":{{"status":{status}}}}} {flags},
                "subsegments":[{{"id":"c00000000000000{n}","name":"backend.local","namespace":"remote",
                   "start_time":{},"end_time":{},"http":{{"response":{{"status":{status}}}}} {sub_flags}}}]}}"#,
            base + 0.1,
            base + 0.01,
            base + 0.06,
        )),
        seg(&format!(
            r#"{{"id":"b00000000000000{n}","name":"backend","origin":"AWS::ECS::Container","parent_id":"c00000000000000{n}",
                "start_time":{},"end_time":{},"http":{{"response":{{"status":{status}}}}} {flags}}}"#,
            base + 0.015,
            base + 0.055,
        )),
    ])
}

#[test]
fn two_services_count_4xx_429_5xx_exactly() {
    let traces = [
        two_services(1, 200, ""),
        two_services(2, 200, ""),
        // 404: other error.
        two_services(3, 404, r#","error":true"#),
        // 429 with both flags, as SDKs write it: throttle, not other error.
        two_services(4, 429, r#","error":true,"throttle":true"#),
        // 429 by status alone.
        two_services(5, 429, ""),
        // 503 by status alone.
        two_services(6, 503, ""),
        // 429 downstream turned into a fault: fault wins.
        two_services(7, 500, r#","fault":true,"throttle":true,"error":true"#),
        // Flag without status.
        two_services(8, 0, r#","error":true"#),
    ];
    let services = render(&traces);
    assert_eq!(services.len(), 3);
    let frontend = find(&services, "frontend", None);
    let backend = find(&services, "backend", Some("AWS::ECS::Container"));
    let client = find(&services, "frontend", Some("client"));
    assert_eq!(frontend.reference_id, 1);
    assert_eq!(backend.reference_id, 0);
    assert_eq!(client.reference_id, 2);
    assert_eq!(frontend.root, Some(true));
    assert_eq!(backend.root, None);
    assert_eq!(targets(&services, client), vec![("frontend", None)]);
    assert_eq!(
        targets(&services, frontend),
        vec![("backend", Some("AWS::ECS::Container"))]
    );
    assert!(backend.edges.is_empty());

    // 2 ok; other 4xx: 404 and the flag-only error; 429: two; 5xx: 503 and 500.
    let expected = |rt: f64| stats(2, 2, 2, 2, rt);
    assert_stats(frontend.summary_statistics.as_ref(), &expected(0.8));
    assert_stats(backend.summary_statistics.as_ref(), &expected(0.32));
    assert_eq!(frontend.response_time_histogram, Some(hist(&[(0.1, 8)])));
    assert_eq!(backend.response_time_histogram, Some(hist(&[(0.04, 8)])));
    assert_eq!(backend.duration_histogram, Some(hist(&[(0.04, 8)])));

    // The client edge is computed from the root segments, so equals the root's statistics.
    let ce = edge(&services, client, ("frontend", None));
    assert_eq!(ce.summary_statistics, frontend.summary_statistics);
    assert_eq!(
        Some(ce.response_time_histogram.clone()),
        frontend.response_time_histogram
    );
    assert_time(ce.start_time, 1001.0);
    assert_time(ce.end_time, 1008.1);

    // The frontend → backend edge is the caller's view: the subsegment's 50 ms.
    let fe = edge(
        &services,
        frontend,
        ("backend", Some("AWS::ECS::Container")),
    );
    assert_stats(fe.summary_statistics.as_ref(), &expected(0.4));
    assert_eq!(fe.response_time_histogram, hist(&[(0.05, 8)]));
    assert_time(fe.start_time, 1001.01);
    assert_time(fe.end_time, 1008.06);
    // The caller named the backend by host: an alias.
    assert_eq!(fe.aliases.len(), 1);
    assert_eq!(fe.aliases[0].name.as_deref(), Some("backend.local"));
    assert_eq!(fe.aliases[0].names, Some(vec!["backend.local".to_owned()]));
    assert_eq!(fe.aliases[0].r#type.as_deref(), Some("remote"));
}

#[test]
fn dangling_parent_gives_no_edge_and_no_root() {
    let t = trace(vec![seg(
        r#"{"id":"b000000000000001","name":"backend","parent_id":"ffffffffffffffff","start_time":1,"end_time":2}"#,
    )]);
    let services = render(&[t]);
    assert_eq!(services.len(), 1);
    assert_eq!(services[0].root, None);
    assert!(services[0].edges.is_empty());
}

#[test]
fn a_service_calling_itself_adds_no_edge() {
    let t = trace(vec![
        seg(
            r#"{"id":"a000000000000001","name":"svc","start_time":1,"end_time":2,
                "subsegments":[{"id":"c000000000000001","name":"svc","namespace":"remote","start_time":1.1,"end_time":1.9}]}"#,
        ),
        seg(
            r#"{"id":"a000000000000002","name":"svc","parent_id":"c000000000000001","start_time":1.2,"end_time":1.8}"#,
        ),
    ]);
    let g = contribution(&t);
    assert_eq!(g.nodes[&NodeKey::new("svc", None)].records, 2);
    assert_eq!(
        g.edges.len(),
        1,
        "only the client edge: {:?}",
        g.edges.keys()
    );
}

// ---------------------------------------------------------------------------------------------
// Inferred nodes; the documented examples (§4.5, §4.6).

const EB_APP: &str = "xray-sample.elasticbeanstalk.com";
const TABLE: &str = "awseb-e-dixzws4s9p-stack-StartupSignupsTable-4IMSMHAYX2BA";

/// One request of the §4.5 example: the app's response time, status and optional
/// (DynamoDB, SNS) call durations. The inferred segments are shaped as the assembler makes
/// them (copy of the subsegment, `inferred: true`, origin, `parent_id` = subsegment).
fn eb_request(n: u32, rt: f64, status: i64, calls: Option<(f64, f64)>) -> AssembledTrace {
    let t0 = 1_528_317_567.0 + f64::from(n) * 5.0;
    let mut subs = Vec::new();
    let mut inferred = Vec::new();
    if let Some((ddb, sns)) = calls {
        let (d0, s0) = (t0 + 0.001, t0 + 0.001 + ddb);
        subs.push(format!(
            r#"{{"id":"d00000000000000{n}","name":"DynamoDB","namespace":"aws","start_time":{d0},"end_time":{},
                "http":{{"response":{{"status":200}}}},"aws":{{"operation":"PutItem","table_name":"{TABLE}"}}}}"#,
            d0 + ddb
        ));
        inferred.push(seg(&format!(
            r#"{{"id":"e00000000000000{n}","name":"DynamoDB","parent_id":"d00000000000000{n}","inferred":true,
                "origin":"AWS::DynamoDB::Table","start_time":{d0},"end_time":{},
                "http":{{"response":{{"status":200}}}},
                "aws":{{"operation":"PutItem","table_name":"{TABLE}","resource_names":["{TABLE}"]}}}}"#,
            d0 + ddb
        )));
        subs.push(format!(
            r#"{{"id":"5000000000000d0{n}","name":"SNS","namespace":"aws","start_time":{s0},"end_time":{},
                "aws":{{"operation":"Publish","topic_arn":"arn:aws:sns:us-west-2:123456789012:x"}}}}"#,
            s0 + sns
        ));
        inferred.push(seg(&format!(
            r#"{{"id":"6000000000000d0{n}","name":"SNS","parent_id":"5000000000000d0{n}","inferred":true,
                "origin":"AWS::SNS","start_time":{s0},"end_time":{},
                "aws":{{"operation":"Publish","topic_arn":"arn:aws:sns:us-west-2:123456789012:x"}}}}"#,
            s0 + sns
        )));
    }
    let error = if (400..500).contains(&status) {
        r#","error":true"#
    } else {
        ""
    };
    let mut segments = vec![seg(&format!(
        r#"{{"id":"a00000000000000{n}","name":"{EB_APP}","origin":"AWS::EC2::Instance","start_time":{t0},"end_time":{},
            "http":{{"response":{{"status":{status}}}}}{error},"subsegments":[{}]}}"#,
        t0 + rt,
        subs.join(",")
    ))];
    segments.extend(inferred);
    trace(segments)
}

#[test]
fn reproduces_the_documented_service_graph_example() {
    // §4.5: four requests (0.005, 0.015, 0.157, 0.096 s; one 4xx), two of them writing to
    // DynamoDB (0.076, 0.044 s) and publishing to SNS (0.060, 0.065 s).
    let traces = [
        eb_request(1, 0.005, 200, None),
        eb_request(2, 0.015, 200, None),
        eb_request(3, 0.157, 200, Some((0.076, 0.060))),
        eb_request(4, 0.096, 404, Some((0.044, 0.065))),
    ];
    let services = render(&traces);
    assert_eq!(services.len(), 4);
    let app = find(&services, EB_APP, Some("AWS::EC2::Instance"));
    let client = find(&services, EB_APP, Some("client"));
    let table = find(&services, TABLE, Some("AWS::DynamoDB::Table"));
    let sns = find(&services, "SNS", Some("AWS::SNS"));

    let app_stats = stats(3, 1, 0, 0, 0.273);
    let app_hist = hist(&[(0.005, 1), (0.015, 1), (0.096, 1), (0.157, 1)]);
    assert_stats(app.summary_statistics.as_ref(), &app_stats);
    assert_eq!(app.response_time_histogram.as_ref(), Some(&app_hist));
    assert_eq!(app.root, Some(true));
    assert_eq!(app.state.as_deref(), Some("active"));

    let ce = edge(&services, client, (EB_APP, Some("AWS::EC2::Instance")));
    assert_stats(ce.summary_statistics.as_ref(), &app_stats);
    assert_eq!(ce.response_time_histogram, app_hist);
    assert_eq!(client.summary_statistics, None);

    assert_eq!(
        targets(&services, app),
        vec![
            ("SNS", Some("AWS::SNS")),
            (TABLE, Some("AWS::DynamoDB::Table"))
        ]
    );
    let ddb_hist = hist(&[(0.044, 1), (0.076, 1)]);
    assert_stats(table.summary_statistics.as_ref(), &stats(2, 0, 0, 0, 0.12));
    assert_eq!(table.response_time_histogram.as_ref(), Some(&ddb_hist));
    assert_eq!(table.duration_histogram.as_ref(), Some(&ddb_hist));
    assert_eq!(table.state.as_deref(), Some("unknown"));
    assert_eq!(table.root, None);
    let te = edge(&services, app, (TABLE, Some("AWS::DynamoDB::Table")));
    assert_eq!(te.summary_statistics, table.summary_statistics);
    assert_eq!(te.response_time_histogram, ddb_hist);
    assert!(te.aliases.is_empty());

    assert_stats(sns.summary_statistics.as_ref(), &stats(2, 0, 0, 0, 0.125));
    let se = edge(&services, app, ("SNS", Some("AWS::SNS")));
    assert_stats(se.summary_statistics.as_ref(), &stats(2, 0, 0, 0, 0.125));
    assert!(sns.edges.is_empty() && table.edges.is_empty());
}

#[test]
fn reproduces_the_documented_trace_graph_example() {
    // §4.6: Scorekeep → Lambda random-name (service → function) → SNS; Scorekeep → DynamoDB.
    let t = trace(vec![
        seg(
            r#"{"id":"194fcc8747581230","name":"Scorekeep","origin":"AWS::ElasticBeanstalk::Environment",
                "start_time":1499473411.562,"end_time":1499473414.794,"http":{"response":{"status":200}},
                "subsegments":[
                  {"id":"0c544c1b1bbff948","name":"Lambda","namespace":"aws","start_time":1499473411.6,"end_time":1499473414.2,
                   "aws":{"function_name":"random-name","operation":"Invoke"}},
                  {"id":"28f7ccf1ad8a8a1a","name":"UserModel.saveUser","start_time":1499473414.3,"end_time":1499473414.7,
                   "subsegments":[{"id":"4cd3f10b76c624b4","name":"DynamoDB","namespace":"aws","start_time":1499473414.31,
                     "end_time":1499473414.69,"aws":{"table_name":"scorekeep-user","operation":"UpdateItem"}}]}]}"#,
        ),
        seg(
            r#"{"id":"1fb07842d944e714","name":"random-name","origin":"AWS::Lambda","parent_id":"0c544c1b1bbff948",
                "start_time":1499473411.65,"end_time":1499473414.15}"#,
        ),
        seg(
            r#"{"id":"00f91aa01f4984fd","name":"random-name","origin":"AWS::Lambda::Function","parent_id":"1fb07842d944e714",
                "start_time":1499473411.7,"end_time":1499473414.1,
                "subsegments":[{"id":"b29b548af4d54a0f","name":"SNS","namespace":"aws","start_time":1499473412.0,
                  "end_time":1499473412.5,"aws":{"operation":"Publish","topic_arn":"arn:aws:sns:us-west-2:1:t"}}]}"#,
        ),
        seg(
            r#"{"id":"17ba309b32c7fbaf","name":"DynamoDB","inferred":true,"origin":"AWS::DynamoDB::Table",
                "parent_id":"4cd3f10b76c624b4","start_time":1499473414.31,"end_time":1499473414.69,
                "aws":{"table_name":"scorekeep-user","operation":"UpdateItem","resource_names":["scorekeep-user"]}}"#,
        ),
        seg(
            r#"{"id":"1ee3c4a523f89ca5","name":"SNS","inferred":true,"origin":"AWS::SNS","parent_id":"b29b548af4d54a0f",
                "start_time":1499473412.0,"end_time":1499473412.5,"aws":{"operation":"Publish"}}"#,
        ),
    ]);
    let services = render(&[t]);
    let names: Vec<(&str, Option<&str>)> = services
        .iter()
        .map(|s| (s.name.as_deref().unwrap(), s.r#type.as_deref()))
        .collect();
    assert_eq!(
        names,
        vec![
            ("SNS", Some("AWS::SNS")),
            ("Scorekeep", Some("AWS::ElasticBeanstalk::Environment")),
            ("Scorekeep", Some("client")),
            ("random-name", Some("AWS::Lambda")),
            ("random-name", Some("AWS::Lambda::Function")),
            ("scorekeep-user", Some("AWS::DynamoDB::Table")),
        ]
    );
    let edges: Vec<Vec<i32>> = services
        .iter()
        .map(|s| s.edges.iter().map(|e| e.reference_id).collect())
        .collect();
    assert_eq!(
        edges,
        vec![vec![], vec![3, 5], vec![1], vec![4], vec![0], vec![]]
    );
    // The Lambda service edge is the caller's `Lambda` subsegment (2.6 s), the function edge
    // the function segment itself (2.4 s).
    assert_eq!(
        services[1].edges[0].response_time_histogram,
        hist(&[(2.6, 1)])
    );
    assert_eq!(
        services[3].edges[0].response_time_histogram,
        hist(&[(2.4, 1)])
    );
    assert_eq!(services[1].root, Some(true));
    assert!(services.iter().filter(|s| s.root.is_some()).count() == 1);
}

#[test]
fn api_gateway_lambda_function_dynamodb_and_http_chain() {
    let t = trace(vec![
        seg(
            r#"{"id":"7c645b1c5e920f58","name":"orders-api/prod","origin":"AWS::ApiGateway::Stage",
                "start_time":10.0,"end_time":10.2,"http":{"response":{"status":502}},"fault":true,
                "subsegments":[{"id":"d56c2a321af6f388","name":"Lambda","namespace":"aws","start_time":10.01,"end_time":10.19,
                  "http":{"response":{"status":200}},"aws":{"function_name":"orders-fn","operation":"Invoke"}}]}"#,
        ),
        seg(
            r#"{"id":"94550c0784be037b","name":"orders-fn","origin":"AWS::Lambda","parent_id":"d56c2a321af6f388",
                "start_time":10.02,"end_time":10.18,"http":{"response":{"status":200}}}"#,
        ),
        seg(
            r#"{"id":"cd666fa81253913a","name":"orders-fn","origin":"AWS::Lambda::Function","parent_id":"94550c0784be037b",
                "start_time":10.03,"end_time":10.17,"fault":true,"aws":{"account_id":"123456789012"},
                "subsegments":[{"id":"2f2dd42e0f3e305d","name":"handle_order","namespace":"local","start_time":10.04,"end_time":10.16,
                  "subsegments":[
                    {"id":"751d328e839e225f","name":"dynamodb","namespace":"aws","start_time":10.05,"end_time":10.06,
                     "http":{"response":{"status":400}},"error":true,"fault":true,
                     "aws":{"operation":"GetItem","table_name":"customers"}},
                    {"id":"53060ddd500fd5fe","name":"api.example.com","namespace":"remote","start_time":10.07,"end_time":10.15,
                     "http":{"response":{"status":429}},"error":true,"throttle":true}]}]}"#,
        ),
        seg(
            r#"{"id":"e000000000000001","name":"DynamoDB","inferred":true,"origin":"AWS::DynamoDB::Table",
                "parent_id":"751d328e839e225f","start_time":10.05,"end_time":10.06,"error":true,"fault":true,
                "http":{"response":{"status":400}},
                "aws":{"operation":"GetItem","table_name":"customers","resource_names":["customers"]}}"#,
        ),
        seg(
            r#"{"id":"e000000000000002","name":"api.example.com","inferred":true,"origin":"remote",
                "parent_id":"53060ddd500fd5fe","start_time":10.07,"end_time":10.15,"error":true,"throttle":true,
                "http":{"response":{"status":429}}}"#,
        ),
    ]);
    let services = render(&[t]);
    let ids: Vec<(i32, &str, Option<&str>, Option<&str>)> = services
        .iter()
        .map(|s| {
            (
                s.reference_id,
                s.name.as_deref().unwrap(),
                s.r#type.as_deref(),
                s.account_id.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        ids,
        vec![
            (0, "api.example.com", Some("remote"), None),
            (1, "customers", Some("AWS::DynamoDB::Table"), None),
            (2, "orders-api/prod", Some("AWS::ApiGateway::Stage"), None),
            (3, "orders-api/prod", Some("client"), None),
            (4, "orders-fn", Some("AWS::Lambda"), None),
            (
                5,
                "orders-fn",
                Some("AWS::Lambda::Function"),
                Some("123456789012")
            ),
        ]
    );
    let edges: Vec<Vec<i32>> = services
        .iter()
        .map(|s| s.edges.iter().map(|e| e.reference_id).collect())
        .collect();
    assert_eq!(
        edges,
        vec![vec![], vec![], vec![4], vec![2], vec![5], vec![0, 1]]
    );
    let states: Vec<&str> = services
        .iter()
        .map(|s| s.state.as_deref().unwrap())
        .collect();
    assert_eq!(
        states,
        vec![
            "unknown", "unknown", "active", "unknown", "active", "active"
        ]
    );
    assert_eq!(services[2].root, Some(true));
    // The stage answered 502: a fault; the Lambda call itself was fine (200).
    assert_stats(
        services[2].summary_statistics.as_ref(),
        &stats(0, 0, 0, 1, 0.2),
    );
    assert_stats(
        services[2].edges[0].summary_statistics.as_ref(),
        &stats(1, 0, 0, 0, 0.18),
    );
    // DynamoDB 400 with error+fault (botocore quirk): fault wins. HTTP 429: throttle.
    assert_stats(
        services[1].summary_statistics.as_ref(),
        &stats(0, 0, 0, 1, 0.01),
    );
    assert_stats(
        services[0].summary_statistics.as_ref(),
        &stats(0, 0, 1, 0, 0.08),
    );
    assert_stats(
        services[5].edges[0].summary_statistics.as_ref(),
        &stats(0, 0, 1, 0, 0.08),
    );
    // The inferred remote node carries the caller's name: no alias.
    assert!(services[5].edges.iter().all(|e| e.aliases.is_empty()));
}

#[test]
fn node_identity() {
    let k = |json: &str| node_key(&seg(json));
    // Instrumented: name, origin verbatim (no normalisation), account.
    assert_eq!(
        k(r#"{"name":"api/prod","origin":"AWS::APIGateway::Stage","aws":{"account_id":"1"}}"#),
        NodeKey {
            name: "api/prod".into(),
            r#type: Some("AWS::APIGateway::Stage".into()),
            account_id: Some("1".into()),
        }
    );
    assert_eq!(k(r#"{"name":"svc"}"#), NodeKey::new("svc", None));
    // Inferred: resource-typed nodes are named after the resource.
    assert_eq!(
        k(
            r#"{"name":"DynamoDB","inferred":true,"origin":"AWS::DynamoDB::Table",
              "aws":{"table_name":"users","resource_names":["users"]}}"#
        ),
        NodeKey::new("users", Some("AWS::DynamoDB::Table"))
    );
    assert_eq!(
        k(
            r#"{"name":"SNS","inferred":true,"origin":"AWS::SNS","aws":{"resource_names":["arn:x"]}}"#
        ),
        NodeKey::new("SNS", Some("AWS::SNS"))
    );
}

#[test]
fn inferred_nodes_from_the_assembler() {
    // What an SDK sends; the assembler appends the inferred segments.
    let docs = vec![seg(
        r#"{"id":"a000000000000001","name":"app","trace_id":"1-6b09aba5-e51d6fb3253cb064452df5a4",
                "start_time":1,"end_time":2,"subsegments":[
                  {"id":"c000000000000001","name":"dynamodb","namespace":"aws","start_time":1.1,"end_time":1.2,
                   "http":{"response":{"status":200}},"aws":{"operation":"GetItem","table_name":"users"}},
                  {"id":"c000000000000002","name":"SNS","namespace":"aws","start_time":1.3,"end_time":1.4,
                   "aws":{"operation":"Publish","topic_arn":"arn:aws:sns:us-east-1:1:t"}},
                  {"id":"c000000000000003","name":"api.example.com","namespace":"remote","start_time":1.5,
                   "end_time":1.9,"http":{"response":{"status":503}},"fault":true}]}"#,
    )];
    let t = crate::trace::assemble(
        TraceId::parse("1-6b09aba5-e51d6fb3253cb064452df5a4").unwrap(),
        docs,
    );
    let services = render(&[t]);
    let app = find(&services, "app", None);
    assert_eq!(
        targets(&services, app),
        vec![
            ("SNS", Some("AWS::SNS")),
            ("api.example.com", Some("remote")),
            ("users", Some("AWS::DynamoDB::Table")),
        ]
    );
    let remote = find(&services, "api.example.com", Some("remote"));
    assert_eq!(remote.state.as_deref(), Some("unknown"));
    assert_stats(remote.summary_statistics.as_ref(), &stats(0, 0, 0, 1, 0.4));
    let e = edge(&services, app, ("api.example.com", Some("remote")));
    assert_stats(e.summary_statistics.as_ref(), &stats(0, 0, 0, 1, 0.4));
    assert!(e.aliases.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Merge, subtract, JSON.

fn without_times(mut g: GraphContribution) -> GraphContribution {
    for n in g.nodes.values_mut() {
        n.start = None;
        n.end = None;
    }
    for e in g.edges.values_mut() {
        e.start = None;
        e.end = None;
    }
    g
}

#[test]
fn merge_then_subtract_returns_to_the_original() {
    let a = {
        let mut g = contribution(&two_services(1, 200, ""));
        g.merge(&contribution(&eb_request(
            3,
            0.157,
            200,
            Some((0.076, 0.060)),
        )));
        g
    };
    let b = {
        let mut g = contribution(&two_services(7, 500, r#","fault":true"#));
        g.merge(&contribution(&eb_request(
            4,
            0.096,
            404,
            Some((0.044, 0.065)),
        )));
        g.merge(&contribution(&single_root(
            "1000000000000009",
            5.0,
            7.5,
            200,
        )));
        g
    };
    let mut m = a.clone();
    m.merge(&b);
    assert_ne!(without_times(m.clone()), without_times(a.clone()));
    m.subtract(&b);
    assert_eq!(without_times(m.clone()), without_times(a.clone()));
    // Times are kept as a superset.
    let web = NodeKey::new(EB_APP, Some("AWS::EC2::Instance"));
    assert!(m.nodes[&web].start <= a.nodes[&web].start);
    m.subtract(&a);
    assert!(m.is_empty(), "{m:?}");
    assert!(GraphContribution::new().is_empty());

    // Recomputing a trace after a late document: subtract old, add new.
    let old = contribution(&trace(vec![seg(
        r#"{"id":"1000000000000001","name":"web","start_time":100.0,"in_progress":true}"#,
    )]));
    let new = contribution(&single_root("1000000000000001", 100.0, 100.005, 200));
    let mut bucket = a.clone();
    bucket.merge(&old);
    bucket.subtract(&old);
    bucket.merge(&new);
    let mut expected = a.clone();
    expected.merge(&new);
    assert_eq!(without_times(bucket), without_times(expected));
}

/// Two traces' contributions merged: a throttled call between two services, and an Elastic
/// Beanstalk request with downstream calls.
fn mixed_contribution() -> GraphContribution {
    let mut g = contribution(&two_services(4, 429, r#","error":true,"throttle":true"#));
    g.merge(&contribution(&eb_request(
        3,
        0.157,
        200,
        Some((0.076, 0.060)),
    )));
    g
}

#[test]
fn json_round_trips_compactly() {
    let g = mixed_contribution();
    let json = g.to_json();
    assert_eq!(GraphContribution::from_json(&json).unwrap(), g);
    assert!(!json.contains('\n') && !json.contains(": "));
    assert!(!json.contains(r#""st":{}"#), "{json}");
    assert_eq!(GraphContribution::new().to_json(), r#"{"n":[],"e":[]}"#);
    assert!(GraphContribution::from_json("{}").unwrap().is_empty());
    let bad = r#"{"n":[{"k":{"name":"a"},"s":{"rec":1}}],"e":[{"s":0,"t":3,"d":{"rec":1}}]}"#;
    let err = GraphContribution::from_json(bad).unwrap_err().to_string();
    assert!(err.contains("not in the list"), "{err}");
}

#[test]
fn binary_form_round_trips_and_reads_old_json_rows() {
    let mut g = mixed_contribution();
    for t in sample_traces() {
        g.merge(&contribution(&t));
    }
    // Everything the form carries, including what these traces lack: an account, an alias, an
    // edge type, and an edge whose endpoint is not a node.
    let (a, b, c) = (
        NodeKey::new("a", None),
        NodeKey {
            account_id: Some("123456789012".into()),
            ..NodeKey::new("b", Some("AWS::Lambda::Function"))
        },
        NodeKey::new("c", Some("remote")),
    );
    g.nodes.insert(
        a.clone(),
        NodeStats {
            records: 2,
            ..NodeStats::default()
        },
    );
    g.nodes.insert(
        b.clone(),
        NodeStats {
            records: 1,
            roots: 1,
            ..NodeStats::default()
        },
    );
    let mut e = EdgeStats {
        records: 3,
        edge_type: Some("link".into()),
        ..EdgeStats::default()
    };
    e.aliases.insert(NodeKey::new("b-alias", Some("remote")), 2);
    e.response_time.record_secs(1234.5);
    g.edges.insert((a, b.clone()), e);
    g.edges.insert(
        (b, c.clone()),
        EdgeStats {
            records: 1,
            ..EdgeStats::default()
        },
    );

    let bytes = g.to_bytes();
    let back = GraphContribution::from_bytes(&bytes).unwrap();
    assert!(
        !back.nodes.contains_key(&c),
        "an edge endpoint without records is not a node"
    );
    assert_eq!(back, GraphContribution::from_json(&g.to_json()).unwrap());
    assert_eq!(GraphContribution::from_stored(&bytes).unwrap(), back);
    // Rows written before the binary form hold JSON text.
    assert_eq!(
        GraphContribution::from_stored(g.to_json().as_bytes()).unwrap(),
        back
    );
    assert!(
        bytes.len() * 2 < g.to_json().len(),
        "{} bytes against {} of JSON",
        bytes.len(),
        g.to_json().len()
    );
    assert!(
        GraphContribution::from_bytes(&GraphContribution::new().to_bytes())
            .unwrap()
            .is_empty()
    );

    // Damaged rows are errors, never panics or silently short values.
    for cut in 0..bytes.len() {
        assert!(
            GraphContribution::from_bytes(&bytes[..cut]).is_err(),
            "cut at {cut}"
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(
        GraphContribution::from_bytes(&longer)
            .unwrap_err()
            .contains("after")
    );
    let mut flipped = bytes;
    flipped[0] = b'x';
    assert!(
        GraphContribution::from_bytes(&flipped)
            .unwrap_err()
            .contains("format")
    );
    assert!(GraphContribution::from_stored(&[0xff, 0xfe]).is_err());
}

// ---------------------------------------------------------------------------------------------
// Rendering: reference ids, Grafana's requirements.

fn sample_traces() -> Vec<AssembledTrace> {
    vec![
        two_services(1, 200, ""),
        eb_request(3, 0.157, 200, Some((0.076, 0.060))),
        single_root("1000000000000009", 5.0, 7.5, 503),
        trace(vec![seg(
            r#"{"id":"1000000000000002","name":"web","start_time":100.0,"in_progress":true}"#,
        )]),
    ]
}

#[test]
fn reference_ids_are_unique_and_deterministic() {
    let traces = sample_traces();
    let forward = render(&traces);
    let mut reversed_traces = traces;
    reversed_traces.reverse();
    let reversed = render(&reversed_traces);
    assert_eq!(forward, reversed);

    let ids: Vec<i32> = forward.iter().map(|s| s.reference_id).collect();
    let n = i32::try_from(forward.len()).unwrap();
    assert_eq!(ids, (0..n).collect::<Vec<_>>());
    for s in &forward {
        let mut targets: Vec<i32> = s.edges.iter().map(|e| e.reference_id).collect();
        assert!(targets.iter().all(|t| (0..n).contains(t)));
        let sorted = {
            let mut t = targets.clone();
            t.sort_unstable();
            t.dedup();
            t
        };
        targets.dedup();
        assert_eq!(targets, sorted, "edges sorted by target, one per target");
    }
    // Sorted by (name, type).
    let keys: Vec<(String, Option<String>)> = forward
        .iter()
        .map(|s| (s.name.clone().unwrap(), s.r#type.clone()))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
}

#[test]
fn output_meets_grafanas_requirements() {
    let services = render(&sample_traces());
    let json = serde_json::to_value(&services).unwrap();
    for (s, v) in services.iter().zip(json.as_array().unwrap()) {
        assert!(v["Edges"].is_array(), "{v}");
        assert!(v["Names"].is_array(), "{v}");
        if s.r#type.as_deref() == Some("client") {
            assert!(!s.edges.is_empty(), "client without edge: {v}");
            assert!(v.get("SummaryStatistics").is_none());
            assert!(v["Edges"][0]["SummaryStatistics"]["TotalCount"].is_i64());
        } else {
            assert!(v["SummaryStatistics"]["TotalCount"].is_i64(), "{v}");
            assert!(v["ResponseTimeHistogram"].is_array(), "{v}");
            assert!(v["DurationHistogram"].is_array(), "{v}");
        }
        for e in v["Edges"].as_array().unwrap() {
            assert!(e["ResponseTimeHistogram"].is_array(), "{e}");
            assert!(e["Aliases"].is_array(), "{e}");
            assert!(e["SummaryStatistics"]["OkCount"].is_i64(), "{e}");
        }
    }
    // The root that never finished still has its client edge, with `[]` histograms.
    let web = find(&services, "web", None);
    let client = find(&services, "web", Some("client"));
    assert_eq!(client.edges[0].reference_id, web.reference_id);
    assert_eq!(client.edges[0].response_time_histogram, Vec::new());
}

#[test]
fn an_empty_graph_renders_nothing() {
    assert!(to_services(&GraphContribution::new()).is_empty());
    assert!(trace_graph(&[]).is_empty());
}

// ---------------------------------------------------------------------------------------------
// Entity selectors.

fn name(n: &str) -> NodeMatcher {
    NodeMatcher::name(n)
}

#[test]
fn selectors_parse() {
    let id = |n: Option<&str>, t: Option<&str>, a: Option<&str>| NodeMatcher {
        name: n.map(Into::into),
        r#type: t.map(Into::into),
        account_id: a.map(Into::into),
    };
    let cases: Vec<(&str, EntitySelector)> = vec![
        (
            r#"service("api.example.com")"#,
            EntitySelector::Service(name("api.example.com")),
        ),
        (
            r#"  SERVICE ( "a \"b\" \\ c" )  "#,
            EntitySelector::Service(name(r#"a "b" \ c"#)),
        ),
        (
            r#"service(id(name: "orders-fn", type: "AWS::Lambda::Function"))"#,
            EntitySelector::Service(id(Some("orders-fn"), Some("AWS::Lambda::Function"), None)),
        ),
        (
            r#"id(name: "n", type: "t", account.id: "123")"#,
            EntitySelector::Service(id(Some("n"), Some("t"), Some("123"))),
        ),
        (
            r#"id(type:"remote")"#,
            EntitySelector::Service(id(None, Some("remote"), None)),
        ),
        (
            r#"edge("a", "b")"#,
            EntitySelector::Edge(name("a"), name("b")),
        ),
        (
            r#"edge(id(name: "a", type: "client"), id(name:"a"))"#,
            EntitySelector::Edge(id(Some("a"), Some("client"), None), name("a")),
        ),
        (
            r#"Edge( "a" ,id( Name : "b" ) )"#,
            EntitySelector::Edge(name("a"), name("b")),
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(EntitySelector::parse(input), Ok(expected), "{input}");
    }
}

#[test]
fn selector_errors_say_where_and_what() {
    // The filter parser's errors (byte offsets, 0-based), shifted back for a bare `id(...)`.
    let shape =
        "an entity selector is one service(\"name\"), id(...) or edge(a, b), without a { } block";
    let keyword = "expected a keyword such as ok, fault, responsetime, http.url, user, annotation.KEY, service(...), edge(...), group.name or rootcause.*";
    let cases = [
        ("", shape.to_owned()),
        (r#"service("a") { fault }"#, shape.to_owned()),
        (r#"service("a") AND edge("a", "b")"#, shape.to_owned()),
        (
            r#"services("a")"#,
            format!("filter expression: unknown keyword 'services' at 0; {keyword}"),
        ),
        (
            r#"service "a""#,
            "filter expression: unexpected string \"a\" at 8; expected '(' after service".into(),
        ),
        (
            "service(a)",
            "filter expression: unexpected 'a' at 8; expected a quoted service name or id(...)"
                .into(),
        ),
        (
            r#"service("a"#,
            "filter expression: unterminated string at 8; expected a closing '\"'".into(),
        ),
        (
            r#"service("a""#,
            "filter expression: unexpected end of expression at 11; expected ')' after the service"
                .into(),
        ),
        (
            r#"service("a") x"#,
            format!("filter expression: unknown keyword 'x' at 13; {keyword}"),
        ),
        (
            r#"id(nam: "a")"#,
            "filter expression: unexpected 'nam' at 3; expected name, type or account.id".into(),
        ),
        (
            "id()",
            "filter expression: unexpected ')' at 3; expected name, type or account.id".into(),
        ),
        (
            r#"id(name "a")"#,
            "filter expression: unexpected string \"a\" at 8; expected ':' after the argument name"
                .into(),
        ),
        (
            r#"id(name: a)"#,
            "filter expression: unexpected 'a' at 9; expected a quoted string".into(),
        ),
        (
            r#"id(name: "a" type: "t")"#,
            "filter expression: unexpected 'type' at 13; expected ',' or ')'".into(),
        ),
        (
            r#"id(name: "a", name: "b")"#,
            "filter expression: repeated 'name' at 14; expected each of name, type and account.id at most once".into(),
        ),
        (
            r#"edge("a")"#,
            "filter expression: unexpected ')' at 8; expected ',' between the two services of an edge".into(),
        ),
        (
            r#"edge("a", "b""#,
            "filter expression: unexpected end of expression at 13; expected ')' after the second service".into(),
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(EntitySelector::parse(input), Err(expected), "{input}");
    }
}

// ---------------------------------------------------------------------------------------------
// Time series.

#[test]
fn time_series_aggregates_minute_buckets_into_periods() {
    // Minute buckets at 0, 60, 120, 300, 360: two traces' worth each, some failing.
    let bucket = |at: f64, traces: &[AssembledTrace]| {
        let mut g = GraphContribution::new();
        for t in traces {
            g.merge(&contribution(t));
        }
        (at, g)
    };
    let buckets = vec![
        bucket(0.0, &[two_services(1, 200, ""), two_services(2, 404, "")]),
        bucket(60.0, &[two_services(3, 503, "")]),
        bucket(120.0, &[two_services(4, 200, "")]),
        bucket(300.0, &[two_services(5, 429, "")]),
        bucket(360.0, &[single_root("1000000000000001", 1.0, 1.25, 200)]),
    ];

    let svc = EntitySelector::parse(r#"service("backend")"#).unwrap();
    let out = time_series(&buckets, &svc, 300, 0.0, 600.0);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].timestamp.map(|t| t.0), Some(0.0));
    assert_eq!(out[1].timestamp.map(|t| t.0), Some(300.0));
    assert_stats(
        out[0].service_summary_statistics.as_ref(),
        &stats(2, 1, 0, 1, 0.16),
    );
    assert_eq!(out[0].edge_summary_statistics, None);
    assert_eq!(out[0].response_time_histogram, Some(hist(&[(0.04, 4)])));
    assert_stats(
        out[1].service_summary_statistics.as_ref(),
        &stats(0, 0, 1, 0, 0.04),
    );

    // Per minute, a window that starts mid-bucket and ends before the last one.
    let out = time_series(&buckets, &svc, 60, 30.0, 300.0);
    let ts: Vec<f64> = out.iter().map(|s| s.timestamp.unwrap().0).collect();
    assert_eq!(ts, vec![0.0, 60.0, 120.0]);
    assert_stats(
        out[1].service_summary_statistics.as_ref(),
        &stats(0, 0, 0, 1, 0.04),
    );

    // Edge selector: the caller's view (50 ms per call).
    let e = EntitySelector::parse(
        r#"edge("frontend", id(name: "backend", type: "AWS::ECS::Container"))"#,
    )
    .unwrap();
    let out = time_series(&buckets, &e, 3600, 0.0, 3600.0);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].timestamp.map(|t| t.0), Some(0.0));
    assert_eq!(out[0].service_summary_statistics, None);
    assert_stats(
        out[0].edge_summary_statistics.as_ref(),
        &stats(2, 1, 1, 1, 0.25),
    );
    assert_eq!(out[0].response_time_histogram, Some(hist(&[(0.05, 5)])));

    // A type that does not match: nothing.
    let none = EntitySelector::parse(r#"id(name: "backend", type: "remote")"#).unwrap();
    assert!(time_series(&buckets, &none, 60, 0.0, 600.0).is_empty());

    // No selector: requests entering the graph (client edges), i.e. traces.
    let out = time_series(&buckets, &EntitySelector::ClientEdges, 600, 0.0, 600.0);
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].edge_summary_statistics.as_ref().unwrap().total_count,
        6
    );

    // Period 0 means a minute.
    assert_eq!(time_series(&buckets, &svc, 0, 0.0, 600.0).len(), 4);
}

#[test]
fn time_series_by_name_covers_both_lambda_nodes() {
    let t = trace(vec![
        seg(
            r#"{"id":"a000000000000001","name":"fn","origin":"AWS::Lambda","start_time":1,"end_time":1.3}"#,
        ),
        seg(
            r#"{"id":"a000000000000002","name":"fn","origin":"AWS::Lambda::Function","parent_id":"a000000000000001",
                "start_time":1.05,"end_time":1.25}"#,
        ),
    ]);
    let buckets = vec![(0.0, contribution(&t))];
    let by_name = EntitySelector::parse(r#"service("fn")"#).unwrap();
    let out = time_series(&buckets, &by_name, 60, 0.0, 60.0);
    assert_stats(
        out[0].service_summary_statistics.as_ref(),
        &stats(2, 0, 0, 0, 0.5),
    );
    let by_id = EntitySelector::parse(r#"id(name: "fn", type: "AWS::Lambda::Function")"#).unwrap();
    let out = time_series(&buckets, &by_id, 60, 0.0, 60.0);
    assert_stats(
        out[0].service_summary_statistics.as_ref(),
        &stats(1, 0, 0, 0, 0.2),
    );
}

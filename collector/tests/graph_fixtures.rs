//! The service graph of the real SDK captures (`shared/fixtures/`): every datagram decoded,
//! grouped by trace id, assembled by `trace::assemble`, turned into a graph contribution,
//! merged, rendered. The expected nodes, edges and counts below were worked out by reading the
//! capture files (statuses and flags of each document), not computed by the code under test.
//!
//! Python (16 traces): API Gateway stage `orders-api/prod` → Lambda `orders-fn` (service, then
//! function) → DynamoDB tables `customers` (every trace) and `orders` (all but one), and in 13
//! traces → `inventory-service` (Flask, ECS) through a `127.0.0.1` remote call, which reads the
//! `inventory` table. Every `127.0.0.1` call has its downstream segment, so no `remote` node.
//! Node (10 traces): `shop-frontend` (no origin) → `catalog-service` (ECS) through a traced
//! `127.0.0.1` call.

use std::collections::BTreeMap;

use fluoro_collector::graph::{
    EntitySelector, GraphContribution, contribution, time_series, to_services, trace_graph,
};
use fluoro_collector::trace::{AssembledTrace, assemble};
use fluoro_proto::api::{Service, ServiceStatistics};
use fluoro_proto::ids::TraceId;

mod support;

/// Every capture of one SDK, assembled, in order of first appearance.
fn traces(sdk: &str) -> Vec<AssembledTrace> {
    support::fixture_traces(&[sdk])
        .into_iter()
        .map(|(id, docs)| assemble(TraceId::parse(&id).unwrap(), docs))
        .collect()
}

fn all_traces() -> Vec<AssembledTrace> {
    let mut t = traces("python");
    t.extend(traces("node"));
    t
}

/// ok, other 4xx, 429, 5xx (total derived).
fn counts(s: Option<&ServiceStatistics>) -> (i64, i64, i64, i64, i64) {
    let s = s.expect("statistics present");
    assert_eq!(
        s.ok_count + s.error_statistics.total_count + s.fault_statistics.total_count,
        s.total_count
    );
    assert_eq!(
        s.error_statistics.throttle_count + s.error_statistics.other_count,
        s.error_statistics.total_count
    );
    (
        s.ok_count,
        s.error_statistics.other_count,
        s.error_statistics.throttle_count,
        s.fault_statistics.total_count,
        s.total_count,
    )
}

fn node<'a>(services: &'a [Service], name: &str, r#type: Option<&str>) -> &'a Service {
    services
        .iter()
        .find(|s| s.name.as_deref() == Some(name) && s.r#type.as_deref() == r#type)
        .unwrap_or_else(|| panic!("no node ({name}, {type:?})"))
}

fn edge<'a>(
    services: &[Service],
    from: &'a Service,
    to: (&str, Option<&str>),
) -> &'a fluoro_proto::api::Edge {
    let to = node(services, to.0, to.1);
    from.edges
        .iter()
        .find(|e| e.reference_id == to.reference_id)
        .unwrap_or_else(|| panic!("no edge {:?} → {:?}", from.name, to.name))
}

/// ReferenceId, name, type, account, state, root.
type Row<'a> = (
    i32,
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<bool>,
);

const STAGE: (&str, Option<&str>) = ("orders-api/prod", Some("AWS::ApiGateway::Stage"));
const LAMBDA: (&str, Option<&str>) = ("orders-fn", Some("AWS::Lambda"));
const FUNCTION: (&str, Option<&str>) = ("orders-fn", Some("AWS::Lambda::Function"));
const INVENTORY_SVC: (&str, Option<&str>) = ("inventory-service", Some("AWS::ECS::Container"));
const CATALOG: (&str, Option<&str>) = ("catalog-service", Some("AWS::ECS::Container"));
const TABLE: Option<&str> = Some("AWS::DynamoDB::Table");

#[test]
fn fixture_service_graph_has_the_nodes_and_edges_drawn_by_hand() {
    let traces = all_traces();
    assert_eq!(traces.len(), 26, "16 Python + 10 Node traces");
    let mut g = GraphContribution::new();
    for t in &traces {
        g.merge(&contribution(t));
    }
    let services = to_services(&g);

    // Nodes in ReferenceId order: by name, then type (no type first).
    let listed: Vec<Row> = services
        .iter()
        .map(|s| {
            (
                s.reference_id,
                s.name.as_deref().unwrap(),
                s.r#type.as_deref(),
                s.account_id.as_deref(),
                s.state.as_deref(),
                s.root,
            )
        })
        .collect();
    assert_eq!(
        listed,
        vec![
            (
                0,
                "catalog-service",
                Some("AWS::ECS::Container"),
                None,
                Some("active"),
                None
            ),
            (1, "customers", TABLE, None, Some("unknown"), None),
            (2, "inventory", TABLE, None, Some("unknown"), None),
            (
                3,
                "inventory-service",
                Some("AWS::ECS::Container"),
                None,
                Some("active"),
                None
            ),
            (4, "orders", TABLE, None, Some("unknown"), None),
            (
                5,
                "orders-api/prod",
                Some("AWS::ApiGateway::Stage"),
                None,
                Some("active"),
                Some(true)
            ),
            (
                6,
                "orders-api/prod",
                Some("client"),
                None,
                Some("unknown"),
                None
            ),
            (
                7,
                "orders-fn",
                Some("AWS::Lambda"),
                None,
                Some("active"),
                None
            ),
            (
                8,
                "orders-fn",
                Some("AWS::Lambda::Function"),
                Some("123456789012"),
                Some("active"),
                None
            ),
            (9, "shop-frontend", None, None, Some("active"), Some(true)),
            (
                10,
                "shop-frontend",
                Some("client"),
                None,
                Some("unknown"),
                None
            ),
        ]
    );
    let edges: Vec<Vec<i32>> = services
        .iter()
        .map(|s| s.edges.iter().map(|e| e.reference_id).collect())
        .collect();
    assert_eq!(
        edges,
        vec![
            vec![],        // catalog-service
            vec![],        // customers
            vec![],        // inventory
            vec![2],       // inventory-service → inventory
            vec![],        // orders
            vec![7],       // stage → Lambda service
            vec![5],       // client → stage
            vec![8],       // Lambda service → function
            vec![1, 3, 4], // function → customers, inventory-service, orders
            vec![0],       // shop-frontend → catalog-service
            vec![9],       // client → shop-frontend
        ]
    );

    // Python. Stage responses: 200×3, 201×5, 404×3, 429×2, 500, 502×2.
    let stage = node(&services, STAGE.0, STAGE.1);
    assert_eq!(counts(stage.summary_statistics.as_ref()), (8, 3, 2, 3, 16));
    let client = node(&services, "orders-api/prod", Some("client"));
    assert_eq!(client.summary_statistics, None);
    let ce = edge(&services, client, STAGE);
    assert_eq!(counts(ce.summary_statistics.as_ref()), (8, 3, 2, 3, 16));
    // Every Lambda invoke returned 200; the function crashed once (fault flag).
    let lambda = node(&services, LAMBDA.0, LAMBDA.1);
    assert_eq!(
        counts(lambda.summary_statistics.as_ref()),
        (16, 0, 0, 0, 16)
    );
    assert_eq!(
        counts(edge(&services, stage, LAMBDA).summary_statistics.as_ref()),
        (16, 0, 0, 0, 16)
    );
    let function = node(&services, FUNCTION.0, FUNCTION.1);
    assert_eq!(
        counts(function.summary_statistics.as_ref()),
        (15, 0, 0, 1, 16)
    );
    assert_eq!(
        counts(
            edge(&services, lambda, FUNCTION)
                .summary_statistics
                .as_ref()
        ),
        (15, 0, 0, 1, 16)
    );
    // DynamoDB: `customers` always 200; `orders` once 400 with error+fault (fault wins) and
    // once 500; `inventory` (from inventory-service) always 200.
    let customers = node(&services, "customers", TABLE);
    assert_eq!(
        counts(customers.summary_statistics.as_ref()),
        (16, 0, 0, 0, 16)
    );
    assert_eq!(
        counts(
            edge(&services, function, ("customers", TABLE))
                .summary_statistics
                .as_ref()
        ),
        (16, 0, 0, 0, 16)
    );
    let orders = node(&services, "orders", TABLE);
    assert_eq!(
        counts(orders.summary_statistics.as_ref()),
        (13, 0, 0, 2, 15)
    );
    assert_eq!(
        counts(
            edge(&services, function, ("orders", TABLE))
                .summary_statistics
                .as_ref()
        ),
        (13, 0, 0, 2, 15)
    );
    let inventory = node(&services, "inventory", TABLE);
    assert_eq!(
        counts(inventory.summary_statistics.as_ref()),
        (13, 0, 0, 0, 13)
    );
    // inventory-service: 200×8, 404×3, 429, 500 (two slow requests arrived in progress first).
    let inv = node(&services, INVENTORY_SVC.0, INVENTORY_SVC.1);
    assert_eq!(counts(inv.summary_statistics.as_ref()), (8, 3, 1, 1, 13));
    assert_eq!(
        counts(
            edge(&services, inv, ("inventory", TABLE))
                .summary_statistics
                .as_ref()
        ),
        (13, 0, 0, 0, 13)
    );
    let fi = edge(&services, function, INVENTORY_SVC);
    assert_eq!(counts(fi.summary_statistics.as_ref()), (8, 3, 1, 1, 13));
    assert_eq!(fi.aliases.len(), 1);
    assert_eq!(fi.aliases[0].name.as_deref(), Some("127.0.0.1"));
    assert_eq!(fi.aliases[0].r#type.as_deref(), Some("remote"));
    // The two slow requests: the caller saw 0.706347 s and 0.707352 s.
    assert!(
        fi.response_time_histogram
            .iter()
            .any(|h| h.value == 0.706 && h.count == 1)
    );
    assert!(
        fi.response_time_histogram
            .iter()
            .any(|h| h.value == 0.707 && h.count == 1)
    );

    // Node. Frontend responses: 200×6, 404, 429, 502×2; catalog: 200×6, 404, 429, 500×2.
    let frontend = node(&services, "shop-frontend", None);
    assert_eq!(
        counts(frontend.summary_statistics.as_ref()),
        (6, 1, 1, 2, 10)
    );
    let fclient = node(&services, "shop-frontend", Some("client"));
    assert_eq!(
        counts(
            edge(&services, fclient, ("shop-frontend", None))
                .summary_statistics
                .as_ref()
        ),
        (6, 1, 1, 2, 10)
    );
    let catalog = node(&services, CATALOG.0, CATALOG.1);
    assert_eq!(
        counts(catalog.summary_statistics.as_ref()),
        (6, 1, 1, 2, 10)
    );
    // Millisecond timestamps: 6, 4, 1, 0, 2, 2, 0, 1, 2, 1 ms.
    let rt = catalog
        .summary_statistics
        .as_ref()
        .unwrap()
        .total_response_time;
    assert!((rt - 0.019).abs() < 1e-5, "{rt}");
    let hist: Vec<(f64, i32)> = catalog
        .response_time_histogram
        .as_ref()
        .unwrap()
        .iter()
        .map(|h| (h.value, h.count))
        .collect();
    assert_eq!(
        hist,
        vec![(0.0, 2), (0.001, 3), (0.002, 3), (0.004, 1), (0.006, 1)]
    );
    let fc = edge(&services, frontend, CATALOG);
    assert_eq!(counts(fc.summary_statistics.as_ref()), (6, 1, 1, 2, 10));
    // The caller's view: 13, 2, 2, 3, 2, 2, 5, 3, 13, 3 ms.
    let rt = fc.summary_statistics.as_ref().unwrap().total_response_time;
    assert!((rt - 0.048).abs() < 1e-5, "{rt}");
    assert_eq!(fc.aliases.len(), 1);
    assert_eq!(fc.aliases[0].name.as_deref(), Some("127.0.0.1"));
    // Responses 22, 4, 3, 4, 706, 6, 6, 5, 14, 709 ms.
    let rt = frontend
        .summary_statistics
        .as_ref()
        .unwrap()
        .total_response_time;
    assert!((rt - 1.479).abs() < 1e-5, "{rt}");

    // Grafana: every client has an edge, every edge its histogram and aliases.
    let json = serde_json::to_value(&services).unwrap();
    for s in json.as_array().unwrap() {
        if s["Type"] == "client" {
            assert!(!s["Edges"].as_array().unwrap().is_empty());
        } else {
            assert!(s["ResponseTimeHistogram"].is_array() && s["DurationHistogram"].is_array());
        }
        for e in s["Edges"].as_array().unwrap() {
            assert!(e["ResponseTimeHistogram"].is_array() && e["Aliases"].is_array());
        }
    }

    // The stored form round-trips, and subtracting every trace empties the graph.
    assert_eq!(GraphContribution::from_json(&g.to_json()).unwrap(), g);
    for t in &traces {
        g.subtract(&contribution(t));
    }
    assert!(g.is_empty(), "{g:?}");
}

#[test]
fn fixture_trace_graphs() {
    let python = traces("python");
    // The first capture: a 502 through the whole chain, inventory-service faulted.
    let services = trace_graph(&python[..1]);
    let names: Vec<(&str, Option<&str>)> = services
        .iter()
        .map(|s| (s.name.as_deref().unwrap(), s.r#type.as_deref()))
        .collect();
    assert_eq!(
        names,
        vec![
            ("customers", TABLE),
            ("inventory", TABLE),
            INVENTORY_SVC,
            ("orders", TABLE),
            STAGE,
            ("orders-api/prod", Some("client")),
            LAMBDA,
            FUNCTION,
        ]
    );
    let inv = node(&services, INVENTORY_SVC.0, INVENTORY_SVC.1);
    assert_eq!(counts(inv.summary_statistics.as_ref()), (0, 0, 0, 1, 1));

    // The trace whose handler crashed before calling `orders` or inventory-service.
    let crashed = python
        .iter()
        .find(|t| t.id == TraceId::parse("1-6b09aba6-1d4245d634df221ec6512b16").unwrap())
        .unwrap();
    let services = trace_graph(std::slice::from_ref(crashed));
    assert_eq!(services.len(), 5);
    let function = node(&services, FUNCTION.0, FUNCTION.1);
    assert_eq!(
        counts(function.summary_statistics.as_ref()),
        (0, 0, 0, 1, 1)
    );
    assert_eq!(function.edges.len(), 1);

    let node_traces = traces("node");
    let services = trace_graph(&node_traces);
    assert_eq!(services.len(), 3);
}

#[test]
fn fixture_time_series() {
    // The store's layout: each trace's contribution in the minute bucket of its start.
    let mut buckets: BTreeMap<i64, GraphContribution> = BTreeMap::new();
    for t in all_traces() {
        let start = t
            .segments
            .iter()
            .filter_map(|s| s.start_time.as_ref().map(|t| t.as_secs_f64()))
            .fold(f64::INFINITY, f64::min);
        let minute = (start / 60.0).floor() as i64 * 60;
        buckets.entry(minute).or_default().merge(&contribution(&t));
    }
    let buckets: Vec<(f64, GraphContribution)> =
        buckets.into_iter().map(|(m, g)| (m as f64, g)).collect();
    let (first, last) = (buckets[0].0, buckets[buckets.len() - 1].0);
    let total = |sel: &str| -> i64 {
        let sel = EntitySelector::parse(sel).unwrap();
        time_series(&buckets, &sel, 3600, first, last + 60.0)
            .iter()
            .map(|p| {
                p.service_summary_statistics
                    .as_ref()
                    .or(p.edge_summary_statistics.as_ref())
                    .unwrap()
                    .total_count
            })
            .sum()
    };
    // Both Lambda nodes answer to the name.
    assert_eq!(total(r#"service("orders-fn")"#), 32);
    assert_eq!(
        total(r#"id(name: "orders-fn", type: "AWS::Lambda::Function")"#),
        16
    );
    assert_eq!(total(r#"edge("orders-api/prod", "orders-fn")"#), 16);
    assert_eq!(
        total(r#"edge("shop-frontend", id(type: "AWS::ECS::Container"))"#),
        10
    );
    assert_eq!(total(r#"service("inventory-service")"#), 13);
    // No selector: requests entering the graph, one per trace.
    let entering: i64 = time_series(
        &buckets,
        &EntitySelector::ClientEdges,
        60,
        first,
        last + 60.0,
    )
    .iter()
    .map(|p| p.edge_summary_statistics.as_ref().unwrap().total_count)
    .sum();
    assert_eq!(entering, 26);
}

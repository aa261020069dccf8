//! GetTraceSummaries with filter expressions, through the HTTP API, against the reference
//! evaluator over the same traces: the real SDK captures (`shared/fixtures/`). Run twice: with
//! every trace settled (candidates come from the filter index) and with none settled (every
//! trace is a candidate). Both must return exactly the evaluator's traces, across pages.
//!
//! Expressions: the hand-worked ones of `filter/tests.rs` and a few hundred random combinations
//! over the captures' service names, annotations, users and statuses.

use std::collections::BTreeSet;
use std::time::Duration;

use fluoro_collector::filter::{matches, parse};
use fluoro_collector::trace::{assemble, summarize};
use fluoro_proto::ids::TraceId;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::{Value, json};

mod support;

async fn connect(addr: &str) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    sender
}

async fn call(addr: &str, path: &str, body: Value) -> Value {
    let mut sender = connect(addr).await;
    let req = hyper::Request::post(path)
        .header("host", addr)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(serde_json::to_vec(&body).unwrap())))
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    assert!(
        status.is_success(),
        "{path}: {status} {}",
        String::from_utf8_lossy(&bytes)
    );
    serde_json::from_slice(&bytes).unwrap()
}

async fn get_metric(addr: &str, name: &str) -> u64 {
    let mut sender = connect(addr).await;
    let req = hyper::Request::get("/metrics")
        .header("host", addr)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let text = sender
        .send_request(req)
        .await
        .unwrap()
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes();
    String::from_utf8_lossy(&text)
        .lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0)
}

/// Random expressions from a small vocabulary (xorshift64, fixed seed).
fn random_expressions(n: usize) -> Vec<String> {
    let leaves: Vec<String> = {
        let mut v: Vec<String> = [
            "fault",
            "error",
            "throttle",
            "ok",
            "partial",
            "!fault",
            "http.status >= 500",
            "responsetime > 0.05",
            "user CONTAINS \"a\"",
            "service() { fault }",
            "service(id(type: \"AWS::Lambda::Function\")) { fault }",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        for s in [200, 404, 429, 500, 502] {
            v.push(format!("http.status = {s}"));
        }
        for u in ["alice", "cust-0007", "bob"] {
            v.push(format!("user = \"{u}\""));
        }
        for k in ["tier", "priority", "customer", "missing"] {
            v.push(format!("annotation.{k}"));
            for val in ["\"gold\"", "\"silver\"", "true", "1"] {
                v.push(format!("annotation.{k} = {val}"));
            }
        }
        for s in [
            "orders-api/prod",
            "orders-fn",
            "inventory-service",
            "shop-frontend",
            "catalog-service",
            "customers",
        ] {
            for b in [
                "",
                " { fault }",
                " { error }",
                " { throttle }",
                " { fault OR error }",
            ] {
                v.push(format!("service(\"{s}\"){b}"));
            }
        }
        v.push("edge(\"shop-frontend\", \"catalog-service\") { fault }".into());
        v.push("edge(\"orders-fn\", \"inventory-service\") { error }".into());
        v
    };
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |m: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % m as u64) as usize
    };
    (0..n)
        .map(|_| {
            let a = &leaves[next(leaves.len())];
            let b = &leaves[next(leaves.len())];
            match next(5) {
                0 => a.clone(),
                1 => format!("{a} AND {b}"),
                2 => format!("({a}) OR ({b})"),
                3 => format!("{a} !({b})"),
                _ => format!("({a} OR {b}) AND {}", leaves[next(leaves.len())]),
            }
        })
        .collect()
}

async fn run(delay: Duration, max_filter_evaluations: usize) {
    let dir = support::TempDir::new("filter-index");
    let collector = support::start_collector(dir.path(), |c| {
        c.aggregate_delay = delay;
        c.max_filter_evaluations = max_filter_evaluations;
    })
    .await;
    let addr = collector.addr().to_string();

    let traces = support::fixture_traces(&["python", "node"]);
    let docs: Vec<String> = traces
        .iter()
        .flat_map(|(_, d)| d.iter().map(fluoro_proto::segment::Segment::to_json))
        .collect();
    for chunk in docs.chunks(50) {
        let r = call(
            &addr,
            "/TraceSegments",
            json!({ "TraceSegmentDocuments": chunk }),
        )
        .await;
        assert_eq!(r["UnprocessedTraceSegments"], json!([]));
    }
    if delay.is_zero() {
        // Wait until every trace is settled, so candidates come from the index.
        for _ in 0..200 {
            if get_metric(&addr, "fluoro_collector_traces_aggregated_total").await
                >= traces.len() as u64
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            get_metric(&addr, "fluoro_collector_traces_aggregated_total").await
                >= traces.len() as u64
        );
    }
    let assembled: Vec<_> = traces
        .iter()
        .map(|(id, d)| {
            let t = assemble(TraceId::parse(id).unwrap(), d.clone());
            let s = summarize(&t);
            (t, s)
        })
        .collect();
    let times: Vec<u32> = assembled.iter().map(|(t, _)| t.id.epoch_secs()).collect();
    let (lo, hi) = (
        f64::from(*times.iter().min().unwrap()) - 60.0,
        f64::from(*times.iter().max().unwrap()) + 60.0,
    );

    let mut exprs: Vec<String> = [
        "fault",
        "annotation.tier = \"gold\"",
        "annotation.tier = \"gold\" AND !fault",
        "user = \"alice\"",
        "http.status = 429 AND annotation.priority = true",
        "http.method = \"POST\" AND (error OR fault)",
        "service(\"inventory-service\") { fault }",
        "service(\"inventory-service\") { error }",
        "!service(\"inventory-service\")",
        "service(id(name: \"orders-fn\", type: \"AWS::Lambda::Function\")) { fault }",
        "edge(\"shop-frontend\", \"catalog-service\") { fault }",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    exprs.extend(random_expressions(150));

    let mut indexed_nonempty = 0;
    for expr in &exprs {
        let f = parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
        let want: BTreeSet<String> = assembled
            .iter()
            .filter(|(t, s)| matches(&f, t, s))
            .map(|(t, _)| t.id.to_string())
            .collect();
        let mut got = BTreeSet::new();
        let mut token: Option<String> = None;
        for page in 0.. {
            assert!(page < 100, "{expr}: paging does not end");
            let mut body = json!({
                "StartTime": lo, "EndTime": hi, "TimeRangeType": "TraceId",
                "FilterExpression": expr,
            });
            if let Some(t) = &token {
                body["NextToken"] = json!(t);
            }
            let r = call(&addr, "/TraceSummaries", body).await;
            for s in r["TraceSummaries"].as_array().unwrap() {
                assert!(
                    got.insert(s["Id"].as_str().unwrap().to_owned()),
                    "{expr}: a trace listed twice"
                );
            }
            match r.get("NextToken").and_then(Value::as_str) {
                Some(t) => token = Some(t.to_owned()),
                None => break,
            }
        }
        assert_eq!(got, want, "{expr} (aggregate delay {delay:?})");
        if fluoro_collector::filter::needs(&f).is_some() && !want.is_empty() {
            indexed_nonempty += 1;
        }
    }
    assert!(
        indexed_nonempty > 20,
        "too few indexed expressions matched anything"
    );
    collector.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settled_traces_come_from_the_index() {
    run(Duration::ZERO, 2_000).await;
}

/// Pages that stop after 3 evaluations (`--max-filter-evaluations 3`): the same answers, across
/// many more pages, nothing listed twice or skipped at a page boundary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_evaluation_budgets_page_without_losing_traces() {
    run(Duration::ZERO, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsettled_traces_are_all_candidates() {
    run(Duration::from_secs(3600), 2_000).await;
}

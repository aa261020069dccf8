//! Filter-expression load tool: GetTraceSummaries with filter expressions over 1 M stored
//! traces spread over 24 h, first page over the last hour, beside plain SQLite scans of the same
//! rows in the same run.
//!
//! `cargo bench -p fluoro-collector --bench filter -- [TRACES]` (default 1,000,000).
//!
//! The traces (one ~1 KB segment each, with a DynamoDB subsegment) go in through
//! PutTraceSegments on 16 connections; the tool waits until every trace is settled (indexed).
//! Then, over the last hour (about 42k traces at 1 M / 24 h):
//!
//! - selective expressions, first page, p50/p99 of 50 calls: one annotation value
//!   (`annotation.customer = "cust-42"`, ~1 trace in 10,000) and one service's faults
//!   (`service("svc-03") { fault }`, ~1 in 2,000);
//! - a non-selective expression that must evaluate every trace of the window
//!   (`responsetime > 0 AND http.url CONTAINS "/"`): first page p50, and every page of the
//!   window walked with `NextToken`, as traces evaluated per second;
//! - beside it, on a read connection to the same file: `SELECT count(*)` over the window's
//!   trace rows, and a scan that reads every document of the window (`sum(length(doc))`).

#![allow(clippy::print_stdout, clippy::print_stderr)] // a load tool reports on the terminal

use std::time::{Duration, Instant};

use fluoro_collector::store::traces::now_secs;
use fluoro_proto::ids::{EntityId, TraceId};
use hyper::body::Bytes;
use serde_json::json;

mod support;
use support::{call, connect, metric, percentile, temp_dir};

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SERVICES: usize = 20;
const CUSTOMERS: usize = 10_000;

/// A deterministic pseudo-random stream (xorshift64).
struct Rng(u64);

impl Rng {
    fn next(&mut self, m: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % m
    }
}

/// Request bodies of 50 documents, one document per trace, spread over the last 24 h.
fn bodies(n: usize, now: f64) -> Vec<Bytes> {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let span = 86_400.0 - 120.0;
    let mut out = Vec::new();
    let mut batch: Vec<String> = Vec::with_capacity(50);
    for i in 0..n {
        let start = now - 60.0 - span + span * (i as f64) / (n as f64);
        let trace = TraceId::generate_at(start as u32);
        let svc = rng.next(SERVICES as u64);
        let roll = rng.next(1000);
        let (status, flag) = match roll {
            0..=9 => (502, r#""fault": true, "#),
            10..=39 => (404, r#""error": true, "#),
            _ => (200, ""),
        };
        let cust = rng.next(CUSTOMERS as u64);
        let tier = if rng.next(4) == 0 { "gold" } else { "silver" };
        let rt = 0.005 + rng.next(500) as f64 / 1000.0;
        batch.push(format!(
            r#"{{"id": "{id}", "name": "svc-{svc:02}", "start_time": {start:.6}, "end_time": {end:.6}, {flag}"trace_id": "{trace}", "origin": "AWS::ECS::Container", "user": "user-{u}", "aws": {{"xray": {{"sdk": "X-Ray for Python", "sdk_version": "2.15.0"}}, "ecs": {{"container": "ip-10-0-1-{svc}.ec2.internal"}}}}, "http": {{"request": {{"url": "http://svc-{svc:02}.internal/items/{i}", "method": "GET", "user_agent": "python-requests/2.34.2", "client_ip": "10.0.0.{svc}"}}, "response": {{"status": {status}, "content_length": 512}}}}, "annotations": {{"tier": "{tier}", "customer": "cust-{cust}"}}, "subsegments": [{{"id": "{sub}", "name": "dynamodb", "start_time": {s2:.6}, "end_time": {e2:.6}, "namespace": "aws", "http": {{"response": {{"status": 200}}}}, "aws": {{"operation": "GetItem", "region": "us-east-1", "request_id": "9AE86C15E345420BAA94160092A370BC", "table_name": "orders"}}}}]}}"#,
            id = EntityId::generate(),
            end = start + rt,
            u = rng.next(1000),
            sub = EntityId::generate(),
            s2 = start + 0.001,
            e2 = start + 0.001 + rt / 2.0,
        ));
        if batch.len() == 50 || i + 1 == n {
            out.push(Bytes::from(
                serde_json::to_vec(&json!({ "TraceSegmentDocuments": batch })).unwrap(),
            ));
            batch.clear();
        }
    }
    out
}

async fn first_pages(addr: &str, expr: &str, window: &serde_json::Value, runs: usize) -> usize {
    let mut sender = connect(addr).await;
    let mut body = window.clone();
    body["FilterExpression"] = json!(expr);
    let mut ms = Vec::new();
    let mut found = 0;
    for _ in 0..runs {
        let (t, r) = call(&mut sender, addr, "/TraceSummaries", &body).await;
        found = r["TraceSummaries"].as_array().unwrap().len();
        ms.push(t);
    }
    println!(
        "{:<55} first page p50 {:>8.2} ms  p99 {:>8.2} ms  ({found} summaries)",
        format!("{expr:?}"),
        percentile(ms.clone(), 0.5),
        percentile(ms, 0.99)
    );
    found
}

async fn walk_all(addr: &str, expr: &str, window: &serde_json::Value) {
    let mut sender = connect(addr).await;
    let mut body = window.clone();
    body["FilterExpression"] = json!(expr);
    let started = Instant::now();
    let (mut evaluated, mut matched) = (0u64, 0u64);
    loop {
        let (_, r) = call(&mut sender, addr, "/TraceSummaries", &body).await;
        evaluated += r["TracesProcessedCount"].as_u64().unwrap_or(0);
        matched += r["TraceSummaries"].as_array().unwrap().len() as u64;
        match r.get("NextToken").and_then(|t| t.as_str()) {
            Some(t) => body["NextToken"] = json!(t),
            None => break,
        }
    }
    let s = started.elapsed().as_secs_f64();
    println!(
        "{:<55} every page: {evaluated} traces evaluated, {matched} matched in {s:.2} s = {:.0} traces/s",
        format!("{expr:?}"),
        evaluated as f64 / s
    );
}

fn sqlite_baselines(db: &std::path::Path, lo: i64, hi: i64) {
    let conn = rusqlite::Connection::open_with_flags(
        db,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .unwrap();
    let t = Instant::now();
    let n: i64 = conn
        .query_row(
            "SELECT count(*) FROM traces WHERE id_time >= ?1 AND id_time < ?2",
            [lo, hi],
            |r| r.get(0),
        )
        .unwrap();
    let s = t.elapsed().as_secs_f64();
    println!(
        "{:<55} {n} rows in {:.2} ms = {:.0} rows/s",
        "SELECT count(*) over the window's trace rows",
        s * 1e3,
        n as f64 / s
    );
    let t = Instant::now();
    let (n, bytes): (i64, i64) = conn
        .query_row(
            "SELECT count(*), sum(length(d.doc)) FROM traces t JOIN documents d
             ON d.trace_key = t.trace_key WHERE t.id_time >= ?1 AND t.id_time < ?2",
            [lo, hi],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let s = t.elapsed().as_secs_f64();
    println!(
        "{:<55} {n} documents ({} MB) in {:.2} ms = {:.0} traces/s",
        "SELECT count(*), sum(length(doc)) joining documents",
        bytes / 1_000_000,
        s * 1e3,
        n as f64 / s
    );
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let now = now_secs();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = temp_dir("filter");
        let mut cfg = fluoro_collector::Config::for_dir(&dir);
        cfg.aggregate_delay = Duration::from_millis(200);
        let collector = fluoro_collector::start(cfg).await.unwrap();
        let addr = collector.addr().to_string();
        println!("filter: {n} traces over 24 h, one ~1 KB segment each");
        let t = Instant::now();
        support::put_all(&addr, bodies(n, now), 16).await;
        println!("ingested in {:.1} s", t.elapsed().as_secs_f64());
        loop {
            let done = metric(&addr, "fluoro_collector_traces_aggregated_total").await;
            if done >= n as u64 {
                break;
            }
            eprintln!("  settled {done} / {n}");
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        println!(
            "every trace settled and indexed {:.1} s after the start",
            t.elapsed().as_secs_f64()
        );
        let window =
            json!({ "StartTime": now - 3600.0, "EndTime": now, "TimeRangeType": "TraceId" });
        first_pages(&addr, "annotation.customer = \"cust-42\"", &window, 50).await;
        first_pages(&addr, "service(\"svc-03\") { fault }", &window, 50).await;
        first_pages(
            &addr,
            "annotation.tier = \"gold\" AND service(\"svc-07\") { error }",
            &window,
            50,
        )
        .await;
        let broad = "responsetime > 0 AND http.url CONTAINS \"/\"";
        first_pages(&addr, broad, &window, 20).await;
        walk_all(&addr, broad, &window).await;
        walk_all(&addr, "responsetime > 0.45", &window).await;
        sqlite_baselines(
            &dir.join(fluoro_collector::DB_FILE),
            (now - 3600.0).ceil() as i64,
            now.ceil() as i64,
        );
        collector.shutdown().await.unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    });
}

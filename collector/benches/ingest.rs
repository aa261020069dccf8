//! Ingest load tool: sustained PutTraceSegments ingest beside the bare SQLite insert rate of the
//! same rows, measured in one run, then query latencies over the stored data.
//!
//! `cargo bench -p fluoro-collector --bench ingest -- [SEGMENTS] [CONNECTIONS] [--api-only]`
//! (defaults: 1,000,000 segments, 16 connections: two AWS-style daemons at their default
//! concurrency of 8 senders each).
//!
//! 1. **bare**, twice, each into a fresh database with the collector's schema, pragmas and
//!    insert statements (`store::traces::insert_documents`), 2,500 documents per transaction,
//!    without HTTP, JSON parsing or validation:
//!    - *every row stored*: the rows the collector ends up holding for these segments (the
//!      documents, each trace's settled state with its filter-index terms and graph
//!      contribution, the filter-index rows, the graph's minute buckets), computed before the
//!      clock starts. This is "the bare insert rate of the same rows" of issue 3's target;
//!    - *document rows*: the documents and their trace rows alone (the baseline reported since
//!      the first figures).
//! 2. **api**: a collector on `127.0.0.1:0` with a fresh data directory; CONNECTIONS keep-alive
//!    HTTP/1.1 connections post 50-document PutTraceSegments batches of the same documents.
//!    The rate counts documents acknowledged with no `UnprocessedTraceSegments`; 429 answers are
//!    retried after a short pause (and counted). Aggregation of summaries and graph statistics
//!    runs as in production (1 s after a trace goes quiet) and its time is included.
//!
//! 3. **queries**: once the aggregator has caught up (reported), 200 BatchGetTraces of 5 ids,
//!    50 first pages of GetTraceSummaries over the last hour and 50 GetServiceGraph over the last
//!    hour, on one keep-alive connection: p50 and p99.
//!
//! Documents are ~1 KB segments shaped like the captured Python Flask segments, five per trace
//! (one service segment calling four downstream services), arriving trace by trace; each trace
//! id carries the epoch second of its start, 10,000 traces per second.

#![allow(clippy::print_stdout, clippy::print_stderr)] // a load tool reports on the terminal

use std::time::{Duration, Instant};

use fluoro_collector::store::schema;
use fluoro_collector::store::traces::{IngestDoc, insert_documents, now_secs};
use fluoro_proto::ids::{EntityId, TraceId};
use hyper::body::Bytes;

/// The same allocator as the `fluoro-collector` binary.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod support;
use support::{percentile, temp_dir};

const BATCH: usize = 50;

fn documents(n: usize) -> Vec<(TraceId, EntityId, f64, String)> {
    let now = now_secs();
    let mut out = Vec::with_capacity(n);
    let mut i = 0;
    while out.len() < n {
        // 10,000 traces per second of start time, each with the epoch of its start in its id,
        // as an SDK makes them: at 50,000 segments/s the ids arrive in time order, second by
        // second, as they do from live services.
        let start = now - 30.0 + (i as f64) * 1e-4;
        let trace = TraceId::generate_at(start as u32);
        let root = EntityId::generate();
        for k in 0..5 {
            if out.len() == n {
                break;
            }
            let id = if k == 0 { root } else { EntityId::generate() };
            let (name, parent) = if k == 0 {
                ("orders-api".to_owned(), String::new())
            } else {
                (
                    format!("inventory-{k}"),
                    format!(r#""parent_id": "{root}", "#),
                )
            };
            let doc = format!(
                r#"{{"id": "{id}", "name": "{name}", "start_time": {s:.6}, {parent}"in_progress": false, "trace_id": "{trace}", "origin": "AWS::ECS::Container", "aws": {{"xray": {{"sdk": "X-Ray for Python", "sdk_version": "2.15.0"}}, "ecs": {{"container": "ip-10-0-1-{k}.ec2.internal"}}}}, "service": {{"runtime": "CPython", "runtime_version": "3.11.7"}}, "http": {{"request": {{"url": "http://127.0.0.1:8080/items/{i}", "method": "GET", "user_agent": "python-requests/2.34.2", "client_ip": "127.0.0.1"}}, "response": {{"status": 200, "content_length": 512}}}}, "annotations": {{"tier": "gold", "item": "sku-{i}"}}, "subsegments": [{{"id": "{sub}", "name": "dynamodb", "start_time": {s2:.6}, "end_time": {e2:.6}, "in_progress": false, "namespace": "aws", "http": {{"response": {{"status": 200}}}}, "aws": {{"operation": "GetItem", "region": "us-east-1", "request_id": "9AE86C15E345420BAA94160092A370BC", "table_name": "customers"}}}}], "end_time": {e:.6}}}"#,
                s = start + k as f64 * 0.001,
                s2 = start + k as f64 * 0.001 + 0.0002,
                e2 = start + k as f64 * 0.001 + 0.0005,
                e = start + 0.02,
                sub = EntityId::generate(),
            );
            out.push((trace, id, start, doc));
        }
        i += 1;
    }
    out
}

/// The rows as the bare insert stores them.
fn rows(docs: &[(TraceId, EntityId, f64, String)]) -> Vec<IngestDoc> {
    docs.iter()
        .map(|(t, e, s, d)| IngestDoc {
            trace_id: *t,
            entity_id: *e,
            in_progress: false,
            start: *s,
            end: Some(s + 0.02),
            doc: d.clone(),
            segment: None,
        })
        .collect()
}

/// A fresh database with the collector's schema and pragmas.
fn bare_db(name: &str) -> (std::path::PathBuf, rusqlite::Connection) {
    let dir = temp_dir(name);
    let mut conn = rusqlite::Connection::open(dir.join("bare.sqlite")).unwrap();
    conn.pragma_update(None, "page_size", fluoro_collector::store::PAGE_SIZE)
        .unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", "NORMAL").unwrap();
    schema::migrate(&mut conn).unwrap();
    (dir, conn)
}

/// The documents' rows alone (trace rows, document rows and the indexes on them), 2,500 rows
/// per transaction.
fn bare(docs: &[(TraceId, EntityId, f64, String)]) -> f64 {
    let (dir, mut conn) = bare_db("bare");
    let rows = rows(docs);
    let started = Instant::now();
    for chunk in rows.chunks(2_500) {
        let tx = conn.transaction().unwrap();
        for batch in chunk.chunks(BATCH) {
            insert_documents(&tx, batch, now_secs()).unwrap();
        }
        tx.commit().unwrap();
    }
    let rate = rows.len() as f64 / started.elapsed().as_secs_f64();
    drop(conn);
    let _ = std::fs::remove_dir_all(&dir);
    rate
}

/// Every row the collector ends up storing for these segments, computed before the clock
/// starts and inserted bare: the document rows, each trace's settled state (filter-index terms,
/// graph contribution and its minute bucket, as the aggregator's pass writes it), the
/// filter-index rows (together, sorted, in multi-row statements, as the aggregator inserts
/// them) and the graph's minute buckets (their final rows, once, at the end).
fn bare_all(docs: &[(TraceId, EntityId, f64, String)]) -> f64 {
    use fluoro_collector::graph::{BUCKET_SECS, GraphContribution};
    use fluoro_collector::store::traces::{TermRows, encode_terms};
    struct Settled {
        terms: Vec<i64>,
        contribution: Vec<u8>,
        bucket: i64,
    }
    let mut settled: std::collections::HashMap<TraceId, Settled> = Default::default();
    let mut buckets: std::collections::BTreeMap<i64, GraphContribution> = Default::default();
    for trace in docs.chunk_by(|a, b| a.0 == b.0) {
        let segments = trace
            .iter()
            .map(|d| fluoro_proto::segment::Segment::from_json(&d.3).unwrap())
            .collect();
        let assembled = fluoro_collector::trace::assemble(trace[0].0, segments);
        let summary = fluoro_collector::trace::summarize_for_index(&assembled);
        let contribution = fluoro_collector::graph::contribution(&assembled);
        let start = assembled.time_span().0.unwrap();
        let bucket = (start / f64::from(BUCKET_SECS)).floor() as i64 * i64::from(BUCKET_SECS);
        buckets.entry(bucket).or_default().merge(&contribution);
        settled.insert(
            trace[0].0,
            Settled {
                terms: fluoro_collector::filter::terms(&assembled, &summary),
                contribution: contribution.to_bytes(),
                bucket,
            },
        );
    }
    let (dir, mut conn) = bare_db("bare-all");
    let rows = rows(docs);
    let started = Instant::now();
    for chunk in rows.chunks(2_500) {
        let tx = conn.transaction().unwrap();
        let mut index = TermRows::default();
        for batch in chunk.chunks(BATCH) {
            for w in insert_documents(&tx, batch, now_secs()).unwrap() {
                let trace = &batch[w.docs[0]].trace_id;
                let s = &settled[trace];
                index.push(w.key, i64::from(trace.epoch_secs()), &s.terms);
                tx.prepare_cached(
                    "UPDATE traces SET settled_revision = revision, contribution = ?2, bucket = ?3,
                     terms = ?4 WHERE trace_key = ?1",
                )
                .unwrap()
                .execute(rusqlite::params![
                    w.key,
                    s.contribution,
                    s.bucket,
                    encode_terms(&s.terms)
                ])
                .unwrap();
            }
        }
        index.insert(&tx).unwrap();
        tx.commit().unwrap();
    }
    let tx = conn.transaction().unwrap();
    for (b, g) in &buckets {
        tx.execute(
            "INSERT INTO graph_buckets (bucket, data) VALUES (?1, ?2)",
            rusqlite::params![b, g.to_bytes()],
        )
        .unwrap();
    }
    tx.commit().unwrap();
    let rate = rows.len() as f64 / started.elapsed().as_secs_f64();
    drop(conn);
    let _ = std::fs::remove_dir_all(&dir);
    rate
}

async fn api(docs: &[(TraceId, EntityId, f64, String)], connections: usize) -> (f64, u64) {
    let dir = temp_dir("api");
    let mut cfg = fluoro_collector::Config::for_dir(&dir);
    cfg.aggregate_delay = Duration::from_secs(1);
    let collector = fluoro_collector::start(cfg).await.unwrap();
    let addr = collector.addr().to_string();
    let bodies: Vec<Bytes> = docs
        .chunks(BATCH)
        .map(|c| {
            let list: Vec<&str> = c.iter().map(|d| d.3.as_str()).collect();
            Bytes::from(
                serde_json::to_vec(&serde_json::json!({ "TraceSegmentDocuments": list })).unwrap(),
            )
        })
        .collect();
    let cpu_before = support::thread_cpu();
    let started = Instant::now();
    let throttled = support::put_all(&addr, bodies, connections).await;
    let elapsed = started.elapsed().as_secs_f64();
    let rate = docs.len() as f64 / elapsed;
    println!(
        "api: CPU by thread during the ingest ({elapsed:.1} s; the load generator's client runs on the tokio workers too):"
    );
    support::report_thread_cpu(&cpu_before, &support::thread_cpu(), docs.len(), elapsed);
    queries(&addr, docs).await;
    report_cache(&addr).await;
    let settle = Instant::now();
    collector.shutdown().await.unwrap();
    eprintln!(
        "api: shutdown (flush + final aggregation) took {:.2} s",
        settle.elapsed().as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
    (rate, throttled)
}

/// How many traces the aggregator found already parsed, from `/metrics`.
async fn report_cache(addr: &str) {
    println!(
        "aggregate cache: {} traces hit, {} read back, {} left out (cache full)",
        support::metric(addr, "fluoro_collector_aggregate_cache_hits_total").await,
        support::metric(addr, "fluoro_collector_aggregate_cache_misses_total").await,
        support::metric(addr, "fluoro_collector_aggregate_cache_full_total").await,
    );
    let (docs, batches) = (
        support::metric(addr, "fluoro_collector_documents_accepted_total").await,
        support::metric(addr, "fluoro_collector_write_batches_total").await,
    );
    println!(
        "writer: {batches} transactions, {:.0} documents each on average",
        docs as f64 / batches.max(1) as f64
    );
    println!(
        "aggregator: {} traces redone because they changed, {} computed again after being stored",
        support::metric(addr, "fluoro_collector_aggregate_changed_total").await,
        support::metric(addr, "fluoro_collector_aggregate_repeated_total").await,
    );
}

/// Query latencies over what was just ingested, through the API on one connection, once the
/// aggregator has caught up (time-to-catch-up is reported too).
async fn queries(addr: &str, docs: &[(TraceId, EntityId, f64, String)]) {
    let mut sender = support::connect(addr).await;
    let mut call = async |path: &str, body: serde_json::Value| -> (f64, serde_json::Value) {
        support::call(&mut sender, addr, path, &body).await
    };
    let now = now_secs();
    let window = serde_json::json!({ "StartTime": now - 3600.0, "EndTime": now + 60.0 });
    // Wait for the aggregator: the graph must count every trace.
    let traces = docs.len().div_ceil(5) as u64;
    let caught_up = Instant::now();
    loop {
        let (_, g) = call("/ServiceGraph", window.clone()).await;
        let clients = support::client_requests(&g);
        if clients >= traces {
            if clients > traces {
                println!("WRONG: the graph counts {clients} requests for {traces} traces");
            }
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "aggregation caught up {:.1} s after the last batch",
        caught_up.elapsed().as_secs_f64()
    );
    let ids: Vec<String> = docs.iter().step_by(5).map(|d| d.0.to_string()).collect();
    let mut batch = Vec::new();
    for i in 0..200 {
        let pick: Vec<&String> = (0..5)
            .map(|k| &ids[(i * 7919 + k * 104_729) % ids.len()])
            .collect();
        let (ms, body) = call("/Traces", serde_json::json!({ "TraceIds": pick })).await;
        assert_eq!(body["Traces"].as_array().unwrap().len(), 5);
        batch.push(ms);
    }
    let mut summaries = Vec::new();
    for _ in 0..50 {
        let (ms, body) = call("/TraceSummaries", window.clone()).await;
        assert!(!body["TraceSummaries"].as_array().unwrap().is_empty());
        summaries.push(ms);
    }
    let mut graph = Vec::new();
    for _ in 0..50 {
        graph.push(call("/ServiceGraph", window.clone()).await.0);
    }
    for (name, v, target) in [
        ("BatchGetTraces (5 ids)", batch, 5.0),
        ("GetTraceSummaries (first page, 1 h)", summaries, 100.0),
        ("GetServiceGraph (1 h)", graph, 50.0),
    ] {
        println!(
            "{name:<38} p50 {:>7.2} ms  p99 {:>7.2} ms  (target p50 < {target} ms)",
            percentile(v.clone(), 0.5),
            percentile(v, 0.99)
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let n: usize = args
        .first()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let connections: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(16);
    // The collector's warnings and errors (a failed aggregation pass, a forced checkpoint).
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("warn"))
        .with_writer(std::io::stderr)
        .init();
    let docs = documents(n);
    let avg = docs.iter().map(|d| d.3.len()).sum::<usize>() / docs.len();
    println!("ingest: {n} segments of ~{avg} bytes, {connections} connections, batches of {BATCH}");
    // `--api-only` (experiments): no bare baselines, so no share is printed.
    let api_only = std::env::args().any(|a| a == "--api-only");
    let (bare_rate, all_rate) = if api_only {
        (f64::NAN, f64::NAN)
    } else {
        let bare_rate = bare(&docs);
        println!("bare sqlite insert, document rows: {bare_rate:>10.0} segments/s");
        let all_rate = bare_all(&docs);
        println!("bare sqlite insert, every row stored: {all_rate:>10.0} segments/s");
        (bare_rate, all_rate)
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (api_rate, throttled) = rt.block_on(api(&docs, connections));
    println!(
        "PutTraceSegments:   {api_rate:>10.0} segments/s ({:.0}% of bare every row stored, {:.0}% of bare document rows; {throttled} batches answered 429 and retried)",
        100.0 * api_rate / all_rate,
        100.0 * api_rate / bare_rate
    );
}

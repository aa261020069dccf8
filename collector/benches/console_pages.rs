//! Console page loads with many stored traces, in headless Chromium.
//!
//! `cargo bench -p fluoro-collector --bench console_pages -- [TRACES]` (default 100,000).
//!
//! 1. A collector (console mounted) on `127.0.0.1:0` with a fresh data directory gets TRACES
//!    `--demo` requests (three documents each: API Gateway, Lambda, function with the handler's
//!    calls), their end times spread over the last 50 minutes, posted with PutTraceSegments on
//!    four connections; the tool waits until the service graph counts every request.
//! 2. `console/tests/browser/page_load.js` loads each page five times in Debian's Chromium
//!    (playwright-core) and reports, from the browser's Navigation Timing, the time from the
//!    start of navigation to the end of the `load` event (HTML, CSS, JS and SVG parsed and laid
//!    out): median and maximum, with the server's share (`responseEnd`).
//!
//! Needs what `scripts/test` installs (chromium, playwright-core).

#![allow(clippy::print_stdout, clippy::print_stderr)] // a load tool reports on the terminal

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fluoro_collector::demo;
use hyper::body::Bytes;

mod support;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BATCH: usize = 50;
const CONNECTIONS: usize = 4;

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[tokio::main]
async fn main() {
    let traces: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let dir = std::env::temp_dir().join(format!("fluoro-console-pages-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let collector = fluoro_collector::start(fluoro_collector::Config::for_dir(&dir))
        .await
        .unwrap();
    let addr = collector.addr().to_string();

    let t0 = now();
    let docs: Vec<String> = (0..traces)
        .flat_map(|i| {
            let end = t0 - 3000.0 + 2990.0 * i as f64 / traces as f64;
            demo::documents(i as u64 + 1, end)
        })
        .collect();
    let bodies: Arc<Vec<Bytes>> = Arc::new(
        docs.chunks(BATCH)
            .map(|c| {
                Bytes::from(
                    serde_json::to_vec(&serde_json::json!({ "TraceSegmentDocuments": c })).unwrap(),
                )
            })
            .collect(),
    );
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let (bodies, next, addr) = (Arc::clone(&bodies), Arc::clone(&next), addr.clone());
        tasks.push(tokio::spawn(async move {
            let mut sender = support::connect(&addr).await;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { break };
                loop {
                    let (status, resp) =
                        support::post(&mut sender, &addr, "/TraceSegments", body.clone()).await;
                    if status == 429 {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        continue;
                    }
                    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&resp));
                    break;
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    eprintln!(
        "stored {traces} traces ({} documents) in {:.1} s",
        docs.len(),
        started.elapsed().as_secs_f64()
    );

    // Wait until the service graph counts every request at the gateway.
    let mut sender = support::connect(&addr).await;
    let waited = Instant::now();
    loop {
        let body = format!(
            r#"{{"StartTime":{},"EndTime":{}}}"#,
            t0 - 3600.0,
            now() + 60.0
        );
        let (_, resp) = support::post(&mut sender, &addr, "/ServiceGraph", Bytes::from(body)).await;
        let graph: serde_json::Value = serde_json::from_slice(&resp).unwrap();
        let counted = graph["Services"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["Type"] == "AWS::ApiGateway::Stage")
            .and_then(|s| s["SummaryStatistics"]["TotalCount"].as_u64())
            .unwrap_or(0);
        if counted as usize >= traces {
            break;
        }
        assert!(
            waited.elapsed() < Duration::from_secs(600),
            "aggregation stuck at {counted}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!(
        "aggregated {:.1} s after the last batch",
        waited.elapsed().as_secs_f64()
    );

    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../console/tests/browser/page_load.js");
    let base = format!("http://{addr}");
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg(script)
            .arg(base)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    print!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "page_load.js failed");
    collector.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

//! What the load tools share: a keep-alive HTTP/1.1 connection to a collector, JSON calls on it,
//! and percentiles.

#![allow(dead_code)] // each bench uses a part

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;

/// One keep-alive connection.
pub(crate) type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// Opens a keep-alive connection to `addr`.
pub(crate) async fn connect(addr: &str) -> Sender {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    // As the AWS daemon and SDKs do (Go and urllib3 set TCP_NODELAY): without it the last part
    // of each request body waits for the server's delayed ACK.
    stream.set_nodelay(true).unwrap();
    let (sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    sender
}

/// POSTs `body` to `path`; returns the status and the body.
pub(crate) async fn post(sender: &mut Sender, addr: &str, path: &str, body: Bytes) -> (u16, Bytes) {
    let req = hyper::Request::post(path)
        .header("host", addr)
        .header("content-type", "application/json")
        .body(Full::new(body))
        .unwrap();
    sender.ready().await.unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, bytes)
}

/// POSTs JSON, asserts success, returns the milliseconds taken and the parsed answer.
pub(crate) async fn call(
    sender: &mut Sender,
    addr: &str,
    path: &str,
    body: &serde_json::Value,
) -> (f64, serde_json::Value) {
    let t = Instant::now();
    let (status, bytes) = post(
        sender,
        addr,
        path,
        Bytes::from(serde_json::to_vec(body).unwrap()),
    )
    .await;
    let ms = t.elapsed().as_secs_f64() * 1e3;
    assert!(
        (200..300).contains(&status),
        "{path}: {}",
        String::from_utf8_lossy(&bytes)
    );
    (ms, serde_json::from_slice(&bytes).unwrap())
}

/// GETs `/metrics` and reads one counter.
pub(crate) async fn metric(addr: &str, name: &str) -> u64 {
    let mut sender = connect(addr).await;
    let req = hyper::Request::get("/metrics")
        .header("host", addr)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let text = resp.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8_lossy(&text)
        .lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse::<u64>().ok())
        .unwrap_or(0)
}

/// The `p` quantile (0..=1) of `v`.
pub(crate) fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// A fresh directory under the system temp dir.
pub(crate) fn temp_dir(tag: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!(
        "fluoro-bench-{tag}-{}-{}",
        std::process::id(),
        fluoro_proto::ids::EntityId::generate()
    ));
    std::fs::create_dir_all(&p).unwrap();
    p
}

/// Posts every body to `/TraceSegments` over `connections` keep-alive connections, each body
/// retried after a short pause while the collector answers 429; asserts every document was
/// accepted. Returns how many answers were 429.
pub(crate) async fn put_all(addr: &str, bodies: Vec<Bytes>, connections: usize) -> u64 {
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicUsize::new(0));
    let throttled = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (bodies, next, throttled, addr) = (
            Arc::clone(&bodies),
            Arc::clone(&next),
            Arc::clone(&throttled),
            addr.to_owned(),
        );
        tasks.push(tokio::spawn(async move {
            let mut sender = connect(&addr).await;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { break };
                loop {
                    let (status, resp) =
                        post(&mut sender, &addr, "/TraceSegments", body.clone()).await;
                    if status == 429 {
                        throttled.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        continue;
                    }
                    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&resp));
                    assert!(
                        resp.as_ref() == br#"{"UnprocessedTraceSegments":[]}"#,
                        "{}",
                        String::from_utf8_lossy(&resp)
                    );
                    break;
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    throttled.load(Ordering::Relaxed)
}

/// CPU seconds (user + system) used so far by each thread of this process, summed by thread
/// name (tokio's workers share one name), from `/proc/self/task/*/stat`.
pub(crate) fn thread_cpu() -> std::collections::BTreeMap<String, f64> {
    // Clock ticks per second: 100 on every Linux this runs on (USER_HZ).
    const TICKS: f64 = 100.0;
    let mut out = std::collections::BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // "tid (comm) state ppid ... utime stime": comm may hold spaces, so split at the last ')'.
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let name = head.split_once('(').map_or("?", |(_, n)| n).to_owned();
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // After the comm: state is field 0, utime field 11, stime field 12.
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        *out.entry(name).or_insert(0.0) += (ticks(11) + ticks(12)) / TICKS;
    }
    out
}

/// Prints the CPU each thread name used between two [`thread_cpu`] readings, per 1,000 items.
pub(crate) fn report_thread_cpu(
    before: &std::collections::BTreeMap<String, f64>,
    after: &std::collections::BTreeMap<String, f64>,
    items: usize,
    wall: f64,
) {
    let mut total = 0.0;
    for (name, secs) in after {
        let used = secs - before.get(name).copied().unwrap_or(0.0);
        if used < 0.005 {
            continue;
        }
        total += used;
        println!(
            "  cpu {name:<18} {used:>7.2} s  {:>6.1}% of a core  {:>6.2} ms per 1k",
            100.0 * used / wall,
            1e3 * used / items as f64 * 1e3
        );
    }
    println!(
        "  cpu {:<18} {total:>7.2} s  {:>6.1}% of a core  {:>6.2} ms per 1k",
        "all threads",
        100.0 * total / wall,
        1e3 * total / items as f64 * 1e3
    );
}

/// Requests the client nodes of a GetServiceGraph answer sent: one per trace once every trace
/// has been aggregated.
pub(crate) fn client_requests(graph: &serde_json::Value) -> u64 {
    graph["Services"]
        .as_array()
        .map(|services| {
            services
                .iter()
                .filter(|s| s["Type"] == "client")
                .flat_map(|s| s["Edges"].as_array().into_iter().flatten())
                .map(|e| e["SummaryStatistics"]["TotalCount"].as_u64().unwrap_or(0))
                .sum()
        })
        .unwrap_or(0)
}

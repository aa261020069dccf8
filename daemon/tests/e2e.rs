//! The daemon end to end: real UDP datagrams in, a real `fluoro-collector` (in-process, on
//! `127.0.0.1:0`) behind it, documents checked through `BatchGetTraces`. Issue 4.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fluoro_collector::Collector;
use fluoro_daemon::{Config, Daemon};
use fluoro_proto::api::BatchGetTracesResponse;
use fluoro_proto::ids::EntityId;
use serde_json::Value;
use tokio::net::UdpSocket;

const HEADER: &str = "{\"format\":\"json\",\"version\":1}\n";

/// A fresh directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "fluoro-daemon-test-{tag}-{}-{}",
            std::process::id(),
            EntityId::generate()
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn start_collector(dir: &Path, listen: Option<SocketAddr>) -> Collector {
    let mut c = fluoro_collector::Config::for_dir(dir);
    // The fixtures' trace ids carry their capture date (2026-11-27): keep them whatever today is.
    c.retention = Duration::from_secs(3650 * 86_400);
    if let Some(addr) = listen {
        c.listen = addr;
    }
    fluoro_collector::start(c).await.unwrap()
}

async fn start_daemon(endpoint: SocketAddr, spool: Option<&Path>) -> Daemon {
    let mut c = Config::for_endpoint(format!("http://{endpoint}"));
    c.spool_dir = spool.map(Path::to_path_buf);
    fluoro_daemon::start(c).await.unwrap()
}

/// One HTTP/1.1 exchange over a fresh connection ([`fluoro_testkit::http`], written by hand so
/// the tests do not share the daemon's client), off the runtime.
async fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let (method, path, body) = (method.to_owned(), path.to_owned(), body.to_owned());
    tokio::task::spawn_blocking(move || fluoro_testkit::http(addr, &method, &path, &body))
        .await
        .unwrap()
}

/// Every `id` in a document and its nested subsegments.
fn collect_ids(v: &Value, out: &mut BTreeSet<String>) {
    if let Some(id) = v.get("id").and_then(Value::as_str) {
        out.insert(id.to_owned());
    }
    if let Some(subs) = v.get("subsegments").and_then(Value::as_array) {
        for s in subs {
            collect_ids(s, out);
        }
    }
}

/// Document ids the collector returns for `traces`.
async fn stored_ids(collector: SocketAddr, traces: &[String]) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for chunk in traces.chunks(5) {
        let body = serde_json::json!({ "TraceIds": chunk }).to_string();
        let (status, body) = http(collector, "POST", "/Traces", &body).await;
        assert_eq!(status, 200, "{body}");
        let resp: BatchGetTracesResponse = serde_json::from_str(&body).unwrap();
        for t in resp.traces {
            for s in t.segments {
                let doc: Value = serde_json::from_str(&s.document).unwrap();
                collect_ids(&doc, &mut ids);
            }
        }
    }
    ids
}

/// Waits until every id in `want` (trace → ids) is stored, or fails with what is missing.
async fn assert_delivered(
    collector: SocketAddr,
    want: &BTreeMap<String, BTreeSet<String>>,
    within: Duration,
) {
    let traces: Vec<String> = want.keys().cloned().collect();
    let all: BTreeSet<String> = want.values().flatten().cloned().collect();
    let deadline = Instant::now() + within;
    loop {
        let got = stored_ids(collector, &traces).await;
        let missing: Vec<&String> = all.difference(&got).collect();
        if missing.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} documents never arrived, e.g. {:?}",
            missing.len(),
            all.len(),
            &missing[..missing.len().min(5)]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn wait_for(what: &str, within: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A small valid segment with a fresh trace id; returns (trace id, id, datagram).
fn segment(name: &str) -> (String, String, Vec<u8>) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let trace = format!(
        "1-{:08x}-{}{}",
        now as u64,
        &EntityId::generate().to_string()[..8],
        EntityId::generate()
    );
    let id = EntityId::generate().to_string();
    let doc = format!(
        r#"{{"trace_id":"{trace}","id":"{id}","name":"{name}","start_time":{now},"end_time":{}}}"#,
        now + 0.01
    );
    (trace, id, format!("{HEADER}{doc}").into_bytes())
}

async fn send_all(sock: &UdpSocket, to: SocketAddr, datagrams: &[Vec<u8>]) {
    for (i, d) in datagrams.iter().enumerate() {
        sock.send_to(d, to).await.unwrap();
        if i % 25 == 24 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

fn want_of(docs: &[(String, String, Vec<u8>)]) -> BTreeMap<String, BTreeSet<String>> {
    let mut want: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (t, id, _) in docs {
        want.entry(t.clone()).or_default().insert(id.clone());
    }
    want
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fixture_datagram_arrives() {
    let dir = TempDir::new("fixtures");
    let collector = start_collector(&dir.0, None).await;
    let daemon = start_daemon(collector.addr(), None).await;

    let mut datagrams = Vec::new();
    let mut want: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for sdk in ["python", "node"] {
        let sdk_dir = fluoro_testkit::fixtures_dir().join(sdk);
        let index = std::fs::read_to_string(sdk_dir.join("index.jsonl"))
            .unwrap_or_else(|e| panic!("fixtures missing at {}: {e}", sdk_dir.display()));
        for line in index.lines().filter(|l| !l.trim().is_empty()) {
            let entry: Value = serde_json::from_str(line).unwrap();
            let file = entry["file"].as_str().unwrap();
            datagrams.push(std::fs::read(sdk_dir.join(file)).unwrap());
            want.entry(entry["trace_id"].as_str().unwrap().to_owned())
                .or_default()
                .insert(entry["id"].as_str().unwrap().to_owned());
        }
    }
    assert!(
        datagrams.len() >= 150,
        "found {} datagrams",
        datagrams.len()
    );

    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    send_all(&sock, daemon.udp_addr(), &datagrams).await;
    assert_delivered(collector.addr(), &want, Duration::from_secs(20)).await;

    let report = daemon.shutdown().await;
    let t = report.totals;
    assert_eq!(t.datagrams_received, datagrams.len() as u64);
    assert_eq!(t.documents_accepted, datagrams.len() as u64);
    assert_eq!(t.rejected_total(), 0);
    assert_eq!(t.documents_sent, datagrams.len() as u64);
    assert_eq!(t.documents_unprocessed, 0);
    assert_eq!(t.dropped_total(), 0);
    collector.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_datagrams_are_counted_by_reason_and_good_ones_around_them_delivered() {
    let dir = TempDir::new("bad");
    let collector = start_collector(&dir.0, None).await;
    let daemon = start_daemon(collector.addr(), None).await;
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();

    let good: Vec<_> = (0..12).map(|i| segment(&format!("good-{i}"))).collect();
    let (_, _, sample) = segment("x");
    let body = &sample[HEADER.len()..];
    let header_only = HEADER.trim_end().as_bytes().to_vec();
    let bad: Vec<(Vec<u8>, &str)> = vec![
        (body.to_vec(), "missing_newline"),
        (header_only.clone(), "missing_newline"),
        ([header_only.as_slice(), b"\n"].concat(), "empty_body"),
        (
            [b"{\"format\":\"json\",\"version\":2}\n".as_slice(), body].concat(),
            "unsupported_version",
        ),
        (
            [
                b"{\"format\":\"json\",\"version\":\"1\"}\n".as_slice(),
                body,
            ]
            .concat(),
            "unsupported_version",
        ),
        (
            [b"\x00\x9f\xffgarbage\n".as_slice(), body].concat(),
            "header_not_json",
        ),
        (b"\x13\x37\x00\x01".to_vec(), "missing_newline"),
        ([HEADER.as_bytes(), b"\xc3\x28{}"].concat(), "body_not_utf8"),
    ];
    let mut datagrams = Vec::new();
    for (i, (b, _)) in bad.iter().enumerate() {
        datagrams.push(good[i].2.clone());
        datagrams.push(b.clone());
    }
    for g in &good[bad.len()..] {
        datagrams.push(g.2.clone());
    }
    // Framing accepts these; the collector refuses them in UnprocessedTraceSegments.
    let malformed = format!("{HEADER}{{\"id\": \"not json");
    let largest = {
        let mut v = HEADER.as_bytes().to_vec();
        v.extend(std::iter::repeat_n(b'x', 65_507 - v.len()));
        v
    };
    datagrams.push(malformed.into_bytes());
    datagrams.push(largest);
    send_all(&sock, daemon.udp_addr(), &datagrams).await;
    // A 70 KB datagram cannot even leave the sender over IPv4 (the daemon would count it as
    // too_large; see receiver::tests).
    assert!(
        sock.send_to(&vec![b'x'; 70_000], daemon.udp_addr())
            .await
            .is_err()
    );

    assert_delivered(collector.addr(), &want_of(&good), Duration::from_secs(15)).await;
    wait_for("the unprocessed documents", Duration::from_secs(10), || {
        daemon.snapshot().documents_unprocessed == 2
    })
    .await;
    let s = daemon.snapshot();
    let mut expected: BTreeMap<&str, u64> = BTreeMap::new();
    for (_, reason) in &bad {
        *expected.entry(reason).or_default() += 1;
    }
    for (reason, n) in &s.rejected {
        assert_eq!(*n, expected.get(reason).copied().unwrap_or(0), "{reason}");
    }
    assert_eq!(s.datagrams_received, datagrams.len() as u64);
    assert_eq!(s.documents_accepted, good.len() as u64 + 2);
    assert_eq!(s.dropped_total(), 0);

    // The same counts on /metrics.
    let (status, text) = http(daemon.admin_addr(), "GET", "/metrics", "").await;
    assert_eq!(status, 200);
    assert!(
        text.contains("fluoro_receiver_rejected_datagrams_total{reason=\"missing_newline\"} 3\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "fluoro_receiver_rejected_datagrams_total{reason=\"unsupported_version\"} 2\n"
        )
    );
    assert!(text.contains("fluoro_forwarder_documents_unprocessed_total 2\n"));
    daemon.shutdown().await;
    collector.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_down_for_a_while_loses_nothing() {
    let data = TempDir::new("outage-data");
    let spool = TempDir::new("outage-spool");
    let collector = start_collector(&data.0, None).await;
    let addr = collector.addr();
    let daemon = start_daemon(addr, Some(&spool.0)).await;
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();

    let before: Vec<_> = (0..60).map(|i| segment(&format!("before-{i}"))).collect();
    let dgrams: Vec<Vec<u8>> = before.iter().map(|d| d.2.clone()).collect();
    send_all(&sock, daemon.udp_addr(), &dgrams).await;
    assert_delivered(addr, &want_of(&before), Duration::from_secs(10)).await;

    collector.shutdown().await.unwrap();
    let during: Vec<_> = (0..300).map(|i| segment(&format!("during-{i}"))).collect();
    for chunk in during.chunks(50) {
        let dgrams: Vec<Vec<u8>> = chunk.iter().map(|d| d.2.clone()).collect();
        send_all(&sock, daemon.udp_addr(), &dgrams).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    wait_for("batches in the spool", Duration::from_secs(15), || {
        daemon.spool_usage().0 > 0
    })
    .await;
    assert!(daemon.snapshot().documents_spooled > 0);
    let h = http(daemon.admin_addr(), "GET", "/health", "").await;
    assert_eq!(h.0, 200);
    assert!(
        h.1.contains("\"endpoint_state\":\"unreachable\""),
        "{}",
        h.1
    );

    let collector = start_collector(&data.0, Some(addr)).await;
    let after: Vec<_> = (0..40).map(|i| segment(&format!("after-{i}"))).collect();
    let dgrams: Vec<Vec<u8>> = after.iter().map(|d| d.2.clone()).collect();
    send_all(&sock, daemon.udp_addr(), &dgrams).await;

    let all: Vec<_> = before
        .iter()
        .chain(&during)
        .chain(&after)
        .cloned()
        .collect();
    assert_delivered(addr, &want_of(&all), Duration::from_secs(30)).await;
    wait_for("the spool to drain", Duration::from_secs(10), || {
        daemon.spool_usage() == (0, 0, 0)
    })
    .await;
    let report = daemon.shutdown().await;
    assert_eq!(report.totals.dropped_total(), 0, "{:?}", report.totals);
    assert_eq!(report.spooled_documents, 0);
    assert!(report.totals.batches_drained > 0);
    assert_eq!(report.totals.documents_sent, all.len() as u64);
    collector.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_daemon_drains_the_spool_it_left() {
    let data = TempDir::new("restart-data");
    let spool = TempDir::new("restart-spool");
    // An address nobody listens on yet: the collector comes up there later.
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let daemon = start_daemon(addr, Some(&spool.0)).await;
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let docs: Vec<_> = (0..120).map(|i| segment(&format!("restart-{i}"))).collect();
    let dgrams: Vec<Vec<u8>> = docs.iter().map(|d| d.2.clone()).collect();
    send_all(&sock, daemon.udp_addr(), &dgrams).await;
    wait_for("documents accepted", Duration::from_secs(5), || {
        daemon.snapshot().documents_accepted == docs.len() as u64
    })
    .await;
    let report = daemon.shutdown().await;
    assert_eq!(
        report.spooled_documents,
        docs.len() as u64,
        "{:?}",
        report.totals
    );
    assert_eq!(report.totals.dropped_total(), 0);

    let collector = start_collector(&data.0, Some(addr)).await;
    let daemon = start_daemon(addr, Some(&spool.0)).await;
    assert_delivered(addr, &want_of(&docs), Duration::from_secs(20)).await;
    wait_for("the spool to drain", Duration::from_secs(10), || {
        daemon.spool_usage() == (0, 0, 0)
    })
    .await;
    let report = daemon.shutdown().await;
    assert_eq!(report.totals.documents_sent, docs.len() as u64);
    collector.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampling_calls_go_through_the_tcp_proxy() {
    let dir = TempDir::new("proxy");
    let collector = start_collector(&dir.0, None).await;
    let daemon = start_daemon(collector.addr(), None).await;

    let (status, body) = http(daemon.tcp_addr(), "POST", "/GetSamplingRules", "{}").await;
    assert_eq!(status, 200, "{body}");
    let rules: Value = serde_json::from_str(&body).unwrap();
    let names: Vec<&str> = rules["SamplingRuleRecords"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["SamplingRule"]["RuleName"].as_str())
        .collect();
    assert!(names.contains(&"Default"), "{body}");

    // Any path is forwarded, and the endpoint's own answer comes back, errors included.
    let (status, body) = http(
        daemon.tcp_addr(),
        "POST",
        "/SamplingTargets",
        "{\"SamplingStatisticsDocuments\":[]}",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("SamplingTargetDocuments"), "{body}");
    let (direct, _) = http(collector.addr(), "POST", "/NoSuchOperation", "{}").await;
    let (proxied, _) = http(daemon.tcp_addr(), "POST", "/NoSuchOperation", "{}").await;
    assert_eq!(proxied, direct);
    assert!(direct >= 400);
    assert_eq!(daemon.snapshot().proxy_requests, 3);

    // With the endpoint gone, the SDK gets a 502 rather than a hang.
    collector.shutdown().await.unwrap();
    let (status, _) = http(daemon.tcp_addr(), "POST", "/GetSamplingRules", "{}").await;
    assert_eq!(status, 502);
    assert_eq!(daemon.snapshot().proxy_errors, 1);
    daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telemetry_reaches_the_collector() {
    let dir = TempDir::new("telemetry");
    let collector = start_collector(&dir.0, None).await;
    let mut cfg = Config::for_endpoint(format!("http://{}", collector.addr()));
    cfg.telemetry_interval = Duration::from_millis(200);
    let daemon = fluoro_daemon::start(cfg).await.unwrap();
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let docs: Vec<_> = (0..3).map(|_| segment("telemetry-svc")).collect();
    let datagrams: Vec<Vec<u8>> = docs.iter().map(|d| d.2.clone()).collect();
    send_all(&sock, daemon.udp_addr(), &datagrams).await;
    sock.send_to(b"no newline here", daemon.udp_addr())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, metrics) = http(collector.addr(), "GET", "/metrics", "").await;
        assert_eq!(status, 200);
        if metrics.contains(
            "fluoro_collector_requests_total{operation=\"PutTelemetryRecords\",status=\"200\"}",
        ) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no PutTelemetryRecords reached the collector:\n{metrics}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    daemon.shutdown().await;
    collector.shutdown().await.unwrap();
}

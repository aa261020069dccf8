//! The console end to end in real headless Chromium (Debian's `/usr/bin/chromium`, driven by
//! `playwright-core` from `console/tests/browser/console_e2e.js`).
//!
//! The collector runs as the all-in-one process with its in-process UDP receiver. Its data
//! comes from the real SDKs: the datagrams captured from the X-Ray SDKs for Python and Node.js
//! are sent to the receiver over UDP, and both SDKs run live against it (the daemon tests'
//! client scripts). The script then loads each page and checks what a person sees; it sends one
//! more trace with the Node SDK while the live tail is open. `scripts/test` installs Chromium
//! and playwright-core.

mod pages;
mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use fluoro_proto::segment::Segment;
use fluoro_testkit::fixtures_dir;
use support::{TempDir, start_collector};

const CHROMIUM: &str = "/usr/bin/chromium";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn python() -> String {
    std::env::var("FLUORO_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

fn check(what: &str, out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{what} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    stdout
}

/// Every captured datagram of both SDKs, raw, with the earliest start time among them.
fn captures() -> (Vec<Vec<u8>>, f64) {
    let mut out = Vec::new();
    let mut earliest = f64::INFINITY;
    for sdk in ["python", "node"] {
        let dir = fixtures_dir().join(sdk);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e} (set FLUORO_FIXTURES)", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "dgram"))
            .collect();
        files.sort();
        for f in files {
            let bytes = std::fs::read(&f).unwrap();
            let frame = fluoro_proto::frame::decode(&bytes).unwrap();
            if let Ok(seg) = Segment::from_json(frame.body)
                && let Some(t) = seg.start_time
            {
                earliest = earliest.min(t.as_secs_f64());
            }
            out.push(bytes);
        }
    }
    (out, earliest)
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_chromium_map_traces_timeline_filter_and_live_tail() {
    let browser_dir = root().join("console/tests/browser");
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: run scripts/test, which installs Debian's chromium"
    );
    assert!(
        browser_dir.join("node_modules/playwright-core").exists(),
        "playwright-core is missing in {}: run scripts/test (npm ci)",
        browser_dir.display()
    );
    let node_modules = root().join("collector/tests/clients/node/node_modules");
    assert!(
        node_modules.join("aws-xray-sdk-core").exists(),
        "the Node X-Ray SDK is missing: run scripts/test"
    );

    let dir = TempDir::new("browser");
    let c = start_collector(dir.path(), |c| {
        c.udp = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
    })
    .await;
    let (addr, udp, tcp) = (c.addr(), c.udp_addr().unwrap(), c.sampling_addr().unwrap());
    let endpoint = format!("http://{addr}");

    // The real SDKs' captured datagrams, through the UDP receiver.
    let (datagrams, earliest) = captures();
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for d in &datagrams {
        socket.send_to(d, udp).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // Both SDKs live, through the same receiver.
    let py = root().join("daemon/tests/clients/python_sdk_daemon.py");
    let args = [udp.to_string(), tcp.to_string(), endpoint.clone()];
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python()).arg(py).args(args).output().unwrap()
    })
    .await
    .unwrap();
    check("the Python SDK", &out);
    let js = root().join("daemon/tests/clients/node_sdk_daemon.js");
    let (args, modules) = ([udp.to_string(), endpoint.clone()], node_modules.clone());
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(js)
            .args(args)
            .env("NODE_PATH", modules)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    check("the Node SDK", &out);

    // A daemon's telemetry report, for the telemetry page.
    let body = format!(
        r#"{{"Hostname":"browser-test-host","TelemetryRecords":[{{"Timestamp":{},"SegmentsReceivedCount":120,"SegmentsSentCount":118,"SegmentsRejectedCount":2}}]}}"#,
        now()
    );
    let put = tokio::task::spawn_blocking(move || {
        pages::request(addr, "POST", "/TelemetryRecords", &body)
    })
    .await
    .unwrap();
    assert_eq!(put.status, 200, "{}", put.body);

    // Wait for the captured traces to be listed.
    let start = (earliest - 60.0).floor();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let body = format!(
            r#"{{"StartTime":{start},"EndTime":{},"FilterExpression":"service(\"orders-fn\")"}}"#,
            now() + 60.0
        );
        let r = tokio::task::spawn_blocking(move || {
            pages::request(addr, "POST", "/TraceSummaries", &body)
        })
        .await
        .unwrap();
        if r.body.matches("\"Id\"").count() >= 5 {
            break;
        }
        assert!(Instant::now() < deadline, "captures not listed: {}", r.body);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let script = browser_dir.join("console_e2e.js");
    let shots = std::env::var("FLUORO_SCREENSHOTS").unwrap_or_default();
    let args = [
        endpoint,
        format!("{start}"),
        format!("{:.0}", now() + 600.0),
        udp.to_string(),
        shots,
    ];
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .args(args)
            .env("NODE_PATH", node_modules)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = check("the browser script", &out);
    for needle in [
        "ok the map shows",
        "ok entry points are on the left",
        "ok rings are coloured",
        "ok clicking a node opens",
        "ok node → traces",
        "ok selecting a histogram bar narrows",
        "ok map → traces → trace",
        "ok a bad filter shows its error",
        "ok live tail",
        "ok sampling rules: create, edit",
        "ok groups: create and delete",
        "ok daemon telemetry is listed",
        "ok no console errors",
    ] {
        assert!(stdout.contains(needle), "{needle} missing:\n{stdout}");
    }
    c.shutdown().await.unwrap();
}

//! Interop in one trace: a Python Flask service with the real `aws-xray-sdk` calls a Rust axum
//! service with `fluoro-sdk` (tower layer + reqwest middleware), which calls a Node service
//! with the real `aws-xray-sdk-core`. All three send to one real `fluoro-daemon` in front of a
//! real `fluoro-collector`: one trace, three services, each segment's parent the caller's
//! outgoing subsegment, and the service graph python → rust → node. Issue 7.
//!
//! The Python environment and the Node packages come from `scripts/test` (`FLUORO_PYTHON`,
//! `collector/tests/clients/node`); this test fails, never skips, without them.

mod support;

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::routing::get;
use fluoro_sdk::integrations::reqwest::XRayMiddleware;
use fluoro_sdk::integrations::tower::XRayLayer;
use reqwest_middleware::ClientWithMiddleware;
use serde_json::Value;
use support::{ALWAYS, Stack, batch_get, http, walk};

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("FLUORO_PYTHON") {
        return PathBuf::from(p);
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    assert!(
        p.exists(),
        "FLUORO_PYTHON is not set and {} does not exist: run scripts/test",
        p.display()
    );
    p
}

/// The Node service; killed when dropped.
struct NodeService(Child);

impl Drop for NodeService {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_node(daemon_udp: &str) -> (NodeService, u16) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let modules = root.join("../collector/tests/clients/node/node_modules");
    assert!(
        modules.join("aws-xray-sdk-core").exists(),
        "{} is missing: run scripts/test, which installs the Node SDK",
        modules.display()
    );
    let mut child = Command::new("node")
        .arg(root.join("tests/clients/node_service.js"))
        .arg(daemon_udp)
        .env("NODE_PATH", modules)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .trim()
        .strip_prefix("listening ")
        .unwrap_or_else(|| panic!("node said {line:?}"))
        .parse()
        .unwrap();
    (NodeService(child), port)
}

#[derive(Clone)]
struct App {
    client: ClientWithMiddleware,
    stock: String,
}

async fn order(State(app): State<App>, UrlPath(id): UrlPath<String>) -> String {
    fluoro_sdk::current().annotate("order_id", id.as_str());
    let resp = app
        .client
        .get(format!("{}/items/{id}?fields=all", app.stock))
        .send()
        .await
        .unwrap();
    let stock: Value = resp.json().await.unwrap_or(Value::Null);
    serde_json::json!({ "order": id, "stock": stock }).to_string()
}

fn entities(docs: &[Value]) -> Vec<&Value> {
    let mut all = Vec::new();
    for d in docs {
        walk(d, &mut all);
    }
    all
}

fn segment_named<'a>(docs: &'a [Value], name: &str) -> Option<&'a Value> {
    docs.iter().find(|d| {
        d.get("name").and_then(Value::as_str) == Some(name) && d.get("inferred").is_none()
    })
}

/// The outgoing-call subsegment inside `seg` (namespace `remote`).
fn remote_call(seg: &Value) -> &Value {
    entities(std::slice::from_ref(seg))
        .into_iter()
        .find(|e| e.get("namespace").and_then(Value::as_str) == Some("remote"))
        .unwrap_or_else(|| panic!("no remote subsegment in {seg}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_to_rust_to_node_is_one_trace() {
    let stack = Stack::start("interop").await;
    let udp = stack.daemon.udp_addr().to_string();
    let (_node, node_port) = start_node(&udp);

    let recorder = stack.recorder("rust-orders", ALWAYS).build();
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(XRayMiddleware)
        .build();
    let app = Router::new()
        .route("/orders/{id}", get(order))
        .with_state(App {
            client,
            stock: format!("http://127.0.0.1:{node_port}"),
        })
        .layer(XRayLayer::new(recorder.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let rust_url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/python_service.py");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python())
            .arg(script)
            .args([udp, rust_url])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "python failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    let trace = stdout
        .lines()
        .find_map(|l| l.strip_prefix("trace "))
        .unwrap()
        .trim()
        .to_owned();
    assert!(recorder.flush(Duration::from_secs(5)));

    // One trace with the three segments.
    let deadline = Instant::now() + Duration::from_secs(30);
    let docs = loop {
        let got = batch_get(stack.collector.addr(), std::slice::from_ref(&trace)).await;
        let docs = got.get(&trace).cloned().unwrap_or_default();
        if ["python-frontend", "rust-orders", "node-stock"]
            .iter()
            .all(|n| segment_named(&docs, n).is_some())
        {
            break docs;
        }
        assert!(
            Instant::now() < deadline,
            "trace {trace} incomplete: {docs:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let py = segment_named(&docs, "python-frontend").unwrap();
    let rust = segment_named(&docs, "rust-orders").unwrap();
    let node = segment_named(&docs, "node-stock").unwrap();
    for s in [py, rust, node] {
        assert_eq!(s["trace_id"], trace.as_str(), "{s}");
    }
    assert_eq!(
        rust["parent_id"],
        remote_call(py)["id"],
        "rust's parent is python's call"
    );
    assert_eq!(
        node["parent_id"],
        remote_call(rust)["id"],
        "node's parent is rust's call"
    );
    assert_eq!(rust["http"]["request"]["method"], "GET");
    assert_eq!(rust["http"]["response"]["status"], 200);
    assert_eq!(rust["annotations"]["order_id"], "42");
    let call = remote_call(rust);
    assert_eq!(call["http"]["response"]["status"], 200);
    assert_eq!(call["traced"], true);
    assert!(
        !call["http"]["request"]["url"]
            .as_str()
            .unwrap()
            .contains('?'),
        "query kept: {call}"
    );

    // The service graph: python-frontend -> rust-orders -> node-stock.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let body = serde_json::json!({ "StartTime": now - 600.0, "EndTime": now + 600.0 }).to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, text) = http(stack.collector.addr(), "POST", "/ServiceGraph", &body).await;
        assert_eq!(status, 200, "{text}");
        let graph: Value = serde_json::from_str(&text).unwrap();
        let services = graph["Services"].as_array().cloned().unwrap_or_default();
        let by_name = |n: &str| {
            services
                .iter()
                .find(|s| s["Name"] == n && s["Type"] != "remote")
                .cloned()
        };
        let edge = |from: &Value, to: &Value| {
            from["Edges"]
                .as_array()
                .is_some_and(|es| es.iter().any(|e| e["ReferenceId"] == to["ReferenceId"]))
        };
        if let (Some(p), Some(r), Some(n)) = (
            by_name("python-frontend"),
            by_name("rust-orders"),
            by_name("node-stock"),
        ) && edge(&p, &r)
            && edge(&r, &n)
        {
            break;
        }
        assert!(Instant::now() < deadline, "service graph: {graph:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    server.abort();
    stack.stop().await;
}

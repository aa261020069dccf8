//! The collector driven by real AWS clients: boto3's `xray` client and the `aws` CLI, against the
//! real server on a temporary data directory. The Python environment comes from `scripts/test`
//! (`FLUORO_PYTHON`, `FLUORO_AWS_CLI`); these tests fail, never skip, when it is missing.

use std::path::{Path, PathBuf};
use std::process::Command;

use fluoro_collector::{Collector, Config};
use fluoro_testkit::fixtures_dir;
use support::{TempDir, start_collector};

mod support;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn tool(var: &str, venv_bin: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(var) {
        return PathBuf::from(p);
    }
    let p = workspace_root().join(".venv/bin").join(venv_bin);
    assert!(
        p.exists(),
        "{var} is not set and {} does not exist: run scripts/test, which installs the Python clients",
        p.display()
    );
    p
}

async fn start(dir: &TempDir, extra: impl FnOnce(&mut Config)) -> Collector {
    start_collector(dir.path(), extra).await
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_drives_every_operation() {
    let dir = TempDir::new("boto3");
    let c = start(&dir, |_| {}).await;
    let endpoint = format!("http://{}", c.addr());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/boto3_api.py");
    let python = tool("FLUORO_PYTHON", "python");
    let fixtures = fixtures_dir();
    let out = tokio::task::spawn_blocking(move || {
        run(Command::new(python)
            .arg(script)
            .arg(&endpoint)
            .arg(fixtures))
    })
    .await
    .unwrap();
    assert!(out.contains("all boto3 checks passed"), "{out}");
    c.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_cli_round_trip() {
    let dir = TempDir::new("cli");
    let c = start(&dir, |_| {}).await;
    let endpoint = format!("http://{}", c.addr());
    let aws = tool("FLUORO_AWS_CLI", "aws");
    let doc = r#"{"name":"cli-svc","id":"70de5b6f19ff9a0a","trace_id":"1-6b09abae-f47fdd9445ec71a2b334aaaa","start_time":1795795885.1,"end_time":1795795885.3,"http":{"response":{"status":200}}}"#;
    let out = tokio::task::spawn_blocking(move || {
        let cli = |args: &[&str]| {
            let mut cmd = Command::new(&aws);
            cmd.args([
                "xray",
                "--endpoint-url",
                &endpoint,
                "--region",
                "us-east-1",
                "--output",
                "json",
            ])
            .args(args)
            .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
            .env("AWS_SECRET_ACCESS_KEY", "secret")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
            run(&mut cmd)
        };
        let put = cli(&["put-trace-segments", "--trace-segment-documents", doc]);
        let rules = cli(&["get-sampling-rules"]);
        let traces = cli(&[
            "batch-get-traces",
            "--trace-ids",
            "1-6b09abae-f47fdd9445ec71a2b334aaaa",
        ]);
        (put, rules, traces)
    })
    .await
    .unwrap();
    let put: serde_json::Value = serde_json::from_str(&out.0).unwrap();
    assert_eq!(put["UnprocessedTraceSegments"], serde_json::json!([]));
    let rules: serde_json::Value = serde_json::from_str(&out.1).unwrap();
    assert_eq!(
        rules["SamplingRuleRecords"][0]["SamplingRule"]["RuleName"],
        "Default"
    );
    let traces: serde_json::Value = serde_json::from_str(&out.2).unwrap();
    let stored: serde_json::Value = serde_json::from_str(
        traces["Traces"][0]["Segments"][0]["Document"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let sent: serde_json::Value = serde_json::from_str(doc).unwrap();
    assert_eq!(stored, sent, "the document comes back as it was sent");
    c.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigv4_is_enforced_with_auth_keys() {
    let dir = TempDir::new("auth");
    let keys = dir.0.join("keys");
    std::fs::write(&keys, "# test keys\nAKIDTEST s3cr3t/key+value\n").unwrap();
    let c = start(&dir, |cfg| cfg.auth_keys = Some(keys.clone())).await;
    let endpoint = format!("http://{}", c.addr());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/boto3_auth.py");
    let python = tool("FLUORO_PYTHON", "python");
    let out = tokio::task::spawn_blocking(move || {
        run(Command::new(python)
            .arg(script)
            .arg(&endpoint)
            .arg("AKIDTEST")
            .arg("s3cr3t/key+value"))
    })
    .await
    .unwrap();
    assert!(out.contains("ok unsigned request refused"), "{out}");
    c.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_lambda_traffic_is_assembled() {
    let dir = TempDir::new("pysdk");
    let c = start(&dir, |_| {}).await;
    let endpoint = format!("http://{}", c.addr());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/python_sdk_lambda.py");
    let python = tool("FLUORO_PYTHON", "python");
    let out =
        tokio::task::spawn_blocking(move || run(Command::new(python).arg(script).arg(&endpoint)))
            .await
            .unwrap();
    assert!(out.contains("ok the trace is assembled"), "{out}");
    c.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_sdk_streamed_subsegments_are_assembled() {
    let dir = TempDir::new("nodesdk");
    let c = start(&dir, |_| {}).await;
    let endpoint = format!("http://{}", c.addr());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/node/node_sdk.js");
    let modules = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/node/node_modules");
    assert!(
        modules.join("aws-xray-sdk-core").exists(),
        "{} is missing: run scripts/test, which installs the Node SDK",
        modules.display()
    );
    let out =
        tokio::task::spawn_blocking(move || run(Command::new("node").arg(script).arg(&endpoint)))
            .await
            .unwrap();
    assert!(out.contains("ok the trace is assembled"), "{out}");
    c.shutdown().await.unwrap();
}

//! Black-box tests of the real `fluoro-collector` binary: flags and exit codes, the lifecycle
//! (listen, ingest, metrics, SIGTERM, restart on the same data directory), and bad input over
//! raw HTTP/1.1. Every server binds `127.0.0.1:0` and reports its address in its log.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use fluoro_proto::ids::{EntityId, TraceId};
use support::{TempDir, fixture_documents};

mod support;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_fluoro-collector");
/// How long the binary may take to start listening (slow, shared CI machines).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the binary may take to exit after SIGTERM or a refused configuration.
const EXIT_TIMEOUT: Duration = Duration::from_secs(15);
/// Exit status for an unusable configuration (EX_USAGE).
const EXIT_CONFIG: i32 = 64;
/// Keeps the captures (dated by their trace ids) whatever today is.
const LONG_RETENTION: &str = "3650d";

// ---------------------------------------------------------------------------------------------
// Fixtures (temporary directories and captures come from `support`)

// ---------------------------------------------------------------------------------------------
// The binary

/// A `fluoro-collector` command with no `FLUORO_*` variables inherited and no colours.
fn collector_command(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("FLUORO_") {
            cmd.env_remove(k);
        }
    }
    // Tests run in parallel: the OTLP receivers on ephemeral ports, not 4317/4318.
    cmd.env("NO_COLOR", "1")
        .env("FLUORO_OTLP_GRPC", "127.0.0.1:0")
        .env("FLUORO_OTLP_HTTP", "127.0.0.1:0")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// A child process whose output is collected by two threads; killed when dropped.
struct Proc {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    lines: mpsc::Receiver<String>,
    readers: Vec<JoinHandle<()>>,
}

impl Proc {
    fn spawn(args: &[&str]) -> Proc {
        let mut cmd = collector_command(args);
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
        let (tx, lines) = mpsc::channel();
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let readers = vec![
            collect(
                child.stdout.take().unwrap(),
                Arc::clone(&stdout),
                tx.clone(),
            ),
            collect(child.stderr.take().unwrap(), Arc::clone(&stderr), tx),
        ];
        Proc {
            child,
            stdout,
            stderr,
            lines,
            readers,
        }
    }

    fn output(&self) -> String {
        format!(
            "--- stdout\n{}\n--- stderr\n{}",
            self.stdout.lock().unwrap(),
            self.stderr.lock().unwrap()
        )
    }

    /// Waits for `fluoro-collector listening: X-Ray API on http://ADDR` and returns ADDR.
    fn wait_listening(&self) -> SocketAddr {
        const MARK: &str = "X-Ray API on http://";
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(at) = line.find(MARK) {
                        let rest = &line[at + MARK.len()..];
                        let end = rest
                            .find(|c: char| {
                                !(c.is_ascii_hexdigit() || matches!(c, '.' | ':' | '[' | ']'))
                            })
                            .unwrap_or(rest.len());
                        return rest[..end].parse().unwrap_or_else(|e| {
                            panic!("bad address {:?} in {line:?}: {e}", &rest[..end])
                        });
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!(
                        "no listening line within {START_TIMEOUT:?}\n{}",
                        self.output()
                    )
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("the collector exited before listening\n{}", self.output())
                }
            }
        }
    }

    /// Waits for the process to exit, then for its output to be read to the end.
    fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + EXIT_TIMEOUT;
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(
                Instant::now() < deadline,
                "still running after {EXIT_TIMEOUT:?}\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        for r in self.readers.drain(..) {
            r.join().unwrap();
        }
        status
    }

    /// Sends SIGTERM and waits for the exit.
    fn terminate(&mut self) -> ExitStatus {
        let st = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(st.success(), "kill -TERM failed: {st}");
        self.wait_exit()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn collect(
    mut from: impl Read + Send + 'static,
    into: Arc<Mutex<String>>,
    lines: mpsc::Sender<String>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut r = BufReader::new(&mut from);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match r.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf).into_owned();
                    into.lock().unwrap().push_str(&line);
                    let _ = lines.send(line);
                }
            }
        }
    })
}

/// Runs the binary to completion (with a timeout): status, stdout, stderr.
fn run_to_exit(args: &[&str]) -> (ExitStatus, String, String) {
    let mut p = Proc::spawn(args);
    let status = p.wait_exit();
    let out = p.stdout.lock().unwrap().clone();
    let err = p.stderr.lock().unwrap().clone();
    (status, out, err)
}

/// Starts a server with `--listen 127.0.0.1:0 --data-dir DIR` and `extra`.
fn start(dir: &Path, extra: &[&str]) -> (Proc, SocketAddr) {
    let dir = dir.to_str().unwrap();
    let mut args = vec!["--listen", "127.0.0.1:0", "--data-dir", dir];
    args.extend_from_slice(extra);
    let p = Proc::spawn(&args);
    let addr = p.wait_listening();
    (p, addr)
}

// ---------------------------------------------------------------------------------------------
// A small HTTP/1.1 client

#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// One request on its own connection (`Connection: close`). Write errors are ignored: a
/// server may answer (413) and close before reading a large body; the answer is still read.
fn http(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(60))).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut req = head.into_bytes();
    req.extend_from_slice(body);
    let _ = s.write_all(&req).and_then(|()| s.flush());
    let mut raw = Vec::new();
    if let Err(e) = s.read_to_end(&mut raw) {
        // A reset after the answer was received is fine.
        assert!(
            !raw.is_empty(),
            "{method} {path}: no answer from {addr}: {e}"
        );
    }
    parse_response(&raw).unwrap_or_else(|| {
        panic!(
            "{method} {path}: malformed response: {:?}",
            String::from_utf8_lossy(&raw)
        )
    })
}

fn parse_response(raw: &[u8]) -> Option<Resp> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let mut rest = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let mut parts = status_line.splitn(3, ' ');
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let status = parts.next()?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect::<Option<_>>()?;
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let body = if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        let mut body = Vec::new();
        loop {
            let nl = rest.windows(2).position(|w| w == b"\r\n")?;
            let size_text = std::str::from_utf8(&rest[..nl]).ok()?;
            let size_text = size_text.split(';').next()?.trim();
            let size = usize::from_str_radix(size_text, 16).ok()?;
            rest = &rest[nl + 2..];
            if size == 0 {
                break body;
            }
            body.extend_from_slice(rest.get(..size)?);
            rest = rest.get(size + 2..)?;
        }
    } else if let Some(len) = get("content-length") {
        let len: usize = len.parse().ok()?;
        rest.get(..len)?.to_vec()
    } else {
        rest.to_vec()
    };
    Some(Resp {
        status,
        headers,
        body,
    })
}

/// A POST to an X-Ray operation path; checks `x-amzn-RequestId` on every answer.
fn api(addr: SocketAddr, path: &str, body: &[u8]) -> Resp {
    let r = http(addr, "POST", path, body);
    assert_request_id(&r, path);
    r
}

fn api_json(addr: SocketAddr, path: &str, body: &Value) -> Resp {
    api(addr, path, body.to_string().as_bytes())
}

fn assert_request_id(r: &Resp, what: &str) {
    let id = r.header("x-amzn-RequestId");
    assert!(
        id.is_some_and(|v| !v.is_empty()),
        "{what}: no x-amzn-RequestId header in {r:?}"
    );
}

/// Asserts a 200 and returns the JSON body.
fn ok_json(r: &Resp, what: &str) -> Value {
    assert_eq!(r.status, 200, "{what}: {}", r.text());
    assert_eq!(
        r.header("content-type"),
        Some("application/json"),
        "{what}: {r:?}"
    );
    r.json()
}

/// Asserts AWS's error shape: status, `x-amzn-ErrorType`, `__type`, `message` == `Message`
/// containing `fragment`.
fn assert_error(r: &Resp, status: u16, error_type: &str, fragment: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(
        r.header("x-amzn-ErrorType"),
        Some(error_type),
        "header of {r:?}"
    );
    let body = r.json();
    assert_eq!(body["__type"], error_type, "{body}");
    let message = body["message"].as_str().unwrap_or_else(|| panic!("{body}"));
    assert_eq!(body["Message"], message, "{body}");
    assert!(
        message.contains(fragment),
        "message {message:?} lacks {fragment:?}"
    );
}

fn put_segments(addr: SocketAddr, docs: &[String]) -> Resp {
    api_json(
        addr,
        "/TraceSegments",
        &json!({ "TraceSegmentDocuments": docs }),
    )
}

/// BatchGetTraces in calls of at most 5 ids: traces by id, and the unprocessed ids.
fn batch_get(addr: SocketAddr, ids: &[String]) -> (Vec<Value>, Vec<String>) {
    let mut traces = Vec::new();
    let mut unprocessed = Vec::new();
    for chunk in ids.chunks(5) {
        let r = api_json(addr, "/Traces", &json!({ "TraceIds": chunk }));
        let body = ok_json(&r, "BatchGetTraces");
        traces.extend(body["Traces"].as_array().unwrap().iter().cloned());
        unprocessed.extend(
            body["UnprocessedTraceIds"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|v| v.as_str().unwrap().to_owned())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default(),
        );
    }
    (traces, unprocessed)
}

fn service_names(addr: SocketAddr, start: f64, end: f64) -> BTreeSet<String> {
    let r = api_json(
        addr,
        "/ServiceGraph",
        &json!({ "StartTime": start, "EndTime": end }),
    );
    let body = ok_json(&r, "GetServiceGraph");
    body["Services"]
        .as_array()
        .unwrap_or_else(|| panic!("no Services in {body}"))
        .iter()
        .filter_map(|s| s["Name"].as_str().map(str::to_owned))
        .collect()
}

fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn segment_doc(trace: &str, id: &str, name: &str, start: f64) -> String {
    json!({
        "trace_id": trace,
        "id": id,
        "name": name,
        "start_time": start,
        "end_time": start + 0.25,
        "http": { "response": { "status": 200 } },
    })
    .to_string()
}

// ---------------------------------------------------------------------------------------------
// 1. Flags and exit codes

/// `(flag, variable)` pairs from the flag table of docs/collector.md.
fn documented_flags() -> Vec<(String, String)> {
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/collector.md");
    let text = std::fs::read_to_string(&doc).unwrap();
    let flags: Vec<(String, String)> = text
        .lines()
        .filter(|l| l.starts_with("| `--"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(|c| c.trim().trim_matches('`')).collect();
            (cells[1].to_owned(), cells[2].to_owned())
        })
        .collect();
    assert!(
        flags.len() >= 12,
        "expected the flag table in {}, found {flags:?}",
        doc.display()
    );
    flags
}

#[test]
fn help_and_version_exit_zero() {
    let (status, out, err) = run_to_exit(&["--help"]);
    assert_eq!(status.code(), Some(0), "--help: {out}{err}");
    for (flag, var) in documented_flags() {
        assert!(
            out.contains(&flag),
            "--help does not mention {flag}:\n{out}"
        );
        assert!(var.starts_with("FLUORO_"), "{flag}: variable {var:?}");
        assert!(out.contains(&var), "--help does not mention {var}:\n{out}");
    }
    let (status, out, err) = run_to_exit(&["--version"]);
    assert_eq!(status.code(), Some(0), "--version: {out}{err}");
    assert!(
        out.contains("fluoro-collector") && out.contains(env!("CARGO_PKG_VERSION")),
        "--version: {out}"
    );
}

#[test]
fn bad_flags_exit_64() {
    let (status, out, err) = run_to_exit(&["--no-such-flag"]);
    assert_eq!(status.code(), Some(EXIT_CONFIG), "{out}{err}");
    assert!(err.contains("--no-such-flag"), "stderr: {err}");

    let (status, out, err) = run_to_exit(&["--retention", "3w"]);
    assert_eq!(status.code(), Some(EXIT_CONFIG), "{out}{err}");
    assert!(
        err.contains("--retention") && err.contains("unknown unit"),
        "stderr: {err}"
    );
}

#[test]
fn unusable_configuration_exits_64_before_opening_anything() {
    let tmp = TempDir::new("badcfg");
    let data = tmp.path().join("never-created");
    let data_arg = data.to_str().unwrap();
    let missing_keys = tmp.path().join("no-such-keys");

    let cases: [(&[&str], String); 2] = [
        (
            &["--max-documents", "0"],
            "--max-documents must be at least 1".to_owned(),
        ),
        (
            &["--auth-keys", missing_keys.to_str().unwrap()],
            format!("--auth-keys {}: no such file", missing_keys.display()),
        ),
    ];
    // Where the message went, per case: checked after every case has run.
    let mut not_on_stderr = Vec::new();
    for (extra, message) in cases {
        let mut args = vec!["--listen", "127.0.0.1:0", "--data-dir", data_arg];
        args.extend_from_slice(extra);
        let (status, out, err) = run_to_exit(&args);
        let both = format!("--- stdout\n{out}\n--- stderr\n{err}");
        assert_eq!(status.code(), Some(EXIT_CONFIG), "{extra:?}:\n{both}");
        assert!(
            !out.contains("listening"),
            "{extra:?}: it listened:\n{both}"
        );
        assert!(
            !data.exists(),
            "{extra:?}: the data directory was created before the configuration was checked"
        );
        assert!(
            out.contains(&message) || err.contains(&message),
            "{extra:?}: no {message:?} in the output:\n{both}"
        );
        if !err.contains(&message) {
            not_on_stderr.push(format!("{extra:?}: {message:?}\n{both}"));
        }
    }
    assert!(
        not_on_stderr.is_empty(),
        "a refused configuration must be explained on stderr:\n{}",
        not_on_stderr.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Lifecycle: ingest, metrics, SIGTERM, restart

#[test]
fn lifecycle_ingest_metrics_sigterm_restart() {
    let dir = TempDir::new("life");
    let docs = fixture_documents("node");
    assert!(docs.len() < 50, "one call must hold the node captures");
    let parsed: Vec<Value> = docs
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let mut trace_ids: Vec<String> = Vec::new();
    for p in &parsed {
        let t = p["trace_id"].as_str().unwrap().to_owned();
        if !trace_ids.contains(&t) {
            trace_ids.push(t);
        }
    }
    let (mut min_start, mut max_end) = (f64::INFINITY, f64::NEG_INFINITY);
    for p in &parsed {
        if let Some(s) = p["start_time"].as_f64() {
            min_start = min_start.min(s);
        }
        if let Some(e) = p["end_time"].as_f64() {
            max_end = max_end.max(e);
        }
    }
    let window = (min_start.floor() - 120.0, max_end.ceil() + 120.0);

    // First run: ingest.
    let (mut p, addr) = start(
        dir.path(),
        &["--retention", LONG_RETENTION, "--aggregate-delay", "0s"],
    );
    let health = http(addr, "GET", "/health", b"");
    assert_eq!(health.status, 200, "{health:?}");
    assert_eq!(health.text().trim(), "ok");

    let bad_id = "0123456789abcdef";
    let invalid = json!({
        "trace_id": "1-nothex!-0123456789abcdef01234567",
        "id": bad_id,
        "name": "broken",
        "start_time": min_start,
        "end_time": max_end,
    })
    .to_string();
    let mut sent = docs.clone();
    sent.push(invalid);
    let r = put_segments(addr, &sent);
    let body = ok_json(&r, "PutTraceSegments");
    let unprocessed = body["UnprocessedTraceSegments"].as_array().unwrap();
    assert_eq!(unprocessed.len(), 1, "{body}");
    assert_eq!(unprocessed[0]["Id"], bad_id, "{body}");
    assert_eq!(unprocessed[0]["ErrorCode"], "InvalidTraceId", "{body}");

    let m = http(addr, "GET", "/metrics", b"");
    assert_eq!(m.status, 200, "{m:?}");
    let metrics = m.text();
    let lines: Vec<&str> = metrics.lines().collect();
    for want in [
        format!("fluoro_collector_documents_accepted_total {}", docs.len()),
        "fluoro_collector_documents_rejected_total{reason=\"InvalidTraceId\"} 1".to_owned(),
        "fluoro_collector_requests_total{operation=\"PutTraceSegments\",status=\"200\"} 1"
            .to_owned(),
    ] {
        assert!(lines.contains(&want.as_str()), "no {want:?} in\n{metrics}");
    }

    let status = p.terminate();
    let log = p.output();
    assert_eq!(status.code(), Some(0), "SIGTERM: {status}\n{log}");
    assert!(log.contains("shutting down"), "no shutdown line:\n{log}");
    assert!(log.contains("collector stopped"), "no stop line:\n{log}");
    drop(p);

    // Second run on the same data: a long delay, so only the first run's last pass can have
    // settled the service graph.
    let (mut p, addr) = start(
        dir.path(),
        &["--retention", LONG_RETENTION, "--aggregate-delay", "1h"],
    );
    let (traces, missing) = batch_get(addr, &trace_ids);
    assert!(missing.is_empty(), "lost across the restart: {missing:?}");
    let got: BTreeSet<&str> = traces.iter().map(|t| t["Id"].as_str().unwrap()).collect();
    let want: BTreeSet<&str> = trace_ids.iter().map(String::as_str).collect();
    assert_eq!(got, want);
    for t in &traces {
        let tid = t["Id"].as_str().unwrap();
        let ids: BTreeSet<&str> = t["Segments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["Id"].as_str().unwrap())
            .collect();
        for d in parsed.iter().filter(|d| d["trace_id"] == tid) {
            if d["type"] != "subsegment" {
                let id = d["id"].as_str().unwrap();
                assert!(
                    ids.contains(id),
                    "segment {id} missing from trace {tid}: {t}"
                );
            }
        }
    }
    let services = service_names(addr, window.0, window.1);
    for name in ["shop-frontend", "catalog-service"] {
        assert!(
            services.contains(name),
            "{name} not in the graph after restart: {services:?}"
        );
    }

    // A trace sent now is settled by the last pass of this run, not by the 1 h delay.
    let trace = TraceId::generate().to_string();
    let t0 = now_secs() - 1.0;
    let late = segment_doc(
        &trace,
        &EntityId::generate().to_string(),
        "late-service",
        t0,
    );
    let body = ok_json(&put_segments(addr, &[late]), "PutTraceSegments");
    assert_eq!(body["UnprocessedTraceSegments"], json!([]), "{body}");
    assert!(
        !service_names(addr, t0 - 120.0, t0 + 120.0).contains("late-service"),
        "settled before the 1 h aggregate delay"
    );
    let status = p.terminate();
    assert_eq!(status.code(), Some(0), "SIGTERM: {status}\n{}", p.output());
    drop(p);

    let (mut p, addr) = start(
        dir.path(),
        &["--retention", LONG_RETENTION, "--aggregate-delay", "1h"],
    );
    let services = service_names(addr, t0 - 120.0, t0 + 120.0);
    assert!(
        services.contains("late-service"),
        "the shutdown pass did not settle the last trace: {services:?}"
    );
    let (traces, missing) = batch_get(addr, std::slice::from_ref(&trace));
    assert!(missing.is_empty() && traces.len() == 1, "{traces:?}");
    assert_eq!(p.terminate().code(), Some(0), "{}", p.output());
}

// ---------------------------------------------------------------------------------------------
// 3. Bad input over raw HTTP

#[test]
fn bad_input_gets_aws_errors() {
    let dir = TempDir::new("bad");
    let (mut p, addr) = start(
        dir.path(),
        &["--retention", LONG_RETENTION, "--max-body-bytes", "100000"],
    );
    let mut request_ids = BTreeSet::new();
    let mut note = |r: &Resp| {
        request_ids.insert(r.header("x-amzn-RequestId").unwrap().to_owned());
    };

    // Not JSON.
    let r = api(addr, "/TraceSegments", b"this is not json");
    assert_error(
        &r,
        400,
        "InvalidRequestException",
        "PutTraceSegments: request body is not valid",
    );
    note(&r);

    // Members of the wrong type are named.
    let r = api(addr, "/Traces", br#"{"TraceIds":"x"}"#);
    assert_error(
        &r,
        400,
        "InvalidRequestException",
        "BatchGetTraces: TraceIds: invalid type: string \"x\"",
    );
    note(&r);
    let r = api(
        addr,
        "/TraceSummaries",
        br#"{"StartTime":"soon","EndTime":1}"#,
    );
    assert_error(
        &r,
        400,
        "InvalidRequestException",
        "GetTraceSummaries: StartTime: ",
    );
    assert!(r.text().contains("soon"), "{}", r.text());
    note(&r);

    // An empty body is `{}`.
    let r = api(addr, "/GetSamplingRules", b"");
    let body = ok_json(&r, "GetSamplingRules");
    assert_eq!(
        body["SamplingRuleRecords"][0]["SamplingRule"]["RuleName"], "Default",
        "{body}"
    );
    note(&r);

    // Unknown paths, and GET on an API path.
    let r = api(addr, "/NoSuchOperation", b"{}");
    assert_error(
        &r,
        404,
        "UnknownOperationException",
        "no X-Ray operation at POST /NoSuchOperation",
    );
    note(&r);
    let r = http(addr, "GET", "/TraceSegments", b"");
    assert_request_id(&r, "GET /TraceSegments");
    assert_error(&r, 404, "UnknownOperationException", "/TraceSegments");
    note(&r);

    // Not provided yet.
    let r = api(addr, "/InsightSummaries", b"{}");
    assert_error(&r, 501, "NotImplementedException", "GetInsightSummaries");
    note(&r);

    // A body over --max-body-bytes.
    let filler = "a".repeat(100_100);
    let big_body = json!({ "TraceSegmentDocuments": [filler] }).to_string();
    assert!(big_body.len() > 100_000);
    let r = api(addr, "/TraceSegments", big_body.as_bytes());
    assert_error(&r, 413, "PayloadTooLargeException", "100000-byte limit");
    note(&r);

    // A document over --max-document-bytes (64 KiB) is refused alone.
    let now = now_secs();
    let big_trace = TraceId::generate().to_string();
    let big_id = EntityId::generate().to_string();
    let big_doc = json!({
        "trace_id": big_trace,
        "id": big_id,
        "name": "big",
        "start_time": now - 1.0,
        "end_time": now,
        "annotations": { "blob": "x".repeat(70 * 1024) },
    })
    .to_string();
    assert!(big_doc.len() > 65_536);
    let small_trace = TraceId::generate().to_string();
    let small_id = EntityId::generate().to_string();
    let small_doc = segment_doc(&small_trace, &small_id, "small", now - 1.0);
    let r = put_segments(addr, &[big_doc, small_doc]);
    let body = ok_json(&r, "PutTraceSegments");
    note(&r);
    let unprocessed = body["UnprocessedTraceSegments"].as_array().unwrap();
    assert_eq!(unprocessed.len(), 1, "{body}");
    assert_eq!(unprocessed[0]["Id"], big_id.as_str(), "{body}");
    assert_eq!(unprocessed[0]["ErrorCode"], "DocumentTooLarge", "{body}");
    let (traces, missing) = batch_get(addr, &[small_trace.clone(), big_trace.clone()]);
    assert_eq!(missing, vec![big_trace], "{traces:?}");
    assert_eq!(traces.len(), 1, "{traces:?}");
    assert_eq!(traces[0]["Id"], small_trace.as_str());
    assert_eq!(traces[0]["Segments"][0]["Id"], small_id.as_str());

    // 51 documents: the whole call is refused, nothing stored.
    let many_trace = TraceId::generate().to_string();
    let many: Vec<String> = (0..51)
        .map(|_| segment_doc(&many_trace, &EntityId::generate().to_string(), "many", now))
        .collect();
    let r = put_segments(addr, &many);
    assert_error(
        &r,
        400,
        "InvalidRequestException",
        "Exceeding maximum segment count: 50",
    );
    assert_eq!(
        r.json()["message"],
        "Exceeding maximum segment count: 50",
        "AWS's exact message"
    );
    note(&r);
    let (_, missing) = batch_get(addr, std::slice::from_ref(&many_trace));
    assert_eq!(missing, vec![many_trace], "a refused call stored documents");

    // Malformed ids come back with their codes.
    let good_trace = TraceId::generate().to_string();
    let bad_trace_doc = segment_doc(
        "1-zzzzzzzz-0123456789abcdef01234567",
        "1111111111111111",
        "bad-trace",
        now,
    );
    let bad_id_doc = segment_doc(&good_trace, "not-an-id", "bad-id", now);
    let r = put_segments(addr, &[bad_trace_doc, bad_id_doc]);
    let body = ok_json(&r, "PutTraceSegments");
    note(&r);
    let codes: Vec<(&str, &str)> = body["UnprocessedTraceSegments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["Id"].as_str().unwrap_or(""),
                u["ErrorCode"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        codes,
        vec![
            ("1111111111111111", "InvalidTraceId"),
            ("not-an-id", "InvalidId")
        ],
        "{body}"
    );

    // Each answer had its own request id.
    assert_eq!(request_ids.len(), 11, "request ids repeat: {request_ids:?}");
    assert_eq!(p.terminate().code(), Some(0), "{}", p.output());
}

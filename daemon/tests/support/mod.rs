//! Shared by the daemon's black-box tests and the load tool: datagrams, the real binary as a
//! child process (its addresses read from its start-up log line), its `/metrics`, and its
//! memory and CPU from `/proc`.

#![allow(dead_code, unreachable_pub)] // each test file uses a different part

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fluoro_proto::ids::EntityId;

/// The UDP framing header.
pub const HEADER: &str = "{\"format\":\"json\",\"version\":1}\n";

/// A valid segment datagram with a fresh trace id, padded with an annotation to about `size`
/// bytes; returns (trace id, id, datagram).
pub fn segment(name: &str, size: usize) -> (String, String, Vec<u8>) {
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
    let mut doc = format!(
        r#"{{"trace_id":"{trace}","id":"{id}","name":"{name}","start_time":{now},"end_time":{}"#,
        now + 0.01
    );
    let pad = size.saturating_sub(doc.len() + HEADER.len() + 30);
    if pad > 0 {
        doc.push_str(&format!(
            r#","annotations":{{"pad":"{}"}}"#,
            "x".repeat(pad)
        ));
    }
    doc.push('}');
    (trace, id, format!("{HEADER}{doc}").into_bytes())
}

/// A fresh directory, removed when dropped.
#[derive(Debug)]
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
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

/// The real `fluoro-daemon` binary running as a child.
#[derive(Debug)]
pub struct DaemonProcess {
    pub child: Child,
    pub udp: SocketAddr,
    pub tcp: SocketAddr,
    pub log: Arc<Mutex<Vec<String>>>,
    /// From spawn to the "listening" line.
    pub started_in: Duration,
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn field(line: &str, name: &str) -> Option<SocketAddr> {
    let start = line.find(&format!("{name}="))? + name.len() + 1;
    line[start..].split_whitespace().next()?.parse().ok()
}

impl DaemonProcess {
    /// Starts `binary` with `args` in an empty environment plus `env` (so neither the
    /// machine's AWS settings nor a `./cfg.yaml` are read) and waits for it to listen.
    pub fn spawn(binary: &Path, args: &[&str], env: &[(&str, &str)]) -> DaemonProcess {
        let started = Instant::now();
        let mut child = Command::new(binary)
            .args(args)
            .env_clear()
            .env("HOME", "/nonexistent")
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .current_dir(std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let l = Arc::clone(&log);
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let line = strip_ansi(&line);
                // Logged before the listening line is handed over, so `log_text` holds it
                // as soon as `spawn` returns.
                l.lock().unwrap().push(line.clone());
                if line.contains("fluoro-daemon listening")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(line);
                }
            }
        });
        let Ok(line) = rx.recv_timeout(Duration::from_secs(20)) else {
            let _ = child.kill();
            panic!(
                "the daemon did not start:\n{}",
                log.lock().unwrap().join("\n")
            );
        };
        let started_in = started.elapsed();
        DaemonProcess {
            udp: field(&line, "udp").unwrap(),
            tcp: field(&line, "tcp").unwrap(),
            child,
            log,
            started_in,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> (i32, String) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let status = self.child.wait().unwrap();
        // Let the reader thread take the last lines.
        std::thread::sleep(Duration::from_millis(100));
        (status.code().unwrap_or(-1), self.log_text())
    }
}

impl Drop for DaemonProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub use fluoro_testkit::http;

/// The sum of every sample of `name` (all label sets) in the daemon's `/metrics`, or of the
/// sample with exactly `name{labels}` when `name` includes labels.
pub fn metric(admin: SocketAddr, name: &str) -> f64 {
    let (_, text) = http(admin, "GET", "/metrics", "");
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.starts_with(&format!("{name} "))
                || (!name.contains('{') && l.starts_with(&format!("{name}{{")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// (VmRSS, VmHWM) of `pid` in KiB.
pub fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let get = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0)
    };
    (get("VmRSS:"), get("VmHWM:"))
}

/// User + system CPU time of `pid`, in clock ticks (`/proc/PID/stat` fields 14 and 15).
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name may contain spaces: fields are counted after its closing parenthesis.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // After ")": state is field 3, so utime (14) is index 11 and stime (15) index 12.
    n(11) + n(12)
}

//! What the SDK's black-box tests share: the SDK captures, a real `fluoro-collector` and
//! `fluoro-daemon` on `127.0.0.1:0`, a recorder pointed at that daemon, and `BatchGetTraces`.

// Every test binary compiles this module but uses only some of it.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use fluoro_collector::Collector;
use fluoro_daemon::Daemon;
use fluoro_proto::api::BatchGetTracesResponse;
use fluoro_proto::frame;
use fluoro_proto::ids::EntityId;
use fluoro_sdk::config::{DaemonAddress, EnvConfig};
use fluoro_sdk::sampling::LocalRules;
use fluoro_sdk::{Recorder, RecorderBuilder};
use serde_json::Value;

pub(crate) const ALWAYS: &str = r#"{"version":2,"default":{"fixed_target":0,"rate":1}}"#;

/// The documents one SDK (`python`, `node`) sent, in arrival order.
pub(crate) fn fixture_documents(sdk: &str) -> Vec<Value> {
    fluoro_testkit::fixture_datagrams(sdk)
        .iter()
        .map(|bytes| serde_json::from_str(frame::decode(bytes).unwrap().body).unwrap())
        .collect()
}

/// A fresh directory, removed when dropped.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "fluoro-sdk-test-{tag}-{}-{}",
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

/// A collector and a daemon in front of it.
pub(crate) struct Stack {
    pub(crate) collector: Collector,
    pub(crate) daemon: Daemon,
    _dir: TempDir,
}

impl Stack {
    pub(crate) async fn start(tag: &str) -> Stack {
        let dir = TempDir::new(tag);
        let mut c = fluoro_collector::Config::for_dir(&dir.0);
        c.retention = Duration::from_secs(3650 * 86_400);
        let collector = fluoro_collector::start(c).await.unwrap();
        let daemon = fluoro_daemon::start(fluoro_daemon::Config::for_endpoint(format!(
            "http://{}",
            collector.addr()
        )))
        .await
        .unwrap();
        Stack {
            collector,
            daemon,
            _dir: dir,
        }
    }

    pub(crate) fn daemon_address(&self) -> DaemonAddress {
        DaemonAddress {
            udp: self.daemon.udp_addr(),
            tcp: self.daemon.tcp_addr(),
        }
    }

    /// A recorder for `name` sending to this daemon, with no environment and these rules.
    pub(crate) fn recorder(&self, name: &str, rules: &str) -> RecorderBuilder {
        Recorder::builder(name)
            .env(EnvConfig::from_lookup(|_| None))
            .daemon(self.daemon_address())
            .sampling_rules(LocalRules::from_json(rules).unwrap())
    }

    pub(crate) async fn stop(self) {
        self.daemon.shutdown().await;
        self.collector.shutdown().await.unwrap();
    }
}

/// One HTTP/1.1 exchange over a fresh connection ([`fluoro_testkit::http`], off the runtime).
pub(crate) async fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let (method, path, body) = (method.to_owned(), path.to_owned(), body.to_owned());
    tokio::task::spawn_blocking(move || fluoro_testkit::http(addr, &method, &path, &body))
        .await
        .unwrap()
}

/// The documents `BatchGetTraces` returns for each trace.
pub(crate) async fn batch_get(
    collector: SocketAddr,
    traces: &[String],
) -> BTreeMap<String, Vec<Value>> {
    let mut out = BTreeMap::new();
    for chunk in traces.chunks(5) {
        let body = serde_json::json!({ "TraceIds": chunk }).to_string();
        let (status, body) = http(collector, "POST", "/Traces", &body).await;
        assert_eq!(status, 200, "{body}");
        let resp: BatchGetTracesResponse = serde_json::from_str(&body).unwrap();
        for t in resp.traces {
            let docs = t
                .segments
                .iter()
                .map(|s| serde_json::from_str(&s.document).unwrap())
                .collect();
            out.insert(t.id, docs);
        }
    }
    out
}

/// Every entity (document and nested subsegments).
pub(crate) fn walk<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    out.push(v);
    if let Some(subs) = v.get("subsegments").and_then(Value::as_array) {
        for s in subs {
            walk(s, out);
        }
    }
}

pub(crate) fn ids(docs: &[Value]) -> BTreeSet<String> {
    let mut all = Vec::new();
    for d in docs {
        walk(d, &mut all);
    }
    all.iter()
        .filter_map(|e| e.get("id").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

/// Waits until every id in `want` (trace → ids) comes back from `BatchGetTraces`.
pub(crate) async fn wait_for(
    collector: SocketAddr,
    want: &BTreeMap<String, BTreeSet<String>>,
    within: Duration,
) -> BTreeMap<String, Vec<Value>> {
    let traces: Vec<String> = want.keys().cloned().collect();
    let deadline = Instant::now() + within;
    loop {
        let got = batch_get(collector, &traces).await;
        let missing: Vec<&String> = want
            .iter()
            .flat_map(|(t, ids_)| {
                let have = got.get(t).map(|d| ids(d)).unwrap_or_default();
                ids_.iter()
                    .filter(move |i| !have.contains(*i))
                    .collect::<Vec<_>>()
            })
            .collect();
        if missing.is_empty() {
            return got;
        }
        assert!(Instant::now() < deadline, "never arrived: {missing:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

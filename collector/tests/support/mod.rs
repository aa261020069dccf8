//! What the collector's black-box tests share: the SDK captures, temporary data directories,
//! and a collector started on `127.0.0.1:0`. Each test file includes it with `mod support;`
//! and uses the part it needs.

// Every test binary compiles this module but uses only some of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fluoro_collector::{Collector, Config};
use fluoro_proto::frame;
use fluoro_proto::ids::EntityId;
use fluoro_proto::segment::Segment;

/// The document of every captured datagram of one SDK (`python`, `node`), in arrival order.
pub(crate) fn fixture_documents(sdk: &str) -> Vec<String> {
    fluoro_testkit::fixture_datagrams(sdk)
        .iter()
        .map(|bytes| {
            frame::decode(bytes)
                .unwrap_or_else(|e| panic!("{sdk} capture: {e}"))
                .body
                .to_owned()
        })
        .collect()
}

/// The captures of these SDKs, parsed and grouped by trace id, traces in first-seen order.
pub(crate) fn fixture_traces(sdks: &[&str]) -> Vec<(String, Vec<Segment>)> {
    let mut order: Vec<String> = Vec::new();
    let mut by_trace: BTreeMap<String, Vec<Segment>> = BTreeMap::new();
    for sdk in sdks {
        for doc in fixture_documents(sdk) {
            let seg = Segment::from_json(&doc).unwrap_or_else(|e| panic!("{sdk}: {e}"));
            let trace = seg
                .trace_id
                .clone()
                .expect("top-level documents carry trace_id");
            if !by_trace.contains_key(&trace) {
                order.push(trace.clone());
            }
            by_trace.entry(trace).or_default().push(seg);
        }
    }
    order
        .into_iter()
        .map(|t| {
            let docs = by_trace.remove(&t).unwrap_or_default();
            (t, docs)
        })
        .collect()
}

/// A fresh directory, removed when dropped.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "fluoro-test-{tag}-{}-{}",
            std::process::id(),
            EntityId::generate()
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A collector on `127.0.0.1:0` with its data in `dir`; `extra` adjusts the configuration.
/// Retention is long: the captures carry their capture date in their trace ids.
pub(crate) async fn start_collector(dir: &Path, extra: impl FnOnce(&mut Config)) -> Collector {
    let mut c = Config::for_dir(dir);
    c.retention = Duration::from_secs(3650 * 86_400);
    extra(&mut c);
    fluoro_collector::start(c).await.unwrap()
}

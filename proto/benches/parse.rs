//! Parse depths side by side, on documents built from real SDK captures (`shared/fixtures/`):
//!
//! - `frame`: frame decode alone (header check, split, UTF-8 check), the shared cost;
//! - `frame+head`: frame decode + [`SegmentHead::parse`], the daemon's hot path;
//! - `frame+typed`: frame decode + the full typed [`Segment`] parse;
//! - `value`: `serde_json::from_slice::<serde_json::Value>` of the body, the baseline;
//! - `frame+value`: frame decode + the same `Value` parse, for a like-for-like comparison.
//!
//! Run with `cargo bench -p fluoro-proto --bench parse`; figures go in `docs/benchmarks.md`.

#![allow(clippy::print_stderr)] // a bench reports the document sizes it measured

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fluoro_proto::frame;
use fluoro_proto::head::SegmentHead;
use fluoro_proto::segment::Segment;
use serde_json::Value;

fn bodies(sdk: &str) -> Vec<String> {
    fluoro_testkit::fixture_datagrams(sdk)
        .iter()
        .map(|d| frame::decode(d).unwrap().body.to_owned())
        .collect()
}

/// The ~1 KB document: the capture closest to 1024 bytes (a Python segment with a cause).
fn doc_1k() -> String {
    let mut all = bodies("python");
    all.extend(bodies("node"));
    all.into_iter()
        .min_by_key(|b| b.len().abs_diff(1024))
        .unwrap()
}

/// The ~8 KB document: the largest Python segment with captured subsegments embedded under it
/// until it reaches 8 KB, as an SDK with a low streaming threshold would send.
fn doc_8k() -> String {
    let python = bodies("python");
    let mut root: Value = python
        .iter()
        .map(|b| serde_json::from_str::<Value>(b).unwrap())
        .filter(|v| v.get("type").is_none() && v.get("in_progress") != Some(&Value::Bool(true)))
        .max_by_key(|v| v.to_string().len())
        .unwrap();
    let subs: Vec<Value> = python
        .iter()
        .map(|b| serde_json::from_str::<Value>(b).unwrap())
        .filter(|v| v.get("type").is_some())
        .collect();
    let mut i = 0;
    while serde_json::to_string(&root).unwrap().len() < 8 * 1024 - 600 {
        let arr = root
            .as_object_mut()
            .unwrap()
            .entry("subsegments")
            .or_insert_with(|| Value::Array(Vec::new()));
        arr.as_array_mut()
            .unwrap()
            .push(subs[i % subs.len()].clone());
        i += 1;
    }
    // Python's spacing, as the SDK writes it.
    let compact = serde_json::to_string(&root).unwrap();
    let v: Value = serde_json::from_str(&compact).unwrap();
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    serde::Serialize::serialize(&v, &mut ser).unwrap();
    String::from_utf8(out).unwrap().replace('\n', " ")
}

fn bench(c: &mut Criterion) {
    for (label, doc) in [("1k", doc_1k()), ("8k", doc_8k())] {
        let dgram = frame::encode(doc.as_bytes()).unwrap();
        // Sanity: every depth accepts the document.
        Segment::from_json(&doc).unwrap();
        SegmentHead::parse(&doc).unwrap();

        let mut g = c.benchmark_group(format!("parse/{label}"));
        g.throughput(Throughput::Bytes(doc.len() as u64));
        g.warm_up_time(Duration::from_secs(1));
        g.measurement_time(Duration::from_secs(3));
        g.bench_function("frame", |b| {
            b.iter(|| black_box(frame::decode(black_box(&dgram)).unwrap()));
        });
        g.bench_function("frame+head", |b| {
            b.iter(|| {
                let f = frame::decode(black_box(&dgram)).unwrap();
                black_box(SegmentHead::parse(f.body).unwrap());
            });
        });
        g.bench_function("frame+typed", |b| {
            b.iter(|| {
                let f = frame::decode(black_box(&dgram)).unwrap();
                black_box(Segment::from_json(f.body).unwrap());
            });
        });
        g.bench_function("value", |b| {
            b.iter(|| {
                black_box(serde_json::from_slice::<Value>(black_box(doc.as_bytes())).unwrap());
            });
        });
        g.bench_function("frame+value", |b| {
            b.iter(|| {
                let f = frame::decode(black_box(&dgram)).unwrap();
                black_box(serde_json::from_str::<Value>(f.body).unwrap());
            });
        });
        g.finish();
        eprintln!("document {label}: {} bytes", doc.len());
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);

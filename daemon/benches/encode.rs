//! The request body encoder (`forward::encode_request`, the forwarder's hottest function under
//! load: now serde_json's escaper over borrowed documents) beside serde_json serializing an
//! owned `PutTraceSegmentsRequest` (the baseline) and the byte-at-a-time escaper the daemon had
//! first, on 50-document batches of the real Python SDK captures (`shared/fixtures/python`).
//!
//! `cargo bench -p fluoro-daemon --bench encode`; figures in `docs/benchmarks.md`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fluoro_daemon::forward::encode_request;
use fluoro_proto::api::PutTraceSegmentsRequest;

/// 50 document bodies from the Python captures, repeated as needed.
fn batch() -> Vec<String> {
    let bodies: Vec<String> = fluoro_testkit::fixture_datagrams("python")
        .into_iter()
        .filter_map(|raw| {
            let text = String::from_utf8(raw).ok()?;
            Some(text.split_once('\n')?.1.to_owned())
        })
        .collect();
    assert!(!bodies.is_empty());
    bodies.iter().cycle().take(50).cloned().collect()
}

/// The daemon's first escaper, kept here as the before figure.
fn bytewise(docs: &[String]) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = Vec::with_capacity(docs.iter().map(|d| d.len() + 8).sum::<usize>() + 32);
    out.extend_from_slice(b"{\"TraceSegmentDocuments\":[");
    for (n, s) in docs.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.push(b'"');
        let bytes = s.as_bytes();
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let esc: &[u8] = match b {
                b'"' => b"\\\"",
                b'\\' => b"\\\\",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                b'\t' => b"\\t",
                0..=0x1f => b"",
                _ => continue,
            };
            out.extend_from_slice(&bytes[start..i]);
            if esc.is_empty() {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            } else {
                out.extend_from_slice(esc);
            }
            start = i + 1;
        }
        out.extend_from_slice(&bytes[start..]);
        out.push(b'"');
    }
    out.extend_from_slice(b"]}");
    out
}

fn bench(c: &mut Criterion) {
    let docs = batch();
    let request = PutTraceSegmentsRequest {
        trace_segment_documents: docs.clone(),
    };
    assert_eq!(encode_request(&docs), serde_json::to_vec(&request).unwrap());
    assert_eq!(bytewise(&docs), encode_request(&docs));
    let bytes: usize = docs.iter().map(String::len).sum();
    let mut g = c.benchmark_group("encode_50_python_documents");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.measurement_time(Duration::from_secs(3));
    g.bench_function("encode_request", |b| {
        b.iter(|| encode_request(black_box(&docs)));
    });
    g.bench_function("bytewise", |b| b.iter(|| bytewise(black_box(&docs))));
    g.bench_function("serde_json", |b| {
        b.iter(|| serde_json::to_vec(black_box(&request)).unwrap());
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! The SDK's hot paths beside the OpenTelemetry SDK's span, in one run (docs/benchmarks.md):
//!
//! - `fluoro/subsegment_sampled`: begin + end of a subsegment with two annotations inside a
//!   sampled segment, segments of 20 subsegments (begin and end of the segment included,
//!   spread over its subsegments; the emitter thread sends each segment as one datagram);
//! - `fluoro/subsegment_sampled_streamed`: the same inside one segment that never ends, so
//!   every subsegment is streamed as its own datagram;
//! - `fluoro/subsegment_sampled_all_sent`: `fluoro/subsegment_sampled` with a queue long
//!   enough for every segment of the timed batch and the wait until the emitter thread has sent
//!   them all (`flush`) inside the timing: nothing is dropped, the emitter's whole work is in
//!   the figure (in `fluoro/subsegment_sampled` a full queue drops segments whenever the emitter
//!   falls behind; the bench prints how many);
//! - `fluoro/subsegment_sampled_caller_only`: `fluoro/subsegment_sampled` with a queue of one
//!   job, so nearly every segment is refused by the full queue and the emitter thread sends
//!   almost nothing: what the caller's thread alone pays (a diagnostic, not the target's
//!   measure: the emitter's serializing and sending share the machine's cores);
//! - `fluoro/subsegment_sampled_paced` and `otel/span_simple_void_paced`: the sampled path
//!   at a rate the emitter keeps up with, as in a service: after each request (a segment of 20
//!   subsegments; for OpenTelemetry 20 spans) the caller's thread spins, untimed, for
//!   `REQUEST_GAP`, standing for the request's own work. Only the requests are timed; the
//!   emitter sends every segment (the bench prints that none was dropped) and its work
//!   overlaps the timed requests as it does in a host;
//! - `fluoro/subsegment_unsampled` and `fluoro/segment_unsampled`: the same subsegment inside
//!   an unsampled segment, and a whole unsampled request (sampling decision, segment begin and
//!   end);
//! - `otel/span_simple_void`: `opentelemetry_sdk` span start + end with two attributes, through
//!   a `SimpleSpanProcessor` into an exporter that drops spans (the setup of OpenTelemetry's own
//!   span benchmark); `otel/span_batch_void`: through the `BatchSpanProcessor` (its own
//!   thread, like our emitter); `otel/span_no_processor`: with no processor at all.

#![allow(clippy::print_stderr)] // a bench reports what the emitter counted

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use fluoro_sdk::config::{DEFAULT_QUEUE_CAPACITY, DaemonAddress, EnvConfig};
use fluoro_sdk::sampling::LocalRules;
use fluoro_sdk::{Recorder, begin_subsegment};
use opentelemetry::KeyValue;
use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};

/// Subsegments per segment in `fluoro/subsegment_sampled`.
const PER_SEGMENT: u64 = 20;

/// The untimed gap after each request in the paced functions: 1 µs per subsegment, a million
/// subsegments a second on one thread (a service's own work is far longer).
const REQUEST_GAP: Duration = Duration::from_micros(20);

/// Subsegments per recorder in `fluoro/subsegment_sampled_all_sent` (bounds the memory the
/// queued segments hold).
const ALL_SENT_CHUNK: u64 = 100_000;

#[derive(Debug)]
struct VoidExporter;

impl SpanExporter for VoidExporter {
    async fn export(&self, _batch: Vec<SpanData>) -> OTelSdkResult {
        Ok(())
    }
}

fn recorder(sink: &UdpSocket, rules: &str, queue: usize) -> Recorder {
    Recorder::builder("bench")
        .env(EnvConfig::from_lookup(|_| None))
        .daemon(DaemonAddress::parse(&sink.local_addr().unwrap().to_string()).unwrap())
        .sampling_rules(LocalRules::from_json(rules).unwrap())
        .queue_capacity(queue)
        .build()
}

/// Segments of `PER_SEGMENT` subsegments with two annotations each, begin and end of the
/// segment included.
fn segments_of_subsegments(rec: &Recorder, iters: u64) -> std::time::Duration {
    let start = Instant::now();
    let mut seg = rec.begin_segment("bench");
    for i in 0..iters {
        if i % PER_SEGMENT == PER_SEGMENT - 1 {
            drop(seg);
            seg = rec.begin_segment("bench");
        }
        let s = begin_subsegment("work");
        s.annotate("customer", "c-42");
        s.annotate("items", 3);
    }
    drop(seg);
    start.elapsed()
}

/// Times `iters` units of work done in requests of `PER_SEGMENT` units (`request` runs one),
/// each followed by an untimed busy gap of `REQUEST_GAP`.
fn paced(iters: u64, mut request: impl FnMut(u64)) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(PER_SEGMENT);
        left -= n;
        let start = Instant::now();
        request(n);
        let end = Instant::now();
        total += end - start;
        let until = end + REQUEST_GAP;
        while Instant::now() < until {
            std::hint::spin_loop();
        }
    }
    total
}

fn bench(c: &mut Criterion) {
    // A socket nobody reads: the kernel drops what overflows its buffer, as a slow daemon would.
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let always_json = r#"{"version":2,"default":{"fixed_target":0,"rate":1}}"#;
    let always = recorder(&sink, always_json, DEFAULT_QUEUE_CAPACITY);
    let always_queue1 = recorder(&sink, always_json, 1);
    let never = recorder(
        &sink,
        r#"{"version":2,"default":{"fixed_target":0,"rate":0}}"#,
        DEFAULT_QUEUE_CAPACITY,
    );

    let mut g = c.benchmark_group("span");
    g.bench_function("fluoro/subsegment_sampled", |b| {
        // A request's segment holds 20 subsegments, then ends and is sent as one datagram:
        // its begin and end are in the timed loop, spread over its subsegments.
        b.iter_custom(|iters| segments_of_subsegments(&always, iters));
    });
    let st = always.stats();
    eprintln!(
        "fluoro/subsegment_sampled: the emitter sent {} segments, the full queue dropped {}",
        st.sent, st.dropped_queue_full
    );
    let (mut all_sent, mut all_dropped) = (0, 0);
    g.bench_function("fluoro/subsegment_sampled_all_sent", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(ALL_SENT_CHUNK);
                left -= n;
                let queue = usize::try_from(n / PER_SEGMENT + 2).unwrap();
                let rec = recorder(&sink, always_json, queue);
                let start = Instant::now();
                segments_of_subsegments(&rec, n);
                let flushed = rec.flush(Duration::from_secs(60));
                total += start.elapsed();
                assert!(flushed, "the emitter did not finish within 60 s");
                let st = rec.stats();
                all_sent += st.sent;
                all_dropped += st.dropped_queue_full;
            }
            total
        });
    });
    eprintln!(
        "fluoro/subsegment_sampled_all_sent: the emitter sent {all_sent} segments, the full queue dropped {all_dropped}"
    );
    let paced_rec = recorder(&sink, always_json, DEFAULT_QUEUE_CAPACITY);
    g.bench_function("fluoro/subsegment_sampled_paced", |b| {
        b.iter_custom(|iters| {
            paced(iters, |n| {
                let seg = paced_rec.begin_segment("bench");
                for _ in 0..n {
                    let s = begin_subsegment("work");
                    s.annotate("customer", "c-42");
                    s.annotate("items", 3);
                }
                drop(seg);
            })
        });
    });
    let flushed = paced_rec.flush(Duration::from_secs(60));
    let st = paced_rec.stats();
    eprintln!(
        "fluoro/subsegment_sampled_paced: the emitter sent {} segments, the full queue dropped {} (flushed: {flushed})",
        st.sent, st.dropped_queue_full
    );
    let before = always.stats();
    g.bench_function("fluoro/subsegment_sampled_caller_only", |b| {
        b.iter_custom(|iters| segments_of_subsegments(&always_queue1, iters));
    });
    {
        let seg = always.begin_segment("bench");
        g.bench_function("fluoro/subsegment_sampled_streamed", |b| {
            // One segment that never ends: every 100 closed subsegments are streamed, one
            // datagram each (the emitter thread's UDP sends share the machine's cores).
            b.iter(|| {
                let s = begin_subsegment("work");
                s.annotate("customer", "c-42");
                s.annotate("items", 3);
            });
        });
        drop(seg);
    }
    {
        let seg = never.begin_segment("bench");
        g.bench_function("fluoro/subsegment_unsampled", |b| {
            b.iter(|| {
                let s = begin_subsegment("work");
                s.annotate("customer", "c-42");
                s.annotate("items", 3);
            });
        });
        drop(seg);
    }
    g.bench_function("fluoro/segment_unsampled", |b| {
        b.iter(|| {
            let s = never.begin_segment("bench");
            s.annotate("customer", "c-42");
            s.annotate("items", 3);
        });
    });

    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(VoidExporter)
        .build();
    let tracer = provider.tracer("bench");
    g.bench_function("otel/span_simple_void", |b| {
        b.iter(|| {
            let mut span = tracer.start("work");
            span.set_attribute(KeyValue::new("customer", "c-42"));
            span.set_attribute(KeyValue::new("items", 3));
            span.end();
        });
    });
    g.bench_function("otel/span_simple_void_paced", |b| {
        b.iter_custom(|iters| {
            paced(iters, |n| {
                for _ in 0..n {
                    let mut span = tracer.start("work");
                    span.set_attribute(KeyValue::new("customer", "c-42"));
                    span.set_attribute(KeyValue::new("items", 3));
                    span.end();
                }
            })
        });
    });
    let batch = SdkTracerProvider::builder()
        .with_batch_exporter(VoidExporter)
        .build();
    let batch_tracer = batch.tracer("bench");
    g.bench_function("otel/span_batch_void", |b| {
        b.iter(|| {
            let mut span = batch_tracer.start("work");
            span.set_attribute(KeyValue::new("customer", "c-42"));
            span.set_attribute(KeyValue::new("items", 3));
            span.end();
        });
    });
    let bare = SdkTracerProvider::builder().build();
    let bare_tracer = bare.tracer("bench");
    g.bench_function("otel/span_no_processor", |b| {
        b.iter(|| {
            let mut span = bare_tracer.start("work");
            span.set_attribute(KeyValue::new("customer", "c-42"));
            span.set_attribute(KeyValue::new("items", 3));
            span.end();
        });
    });
    g.finish();
    let st = always.stats();
    eprintln!(
        "fluoro/subsegment_sampled_streamed: the emitter sent {} datagrams ({} subsegments streamed), the full queue dropped {} jobs",
        st.sent - before.sent,
        st.streamed - before.streamed,
        st.dropped_queue_full - before.dropped_queue_full
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);

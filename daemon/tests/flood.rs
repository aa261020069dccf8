//! A flood far beyond `--buffer-memory` while the endpoint refuses (issue 4, bad input): the
//! real binary drops the oldest queued documents and counts them (`buffer_full`), counts bad
//! datagrams by reason, delivers the good documents sent before and after the flood, and its
//! resident memory (`VmHWM` from `/proc/PID/status`) stays within the configured memory plus a
//! fixed overhead.

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, UdpSocket};

use support::{DaemonProcess, memory_kib, metric, segment};

/// `--buffer-memory` for the test, in MB.
const BUFFER_MB: u64 = 4;
/// What the daemon may use beyond the buffer: the binary, runtime and threads (about 7 MiB
/// idle), request bodies of batches in flight (a copy of their documents, up to the buffer
/// again), allocator slack. Generous on purpose: the point is that a 40 MB flood does not show.
const FIXED_OVERHEAD_MIB: u64 = 24;
const FLOOD: usize = 40_000;
const DOC_SIZE: usize = 1000;

/// A sink that answers 503 while `open` is false and counts documents by name prefix.
#[derive(Debug, Clone, Default)]
struct Sink {
    open: Arc<AtomicBool>,
    before: Arc<AtomicU64>,
    flood: Arc<AtomicU64>,
    after: Arc<AtomicU64>,
}

async fn start_sink() -> (SocketAddr, Sink) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sink = Sink::default();
    sink.open.store(true, Ordering::SeqCst);
    let s = sink.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let s = s.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let s = s.clone();
                        async move {
                            let body = req
                                .into_body()
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            if !s.open.load(Ordering::SeqCst) {
                                let mut r = hyper::Response::new(Full::new(Bytes::from_static(
                                    b"{\"message\":\"closed\"}",
                                )));
                                *r.status_mut() = hyper::StatusCode::SERVICE_UNAVAILABLE;
                                return Ok::<_, Infallible>(r);
                            }
                            let count =
                                |p: &[u8]| memchr::memmem::find_iter(&body, p).count() as u64;
                            s.before.fetch_add(count(b"before-"), Ordering::SeqCst);
                            s.flood.fetch_add(count(b"flood-"), Ordering::SeqCst);
                            s.after.fetch_add(count(b"after-"), Ordering::SeqCst);
                            Ok(hyper::Response::new(Full::new(Bytes::from_static(b"{}"))))
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    (addr, sink)
}

async fn wait_until(
    what: &str,
    within: Duration,
    log: &DaemonProcess,
    mut cond: impl FnMut() -> bool,
) {
    let deadline = Instant::now() + within;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\n{}",
            log.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn metric_of(d: &DaemonProcess, name: &'static str) -> f64 {
    let tcp = d.tcp;
    tokio::task::spawn_blocking(move || metric(tcp, name))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::print_stderr)] // the figures at the end, for whoever runs it with --nocapture
async fn flood_beyond_buffer_memory_is_counted_and_memory_stays_bounded() {
    let (sink_addr, sink) = start_sink().await;
    let endpoint = format!("http://{sink_addr}");
    let buffer = BUFFER_MB.to_string();
    let d = tokio::task::spawn_blocking(move || {
        DaemonProcess::spawn(
            Path::new(env!("CARGO_BIN_EXE_fluoro-daemon")),
            &[
                "-e",
                &endpoint,
                "-m",
                &buffer,
                "-b",
                "127.0.0.1:0",
                "-t",
                "127.0.0.1:0",
                "--telemetry-interval",
                "0s",
                "--shutdown-grace",
                "1s",
            ],
            &[],
        )
    })
    .await
    .unwrap();
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();

    // Good documents before the flood, delivered.
    for i in 0..100 {
        let (_, _, dg) = segment(&format!("before-{i}"), DOC_SIZE);
        sock.send_to(&dg, d.udp).await.unwrap();
    }
    wait_until(
        "the first 100 documents",
        Duration::from_secs(20),
        &d,
        || sink.before.load(Ordering::SeqCst) == 100,
    )
    .await;

    // The endpoint refuses (503, retried); 40 MB of documents and 3 kinds of bad datagrams.
    sink.open.store(false, Ordering::SeqCst);
    let bad: [&[u8]; 3] = [
        b"not a header\n{}",
        b"{\"format\":\"json\",\"version\":1}\n",
        b"{\"format\":\"json\",\"version\":1}\n\xff\xfe",
    ];
    let mut sent_bad = [0u64; 3];
    for i in 0..FLOOD {
        let (_, _, dg) = segment(&format!("flood-{i}"), DOC_SIZE);
        sock.send_to(&dg, d.udp).await.unwrap();
        if i % 400 == 0 {
            sock.send_to(bad[(i / 400) % 3], d.udp).await.unwrap();
            sent_bad[(i / 400) % 3] += 1;
        }
        if i % 50 == 49 {
            // ~25k datagrams/s: the test is about the daemon's bound, not the kernel's.
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    let expected_datagrams = (100 + FLOOD) as f64 + sent_bad.iter().sum::<u64>() as f64;
    let mut seen = 0.0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen < expected_datagrams {
        seen = metric_of(&d, "fluoro_receiver_datagrams_total").await
            + metric_of(&d, "fluoro_receiver_kernel_drops_total").await;
        assert!(
            Instant::now() < deadline,
            "{seen} of {expected_datagrams} datagrams seen"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (rss, hwm) = memory_kib(d.pid());
    let limit_kib = (BUFFER_MB + FIXED_OVERHEAD_MIB) * 1024;
    assert!(
        hwm <= limit_kib,
        "VmHWM {hwm} KiB (VmRSS {rss} KiB) over {BUFFER_MB} MB + {FIXED_OVERHEAD_MIB} MiB"
    );
    let buffer_full = metric_of(
        &d,
        "fluoro_daemon_documents_dropped_total{reason=\"buffer_full\"}",
    )
    .await;
    let kernel = metric_of(&d, "fluoro_receiver_kernel_drops_total").await;
    let flood_accepted = metric_of(&d, "fluoro_receiver_documents_total").await - 100.0;
    // The buffer holds about 4 MB / (1 KB + 64 B) documents; everything past that (and what is
    // in batches being retried) was dropped, oldest first.
    let capacity_docs = (BUFFER_MB * 1024 * 1024) as f64 / (DOC_SIZE as f64 + 64.0);
    assert!(
        buffer_full > 0.0 && buffer_full >= flood_accepted - 2.0 * capacity_docs,
        "buffer_full {buffer_full} of {flood_accepted} accepted"
    );
    let reasons = [
        "fluoro_receiver_rejected_datagrams_total{reason=\"header_not_json\"}",
        "fluoro_receiver_rejected_datagrams_total{reason=\"empty_body\"}",
        "fluoro_receiver_rejected_datagrams_total{reason=\"body_not_utf8\"}",
    ];
    for (name, sent) in reasons.into_iter().zip(sent_bad) {
        let got = metric_of(&d, name).await;
        // Exact unless the kernel dropped datagrams (counted, but not by content).
        if kernel == 0.0 {
            assert_eq!(got, sent as f64, "{name}");
        } else {
            assert!(got > 0.0 && got <= sent as f64, "{name}: {got} of {sent}");
        }
    }

    // The endpoint answers again; good documents after the flood are delivered too, and every
    // accepted flood document is either delivered or counted as dropped.
    sink.open.store(true, Ordering::SeqCst);
    for i in 0..100 {
        let (_, _, dg) = segment(&format!("after-{i}"), DOC_SIZE);
        sock.send_to(&dg, d.udp).await.unwrap();
    }
    wait_until(
        "the last 100 documents",
        Duration::from_secs(30),
        &d,
        || sink.after.load(Ordering::SeqCst) == 100,
    )
    .await;
    let accepted = metric_of(&d, "fluoro_receiver_documents_total").await;
    let kernel = metric_of(&d, "fluoro_receiver_kernel_drops_total").await;
    let flood_accepted = accepted - 200.0;
    assert_eq!(sink.after.load(Ordering::SeqCst), 100);
    // Batches that were backing off when the endpoint came back finish within a few seconds.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut flood_delivered, mut dropped);
    loop {
        flood_delivered = sink.flood.load(Ordering::SeqCst) as f64;
        dropped = metric_of(&d, "fluoro_daemon_documents_dropped_total").await;
        if flood_delivered + dropped >= flood_accepted || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        flood_delivered + dropped,
        flood_accepted,
        "delivered {flood_delivered} + dropped {dropped} != accepted {flood_accepted} (kernel drops {kernel})"
    );
    assert_eq!(sink.before.load(Ordering::SeqCst), 100);
    let (_, hwm) = memory_kib(d.pid());
    assert!(hwm <= limit_kib, "VmHWM {hwm} KiB after recovery");
    let (code, log) = tokio::task::spawn_blocking(move || d.terminate())
        .await
        .unwrap();
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("buffer_full"), "{log}");
    eprintln!(
        "flood: {FLOOD} sent, {flood_accepted} accepted, {flood_delivered} delivered, {dropped} dropped, kernel drops {kernel}, VmHWM {hwm} KiB"
    );
}

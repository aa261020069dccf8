//! Load tool: the real `fluoro-daemon` release binary under stepped, paced UDP load, beside the
//! raw loopback UDP ceiling measured in the same run.
//!
//! `cargo bench -p fluoro-daemon --bench load [-- quick]`
//!
//! 1. **raw ceiling**: a receiver thread that only counts datagrams (4 MiB `SO_RCVBUF`, like the
//!    daemon's socket); the sender sends flat out for 2 s. Then, for every step below, the same
//!    receiver at the same paced rate: what loopback UDP itself delivers on this machine.
//! 2. **daemon**: the binary as a child process (`-e` a minimal `PutTraceSegments` sink, telemetry
//!    off, defaults otherwise: 16 MB buffer, 8 senders), fed ~1 KB and ~8 KB segment datagrams
//!    at stepped rates for 3 s each. Per step: datagrams sent (and the rate achieved), documents
//!    delivered to the sink, kernel drops on the daemon's socket (`/proc/net/udp`), documents
//!    dropped by the daemon (`/metrics`), daemon CPU (user + system ticks from `/proc/PID/stat`
//!    from the step's start to the end of its drain, over the 3 s of sending, as % of one core), peak RSS (`VmRSS` sampled every 20 ms), and
//!    receive-to-forward latency: each datagram carries its send time in `start_time`, the sink
//!    subtracts it from the time the batch arrives (p50, p99, max).
//! 3. **idle**: RSS and CPU of a fresh daemon after 1 s and over 2 s without traffic; time from
//!    spawn to the "listening" log line (sockets bound).
//!
//! The sink is a single-threaded hyper server that counts documents and reads `start_time`
//! without parsing the rest. Sender, sink and daemon share the machine's cores.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::cast_precision_loss
)] // a load tool reports on the terminal

#[path = "../tests/support/mod.rs"]
mod support;

use std::convert::Infallible;
use std::io::Write as _;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fluoro_daemon::receiver::kernel_drops;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use support::{DaemonProcess, cpu_ticks, memory_kib, metric};

const STEP: Duration = Duration::from_secs(3);
const HEADER: &str = "{\"format\":\"json\",\"version\":1}\n";
/// Width of the `start_time` value written into each datagram: `1764270000.123456`.
const TS_WIDTH: usize = 17;

fn now_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// A datagram of about `size` bytes and the offset of its `start_time` value.
fn template(size: usize) -> (Vec<u8>, usize) {
    let head = format!(
        "{HEADER}{{\"trace_id\":\"1-6928a000-0123456789abcdef01234567\",\"id\":\"0123456789abcdef\",\"name\":\"load-test\",\"start_time\":"
    );
    let ts_at = head.len();
    let mut d = head.into_bytes();
    d.extend_from_slice(&[b'0'; TS_WIDTH]);
    d.extend_from_slice(b",\"end_time\":1764270000.5,\"annotations\":{\"pad\":\"");
    let tail = b"\"}}";
    while d.len() + tail.len() < size {
        d.push(b'x');
    }
    d.extend_from_slice(tail);
    (d, ts_at)
}

/// Sends `rate` datagrams/s (0: flat out) of about `size` bytes to `to` for `dur`; returns how
/// many were sent and the time it took.
fn send_paced(to: SocketAddr, size: usize, rate: u64, dur: Duration) -> (u64, Duration) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.connect(to).unwrap();
    let (mut d, at) = template(size);
    let start = Instant::now();
    let mut sent = 0u64;
    loop {
        let elapsed = start.elapsed();
        if elapsed >= dur {
            break;
        }
        let due = if rate == 0 {
            sent + 64
        } else {
            (elapsed.as_secs_f64() * rate as f64) as u64
        };
        if sent >= due {
            std::thread::sleep(Duration::from_micros(200));
            continue;
        }
        while sent < due {
            let mut w = &mut d[at..at + TS_WIDTH];
            let _ = write!(w, "{:017.6}", now_f64());
            // A full socket buffer is the receiver's loss, which the receiver side reports.
            let _ = sock.send(&d);
            sent += 1;
        }
    }
    (sent, start.elapsed())
}

/// A receiver that only counts datagrams.
struct RawReceiver {
    addr: SocketAddr,
    count: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl RawReceiver {
    fn start() -> RawReceiver {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
        s.set_recv_buffer_size(4 * 1024 * 1024).unwrap();
        s.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .unwrap();
        let sock: UdpSocket = s.into();
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let addr = sock.local_addr().unwrap();
        let count = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, st) = (Arc::clone(&count), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65_536];
            while !st.load(Ordering::Relaxed) {
                if sock.recv(&mut buf).is_ok() {
                    c.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        RawReceiver { addr, count, stop }
    }
}

impl Drop for RawReceiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// What the minimal PutTraceSegments sink saw.
#[derive(Clone, Default)]
struct SinkStats {
    documents: Arc<AtomicU64>,
    latencies_us: Arc<Mutex<Vec<u32>>>,
}

fn start_sink() -> (SocketAddr, SinkStats) {
    let stats = SinkStats::default();
    let s = stats.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let _ = tcp.set_nodelay(true);
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
                                s.record(&body);
                                Ok::<_, Infallible>(hyper::Response::new(Full::new(
                                    Bytes::from_static(b"{}"),
                                )))
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
    });
    (rx.recv().unwrap(), stats)
}

impl SinkStats {
    /// Counts the documents of a request body and the latency of each from its `start_time`
    /// (escaped inside the JSON string: `\"start_time\":`).
    fn record(&self, body: &[u8]) {
        let now = now_f64();
        let key = b"start_time\\\":";
        let finder = memchr::memmem::Finder::new(key);
        let mut lat = Vec::new();
        let mut i = 0;
        while let Some(p) = finder.find(&body[i..]) {
            let at = i + p + key.len();
            let end = (at + TS_WIDTH).min(body.len());
            if let Some(t) = std::str::from_utf8(&body[at..end])
                .ok()
                .and_then(|s| s.parse::<f64>().ok())
            {
                lat.push(((now - t).max(0.0) * 1e6) as u32);
            }
            i = end;
        }
        self.documents
            .fetch_add(lat.len() as u64, Ordering::Relaxed);
        self.latencies_us.lock().unwrap().extend(lat);
    }
}

fn clk_tck() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

/// Waits until `count` reaches `target` or stops growing for 1.5 s (longer than the daemon's 1 s
/// flush interval), or `max`; returns it.
fn settle(count: impl Fn() -> u64, target: u64, max: Duration) -> u64 {
    let deadline = Instant::now() + max;
    let mut last = count();
    let mut still = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(50));
        let c = count();
        if c >= target {
            return c;
        }
        if c != last {
            last = c;
            still = Instant::now();
        } else if still.elapsed() > Duration::from_millis(1500) {
            return c;
        }
        if Instant::now() > deadline {
            return c;
        }
    }
}

fn raw_step(size: usize, rate: u64, dur: Duration) -> (u64, u64, u64, Duration) {
    let r = RawReceiver::start();
    let drops_before = kernel_drops(r.addr).unwrap_or(0);
    let (sent, took) = send_paced(r.addr, size, rate, dur);
    let got = settle(
        || r.count.load(Ordering::Relaxed),
        sent,
        Duration::from_secs(2),
    );
    let drops = kernel_drops(r.addr).unwrap_or(0) - drops_before;
    (sent, got, drops, took)
}

struct DaemonStep {
    sent: u64,
    took: Duration,
    delivered: u64,
    kernel_drops: u64,
    daemon_drops: f64,
    cpu_pct: f64,
    peak_rss_kib: u64,
    lat: Vec<u32>,
}

fn daemon_step(
    d: &DaemonProcess,
    sink: &SinkStats,
    size: usize,
    rate: u64,
    tck: f64,
) -> DaemonStep {
    let docs_before = sink.documents.load(Ordering::Relaxed);
    sink.latencies_us.lock().unwrap().clear();
    let kd_before = kernel_drops(d.udp).unwrap_or(0);
    let dd_before = metric(d.tcp, "fluoro_daemon_documents_dropped_total");
    let pid = d.pid();
    let cpu_before = cpu_ticks(pid);
    let peak = Arc::new(AtomicU64::new(0));
    let sampling = Arc::new(AtomicBool::new(true));
    let (p, s) = (Arc::clone(&peak), Arc::clone(&sampling));
    let sampler = std::thread::spawn(move || {
        while s.load(Ordering::Relaxed) {
            p.fetch_max(memory_kib(pid).0, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    let (sent, took) = send_paced(d.udp, size, rate, STEP);
    let delivered = settle(
        || sink.documents.load(Ordering::Relaxed) - docs_before,
        sent,
        Duration::from_secs(5),
    );
    let cpu = cpu_ticks(pid) - cpu_before;
    sampling.store(false, Ordering::Relaxed);
    let _ = sampler.join();
    let mut lat = std::mem::take(&mut *sink.latencies_us.lock().unwrap());
    lat.sort_unstable();
    DaemonStep {
        sent,
        took,
        delivered,
        kernel_drops: kernel_drops(d.udp).unwrap_or(0) - kd_before,
        daemon_drops: metric(d.tcp, "fluoro_daemon_documents_dropped_total") - dd_before,
        // The CPU spent on the step's traffic (its drain included) over the step's duration.
        cpu_pct: cpu as f64 / tck / took.as_secs_f64() * 100.0,
        peak_rss_kib: peak.load(Ordering::Relaxed),
        lat,
    }
}

fn spawn_daemon(sink: SocketAddr) -> DaemonProcess {
    let endpoint = format!("http://{sink}");
    DaemonProcess::spawn(
        Path::new(env!("CARGO_BIN_EXE_fluoro-daemon")),
        &[
            "-e",
            &endpoint,
            "-b",
            "127.0.0.1:0",
            "-t",
            "127.0.0.1:0",
            "--telemetry-interval",
            "0s",
        ],
        &[],
    )
}

fn main() {
    let quick = std::env::args().any(|a| a == "quick");
    let tck = clk_tck();
    let (sink_addr, sink) = start_sink();
    let steps_1k: &[u64] = if quick {
        &[10_000, 100_000]
    } else {
        &[1_000, 10_000, 25_000, 50_000, 100_000, 150_000, 200_000]
    };
    let steps_8k: &[u64] = if quick {
        &[25_000]
    } else {
        &[1_000, 3_000, 10_000, 25_000, 40_000]
    };

    // Idle figures and start-up on a fresh daemon.
    let d = spawn_daemon(sink_addr);
    let started_in = d.started_in;
    std::thread::sleep(Duration::from_secs(1));
    let idle_rss = memory_kib(d.pid()).0;
    let c0 = cpu_ticks(d.pid());
    std::thread::sleep(Duration::from_secs(2));
    let idle_cpu = (cpu_ticks(d.pid()) - c0) as f64 / tck / 2.0 * 100.0;
    println!(
        "daemon idle: RSS {:.1} MiB, CPU {idle_cpu:.2} %; spawn to listening {:.1} ms",
        idle_rss as f64 / 1024.0,
        started_in.as_secs_f64() * 1000.0,
    );

    for (size, label) in [(1024usize, "1 KB"), (8192, "8 KB")] {
        let (sent, got, drops, took) = raw_step(size, 0, Duration::from_secs(2));
        println!(
            "\nraw loopback UDP ceiling, {label}: sent {:.0}/s, received {:.0}/s ({:.1} %), kernel drops {drops}",
            sent as f64 / took.as_secs_f64(),
            got as f64 / took.as_secs_f64(),
            got as f64 / sent as f64 * 100.0
        );
        println!(
            "\n| {label} rate/s | achieved/s | raw delivered | raw kernel drops | daemon delivered | daemon kernel drops | daemon drops | daemon CPU % | daemon peak RSS MiB | p50 ms | p99 ms | max ms |"
        );
        println!(
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        );
        let steps = if size == 1024 { steps_1k } else { steps_8k };
        for &rate in steps {
            let (rsent, rgot, rdrops, _) = raw_step(size, rate, STEP);
            let s = daemon_step(&d, &sink, size, rate, tck);
            println!(
                "| {rate} | {:.0} | {:.2} % | {rdrops} | {:.3} % | {} | {:.0} | {:.1} | {:.1} | {:.2} | {:.2} | {:.1} |",
                s.sent as f64 / s.took.as_secs_f64(),
                rgot as f64 / rsent as f64 * 100.0,
                s.delivered as f64 / s.sent as f64 * 100.0,
                s.kernel_drops,
                s.daemon_drops,
                s.cpu_pct,
                s.peak_rss_kib as f64 / 1024.0,
                percentile(&s.lat, 0.5),
                percentile(&s.lat, 0.99),
                percentile(&s.lat, 1.0),
            );
        }
    }
    let (_, hwm) = memory_kib(d.pid());
    println!(
        "\ndaemon VmHWM over the run: {:.1} MiB",
        hwm as f64 / 1024.0
    );
    let (code, log) = d.terminate();
    let last = log.lines().last().unwrap_or("");
    println!("daemon exit {code}: {last}");
}

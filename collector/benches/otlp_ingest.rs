//! OTLP/gRPC ingest beside PutTraceSegments ingest of the same traces, in one run.
//!
//! `cargo bench -p fluoro-collector --bench otlp_ingest -- [TRACES] [CONNECTIONS] [ROUNDS]`
//! (defaults: 20,000 traces, 4 connections, 1 round; rounds alternate the two paths and the
//! summary gives medians).
//!
//! Each trace is one request through five services: five server spans, each with a DynamoDB
//! call (ten spans). The X-Ray form is what the X-Ray SDKs send for it: five segment documents,
//! each with its DynamoDB subsegment embedded (ten entities, ~1 KB per document, as in
//! `benches/ingest.rs`). The OpenTelemetry form carries the same attributes under their
//! semantic-convention names.
//!
//! For each form, a fresh `fluoro-collector` **binary** (release build, default settings but a
//! fresh data directory; `FLUORO_BENCH_COLLECTOR=path` measures another build) is started on `127.0.0.1:0`, and CONNECTIONS clients send:
//!
//! - **x-ray**: PutTraceSegments batches of 50 documents (AWS's maximum) over keep-alive
//!   HTTP/1.1 connections;
//! - **otlp/grpc**: `TraceService/Export` requests of 512 spans (the OpenTelemetry SDKs'
//!   default batch) over gRPC channels.
//!
//! Requests are encoded before the clock starts (for gRPC, sent through a pass-through codec). Reported: spans/s (entities for X-Ray) and
//! traces/s sustained over the ingest, and the collector process's CPU time (user + system, from
//! `/proc/<pid>/stat`) per 1,000 spans, over the ingest and until its aggregator has caught up.

#![allow(clippy::print_stdout, clippy::print_stderr)] // a load tool reports on the terminal

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fluoro_proto::ids::{EntityId, TraceId};
use fluoro_proto::otlp::pb::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use fluoro_proto::otlp::pb::common::v1::{AnyValue, ArrayValue, KeyValue, any_value};
use fluoro_proto::otlp::pb::resource::v1::Resource;
use fluoro_proto::otlp::pb::trace::v1::{ResourceSpans, ScopeSpans, Span, span};
use fluoro_proto::otlp::translate::{TranslateOptions, nest, translate_request};
use fluoro_proto::validate::{ValidateOptions, check_document, validate};
use hyper::body::Bytes;

mod support;

const XRAY_BATCH: usize = 50;
const OTLP_BATCH: usize = 512;
const SERVICES: usize = 5;

struct Trace {
    id: TraceId,
    start: f64,
    /// (service index, server id, dynamodb call id)
    entities: Vec<(usize, EntityId, EntityId)>,
}

fn traces(n: usize) -> Vec<Trace> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    (0..n)
        .map(|i| Trace {
            id: TraceId::generate_at(now as u32),
            start: now - 30.0 + i as f64 * 1e-4,
            entities: (0..SERVICES)
                .map(|k| (k, EntityId::generate(), EntityId::generate()))
                .collect(),
        })
        .collect()
}

fn service_name(k: usize) -> String {
    if k == 0 {
        "orders-api".to_owned()
    } else {
        format!("inventory-{k}")
    }
}

fn xray_docs(traces: &[Trace]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, t) in traces.iter().enumerate() {
        let root = t.entities[0].1;
        for &(k, id, sub) in &t.entities {
            let name = service_name(k);
            let parent = if k == 0 {
                String::new()
            } else {
                format!(r#""parent_id": "{root}", "#)
            };
            let s = t.start + k as f64 * 0.001;
            out.push(format!(
                r#"{{"id": "{id}", "name": "{name}", "start_time": {s:.6}, {parent}"trace_id": "{trace}", "origin": "AWS::ECS::Container", "aws": {{"xray": {{"sdk": "X-Ray for Python", "sdk_version": "2.15.0"}}, "ecs": {{"container": "ip-10-0-1-{k}.ec2.internal"}}}}, "http": {{"request": {{"url": "http://127.0.0.1:8080/items/{i}", "method": "GET", "user_agent": "python-requests/2.34.2", "client_ip": "127.0.0.1"}}, "response": {{"status": 200, "content_length": 512}}}}, "annotations": {{"tier": "gold", "item": "sku-{i}"}}, "subsegments": [{{"id": "{sub}", "name": "DynamoDB", "start_time": {s2:.6}, "end_time": {e2:.6}, "namespace": "aws", "http": {{"response": {{"status": 200}}}}, "aws": {{"operation": "GetItem", "region": "us-east-1", "request_id": "9AE86C15E345420BAA94160092A370BC", "table_name": "customers"}}}}], "end_time": {e:.6}}}"#,
                trace = t.id,
                s2 = s + 0.0002,
                e2 = s + 0.0005,
                e = t.start + 0.02,
            ));
        }
    }
    out
}

fn kv(k: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..KeyValue::default()
    }
}
fn s(k: &str, v: &str) -> KeyValue {
    kv(k, any_value::Value::StringValue(v.into()))
}
fn int(k: &str, v: i64) -> KeyValue {
    kv(k, any_value::Value::IntValue(v))
}
fn nanos(secs: f64) -> u64 {
    (secs * 1e9) as u64
}

/// Export requests of [`OTLP_BATCH`] spans, one resource per service (as an SDK would group
/// them), spans of a trace in one request where the batch allows.
fn otlp_requests(traces: &[Trace]) -> Vec<ExportTraceServiceRequest> {
    let mut spans: Vec<(usize, Span)> = Vec::new();
    for (i, t) in traces.iter().enumerate() {
        let trace_id = t.id.to_bytes().to_vec();
        let root = t.entities[0].1;
        for &(k, id, sub) in &t.entities {
            let st = t.start + k as f64 * 0.001;
            spans.push((
                k,
                Span {
                    trace_id: trace_id.clone(),
                    span_id: id.to_bytes().to_vec(),
                    parent_span_id: if k == 0 {
                        Vec::new()
                    } else {
                        root.to_bytes().to_vec()
                    },
                    name: "GET /items/{id}".into(),
                    kind: span::SpanKind::Server as i32,
                    start_time_unix_nano: nanos(st),
                    end_time_unix_nano: nanos(t.start + 0.02),
                    attributes: vec![
                        s("http.request.method", "GET"),
                        s("url.full", &format!("http://127.0.0.1:8080/items/{i}")),
                        s("user_agent.original", "python-requests/2.34.2"),
                        s("client.address", "127.0.0.1"),
                        int("http.response.status_code", 200),
                        int("http.response.body.size", 512),
                        s("tier", "gold"),
                        s("item", &format!("sku-{i}")),
                    ],
                    ..Span::default()
                },
            ));
            spans.push((
                k,
                Span {
                    trace_id: trace_id.clone(),
                    span_id: sub.to_bytes().to_vec(),
                    parent_span_id: id.to_bytes().to_vec(),
                    name: "DynamoDB.GetItem".into(),
                    kind: span::SpanKind::Client as i32,
                    start_time_unix_nano: nanos(st + 0.0002),
                    end_time_unix_nano: nanos(st + 0.0005),
                    attributes: vec![
                        s("rpc.system", "aws-api"),
                        s("rpc.service", "DynamoDB"),
                        s("rpc.method", "GetItem"),
                        s("aws.region", "us-east-1"),
                        s("aws.request_id", "9AE86C15E345420BAA94160092A370BC"),
                        kv(
                            "aws.dynamodb.table_names",
                            any_value::Value::ArrayValue(ArrayValue {
                                values: vec![AnyValue {
                                    value: Some(any_value::Value::StringValue("customers".into())),
                                }],
                            }),
                        ),
                        int("http.response.status_code", 200),
                    ],
                    ..Span::default()
                },
            ));
        }
    }
    spans
        .chunks(OTLP_BATCH)
        .map(|chunk| {
            let mut by_service: Vec<Vec<Span>> = vec![Vec::new(); SERVICES];
            for (k, sp) in chunk {
                by_service[*k].push(sp.clone());
            }
            ExportTraceServiceRequest {
                resource_spans: by_service
                    .into_iter()
                    .enumerate()
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(k, spans)| ResourceSpans {
                        resource: Some(Resource {
                            attributes: vec![
                                s("service.name", &service_name(k)),
                                s("cloud.provider", "aws"),
                                s("cloud.platform", "aws_ecs"),
                                s("container.name", &format!("ip-10-0-1-{k}.ec2.internal")),
                                s("telemetry.sdk.language", "python"),
                                s("telemetry.sdk.version", "1.45.2"),
                            ],
                            ..Resource::default()
                        }),
                        scope_spans: vec![ScopeSpans {
                            spans,
                            ..ScopeSpans::default()
                        }],
                        ..ResourceSpans::default()
                    })
                    .collect(),
            }
        })
        .collect()
}

/// A `fluoro-collector` binary on ephemeral ports with a fresh data directory.
struct Server {
    child: Child,
    dir: std::path::PathBuf,
    api: String,
    grpc: String,
}

impl Server {
    fn start(tag: &str) -> Server {
        let dir = std::env::temp_dir().join(format!(
            "fluoro-bench-otlp-{tag}-{}-{}",
            std::process::id(),
            EntityId::generate()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        // Another build can be measured with the same load (an A/B comparison of two commits).
        let bin = std::env::var_os("FLUORO_BENCH_COLLECTOR")
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_fluoro-collector").into());
        let mut child = Command::new(bin)
            .args(["--listen", "127.0.0.1:0", "--otlp-grpc", "127.0.0.1:0"])
            .args([
                "--otlp-http",
                "off",
                "--log-level",
                "warn,fluoro_collector=info",
            ])
            .arg("--data-dir")
            .arg(&dir)
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Logs go to stderr.
        let out = child.stderr.take().unwrap();
        let mut lines = BufReader::new(out).lines();
        let (mut api, mut grpc) = (None, None);
        while api.is_none() || grpc.is_none() {
            let line = lines.next().expect("collector exited").unwrap();
            if let Some(a) = line.split("X-Ray API on http://").nth(1) {
                // The message, then the structured fields.
                api = a.split_whitespace().next().map(str::to_owned);
            }
            if let Some(a) = line.split("otlp/grpc receiver listening on ").nth(1) {
                grpc = a.split_whitespace().next().map(str::to_owned);
            }
        }
        std::thread::spawn(move || for _ in lines {});
        Server {
            child,
            dir,
            api: api.unwrap(),
            grpc: grpc.unwrap(),
        }
    }

    /// User + system CPU seconds of the process so far.
    fn cpu_secs(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let f: Vec<&str> = after.split_whitespace().collect();
        // Fields 14 and 15 (utime, stime) are the 12th and 13th after the command name, in
        // clock ticks (100 per second on Linux).
        let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
        ticks as f64 / 100.0
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Waits until the service graph counts every trace (the aggregator has caught up).
async fn settle(addr: &str, traces: usize) -> f64 {
    let mut sender = support::connect(addr).await;
    let started = Instant::now();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let window = serde_json::json!({ "StartTime": now - 3600.0, "EndTime": now + 60.0 });
    loop {
        let (_, body) = support::post(
            &mut sender,
            addr,
            "/ServiceGraph",
            Bytes::from(serde_json::to_vec(&window).unwrap()),
        )
        .await;
        let g: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let roots = support::client_requests(&g);
        if roots >= traces as u64 {
            return started.elapsed().as_secs_f64();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

struct Run {
    secs: f64,
    cpu_ingest: f64,
    cpu_total: f64,
    lag: f64,
    retried: u64,
}

async fn run_xray(docs: Vec<String>, traces: usize, connections: usize) -> Run {
    let server = Server::start("xray");
    let addr = server.api.clone();
    let bodies: Vec<Bytes> = docs
        .chunks(XRAY_BATCH)
        .map(|c| {
            Bytes::from(
                serde_json::to_vec(&serde_json::json!({ "TraceSegmentDocuments": c })).unwrap(),
            )
        })
        .collect();
    let cpu0 = server.cpu_secs();
    let started = Instant::now();
    let retried = support::put_all(&addr, bodies, connections).await;
    let secs = started.elapsed().as_secs_f64();
    let cpu_ingest = server.cpu_secs() - cpu0;
    let lag = settle(&addr, traces).await;
    Run {
        secs,
        cpu_ingest,
        cpu_total: server.cpu_secs() - cpu0,
        lag,
        retried,
    }
}

/// A gRPC codec that sends requests encoded before the clock starts, as the PutTraceSegments
/// side sends bodies serialized beforehand, and decodes the responses.
#[derive(Debug, Clone, Copy, Default)]
struct PreEncoded;

impl tonic::codec::Codec for PreEncoded {
    type Encode = Bytes;
    type Decode = ExportTraceServiceResponse;
    type Encoder = PreEncoded;
    type Decoder = PreEncoded;
    fn encoder(&mut self) -> PreEncoded {
        PreEncoded
    }
    fn decoder(&mut self) -> PreEncoded {
        PreEncoded
    }
}

impl tonic::codec::Encoder for PreEncoded {
    type Item = Bytes;
    type Error = tonic::Status;
    fn encode(
        &mut self,
        item: Bytes,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        prost::bytes::BufMut::put(dst, item);
        Ok(())
    }
}

impl tonic::codec::Decoder for PreEncoded {
    type Item = ExportTraceServiceResponse;
    type Error = tonic::Status;
    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<ExportTraceServiceResponse>, tonic::Status> {
        prost::Message::decode(src)
            .map(Some)
            .map_err(|e| tonic::Status::internal(e.to_string()))
    }
}

async fn run_otlp(reqs: Vec<ExportTraceServiceRequest>, traces: usize, connections: usize) -> Run {
    let server = Server::start("otlp");
    let reqs: Arc<Vec<Bytes>> = Arc::new(
        reqs.iter()
            .map(|r| Bytes::from(prost::Message::encode_to_vec(r)))
            .collect(),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let retried = Arc::new(AtomicU64::new(0));
    let mut channels = Vec::new();
    for _ in 0..connections {
        channels.push(
            tonic::transport::Channel::from_shared(format!("http://{}", server.grpc))
                .unwrap()
                .connect()
                .await
                .unwrap(),
        );
    }
    let cpu0 = server.cpu_secs();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for channel in channels {
        let (reqs, next, retried) = (Arc::clone(&reqs), Arc::clone(&next), Arc::clone(&retried));
        tasks.push(tokio::spawn(async move {
            let mut grpc = tonic::client::Grpc::new(channel);
            let path = tonic::codegen::http::uri::PathAndQuery::from_static(
                "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            );
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(req) = reqs.get(i) else { break };
                loop {
                    grpc.ready().await.unwrap();
                    match grpc
                        .unary(tonic::Request::new(req.clone()), path.clone(), PreEncoded)
                        .await
                    {
                        Ok(r) => {
                            assert_eq!(r.into_inner().partial_success, None);
                            break;
                        }
                        Err(st) if st.code() == tonic::Code::Unavailable => {
                            retried.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                        Err(st) => panic!("export failed: {st}"),
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    let cpu_ingest = server.cpu_secs() - cpu0;
    let lag = settle(&server.api, traces).await;
    Run {
        secs,
        cpu_ingest,
        cpu_total: server.cpu_secs() - cpu0,
        lag,
        retried: retried.load(Ordering::Relaxed),
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let n: usize = args.first().and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let connections: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(4);
    let rounds: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1).max(1);
    let ts = traces(n);
    let docs = xray_docs(&ts);
    let reqs = otlp_requests(&ts);
    let spans = n * SERVICES * 2;
    println!(
        "otlp_ingest: {n} traces = {spans} spans; x-ray: {} documents in batches of {XRAY_BATCH}; otlp/grpc: {} requests of up to {OTLP_BATCH} spans; {connections} connections",
        docs.len(),
        reqs.len()
    );
    // The documents each path stores for the same traces: the OTLP receiver's translation and
    // nesting, as `otlp::Ingest` does it.
    // Timed on one thread, the work each path does on the async workers before the store
    // write: X-Ray parses and validates documents; OTLP decodes protobuf, translates, nests,
    // serializes and validates.
    let opts = ValidateOptions::default();
    let xray_bytes: usize = docs.iter().map(String::len).sum();
    let started = Instant::now();
    for d in &docs {
        std::hint::black_box(check_document(d, &opts).unwrap());
    }
    let xray_work = started.elapsed().as_secs_f64();
    let encoded: Vec<Vec<u8>> = reqs.iter().map(prost::Message::encode_to_vec).collect();
    let (mut otlp_docs, mut otlp_bytes) = (0usize, 0usize);
    let mut sample = None;
    let mut step = [0f64; 4];
    let mut lap = |i: usize, t: &mut Instant| {
        step[i] += t.elapsed().as_secs_f64();
        *t = Instant::now();
    };
    for e in &encoded {
        let mut t = Instant::now();
        let r: ExportTraceServiceRequest = prost::Message::decode(&e[..]).unwrap();
        lap(0, &mut t);
        let tr = translate_request(&r, &TranslateOptions::default());
        lap(1, &mut t);
        let nested = nest(tr.segments, 64 * 1024);
        lap(2, &mut t);
        for (seg, json) in nested {
            validate(&seg, &opts).unwrap();
            otlp_docs += 1;
            otlp_bytes += json.len();
            sample.get_or_insert(json);
        }
        lap(3, &mut t);
    }
    let per_k = |secs: f64| secs * 1e6 / spans as f64;
    println!(
        "request work per 1,000 spans, one thread: x-ray parse + validate {:.2} ms; otlp {:.2} ms (decode {:.2}, translate {:.2}, nest + serialize {:.2}, validate {:.2})",
        per_k(xray_work),
        per_k(step.iter().sum()),
        per_k(step[0]),
        per_k(step[1]),
        per_k(step[2]),
        per_k(step[3])
    );
    println!(
        "documents stored: x-ray {} of {:.0} bytes on average; otlp {otlp_docs} of {:.0} bytes",
        docs.len(),
        xray_bytes as f64 / docs.len() as f64,
        otlp_bytes as f64 / otlp_docs.max(1) as f64,
    );
    if std::env::var_os("FLUORO_BENCH_SHOW").is_some() {
        println!(
            "x-ray document: {}\notlp document: {}",
            docs[1],
            sample.unwrap_or_default()
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    // Rounds alternate the two paths, so a change in the machine's load (it is shared) falls on
    // both; the summary takes medians over the rounds.
    let mut ratios = Vec::new();
    let (mut cpu_x, mut cpu_o) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        let load: Vec<&str> = load.split_whitespace().take(3).collect();
        println!("round {round} of {rounds}, load average {}", load.join(" "));
        let xray = rt.block_on(run_xray(docs.clone(), n, connections));
        let otlp = rt.block_on(run_otlp(reqs.clone(), n, connections));
        println!(
            "{:<18} {:>11} {:>10} {:>18} {:>18} {:>9} {:>8}",
            "path",
            "spans/s",
            "traces/s",
            "cpu ms/1k (ingest)",
            "cpu ms/1k (+aggr)",
            "lag s",
            "retried"
        );
        for (name, r) in [("PutTraceSegments", &xray), ("OTLP/gRPC", &otlp)] {
            println!(
                "{name:<18} {:>11.0} {:>10.0} {:>18.1} {:>18.1} {:>9.1} {:>8}",
                spans as f64 / r.secs,
                n as f64 / r.secs,
                r.cpu_ingest * 1e6 / spans as f64,
                r.cpu_total * 1e6 / spans as f64,
                r.lag,
                r.retried
            );
        }
        let ratio = 100.0 * xray.secs / otlp.secs;
        println!(
            "OTLP/gRPC rate is {ratio:.0}% of PutTraceSegments (target: within 20%, i.e. >= 80%)"
        );
        ratios.push(ratio);
        cpu_x.push(xray.cpu_ingest * 1e6 / spans as f64);
        cpu_o.push(otlp.cpu_ingest * 1e6 / spans as f64);
    }
    if rounds > 1 {
        println!(
            "median of {rounds} rounds: OTLP/gRPC rate {:.0}% of PutTraceSegments; cpu ms/1k spans (ingest) x-ray {:.1}, otlp {:.1}",
            median(&mut ratios),
            median(&mut cpu_x),
            median(&mut cpu_o)
        );
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

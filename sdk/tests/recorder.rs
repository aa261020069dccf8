//! The recorder against a real UDP socket standing in for the daemon: what it sends, when, and
//! how the context follows tasks and threads. Issue 7.

use std::net::UdpSocket;
use std::time::Duration;

use fluoro_proto::frame;
use fluoro_proto::segment::{AnnotationValue, Cause, Segment};
use fluoro_sdk::config::{DaemonAddress, EnvConfig};
use fluoro_sdk::propagation::Upstream;
use fluoro_sdk::sampling::LocalRules;
use fluoro_sdk::{Recorder, SegmentStart, begin_subsegment, current, in_subsegment};

const ALWAYS: &str = r#"{"version":2,"default":{"fixed_target":0,"rate":1}}"#;
const NEVER: &str = r#"{"version":2,"default":{"fixed_target":0,"rate":0}}"#;

struct Daemon(UdpSocket);

impl Daemon {
    fn new() -> Daemon {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        Daemon(s)
    }

    fn recorder(&self, rules: &str, env: &[(&str, &str)]) -> Recorder {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Recorder::builder("svc")
            .env(EnvConfig::from_lookup(|k| {
                env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
            }))
            .daemon(DaemonAddress::parse(&self.0.local_addr().unwrap().to_string()).unwrap())
            .sampling_rules(LocalRules::from_json(rules).unwrap())
            .build()
    }

    /// Every document received until the socket is quiet.
    fn docs(&self, rec: &Recorder) -> Vec<Segment> {
        assert!(rec.flush(Duration::from_secs(5)));
        let mut out = Vec::new();
        let mut buf = vec![0u8; 70_000];
        while let Ok(n) = self.0.recv(&mut buf) {
            let f = frame::decode(&buf[..n]).unwrap();
            assert_eq!(f.header, frame::HEADER);
            out.push(Segment::from_json(f.body).unwrap());
        }
        out
    }
}

fn names(s: &Segment) -> Vec<String> {
    let mut v = Vec::new();
    s.walk(&mut |e| v.push(e.name.clone().unwrap_or_default()));
    v
}

#[derive(Debug, thiserror::Error)]
#[error("table missing")]
struct Inner;

#[derive(Debug, thiserror::Error)]
#[error("cannot load cart")]
struct LoadError(#[source] Inner);

#[test]
fn one_segment_with_nested_subsegments_in_one_datagram() {
    let d = Daemon::new();
    let rec = d.recorder(ALWAYS, &[]);
    {
        let seg = rec.begin_segment("orders");
        seg.annotate("customer", "c-42");
        // Longer than the inline string (22 bytes), and 2-byte characters up to its end.
        seg.annotate("long", "a string of more than twenty-two bytes");
        seg.annotate("edge", "\u{e9}".repeat(11).as_str());
        seg.annotate("bad key!", 1);
        seg.annotate("total", 12.5);
        seg.annotate("vip", true);
        seg.metadata("debug", "cart", vec![1, 2, 3]);
        seg.metadata("AWS.reserved", "k", 1);
        seg.set_user("alice");
        seg.set_service_version("1.2.3");
        {
            let a = begin_subsegment("load");
            a.add_error(&LoadError(Inner));
            let _b = begin_subsegment("query");
        }
        let _c = begin_subsegment("render");
    }
    let docs = d.docs(&rec);
    assert_eq!(docs.len(), 1, "{docs:?}");
    let s = &docs[0];
    assert_eq!(names(s), ["orders", "load", "query", "render"]);
    assert!(s.trace_id.is_some() && s.end_time.is_some() && s.kind.is_none());
    let ann = s.annotations.as_ref().unwrap();
    assert_eq!(ann["customer"], AnnotationValue::String("c-42".into()));
    assert_eq!(
        ann["long"],
        AnnotationValue::String("a string of more than twenty-two bytes".into())
    );
    assert_eq!(ann["edge"], AnnotationValue::String("\u{e9}".repeat(11)));
    assert!(!ann.contains_key("bad key!"));
    assert_eq!(ann.len(), 5);
    assert_eq!(
        s.metadata.as_ref().unwrap()["debug"]["cart"],
        serde_json::json!([1, 2, 3])
    );
    assert!(!s.metadata.as_ref().unwrap().contains_key("AWS.reserved"));
    assert_eq!(s.user.as_deref(), Some("alice"));
    let svc = s.service.as_ref().unwrap();
    assert_eq!(svc.version.as_deref(), Some("1.2.3"));
    assert_eq!(svc.runtime.as_deref(), Some("rust"));
    let sdk = s.aws.as_ref().unwrap().xray.as_ref().unwrap();
    assert_eq!(sdk.sdk.as_deref(), Some(fluoro_sdk::SDK_NAME));
    let load = &s.subsegments.as_ref().unwrap()[0];
    assert_eq!(load.fault, Some(true));
    let Some(Cause::Details(c)) = load.cause.as_deref() else {
        panic!("cause")
    };
    let ex = c.exceptions.as_ref().unwrap();
    assert_eq!(ex.len(), 2);
    assert_eq!(ex[0].message.as_deref(), Some("cannot load cart"));
    assert_eq!(ex[0].kind.as_deref(), Some("LoadError"));
    assert_eq!(ex[0].cause, ex[1].id);
    assert_eq!(ex[1].message.as_deref(), Some("table missing"));
    assert!(c.working_directory.is_some());
    assert_eq!(rec.stats().rejected_values, 2);
    assert_eq!(rec.stats().sent, 1);
}

/// Plain subsegments travel to the emitter as compact records, the others as their nodes
/// (`record.rs`); what arrives is the same either way: closing order, nesting, annotations
/// of every kind. Issue 7.
#[test]
fn plain_and_other_subsegments_arrive_alike() {
    let d = Daemon::new();
    let rec = d.recorder(ALWAYS, &[]);
    {
        let _seg = rec.begin_segment("orders");
        {
            let a = begin_subsegment("a");
            a.annotate("s", "x\"y\\z\n".repeat(8).as_str());
            a.annotate("n", -4);
            a.annotate("f", 2.5);
            a.annotate("b", false);
            let inner = begin_subsegment("a1 \u{e9}");
            inner.annotate("short", "c-42");
        }
        {
            let b = begin_subsegment("b");
            b.set_namespace("remote");
        }
        {
            let c = begin_subsegment("c");
            c.annotate("k", u64::MAX);
        }
    }
    let docs = d.docs(&rec);
    assert_eq!(docs.len(), 1, "{docs:?}");
    let s = &docs[0];
    assert_eq!(names(s), ["orders", "a", "a1 \u{e9}", "b", "c"]);
    let subs = s.subsegments.as_ref().unwrap();
    let a = &subs[0];
    let ann = a.annotations.as_ref().unwrap();
    assert_eq!(ann["s"], AnnotationValue::String("x\"y\\z\n".repeat(8)));
    assert_eq!(ann["n"], AnnotationValue::Number((-4).into()));
    assert_eq!(
        ann["f"],
        AnnotationValue::Number(serde_json::Number::from_f64(2.5).unwrap())
    );
    assert_eq!(ann["b"], AnnotationValue::Bool(false));
    let a1 = &a.subsegments.as_ref().unwrap()[0];
    assert_eq!(
        a1.annotations.as_ref().unwrap()["short"],
        AnnotationValue::String("c-42".into())
    );
    assert_eq!(subs[1].namespace.as_deref(), Some("remote"));
    assert_eq!(
        subs[2].annotations.as_ref().unwrap()["k"],
        AnnotationValue::Number(u64::MAX.into())
    );
    s.walk(&mut |e| {
        assert_eq!(e.id.as_ref().map(String::len), Some(16));
        assert!(e.start_time.is_some() && e.end_time.is_some());
    });
    for e in [a, a1, &subs[2]] {
        assert_eq!(e.namespace.as_deref(), Some("local"));
        assert!(e.kind.is_none() && e.trace_id.is_none() && e.parent_id.is_none());
    }
    assert_eq!(rec.stats().sent, 1);
}

/// Start and end times: epoch seconds near the wall clock, children inside their parent,
/// durations as slept (entities read a raw counter; the trace's wall-clock anchor makes them
/// epoch times, see `clock.rs`).
#[test]
fn times_follow_the_wall_clock_and_nest() {
    let d = Daemon::new();
    let rec = d.recorder(ALWAYS, &[]);
    let secs = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    };
    let before = secs(std::time::SystemTime::now());
    {
        let _seg = rec.begin_segment("timed");
        std::thread::sleep(Duration::from_millis(5));
        let _a = begin_subsegment("sleep");
        std::thread::sleep(Duration::from_millis(30));
    }
    let after = secs(std::time::SystemTime::now());
    let docs = d.docs(&rec);
    assert_eq!(docs.len(), 1, "{docs:?}");
    let s = &docs[0];
    let sub = &s.subsegments.as_ref().unwrap()[0];
    let t = |ts: &Option<fluoro_proto::segment::Timestamp>| ts.as_ref().unwrap().as_secs_f64();
    // Microsecond rounding on each side.
    let eps = 2e-6;
    // Against the wall clock, the counter-derived times are as good as the anchor (a wall-clock
    // and a counter reading taken one after the other, so a preemption between them shifts
    // both ends) and the counter's calibration: 1 ms is far outside both, far inside a wrong
    // epoch or unit. Within the trace, every time comes from the same counter: `eps` holds.
    let wall = 1e-3;
    assert!(
        t(&s.start_time) >= before - wall && t(&s.end_time) <= after + wall,
        "{before} <= {:?} .. {:?} <= {after}",
        s.start_time,
        s.end_time
    );
    assert!(t(&sub.start_time) >= t(&s.start_time) + 0.005 - eps);
    assert!(t(&sub.end_time) <= t(&s.end_time) + eps);
    let slept = t(&sub.end_time) - t(&sub.start_time);
    assert!(slept >= 0.030 - eps && slept < after - before, "{slept}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_follows_awaits_tasks_and_threads() {
    let d = Daemon::new();
    let rec = d.recorder(ALWAYS, &[]);
    rec.in_segment(
        SegmentStart {
            name: Some("api"),
            ..SegmentStart::default()
        },
        async {
            in_subsegment("step", async {
                tokio::task::yield_now().await;
                current().annotate("in_step", true);
                let here = current();
                // a spawned task does not inherit the context: carry it
                tokio::spawn(here.scope(async {
                    let _t = begin_subsegment("spawned");
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }))
                .await
                .unwrap();
                let h = here.clone();
                std::thread::spawn(move || {
                    let _e = h.enter();
                    let _t = begin_subsegment("thread");
                })
                .join()
                .unwrap();
            })
            .await;
        },
    )
    .await;
    let docs = d.docs(&rec);
    assert_eq!(docs.len(), 1, "{docs:?}");
    assert_eq!(names(&docs[0]), ["api", "step", "spawned", "thread"]);
    let step = &docs[0].subsegments.as_ref().unwrap()[0];
    assert!(step.annotations.as_ref().unwrap().contains_key("in_step"));
}

#[test]
fn upstream_decision_is_honoured_and_passed_on() {
    let d = Daemon::new();
    let rec = d.recorder(NEVER, &[]);
    let up = Upstream::from_xray(
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a:1",
    );
    {
        let seg = rec.begin_segment_with(SegmentStart {
            name: Some("svc"),
            upstream: up,
            ..SegmentStart::default()
        });
        let call = begin_subsegment("downstream");
        let h = fluoro_sdk::outgoing_headers();
        let xray = &h[0].1;
        assert!(xray.starts_with("Root=1-5759e988-bd862e3fe1be46a994272793;Parent="));
        assert!(xray.contains(&call.id().unwrap().to_string()));
        assert!(xray.contains("Sampled=1") && xray.contains("Lineage=a:1"));
        assert_eq!(
            h[1].1,
            format!(
                "00-5759e988bd862e3fe1be46a994272793-{}-01",
                call.id().unwrap()
            )
        );
        drop(call);
        drop(seg);
    }
    // Sampled=0 upstream: nothing recorded, but the decision travels on.
    {
        let _seg = rec.begin_segment_with(SegmentStart {
            upstream: Upstream::from_xray("Root=1-5759e988-bd862e3fe1be46a994272794;Sampled=0"),
            ..SegmentStart::default()
        });
        let sub = begin_subsegment("ignored");
        assert!(!sub.is_sampled());
        assert!(fluoro_sdk::outgoing_headers()[0].1.contains("Sampled=0"));
    }
    // traceparent upstream
    {
        let _seg = rec.begin_segment_with(SegmentStart {
            upstream: Upstream::from_traceparent(
                "00-6759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01",
            ),
            ..SegmentStart::default()
        });
    }
    let docs = d.docs(&rec);
    assert_eq!(docs.len(), 2, "{docs:?}");
    assert_eq!(docs[0].parent_id.as_deref(), Some("53995c3f42cd8ad8"));
    assert_eq!(
        docs[0].trace_id.as_deref(),
        Some("1-5759e988-bd862e3fe1be46a994272793")
    );
    assert_eq!(
        docs[1].trace_id.as_deref(),
        Some("1-6759e988-bd862e3fe1be46a994272793")
    );
}

#[test]
fn many_subsegments_are_streamed_and_none_lost() {
    let d = Daemon::new();
    let env: Vec<(String, String)> = Vec::new();
    let rec = Recorder::builder("svc")
        .env(EnvConfig::from_lookup(|k| {
            env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        }))
        .daemon(DaemonAddress::parse(&d.0.local_addr().unwrap().to_string()).unwrap())
        .sampling_rules(LocalRules::from_json(ALWAYS).unwrap())
        .streaming_threshold(3)
        .build();
    let seg_id;
    {
        let seg = rec.begin_segment("big");
        seg_id = seg.id().unwrap().to_string();
        for i in 0..10 {
            let _s = begin_subsegment(format!("s{i}"));
        }
    }
    let docs = d.docs(&rec);
    let mut all: Vec<String> = docs.iter().flat_map(names).collect();
    all.sort();
    assert_eq!(all.len(), 11, "{all:?}");
    let streamed: Vec<&Segment> = docs.iter().filter(|s| s.is_subsegment()).collect();
    assert!(streamed.len() >= 9, "{}", streamed.len());
    for s in streamed {
        assert_eq!(s.parent_id.as_deref(), Some(seg_id.as_str()));
        assert!(s.trace_id.is_some());
    }
    assert!(rec.stats().streamed >= 9);
}

#[test]
fn in_progress_then_complete() {
    let d = Daemon::new();
    let rec = d.recorder(ALWAYS, &[]);
    {
        let seg = rec.begin_segment("slow");
        seg.send_in_progress();
    }
    let docs = d.docs(&rec);
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0].in_progress, Some(true));
    assert!(docs[0].end_time.is_none());
    assert_eq!(docs[0].id, docs[1].id);
    assert!(docs[1].end_time.is_some() && docs[1].in_progress.is_none());
}

#[test]
fn lambda_facade_sends_subsegments_on_their_own() {
    let d = Daemon::new();
    let rec = d.recorder(NEVER, &[("LAMBDA_TASK_ROOT", "/var/task")]);
    assert!(rec.is_lambda());
    {
        let _facade = rec.begin_facade(
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        );
        let outer = begin_subsegment("handle_order");
        {
            let _inner = begin_subsegment("dynamodb");
        }
        drop(outer);
    }
    {
        // PassThrough: no Parent/Sampled, nothing recorded
        let _facade = rec.begin_facade("Root=1-5759e988-bd862e3fe1be46a994272793;Lineage=x:1");
        let s = begin_subsegment("nothing");
        assert!(!s.is_sampled());
    }
    let docs = d.docs(&rec);
    assert_eq!(docs.len(), 2, "{docs:?}");
    assert_eq!(docs[0].name.as_deref(), Some("dynamodb"));
    assert_eq!(docs[1].name.as_deref(), Some("handle_order"));
    assert_eq!(docs[1].parent_id.as_deref(), Some("53995c3f42cd8ad8"));
    assert_eq!(docs[0].parent_id, docs[1].id);
    assert!(docs.iter().all(|s| s.is_subsegment()));
}

#[test]
fn disabled_and_missing_context_never_panic() {
    let d = Daemon::new();
    let rec = d.recorder(ALWAYS, &[("AWS_XRAY_SDK_ENABLED", "false")]);
    assert!(!rec.is_enabled());
    {
        let seg = rec.begin_segment("x");
        seg.annotate("k", 1);
        let _s = begin_subsegment("y");
    }
    assert!(!rec.flush(Duration::from_millis(10)));
    assert!(
        d.0.recv(&mut [0u8; 100]).is_err(),
        "a disabled recorder sent something"
    );
    let before = rec.stats().context_missing;
    let s = begin_subsegment("orphan");
    s.annotate("k", 1);
    s.add_error(&Inner);
    drop(s);
    assert!(rec.stats().context_missing > before);
    assert!(fluoro_sdk::outgoing_headers().is_empty());
}

#[test]
fn daemon_down_is_counted_not_raised() {
    let port = {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap()
    };
    let rec = Recorder::builder("svc")
        .env(EnvConfig::from_lookup(|_| None))
        .daemon(DaemonAddress {
            udp: port,
            tcp: port,
        })
        .sampling_rules(LocalRules::from_json(ALWAYS).unwrap())
        .build();
    for _ in 0..20 {
        let _s = rec.begin_segment("x");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(rec.flush(Duration::from_secs(5)));
    let st = rec.stats();
    assert_eq!(st.sent + st.send_errors, 20, "{st:?}");
}

#[test]
fn documents_over_one_datagram_are_split_not_lost() {
    let d = Daemon::new();
    let rec = d.recorder(ALWAYS, &[]);
    let seg_id;
    {
        let seg = rec.begin_segment("big");
        seg_id = seg.id().unwrap().to_string();
        for _ in 0..8 {
            let s = begin_subsegment("chunk");
            s.put_metadata("blob", "x".repeat(20_000));
        }
    }
    let docs = d.docs(&rec);
    let all: Vec<String> = docs.iter().flat_map(names).collect();
    assert_eq!(all.iter().filter(|n| *n == "chunk").count(), 8, "{all:?}");
    assert_eq!(all.iter().filter(|n| *n == "big").count(), 1);
    for s in docs.iter().filter(|s| s.is_subsegment()) {
        assert_eq!(s.parent_id.as_deref(), Some(seg_id.as_str()));
    }
    let st = rec.stats();
    assert_eq!(st.dropped_too_large, 0);
    assert!(st.streamed >= 5, "{st:?}");
}

/// The same with plain subsegments (records): the whole does not fit one datagram, so the
/// emitter builds their documents and moves some out. Issue 7.
#[test]
fn plain_subsegments_over_one_datagram_are_split_not_lost() {
    let d = Daemon::new();
    let rec = d.recorder(ALWAYS, &[]);
    let seg_id;
    {
        let seg = rec.begin_segment("big");
        seg_id = seg.id().unwrap().to_string();
        for i in 0..60 {
            let s = begin_subsegment("chunk");
            s.annotate("blob", "y".repeat(1500 + i).as_str());
        }
    }
    let docs = d.docs(&rec);
    let mut lens = Vec::new();
    for doc in &docs {
        doc.walk(&mut |e| {
            if e.name.as_deref() == Some("chunk") {
                match &e.annotations.as_ref().unwrap()["blob"] {
                    AnnotationValue::String(b) => lens.push(b.len()),
                    other => panic!("{other:?}"),
                }
            }
        });
    }
    lens.sort_unstable();
    assert_eq!(lens, (1500..1560).collect::<Vec<_>>());
    for s in docs.iter().filter(|s| s.is_subsegment()) {
        assert_eq!(s.parent_id.as_deref(), Some(seg_id.as_str()));
        assert!(s.trace_id.is_some());
    }
    let st = rec.stats();
    assert_eq!(st.dropped_too_large, 0);
    assert!(st.streamed >= 1, "{st:?}");
}

#[test]
fn overload_never_slows_or_fails_the_host() {
    // The daemon is down (nothing listens) and the queue holds one job: every request still
    // completes at once; what could not be sent is counted.
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let rec = Recorder::builder("svc")
        .env(EnvConfig::from_lookup(|_| None))
        .daemon(DaemonAddress {
            udp: port,
            tcp: port,
        })
        .sampling_rules(LocalRules::from_json(ALWAYS).unwrap())
        .queue_capacity(1)
        .build();
    let start = std::time::Instant::now();
    let mut worst = Duration::ZERO;
    for i in 0..2000 {
        let t = std::time::Instant::now();
        let seg = rec.begin_segment("busy");
        seg.annotate("i", i);
        for _ in 0..5 {
            let s = begin_subsegment("step");
            s.annotate("k", "v");
        }
        drop(seg);
        worst = worst.max(t.elapsed());
    }
    let total = start.elapsed();
    // Generous bounds for an unoptimised build on a shared machine: the point is that no
    // request waits for the network or the queue.
    assert!(total < Duration::from_secs(2), "{total:?}");
    assert!(worst < Duration::from_millis(50), "{worst:?}");
    assert!(rec.flush(Duration::from_secs(5)));
    let st = rec.stats();
    assert!(st.dropped_queue_full > 0, "{st:?}");
    assert_eq!(
        st.sent + st.send_errors + st.dropped_queue_full,
        2000,
        "{st:?}"
    );
}

/// An unsampled request records nothing but still gives context and headers: its own id as
/// `Parent`, `Sampled=0`, `Lineage` passed on, W3C flags `00`; and it stops being current when
/// it ends, even when its guard is dropped on another thread.
#[test]
fn unsampled_segment_keeps_context_and_headers() {
    let d = Daemon::new();
    let rec = d.recorder(NEVER, &[]);
    {
        let seg = rec.begin_segment("svc");
        assert!(!seg.is_sampled() && !seg.is_noop());
        let id = seg.id().unwrap().to_string();
        let trace = seg.trace_id().unwrap();
        let sub = begin_subsegment("ignored");
        assert!(sub.is_noop());
        sub.annotate("k", "v");
        let h = fluoro_sdk::outgoing_headers();
        assert_eq!(
            h[0].1,
            format!("Root={trace};Parent={id};Sampled=0"),
            "{h:?}"
        );
        assert_eq!(h[1].1, format!("00-{}-{id}-00", trace.to_w3c_hex()));
        assert_eq!(current().id(), seg.id());
    }
    assert!(current().is_noop());
    {
        let _seg = rec.begin_segment_with(SegmentStart {
            upstream: Upstream::from_xray(
                "Root=1-5759e988-bd862e3fe1be46a994272795;Parent=53995c3f42cd8ad8;Sampled=0;Lineage=b:2",
            ),
            ..SegmentStart::default()
        });
        let h = fluoro_sdk::outgoing_headers();
        assert!(
            h[0].1
                .starts_with("Root=1-5759e988-bd862e3fe1be46a994272795;Parent=")
        );
        assert!(!h[0].1.contains("53995c3f42cd8ad8"), "{h:?}");
        assert!(h[0].1.contains("Sampled=0") && h[0].1.contains("Lineage=b:2"));
    }
    // Ended on another thread: no longer current here.
    let seg = rec.begin_segment("svc");
    std::thread::spawn(move || drop(seg)).join().unwrap();
    assert!(current().is_noop());
    assert!(d.docs(&rec).is_empty());
}

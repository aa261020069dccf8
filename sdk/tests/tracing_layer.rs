//! `tracing` spans as subsegments (feature `tracing-layer`): nesting under the current segment
//! and under each other, `xray.annotation.*` / `xray.metadata.*` fields, and the SDK's own
//! subsegments inside an entered span. Issue 7.

use std::net::UdpSocket;
use std::time::Duration;

use fluoro_proto::frame;
use fluoro_proto::segment::{AnnotationValue, Segment};
use fluoro_sdk::config::{DaemonAddress, EnvConfig};
use fluoro_sdk::integrations::tracing::XRayTracingLayer;
use fluoro_sdk::sampling::LocalRules;
use fluoro_sdk::{Recorder, begin_subsegment};
use tracing_subscriber::layer::SubscriberExt as _;

#[test]
fn spans_become_nested_subsegments() {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let rec = Recorder::builder("svc")
        .env(EnvConfig::from_lookup(|_| None))
        .daemon(DaemonAddress::parse(&sock.local_addr().unwrap().to_string()).unwrap())
        .sampling_rules(
            LocalRules::from_json(r#"{"version":2,"default":{"fixed_target":0,"rate":1}}"#)
                .unwrap(),
        )
        .build();
    let subscriber = tracing_subscriber::registry().with(XRayTracingLayer);
    tracing::subscriber::with_default(subscriber, || {
        // Outside any segment: nothing recorded, nothing counted.
        drop(tracing::info_span!("idle").entered());
        let seg = rec.begin_segment("api");
        {
            let outer = tracing::info_span!(
                "load_cart",
                xray.annotation.customer = "c-42",
                xray.annotation.items = 3u64,
                xray.metadata.source = "db",
                other = 1
            )
            .entered();
            {
                let _inner = tracing::info_span!("query", xray.annotation.cached = false).entered();
                let _own = begin_subsegment("decode");
            }
            outer.record("xray.annotation.items", 4u64);
        }
        drop(seg);
    });
    assert!(rec.flush(Duration::from_secs(5)));
    let mut buf = vec![0u8; 70_000];
    let n = sock.recv(&mut buf).unwrap();
    let seg = Segment::from_json(frame::decode(&buf[..n]).unwrap().body).unwrap();
    assert!(sock.recv(&mut buf).is_err(), "one document expected");
    let load = &seg.subsegments.as_ref().unwrap()[0];
    assert_eq!(load.name.as_deref(), Some("load_cart"));
    let ann = load.annotations.as_ref().unwrap();
    assert_eq!(ann["customer"], AnnotationValue::String("c-42".into()));
    assert_eq!(ann["items"], AnnotationValue::Number(4.into()));
    assert_eq!(ann.len(), 2, "{ann:?}");
    assert_eq!(load.metadata.as_ref().unwrap()["tracing"]["source"], "db");
    let query = &load.subsegments.as_ref().unwrap()[0];
    assert_eq!(query.name.as_deref(), Some("query"));
    assert_eq!(
        query.annotations.as_ref().unwrap()["cached"],
        AnnotationValue::Bool(false)
    );
    assert_eq!(
        query.subsegments.as_ref().unwrap()[0].name.as_deref(),
        Some("decode")
    );
    assert_eq!(rec.stats().context_missing, 0);
}

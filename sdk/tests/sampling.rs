//! Centralized sampling through the real daemon's TCP proxy to a real collector: rules
//! created in the collector change the SDK's decisions within one polling interval, and a
//! rule's reservoir holds across two SDK instances. Issue 7.

mod support;

use std::time::{Duration, Instant};

use fluoro_sdk::sampling::{Intervals, SamplingRequest};
use fluoro_sdk::{Recorder, SegmentStart};
use support::{Stack, http};

/// Local rules that never sample: whatever samples below was decided centrally.
const NEVER: &str = r#"{"version":2,"default":{"fixed_target":0,"rate":0}}"#;

fn request(rec: &Recorder, path: &str) -> bool {
    rec.begin_segment_with(SegmentStart {
        name: None,
        upstream: None,
        request: SamplingRequest {
            host: Some("shop.example"),
            method: Some("GET"),
            url_path: Some(path),
            ..SamplingRequest::default()
        },
    })
    .is_sampled()
}

async fn create_rule(
    stack: &Stack,
    name: &str,
    service: &str,
    path: &str,
    reservoir: i32,
    rate: f64,
) {
    let body = serde_json::json!({ "SamplingRule": {
        "RuleName": name, "ResourceARN": "*", "Priority": 1, "FixedRate": rate,
        "ReservoirSize": reservoir, "ServiceName": service, "ServiceType": "*", "Host": "*",
        "HTTPMethod": "*", "URLPath": path, "Version": 1, "Attributes": {}
    }})
    .to_string();
    let (status, text) = http(stack.collector.addr(), "POST", "/CreateSamplingRule", &body).await;
    assert_eq!(status, 200, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_rule_applies_within_one_polling_interval() {
    let stack = Stack::start("sampling-rule").await;
    let intervals = Intervals {
        rules: Duration::from_secs(2),
        targets: Duration::from_secs(1),
    };
    let rec = stack
        .recorder("checkout", NEVER)
        .centralized_sampling(intervals)
        .build();
    // The collector's Default rule (1/s + 5 %) decides first, once fetched.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !request(&rec, "/warmup") {
        assert!(Instant::now() < deadline, "the Default rule never sampled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let before = (0..200).filter(|_| request(&rec, "/orders/1")).count();
    assert!(
        before < 60,
        "{before} of 200 sampled before the rule exists"
    );

    create_rule(&stack, "all-orders", "checkout", "/orders/*", 0, 1.0).await;
    let created = Instant::now();
    loop {
        if (0..50).all(|_| request(&rec, "/orders/7")) {
            break;
        }
        assert!(
            created.elapsed() < intervals.rules + intervals.targets + Duration::from_secs(2),
            "the new rule did not apply within one rules interval"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Other paths still follow the Default rule.
    let other = (0..200).filter(|_| request(&rec, "/health")).count();
    assert!(
        other < 60,
        "{other} of 200 sampled on a path the rule does not match"
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reservoir_holds_across_two_sdk_instances() {
    let stack = Stack::start("sampling-quota").await;
    create_rule(&stack, "quota", "inventory", "*", 10, 0.0).await;
    let intervals = Intervals {
        rules: Duration::from_secs(300),
        targets: Duration::from_secs(1),
    };
    let a = stack
        .recorder("inventory", NEVER)
        .centralized_sampling(intervals)
        .build();
    let b = stack
        .recorder("inventory", NEVER)
        .centralized_sampling(intervals)
        .build();
    // Both instances take ~400 requests/s; each reports every Interval (10 s, from the
    // collector) and gets its share of the 10/s reservoir. Two rounds of reports settle the
    // split; then, per second, the two together sample at most 10 (+1 when a second boundary
    // falls between their clocks' reads).
    let (a2, b2) = (a.clone(), b.clone());
    let per_second = tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        let mut counts: Vec<(u64, u64)> = Vec::new();
        let mut second = u64::MAX;
        while start.elapsed() < Duration::from_secs(26) {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            if now != second {
                counts.push((0, 0));
                second = now;
            }
            let last = counts.last_mut().unwrap();
            last.0 += u64::from(request(&a2, "/items/1"));
            last.1 += u64::from(request(&b2, "/items/2"));
            std::thread::sleep(Duration::from_micros(2500));
        }
        counts
    })
    .await
    .unwrap();
    // Whole seconds after the settling period.
    let steady = &per_second[23..per_second.len() - 1];
    assert!(!steady.is_empty());
    for (sa, sb) in steady {
        assert!(
            sa + sb <= 11,
            "{sa} + {sb} sampled in one second: {per_second:?}"
        );
    }
    let total: u64 = steady.iter().map(|(x, y)| x + y).sum();
    assert!(
        total >= steady.len() as u64 * 5,
        "the reservoir went unused: {per_second:?}"
    );
    assert!(
        steady.iter().all(|(x, y)| *x > 0 && *y > 0),
        "each instance gets a share: {per_second:?}"
    );
    stack.stop().await;
}

//! The all-in-one process: the console mounted at `/` reading the collector's own API, and
//! `--demo` traffic arriving through the in-process UDP receiver. Plain HTTP requests; the
//! browser tests are in `browser.rs`.

mod pages;
mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use pages::{get, request};
use support::{TempDir, start_collector};

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_traffic_reaches_the_map_through_the_udp_receiver() {
    let dir = TempDir::new("console-demo");
    let c = start_collector(dir.path(), |c| {
        c.udp = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        c.demo = true;
    })
    .await;
    assert!(c.udp_addr().is_some());
    let addr = c.addr();
    let expected = [
        ("orders-api/prod", "client"),
        ("orders-api/prod", "AWS::ApiGateway::Stage"),
        ("orders-fn", "AWS::Lambda"),
        ("orders-fn", "AWS::Lambda::Function"),
        ("orders", "AWS::DynamoDB::Table"),
        ("order-events", "AWS::SQS::Queue"),
        ("SNS", "AWS::SNS"),
        ("inventory.internal", "remote"),
    ];
    let deadline = Instant::now() + Duration::from_secs(60);
    let page = loop {
        let page = get(addr, "/map?range=5m").await;
        assert_eq!(page.status, 200, "{}", page.body);
        let all = expected.iter().all(|(n, t)| {
            page.body
                .contains(&format!("data-name=\"{n}\" data-type=\"{t}\""))
        });
        // Every outcome colour shows once enough requests went through.
        let colours = ["ring ok", "ring error", "ring throttle", "ring fault"]
            .iter()
            .all(|c| page.body.contains(c));
        if all && colours {
            break page;
        }
        assert!(
            Instant::now() < deadline,
            "the demo's map did not fill in: {}",
            page.body
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert!(!page.body.contains(" onclick="), "no inline handlers");

    // The traces list and a trace's timeline.
    let list = get(addr, "/traces?range=5m&filter=fault").await;
    assert_eq!(list.status, 200);
    let id = list
        .body
        .split("href=\"/traces/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a faulty trace is listed")
        .to_owned();
    let trace = get(addr, &format!("/traces/{id}")).await;
    assert_eq!(trace.status, 200);
    for needle in [
        "class=\"tbar fault\"",
        "handle_order",
        "inventory.internal",
        "503 Service Unavailable",
        "Raw documents",
    ] {
        assert!(trace.body.contains(needle), "{needle} missing");
    }
    c.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_from_segments_are_escaped_on_every_page() {
    let dir = TempDir::new("console-escape");
    let c = start_collector(dir.path(), |_| {}).await;
    let addr = c.addr();
    let t = now();
    let trace_id = format!("1-{:08x}-0123456789abcdef01234567", t as u32);
    let evil = "<script>alert(1)</script>";
    // The collector refuses '<' in names (as X-Ray does), so markup arrives through the URL,
    // annotations, metadata and exception messages; names carry '&'. The console's own render
    // test (console/tests/render.rs) covers a service named with markup, as another X-Ray
    // endpoint might return.
    let doc = serde_json::json!({
        "id": "a000000000000001", "trace_id": trace_id, "name": "svc & co",
        "start_time": t - 1.0, "end_time": t - 0.5,
        "http": {"request": {"method": "GET", "url": format!("http://x/{evil}")}, "response": {"status": 500}},
        "fault": true,
        "annotations": {"note": evil},
        "metadata": {"default": {"html": evil}},
        "cause": {"exceptions": [{"id": "c000000000000001", "message": evil, "type": "Error"}]},
        "subsegments": [{"id": "b000000000000001", "name": "call & return", "namespace": "remote",
                         "start_time": t - 0.9, "end_time": t - 0.6}],
    });
    let body = serde_json::json!({"TraceSegmentDocuments": [doc.to_string()]}).to_string();
    let put = tokio::task::spawn_blocking(move || request(addr, "POST", "/TraceSegments", &body))
        .await
        .unwrap();
    assert_eq!(put.status, 200, "{}", put.body);
    assert!(
        put.body.contains("\"UnprocessedTraceSegments\":[]"),
        "{}",
        put.body
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (path, shown) in [
        ("/map?range=5m".to_owned(), "svc &#38; co"),
        ("/traces?range=5m".to_owned(), "&#60;script&#62;alert(1)"),
        (format!("/traces/{trace_id}"), "&#60;script&#62;alert(1)"),
    ] {
        let page = get(addr, &path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        assert!(
            page.body.contains(shown),
            "{path}: {shown} is shown as text"
        );
        assert!(
            !page.body.contains(evil),
            "{path}: raw markup from a segment"
        );
        assert!(!page.body.contains("svc & co"), "{path}: unescaped '&'");
    }
    c.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_filter_is_shown_under_the_box_at_its_position() {
    let dir = TempDir::new("console-filter");
    let c = start_collector(dir.path(), |_| {}).await;
    let page = get(c.addr(), "/traces?range=5m&filter=ok%20AND").await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("class=\"filter-error\""));
    // The expression, then a caret under position 6 (end of expression).
    assert!(page.body.contains("ok AND\n      ^</pre>"), "{}", page.body);
    assert!(page.body.contains("unexpected end of expression at 6"));
    c.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampling_rules_and_groups_are_edited_through_the_api_and_cross_site_posts_refused() {
    let dir = TempDir::new("console-ops");
    let c = start_collector(dir.path(), |_| {}).await;
    let addr = c.addr();
    let post = |path: &'static str, body: &'static str, origin: Option<&'static str>| async move {
        tokio::task::spawn_blocking(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            let extra = origin.map_or(String::new(), |o| format!("Sec-Fetch-Site: {o}\r\n"));
            std::io::Write::write_all(
                &mut s,
                format!(
                    "POST {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            )
            .unwrap();
            let mut out = String::new();
            std::io::Read::read_to_string(&mut s, &mut out).unwrap();
            out
        })
        .await
        .unwrap()
    };
    let rule = "mode=create&name=checkout&priority=10&reservoir=2&rate=12.5&service_name=orders-fn&attributes=tier%3Dgold";
    let refused = post("/sampling/save", rule, Some("cross-site")).await;
    assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
    let made = post("/sampling/save", rule, Some("same-origin")).await;
    assert!(made.starts_with("HTTP/1.1 303"), "{made}");
    // The rule is in the API, as created.
    let rules = request(addr, "POST", "/GetSamplingRules", "{}");
    assert!(
        rules.body.contains("\"RuleName\":\"checkout\""),
        "{}",
        rules.body
    );
    assert!(rules.body.contains("\"FixedRate\":0.125"), "{}", rules.body);
    let page = get(addr, "/sampling").await;
    assert!(page.body.contains("data-rule=\"checkout\""));
    let deleted = post("/sampling/delete", "name=checkout", None).await;
    assert!(deleted.starts_with("HTTP/1.1 303"), "{deleted}");
    assert!(
        !get(addr, "/sampling")
            .await
            .body
            .contains("data-rule=\"checkout\"")
    );

    let made = post("/groups/save", "mode=create&name=orders&filter=", None).await;
    assert!(made.starts_with("HTTP/1.1 303"), "{made}");
    assert!(
        get(addr, "/groups")
            .await
            .body
            .contains("data-group=\"orders\"")
    );
    let gone = post("/groups/delete", "name=orders", None).await;
    assert!(gone.starts_with("HTTP/1.1 303"), "{gone}");
    c.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_telemetry_is_read_back_and_shown() {
    let dir = TempDir::new("console-telemetry");
    let c = start_collector(dir.path(), |_| {}).await;
    let addr = c.addr();
    let body = format!(
        r#"{{"Hostname":"web-1 <b>","EC2InstanceId":"i-0123456789abcdef0","TelemetryRecords":[{{"Timestamp":{},"SegmentsReceivedCount":120,"SegmentsSentCount":118,"SegmentsSpilloverCount":0,"SegmentsRejectedCount":2,"BackendConnectionErrors":{{"TimeoutCount":1,"ConnectionRefusedCount":0,"HTTPCode4XXCount":0,"HTTPCode5XXCount":3,"UnknownHostCount":0,"OtherCount":0}}}}]}}"#,
        now()
    );
    let put =
        tokio::task::spawn_blocking(move || request(addr, "POST", "/TelemetryRecords", &body))
            .await
            .unwrap();
    assert_eq!(put.status, 200, "{}", put.body);
    let json = get(addr, "/fluoro/telemetry?minutes=5").await;
    assert_eq!(json.status, 200);
    let v: serde_json::Value = serde_json::from_str(&json.body).unwrap();
    let rec = &v["TelemetryRecords"][0];
    assert_eq!(rec["Hostname"], "web-1 <b>");
    assert_eq!(rec["Record"]["SegmentsSentCount"], 118);
    let page = get(addr, "/telemetry?minutes=15").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains("web-1 &#60;b&#62; · i-0123456789abcdef0"),
        "{}",
        page.body
    );
    for n in [
        "<td class=\"num\">120</td>",
        "<td class=\"num\">118</td>",
        "<td class=\"num\">3</td>",
    ] {
        assert!(page.body.contains(n), "{n}");
    }
    c.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// SigV4 (issue 6): the console against a collector with --auth-keys.

const AUTH_KEYS: &str = "# first key: the mounted console signs with it\nAKIDCONSOLEFIRST first/secret\nAKIDOTHER other-secret\n";

/// A collector verifying SigV4 with [`AUTH_KEYS`], holding one trace of service `auth-svc` put
/// by a signed client (the second key: any key of the file is accepted); its trace id.
async fn signed_collector(dir: &TempDir, udp: bool) -> (fluoro_collector::Collector, String) {
    let keys = dir.path().join("keys");
    std::fs::write(&keys, AUTH_KEYS).unwrap();
    let c = start_collector(dir.path(), |c| {
        c.auth_keys = Some(keys);
        if udp {
            c.udp = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        }
    })
    .await;
    let t = now();
    let trace_id = format!("1-{:08x}-00000000000000000000a0a0", t as u32);
    let doc = serde_json::json!({
        "id": "a0000000000000a1", "trace_id": trace_id, "name": "auth-svc",
        "start_time": t - 1.0, "end_time": t - 0.5,
    });
    let putter = fluoro_console::ApiClient::new(&format!("http://{}", c.addr()))
        .unwrap()
        .with_fixed_credentials(
            "us-east-1",
            fluoro_proto::sigv4::Credentials {
                access_key_id: "AKIDOTHER".into(),
                secret_access_key: "other-secret".into(),
                session_token: None,
            },
        );
    let put: fluoro_proto::api::PutTraceSegmentsResponse = putter
        .call(
            fluoro_proto::api::Operation::PutTraceSegments,
            &fluoro_proto::api::PutTraceSegmentsRequest {
                trace_segment_documents: vec![doc.to_string()],
            },
        )
        .await
        .unwrap();
    assert!(put.unprocessed_trace_segments.is_empty());
    // Unsigned calls are refused: auth is really on.
    let addr = c.addr();
    let unsigned = tokio::task::spawn_blocking(move || {
        request(
            addr,
            "POST",
            "/TraceSummaries",
            r#"{"StartTime":0,"EndTime":1}"#,
        )
    })
    .await
    .unwrap();
    assert_eq!(unsigned.status, 403, "{}", unsigned.body);
    tokio::time::sleep(Duration::from_millis(300)).await;
    (c, trace_id)
}

/// The map, traces and trace pages of a console at `addr` show the signed collector's trace.
async fn pages_show_the_trace(addr: SocketAddr, trace_id: &str) {
    let map = get(addr, "/map?range=5m").await;
    assert_eq!(map.status, 200, "{}", map.body);
    assert!(map.body.contains("data-name=\"auth-svc\""), "{}", map.body);
    let list = get(addr, "/traces?range=5m").await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(list.body.contains(trace_id), "{}", list.body);
    let trace = get(addr, &format!("/traces/{trace_id}")).await;
    assert_eq!(trace.status, 200, "{}", trace.body);
    assert!(trace.body.contains("auth-svc"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mounted_console_and_receiver_sign_with_the_first_auth_key() {
    let dir = TempDir::new("console-auth-mounted");
    let (c, trace_id) = signed_collector(&dir, true).await;
    pages_show_the_trace(c.addr(), &trace_id).await;
    // A datagram through the in-process receiver, which signs its PutTraceSegments too.
    let t = now();
    let doc = serde_json::json!({
        "id": "a0000000000000b1", "name": "udp-svc",
        "trace_id": format!("1-{:08x}-00000000000000000000b0b0", t as u32),
        "start_time": t - 1.0, "end_time": t - 0.5,
    });
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.send_to(
        format!("{{\"format\":\"json\",\"version\":1}}\n{doc}").as_bytes(),
        c.udp_addr().unwrap(),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let map = get(c.addr(), "/map?range=5m").await;
        assert_eq!(map.status, 200, "{}", map.body);
        if map.body.contains("data-name=\"udp-svc\"") {
            break;
        }
        assert!(Instant::now() < deadline, "udp-svc never reached the map");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    c.shutdown().await.unwrap();
}

/// A standalone console (the library `run`, as the binary calls it) with `--sign --region`,
/// credentials given as its environment.
async fn standalone_console(
    api: SocketAddr,
    env: &[(&str, &str)],
) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let mut config = <fluoro_console::Config as clap::Parser>::parse_from([
        "fluoro-console",
        "--api",
        &format!("http://{api}"),
        "--listen",
        "127.0.0.1:0",
        "--sign",
        "--region",
        "us-east-1",
    ]);
    config.env = fluoro_console::Vars(
        env.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    );
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(fluoro_console::run(
        config,
        move |a| {
            let _ = ready_tx.send(a);
        },
        async move {
            let _ = stop_rx.await;
        },
    ));
    (ready_rx.await.unwrap(), stop_tx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standalone_console_signs_with_the_credential_chain() {
    let dir = TempDir::new("console-auth-standalone");
    let (c, trace_id) = signed_collector(&dir, false).await;
    let base = [
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("HOME", "/nonexistent"),
        ("AWS_ACCESS_KEY_ID", "AKIDCONSOLEFIRST"),
    ];
    let mut good = base.to_vec();
    good.push(("AWS_SECRET_ACCESS_KEY", "first/secret"));
    let (console, stop) = standalone_console(c.addr(), &good).await;
    pages_show_the_trace(console, &trace_id).await;
    let _ = stop.send(());

    // A wrong secret: the page shows the API's refusal, the console keeps serving.
    let mut wrong = base.to_vec();
    wrong.push(("AWS_SECRET_ACCESS_KEY", "not-the-secret"));
    let (console, stop) = standalone_console(c.addr(), &wrong).await;
    for path in ["/map?range=5m", "/traces?range=5m"] {
        let page = get(console, path).await;
        assert_eq!(page.status, 502, "{path}: {}", page.body);
        assert!(
            page.body.contains("The X-Ray API call failed")
                && page.body.contains("InvalidSignatureException"),
            "{path}: {}",
            page.body
        );
    }
    // No credentials at all: the page says why nothing was sent.
    let _ = stop.send(());
    let (console, stop) = standalone_console(c.addr(), &base[..2]).await;
    let page = get(console, "/map?range=5m").await;
    assert_eq!(page.status, 502, "{}", page.body);
    assert!(page.body.contains("no AWS credentials"), "{}", page.body);
    let _ = stop.send(());
    c.shutdown().await.unwrap();
}

//! Forwarding as to AWS, on loopback only (issue 4): SigV4 signing verified by a real
//! `fluoro-collector --auth-keys`, TLS to a local HTTPS sink with a self-signed certificate
//! (refused, accepted with `NoVerifySSL`, accepted when trusted through `AWS_CA_BUNDLE`), an
//! HTTP `CONNECT` proxy, and a region with no credentials (never sends unsigned). Real AWS
//! hosts are never contacted.

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fluoro_daemon::Config;
use fluoro_daemon::config::Vars;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

use support::{DaemonProcess, TempDir, metric, segment};

const AKID: &str = "AKIDFLUOROTEST";
const SECRET: &str = "fluoro/test+secret";

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_fluoro-daemon"))
}

/// A `PutTraceSegments` sink over TLS (or plain TCP): counts documents, keeps the
/// `Authorization` headers it saw.
#[derive(Debug, Clone)]
struct Sink {
    addr: SocketAddr,
    documents: Arc<AtomicUsize>,
    authorizations: Arc<Mutex<Vec<String>>>,
    /// Bodies of `PutTelemetryRecords` calls, with their `Authorization`.
    telemetry: Arc<Mutex<Vec<(String, String)>>>,
}

/// A self-signed certificate for 127.0.0.1 and localhost: (PEM, DER, key DER).
fn certificate() -> (String, Vec<u8>, Vec<u8>) {
    let c =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap();
    (
        c.cert.pem(),
        c.cert.der().to_vec(),
        c.signing_key.serialize_der(),
    )
}

async fn start_sink(tls: Option<(Vec<u8>, Vec<u8>)>) -> Sink {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sink = Sink {
        addr: listener.local_addr().unwrap(),
        documents: Arc::new(AtomicUsize::new(0)),
        authorizations: Arc::new(Mutex::new(Vec::new())),
        telemetry: Arc::new(Mutex::new(Vec::new())),
    };
    let acceptor = tls.map(|(cert, key)| {
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.into()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.into()),
        )
        .unwrap();
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    });
    let s = sink.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let s = s.clone();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let s = s.clone();
                        async move {
                            let auth = req
                                .headers()
                                .get("authorization")
                                .map(|a| a.to_str().unwrap_or("").to_owned());
                            if let Some(a) = &auth {
                                s.authorizations.lock().unwrap().push(a.clone());
                            }
                            let path = req.uri().path().to_owned();
                            let body = req
                                .into_body()
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            if path == "/TraceSegments" {
                                let v: serde_json::Value =
                                    serde_json::from_slice(&body).unwrap_or_default();
                                let n = v["TraceSegmentDocuments"].as_array().map_or(0, Vec::len);
                                s.documents.fetch_add(n, Ordering::SeqCst);
                            }
                            if path == "/TelemetryRecords" {
                                s.telemetry.lock().unwrap().push((
                                    String::from_utf8_lossy(&body).into_owned(),
                                    auth.unwrap_or_default(),
                                ));
                            }
                            Ok::<_, Infallible>(hyper::Response::new(Full::new(
                                Bytes::from_static(b"{\"UnprocessedTraceSegments\":[]}"),
                            )))
                        }
                    },
                );
                let http = hyper::server::conn::http1::Builder::new();
                match acceptor {
                    Some(a) => {
                        // A client refusing our certificate ends the handshake: not an error here.
                        if let Ok(tls) = a.accept(tcp).await {
                            let _ = http.serve_connection(TokioIo::new(tls), service).await;
                        }
                    }
                    None => {
                        let _ = http.serve_connection(TokioIo::new(tcp), service).await;
                    }
                }
            });
        }
    });
    sink
}

/// A minimal HTTP `CONNECT` proxy; returns its address and the targets it was asked for.
async fn start_connect_proxy() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let targets = Arc::new(Mutex::new(Vec::new()));
    let t = Arc::clone(&targets);
    tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                return;
            };
            let t = Arc::clone(&t);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if client.read_exact(&mut byte).await.is_err() {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let mut words = head.split_whitespace();
                let (Some("CONNECT"), Some(target)) = (words.next(), words.next()) else {
                    let _ = client
                        .write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
                        .await;
                    return;
                };
                t.lock().unwrap().push(target.to_owned());
                let Ok(mut upstream) = TcpStream::connect(target).await else {
                    let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
                    return;
                };
                let _ = client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await;
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    });
    (addr, targets)
}

async fn send_segments(to: SocketAddr, n: usize) {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for i in 0..n {
        let (_, _, d) = segment(&format!("aws-test-{i}"), 300);
        sock.send_to(&d, to).await.unwrap();
    }
}

async fn wait_for(what: &str, within: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn https_config(sink: &Sink) -> Config {
    let mut c = Config::for_endpoint(format!("https://127.0.0.1:{}", sink.addr.port()));
    c.telemetry_interval = Duration::ZERO;
    c.shutdown_grace = Duration::from_millis(200);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_refused_then_accepted_with_no_verify_ssl_or_a_trusted_ca() {
    let (pem, der, key) = certificate();
    let sink = start_sink(Some((der, key))).await;

    // An unknown self-signed certificate is refused: nothing delivered, connect errors counted.
    let daemon = fluoro_daemon::start(https_config(&sink)).await.unwrap();
    send_segments(daemon.udp_addr(), 5).await;
    wait_for("a TLS failure", Duration::from_secs(10), || {
        daemon
            .snapshot()
            .send_errors
            .get("connect")
            .copied()
            .unwrap_or(0)
            > 0
    })
    .await;
    assert_eq!(sink.documents.load(Ordering::SeqCst), 0);
    let _ = daemon.shutdown().await;

    // NoVerifySSL (cfg.yaml only, as the AWS daemon): accepted.
    let mut c = https_config(&sink);
    c.no_verify_ssl = true;
    let daemon = fluoro_daemon::start(c).await.unwrap();
    send_segments(daemon.udp_addr(), 7).await;
    wait_for("7 documents over TLS", Duration::from_secs(10), || {
        sink.documents.load(Ordering::SeqCst) == 7
    })
    .await;
    let _ = daemon.shutdown().await;

    // The certificate trusted through AWS_CA_BUNDLE, verification on; and signed, since a
    // region and credentials are given.
    let dir = TempDir::new("ca");
    let bundle = dir.0.join("ca.pem");
    std::fs::write(&bundle, pem).unwrap();
    let mut c = https_config(&sink);
    c.region = Some("eu-west-1".into());
    c.telemetry_interval = Duration::from_millis(200);
    c.env = Vars::from([
        ("AWS_CA_BUNDLE", bundle.to_str().unwrap()),
        ("AWS_ACCESS_KEY_ID", AKID),
        ("AWS_SECRET_ACCESS_KEY", SECRET),
        ("AWS_HOSTNAME", "fluoro-test-host"),
    ]);
    let daemon = fluoro_daemon::start(c).await.unwrap();
    send_segments(daemon.udp_addr(), 3).await;
    wait_for("3 more documents", Duration::from_secs(10), || {
        sink.documents.load(Ordering::SeqCst) == 10
    })
    .await;
    let auth = sink.authorizations.lock().unwrap().clone();
    assert!(
        auth.iter().any(
            |a| a.starts_with(&format!("AWS4-HMAC-SHA256 Credential={AKID}/"))
                && a.contains("/eu-west-1/xray/aws4_request")
        ),
        "{auth:?}"
    );
    // Telemetry goes the same way (TLS, signed), with AWS_HOSTNAME as the host name.
    wait_for("telemetry", Duration::from_secs(10), || {
        !sink.telemetry.lock().unwrap().is_empty()
    })
    .await;
    let (body, auth) = sink.telemetry.lock().unwrap()[0].clone();
    assert!(body.contains("\"Hostname\":\"fluoro-test-host\""), "{body}");
    assert!(auth.contains("/eu-west-1/xray/aws4_request"), "{auth}");
    let _ = daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_a_connect_proxy() {
    let (_, der, key) = certificate();
    let sink = start_sink(Some((der, key))).await;
    let (proxy, targets) = start_connect_proxy().await;
    let mut c = https_config(&sink);
    c.no_verify_ssl = true;
    c.proxy_address = Some(format!("http://{proxy}"));
    let daemon = fluoro_daemon::start(c).await.unwrap();
    send_segments(daemon.udp_addr(), 4).await;
    wait_for(
        "4 documents through the proxy",
        Duration::from_secs(10),
        || sink.documents.load(Ordering::SeqCst) == 4,
    )
    .await;
    let targets = targets.lock().unwrap().clone();
    assert!(!targets.is_empty());
    assert!(
        targets
            .iter()
            .all(|t| *t == format!("127.0.0.1:{}", sink.addr.port())),
        "{targets:?}"
    );
    let _ = daemon.shutdown().await;

    // Plain http endpoints go through the tunnel too, and HTTPS_PROXY is the fallback of -p.
    let plain = start_sink(None).await;
    let (proxy, targets) = start_connect_proxy().await;
    let proxy_url = format!("http://{proxy}");
    let env = fluoro_daemon::config::Environment {
        vars: Vars::from([("HTTPS_PROXY", proxy_url.as_str())]),
        config_search: vec![],
    };
    let endpoint = format!("http://{}", plain.addr);
    let mut c = Config::load(
        [
            "fluoro-daemon",
            "-e",
            &endpoint,
            "-b",
            "127.0.0.1:0",
            "-t",
            "127.0.0.1:0",
            "--telemetry-interval",
            "0s",
        ],
        &env,
    )
    .unwrap();
    c.shutdown_grace = Duration::from_millis(200);
    let daemon = fluoro_daemon::start(c).await.unwrap();
    send_segments(daemon.udp_addr(), 2).await;
    wait_for(
        "2 documents through HTTPS_PROXY",
        Duration::from_secs(10),
        || plain.documents.load(Ordering::SeqCst) == 2,
    )
    .await;
    assert_eq!(targets.lock().unwrap()[0], plain.addr.to_string());
    let _ = daemon.shutdown().await;
}

/// The real daemon binary signs with credentials from its environment; the real collector with
/// `--auth-keys` verifies. The sampling proxy signs what it forwards too, and a daemon with the
/// wrong secret is refused (counted, not retried).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_by_the_daemon_verified_by_the_collector() {
    let dir = TempDir::new("sigv4");
    let keys = dir.0.join("keys");
    std::fs::write(&keys, format!("{AKID} {SECRET}\n")).unwrap();
    let mut cc = fluoro_collector::Config::for_dir(&dir.0);
    cc.auth_keys = Some(keys);
    let collector = fluoro_collector::start(cc).await.unwrap();
    let endpoint = format!("http://{}", collector.addr());
    let args: Vec<String> = [
        "-e",
        &endpoint,
        "-n",
        "us-west-2",
        "-o",
        "-b",
        "127.0.0.1:0",
        "-t",
        "127.0.0.1:0",
        "--telemetry-interval",
        "0s",
        "--shutdown-grace",
        "500ms",
    ]
    .map(str::to_owned)
    .to_vec();
    let args2 = args.clone();
    let daemon = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        DaemonProcess::spawn(
            binary(),
            &args,
            &[
                ("AWS_ACCESS_KEY_ID", AKID),
                ("AWS_SECRET_ACCESS_KEY", SECRET),
            ],
        )
    })
    .await
    .unwrap();
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut traces = Vec::new();
    for i in 0..20 {
        let (trace, _, d) = segment(&format!("signed-{i}"), 400);
        sock.send_to(&d, daemon.udp).await.unwrap();
        traces.push(trace);
    }
    let tcp = daemon.tcp;
    let sent = move || metric(tcp, "fluoro_forwarder_documents_sent_total");
    let deadline = Instant::now() + Duration::from_secs(15);
    while tokio::task::spawn_blocking(sent).await.unwrap() < 20.0 {
        assert!(Instant::now() < deadline, "{}", daemon.log_text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Read back through the daemon's proxy, which signs: the collector verifies and answers.
    let body = serde_json::json!({ "TraceIds": &traces[..5] }).to_string();
    let (status, text) =
        tokio::task::spawn_blocking(move || support::http(tcp, "POST", "/Traces", &body))
            .await
            .unwrap();
    assert_eq!(status, 200, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["Traces"].as_array().map(Vec::len), Some(5), "{text}");
    let (status, text) =
        tokio::task::spawn_blocking(move || support::http(tcp, "POST", "/GetSamplingRules", "{}"))
            .await
            .unwrap();
    assert_eq!(status, 200, "{text}");
    let (code, log) = tokio::task::spawn_blocking(move || daemon.terminate())
        .await
        .unwrap();
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("source=environment"), "{log}");

    // The wrong secret: every batch refused by the collector (403), counted, not retried.
    let wrong = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args2.iter().map(String::as_str).collect();
        DaemonProcess::spawn(
            binary(),
            &args,
            &[
                ("AWS_ACCESS_KEY_ID", AKID),
                ("AWS_SECRET_ACCESS_KEY", "wrong"),
            ],
        )
    })
    .await
    .unwrap();
    send_segments(wrong.udp, 3).await;
    let tcp = wrong.tcp;
    let refused = move || metric(tcp, "fluoro_forwarder_documents_refused_total");
    let deadline = Instant::now() + Duration::from_secs(15);
    while tokio::task::spawn_blocking(refused).await.unwrap() < 3.0 {
        assert!(Instant::now() < deadline, "{}", wrong.log_text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, log) = tokio::task::spawn_blocking(move || wrong.terminate())
        .await
        .unwrap();
    assert!(
        log.contains("InvalidSignature") || log.contains("signature"),
        "{log}"
    );
    collector.shutdown().await.unwrap();
}

/// `-n` alone means AWS X-Ray in that region over https; with no credentials anywhere the
/// daemon never sends unsigned (nor anything at all): it counts `credentials` errors and keeps
/// the documents for later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_without_credentials_never_sends_unsigned() {
    let daemon = tokio::task::spawn_blocking(|| {
        DaemonProcess::spawn(
            binary(),
            &[
                "-n",
                "eu-north-1",
                "-o",
                "-b",
                "127.0.0.1:0",
                "-t",
                "127.0.0.1:0",
                "--telemetry-interval",
                "0s",
                "--shutdown-grace",
                "200ms",
            ],
            &[],
        )
    })
    .await
    .unwrap();
    assert!(
        daemon
            .log_text()
            .contains("endpoint=https://xray.eu-north-1.amazonaws.com"),
        "{}",
        daemon.log_text()
    );
    send_segments(daemon.udp, 2).await;
    let tcp = daemon.tcp;
    let errors = move || {
        metric(
            tcp,
            "fluoro_forwarder_send_errors_total{kind=\"credentials\"}",
        )
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while tokio::task::spawn_blocking(errors).await.unwrap() < 1.0 {
        assert!(Instant::now() < deadline, "{}", daemon.log_text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        tokio::task::spawn_blocking(move || metric(tcp, "fluoro_forwarder_documents_sent_total"))
            .await
            .unwrap(),
        0.0
    );
    let (_, log) = tokio::task::spawn_blocking(move || daemon.terminate())
        .await
        .unwrap();
    assert!(log.contains("no aws credentials"), "{log}");
}

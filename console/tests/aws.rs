//! The standalone `fluoro-console` binary against an HTTPS X-Ray endpoint on loopback (issue 6):
//! a local TLS server with a self-signed certificate answers canned X-Ray JSON and records the
//! `Authorization` headers. The certificate is refused by default, accepted with
//! `--no-verify-ssl` or when trusted through `AWS_CA_BUNDLE`; credentials reach the child
//! process through its environment and every call is SigV4-signed. Real AWS hosts are never
//! contacted. Signature verification by a real `fluoro-collector --auth-keys` is in
//! `collector/tests/console.rs`.

#[path = "../../collector/tests/pages/mod.rs"]
mod pages;

use std::convert::Infallible;
use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use pages::get;

const AKID: &str = "AKIDCONSOLETEST";
const SECRET: &str = "console/test+secret";

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

/// An X-Ray endpoint over TLS answering canned JSON; keeps the `Authorization` headers seen.
async fn canned_xray(cert: Vec<u8>, key: Vec<u8>) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
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
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let s = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, s) = (acceptor.clone(), Arc::clone(&s));
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let s = Arc::clone(&s);
                        async move {
                            if let Some(a) = req.headers().get("authorization") {
                                s.lock().unwrap().push(a.to_str().unwrap_or("").to_owned());
                            }
                            let body: &'static [u8] = match req.uri().path() {
                                "/ServiceGraph" => {
                                    br#"{"Services":[{"ReferenceId":0,"Name":"canned-svc","Names":["canned-svc"],"Type":"AWS::EC2::Instance","Edges":[]}]}"#
                                }
                                "/TraceSummaries" => br#"{"TraceSummaries":[]}"#,
                                _ => b"{}",
                            };
                            Ok::<_, Infallible>(hyper::Response::new(Full::new(
                                Bytes::from_static(body),
                            )))
                        }
                    },
                );
                // A client refusing our certificate ends the handshake: not an error here.
                if let Ok(tls) = acceptor.accept(tcp).await {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                }
            });
        }
    });
    (addr, seen)
}

/// The console binary; killed on drop.
struct Console {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fluoro-console"));
    // Only what the test gives: no credentials or region from the machine running the tests.
    cmd.env_clear()
        .env("HOME", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_COLOR", "1")
        .env("FLUORO_LOG", "info")
        .args(["--listen", "127.0.0.1:0"])
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Starts the console and reads its address from its log.
fn start_console(args: &[&str], env: &[(&str, &str)]) -> Console {
    let mut child = command(args, env)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("the console exited before listening")
            .unwrap();
        if let Some(rest) = line.split("fluoro-console on http://").nth(1) {
            let addr = rest.split_whitespace().next().unwrap();
            break addr
                .trim_end_matches(|c: char| !c.is_ascii_digit())
                .parse()
                .unwrap();
        }
    };
    // Keep draining the log so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Console { child, addr }
}

fn temp_file(tag: &str, text: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!(
        "fluoro-console-{tag}-{}-{:?}",
        std::process::id(),
        std::time::SystemTime::now()
    ));
    std::fs::write(&p, text).unwrap();
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_endpoint_self_signed_refused_then_accepted_and_every_call_signed() {
    let (pem, der, key) = certificate();
    let (xray, seen) = canned_xray(der, key).await;
    let api = format!("https://{xray}");
    let creds = [
        ("AWS_ACCESS_KEY_ID", AKID),
        ("AWS_SECRET_ACCESS_KEY", SECRET),
    ];
    let signed = ["--api", api.as_str(), "--sign", "--region", "us-east-1"];

    // Verified TLS (Mozilla's roots): the self-signed certificate is refused, and the page
    // says so instead of failing blankly.
    let strict = start_console(&signed, &creds);
    let page = get(strict.addr, "/map?range=5m").await;
    assert_eq!(page.status, 502, "{}", page.body);
    assert!(
        page.body.contains("cannot reach the X-Ray API"),
        "{}",
        page.body
    );
    assert!(page.body.contains("certificate"), "{}", page.body);
    drop(strict);
    assert!(seen.lock().unwrap().is_empty(), "no request got through");

    // --no-verify-ssl: any certificate; the pages load.
    let mut args = signed.to_vec();
    args.push("--no-verify-ssl");
    let loose = start_console(&args, &creds);
    let map = get(loose.addr, "/map?range=5m").await;
    assert_eq!(map.status, 200, "{}", map.body);
    assert!(map.body.contains("canned-svc"), "{}", map.body);
    let traces = get(loose.addr, "/traces?range=5m").await;
    assert_eq!(traces.status, 200, "{}", traces.body);
    drop(loose);

    // AWS_CA_BUNDLE: the certificate is trusted, verification stays on.
    let bundle = temp_file("ca", &pem);
    let mut env = creds.to_vec();
    env.push(("AWS_CA_BUNDLE", bundle.to_str().unwrap()));
    let trusted = start_console(&signed, &env);
    let map = get(trusted.addr, "/map?range=5m").await;
    assert_eq!(map.status, 200, "{}", map.body);
    assert!(map.body.contains("canned-svc"));
    drop(trusted);
    let _ = std::fs::remove_file(&bundle);

    let seen = seen.lock().unwrap();
    assert!(seen.len() >= 3, "{seen:?}");
    for a in seen.iter() {
        assert!(
            a.starts_with(&format!("AWS4-HMAC-SHA256 Credential={AKID}/"))
                && a.contains("/us-east-1/xray/aws4_request")
                && a.contains("SignedHeaders=content-type;host;x-amz-date"),
            "{a}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_credentials_and_unsigned_without_sign() {
    let (_, der, key) = certificate();
    let (xray, seen) = canned_xray(der, key).await;
    let api = format!("https://{xray}");
    // --profile picks a section of the shared credentials file.
    let file = temp_file(
        "credentials",
        "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = d\n\n[browse]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = p\n",
    );
    let env = [
        ("AWS_SHARED_CREDENTIALS_FILE", file.to_str().unwrap()),
        ("AWS_REGION", "eu-west-1"),
    ];
    let c = start_console(
        &[
            "--api",
            &api,
            "--sign",
            "--profile",
            "browse",
            "--no-verify-ssl",
        ],
        &env,
    );
    assert_eq!(get(c.addr, "/map?range=5m").await.status, 200);
    drop(c);
    let last = seen.lock().unwrap().pop().unwrap();
    assert!(
        last.starts_with("AWS4-HMAC-SHA256 Credential=AKIDPROFILE/")
            && last.contains("/eu-west-1/xray/"),
        "{last}"
    );
    // Without --sign, a non-AWS endpoint is read unsigned even with credentials around.
    let before = seen.lock().unwrap().len();
    let c = start_console(&["--api", &api, "--no-verify-ssl"], &env);
    assert_eq!(get(c.addr, "/map?range=5m").await.status, 200);
    drop(c);
    assert_eq!(seen.lock().unwrap().len(), before);
    let _ = std::fs::remove_file(&file);
}

#[test]
fn signing_without_a_region_is_refused_at_start() {
    for args in [
        &["--api", "http://127.0.0.1:1", "--sign"][..],
        &["--api", "https://xray.amazonaws.com"][..],
    ] {
        let out = command(args, &[]).output().unwrap();
        assert_eq!(out.status.code(), Some(64), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("no region is known"), "{stderr}");
    }
}

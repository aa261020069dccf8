//! The EC2 plugin against an IMDS-shaped HTTP server on `127.0.0.1:0` (there is no real
//! instance metadata service here): it answers the documented paths, `PUT /latest/api/token`
//! with the TTL header and `GET /latest/dynamic/instance-identity/document`, as IMDSv2 (token
//! required), IMDSv1 (no token needed, token refused) or IMDS that accepts connections but
//! never answers a token request. Segments sent over a real UDP socket must carry
//! `aws.ec2` and `origin` when IMDS answers, and simply lack them when it does not. Issue 7.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fluoro_proto::frame;
use fluoro_proto::segment::Segment;
use fluoro_sdk::Recorder;
use fluoro_sdk::config::{DaemonAddress, EnvConfig};
use fluoro_sdk::plugins::Plugin;
use fluoro_sdk::sampling::LocalRules;

const ALWAYS: &str = r#"{"version":2,"default":{"fixed_target":0,"rate":1}}"#;
const TOKEN: &str = "AQAEAFakeTokenForTests==";
const DOCUMENT: &str = r#"{
  "accountId" : "123456789012",
  "architecture" : "x86_64",
  "availabilityZone" : "eu-west-1b",
  "imageId" : "ami-0abcdef1234567890",
  "instanceId" : "i-0123456789abcdef0",
  "instanceType" : "m6i.large",
  "pendingTime" : "2026-11-27T08:00:00Z",
  "privateIp" : "10.0.1.23",
  "region" : "eu-west-1",
  "version" : "2017-09-30"
}"#;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// IMDSv2 required: the document only with a token.
    V2,
    /// IMDSv1: token requests refused (403), the document without a token.
    V1,
    /// Accepts connections and reads token requests but never answers them (a PUT response
    /// lost to a hop limit); the document without a token.
    TokenHangs,
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct Imds {
    endpoint: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

fn respond(stream: &mut std::net::TcpStream, status: &str, body: &str) {
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

impl Imds {
    fn start(mode: Mode) -> Imds {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let mut parts = line.split_whitespace();
                let method = parts.next().unwrap_or_default().to_owned();
                let path = parts.next().unwrap_or_default().to_owned();
                let mut headers = Vec::new();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.split_once(':') {
                        headers.push((k.trim().to_owned(), v.trim().to_owned()));
                    }
                }
                let req = Seen {
                    method,
                    path,
                    headers,
                };
                log.lock().unwrap().push(req.clone());
                match (req.method.as_str(), req.path.as_str(), mode) {
                    ("PUT", "/latest/api/token", Mode::V2) => {
                        match req.header("X-aws-ec2-metadata-token-ttl-seconds") {
                            Some(ttl)
                                if ttl.parse::<u32>().is_ok_and(|t| (1..=21600).contains(&t)) =>
                            {
                                respond(&mut stream, "200 OK", TOKEN);
                            }
                            _ => respond(&mut stream, "400 Bad Request", ""),
                        }
                    }
                    ("PUT", "/latest/api/token", Mode::V1) => {
                        respond(&mut stream, "403 Forbidden", "");
                    }
                    ("PUT", "/latest/api/token", Mode::TokenHangs) => {
                        // Hold the connection open without answering, then let it go.
                        std::thread::spawn(move || {
                            std::thread::sleep(Duration::from_secs(5));
                            drop(stream);
                        });
                    }
                    ("GET", "/latest/dynamic/instance-identity/document", Mode::V2) => {
                        if req.header("X-aws-ec2-metadata-token") == Some(TOKEN) {
                            respond(&mut stream, "200 OK", DOCUMENT);
                        } else {
                            respond(&mut stream, "401 Unauthorized", "");
                        }
                    }
                    ("GET", "/latest/dynamic/instance-identity/document", _) => {
                        respond(&mut stream, "200 OK", DOCUMENT);
                    }
                    _ => respond(&mut stream, "404 Not Found", ""),
                }
            }
        });
        Imds { endpoint, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

struct Daemon(UdpSocket);

impl Daemon {
    fn new() -> Daemon {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        Daemon(s)
    }

    fn recorder(&self, env: &[(&str, &str)]) -> Recorder {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Recorder::builder("web")
            .env(EnvConfig::from_lookup(|k| {
                env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
            }))
            .daemon(DaemonAddress::parse(&self.0.local_addr().unwrap().to_string()).unwrap())
            .sampling_rules(LocalRules::from_json(ALWAYS).unwrap())
            .plugin(Plugin::Ec2)
            .build()
    }

    /// One segment, sent and received.
    fn one_segment(&self, rec: &Recorder) -> Segment {
        drop(rec.begin_segment("web"));
        assert!(rec.flush(Duration::from_secs(5)));
        let mut buf = vec![0u8; 70_000];
        let n = self.0.recv(&mut buf).unwrap();
        Segment::from_json(frame::decode(&buf[..n]).unwrap().body).unwrap()
    }
}

fn assert_ec2(doc: &Segment) {
    assert_eq!(doc.origin.as_deref(), Some("AWS::EC2::Instance"));
    let ec2 = doc.aws.as_ref().unwrap().ec2.as_ref().unwrap();
    assert_eq!(ec2.instance_id.as_deref(), Some("i-0123456789abcdef0"));
    assert_eq!(ec2.availability_zone.as_deref(), Some("eu-west-1b"));
    assert_eq!(ec2.instance_size.as_deref(), Some("m6i.large"));
    assert_eq!(ec2.ami_id.as_deref(), Some("ami-0abcdef1234567890"));
    // The SDK block is still there beside it.
    assert!(doc.aws.as_ref().unwrap().xray.is_some());
}

#[test]
fn imdsv2_token_then_identity_document() {
    let imds = Imds::start(Mode::V2);
    let d = Daemon::new();
    let rec = d.recorder(&[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds.endpoint)]);
    assert!(rec.wait_for_plugins(Duration::from_secs(5)));
    assert_ec2(&d.one_segment(&rec));
    let seen = imds.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path.as_str()),
        ("PUT", "/latest/api/token")
    );
    assert!(
        seen[0]
            .header("X-aws-ec2-metadata-token-ttl-seconds")
            .is_some()
    );
    assert_eq!(seen[1].header("X-aws-ec2-metadata-token"), Some(TOKEN));
    assert!(seen[1].header("Host").unwrap().starts_with("127.0.0.1:"));
}

#[test]
fn falls_back_to_imdsv1_when_the_token_is_refused() {
    let imds = Imds::start(Mode::V1);
    let d = Daemon::new();
    let rec = d.recorder(&[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds.endpoint)]);
    assert!(rec.wait_for_plugins(Duration::from_secs(5)));
    assert_ec2(&d.one_segment(&rec));
    let seen = imds.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[1].method, "GET");
    assert!(seen[1].header("X-aws-ec2-metadata-token").is_none());
}

/// A token request that never gets an answer times out (1 s), then IMDSv1 answers; building
/// the recorder and recording segments meanwhile never wait for it.
#[test]
fn unanswered_token_request_times_out_without_blocking_the_host() {
    let imds = Imds::start(Mode::TokenHangs);
    let d = Daemon::new();
    let t = Instant::now();
    let rec = d.recorder(&[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds.endpoint)]);
    let early = d.one_segment(&rec);
    // Well under the 1 s token timeout: nothing waited for IMDS.
    assert!(
        t.elapsed() < Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );
    // Sent before IMDS answered: no EC2 fields yet, nothing else missing.
    assert!(early.origin.is_none());
    assert!(early.aws.as_ref().unwrap().ec2.is_none());
    assert!(rec.wait_for_plugins(Duration::from_secs(5)));
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(4),
        "{waited:?}"
    );
    assert_ec2(&d.one_segment(&rec));
}

#[test]
fn absent_or_disabled_imds_leaves_the_fields_out() {
    // Nothing listens on this port any more: connections are refused.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let d = Daemon::new();
    let rec = d.recorder(&[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &endpoint)]);
    assert!(rec.wait_for_plugins(Duration::from_secs(5)));
    let doc = d.one_segment(&rec);
    assert!(doc.origin.is_none());
    assert!(doc.aws.as_ref().unwrap().ec2.is_none());
    assert_eq!(rec.stats().send_errors, 0);

    // Disabled: no request at all.
    let imds = Imds::start(Mode::V2);
    let rec = d.recorder(&[
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds.endpoint),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]);
    assert!(rec.wait_for_plugins(Duration::from_secs(1)));
    let doc = d.one_segment(&rec);
    assert!(doc.aws.as_ref().unwrap().ec2.is_none());
    std::thread::sleep(Duration::from_millis(100));
    assert!(imds.seen().is_empty());

    // Not an http:// endpoint: logged, fields left out, never a panic.
    let rec = d.recorder(&[(
        "AWS_EC2_METADATA_SERVICE_ENDPOINT",
        "https://169.254.169.254",
    )]);
    assert!(rec.wait_for_plugins(Duration::from_secs(1)));
    assert!(d.one_segment(&rec).origin.is_none());
}

/// An origin set in code (or by a more specific plugin) is kept; `aws.ec2` is still filled.
#[test]
fn origin_set_in_code_is_kept() {
    let imds = Imds::start(Mode::V2);
    let d = Daemon::new();
    let rec = d.recorder(&[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds.endpoint)]);
    assert!(rec.wait_for_plugins(Duration::from_secs(5)));
    {
        let seg = rec.begin_segment("web");
        seg.update(|doc| doc.origin = Some("AWS::ECS::Container".to_owned()));
    }
    assert!(rec.flush(Duration::from_secs(5)));
    let mut buf = vec![0u8; 70_000];
    let n = d.0.recv(&mut buf).unwrap();
    let doc = Segment::from_json(frame::decode(&buf[..n]).unwrap().body).unwrap();
    assert_eq!(doc.origin.as_deref(), Some("AWS::ECS::Container"));
    assert!(doc.aws.unwrap().ec2.is_some());
}

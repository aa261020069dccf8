//! The EC2 instance metadata service (IMDS), just enough for the EC2 plugin: the instance
//! identity document, with an IMDSv2 session token and the IMDSv1 fallback the AWS SDKs use.
//!
//! A small HTTP/1.1 client over `std::net::TcpStream`: IMDS is plain HTTP on a link-local
//! address, so the SDK does not need `fluoro-aws` (and its TLS stack) or an async runtime for
//! it. Every connect and read has a timeout; it runs on its own thread (see
//! `plugins::start_ec2`), never on a caller's.

use std::fmt;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use fluoro_proto::segment::Ec2;

/// Where IMDS answers on every instance (IPv4).
pub(crate) const DEFAULT_ENDPOINT: &str = "http://169.254.169.254";
/// Connect and read timeout of each request (the Python SDK's `timeout=1`).
pub(crate) const TIMEOUT: Duration = Duration::from_secs(1);
/// Token lifetime asked for: the token is used once, right away (Python and Node ask for 60 s).
const TOKEN_TTL_SECONDS: &str = "60";
const TOKEN_PATH: &str = "/latest/api/token";
const TTL_HEADER: &str = "X-aws-ec2-metadata-token-ttl-seconds";
const TOKEN_HEADER: &str = "X-aws-ec2-metadata-token";
pub(crate) const IDENTITY_PATH: &str = "/latest/dynamic/instance-identity/document";
/// Responses larger than this are refused (the identity document is under 1 KiB).
const MAX_RESPONSE: usize = 64 * 1024;

/// Why the identity document could not be read.
#[derive(Debug)]
pub(crate) enum ImdsError {
    /// The endpoint is not `http://host[:port]`.
    Endpoint(String),
    /// Connecting, writing or reading failed (includes timeouts).
    Io(std::io::Error),
    /// Not an HTTP response we can read.
    Malformed(&'static str),
    /// A status other than 200.
    Status(u16),
    /// The document is not JSON with an `instanceId`.
    Document(String),
}

impl fmt::Display for ImdsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImdsError::Endpoint(e) => write!(f, "endpoint {e:?}: expected http://host[:port]"),
            ImdsError::Io(e) => write!(f, "{e}"),
            ImdsError::Malformed(what) => write!(f, "malformed HTTP response: {what}"),
            ImdsError::Status(s) => write!(f, "HTTP status {s}"),
            ImdsError::Document(e) => write!(f, "instance identity document: {e}"),
        }
    }
}

impl From<std::io::Error> for ImdsError {
    fn from(e: std::io::Error) -> Self {
        ImdsError::Io(e)
    }
}

/// An IMDS endpoint: `http://host[:port]` (IPv6 literals in brackets), as in
/// `AWS_EC2_METADATA_SERVICE_ENDPOINT`.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    /// `host[:port]` as written, for the `Host` header.
    authority: String,
    host: String,
    port: u16,
    timeout: Duration,
}

impl Client {
    pub(crate) fn new(endpoint: &str, timeout: Duration) -> Result<Client, ImdsError> {
        let bad = || ImdsError::Endpoint(endpoint.to_owned());
        let rest = endpoint.trim().strip_prefix("http://").ok_or_else(bad)?;
        let authority = rest.split('/').next().unwrap_or_default();
        if authority.is_empty() {
            return Err(bad());
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(bad)?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| bad())?,
                None if after.is_empty() => 80,
                None => return Err(bad()),
            };
            (h, port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, p.parse().map_err(|_| bad())?),
                None => (authority, 80),
            }
        };
        if host.is_empty() {
            return Err(bad());
        }
        Ok(Client {
            authority: authority.to_owned(),
            host: host.to_owned(),
            port,
            timeout,
        })
    }

    /// One request on a new connection (`Connection: close`): the status and the body.
    fn request(
        &self,
        method: &str,
        path: &str,
        header: (&str, &str),
    ) -> Result<(u16, Vec<u8>), ImdsError> {
        let deadline = Instant::now() + self.timeout;
        let addrs: Vec<SocketAddr> = (self.host.as_str(), self.port).to_socket_addrs()?.collect();
        let mut last = None;
        let mut stream = None;
        for a in addrs {
            match TcpStream::connect_timeout(&a, self.timeout) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let mut stream = match stream {
            Some(s) => s,
            None => {
                return Err(ImdsError::Io(last.unwrap_or_else(|| {
                    std::io::Error::other("the endpoint resolves to no address")
                })));
            }
        };
        stream.set_write_timeout(Some(self.timeout))?;
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: fluoro-sdk/{}\r\n{}: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.authority,
            env!("CARGO_PKG_VERSION"),
            header.0,
            header.1,
        );
        stream.write_all(req.as_bytes())?;
        let mut buf = Vec::with_capacity(1024);
        let mut chunk = [0u8; 2048];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ImdsError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "response not complete within the timeout",
                )));
            }
            stream.set_read_timeout(Some(left))?;
            let n = stream.read(&mut chunk)?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.len() > MAX_RESPONSE {
                return Err(ImdsError::Malformed("response too large"));
            }
            // Done as soon as the whole body is there, without waiting for the server to close.
            if let Ok(Some(done)) = parse_response(&buf, false) {
                return Ok(done);
            }
        }
        parse_response(&buf, true)?.ok_or(ImdsError::Malformed("truncated"))
    }

    /// The IMDSv2 session token; `None` when IMDS refuses or does not answer (IMDSv1 only,
    /// or a PUT response that a hop limit of 1 dropped in a container).
    fn token(&self) -> Result<String, ImdsError> {
        let (status, body) = self.request("PUT", TOKEN_PATH, (TTL_HEADER, TOKEN_TTL_SECONDS))?;
        if status != 200 {
            return Err(ImdsError::Status(status));
        }
        let t = String::from_utf8_lossy(&body).trim().to_owned();
        if t.is_empty() {
            return Err(ImdsError::Malformed("empty token"));
        }
        Ok(t)
    }

    fn document(&self, token: Option<&str>) -> Result<Ec2, ImdsError> {
        // IMDSv1 needs no header; an extra harmless one keeps one request shape.
        let header = match token {
            Some(t) => (TOKEN_HEADER, t),
            None => ("Accept", "application/json"),
        };
        let (status, body) = self.request("GET", IDENTITY_PATH, header)?;
        if status != 200 {
            return Err(ImdsError::Status(status));
        }
        parse_identity(&body)
    }

    /// The `aws.ec2` block from the instance identity document: IMDSv2 first, IMDSv1 when
    /// the token or the IMDSv2 request fails (as the Node and Python SDKs do).
    pub(crate) fn identity(&self) -> Result<Ec2, ImdsError> {
        match self.token() {
            Ok(t) => match self.document(Some(&t)) {
                Ok(d) => return Ok(d),
                Err(e) => {
                    tracing::debug!(error = %e, "fluoro-sdk: EC2 plugin: IMDSv2 document failed, trying IMDSv1");
                }
            },
            Err(e) => {
                tracing::debug!(error = %e, "fluoro-sdk: EC2 plugin: no IMDSv2 token, trying IMDSv1");
            }
        }
        self.document(None)
    }
}

/// The status and body of a complete response in `buf` (`eof`: the server has closed);
/// `Ok(None)` while more is needed.
fn parse_response(buf: &[u8], eof: bool) -> Result<Option<(u16, Vec<u8>)>, ImdsError> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| ImdsError::Malformed("head"))?;
    let body = &buf[end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.split(' ');
    if !parts.next().is_some_and(|v| v.starts_with("HTTP/1.")) {
        return Err(ImdsError::Malformed("status line"));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or(ImdsError::Malformed("status code"))?;
    let mut length = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| ImdsError::Malformed("content-length"))?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        }
    }
    if chunked {
        return Ok(dechunk(body)?.map(|b| (status, b)));
    }
    Ok(match length {
        Some(n) if body.len() >= n => Some((status, body[..n].to_vec())),
        Some(_) => None,
        // No length: the body ends when the server closes the connection.
        None => eof.then(|| (status, body.to_vec())),
    })
}

/// A chunked body; `Ok(None)` until the last chunk is there.
fn dechunk(mut b: &[u8]) -> Result<Option<Vec<u8>>, ImdsError> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let size_text =
            std::str::from_utf8(&b[..eol]).map_err(|_| ImdsError::Malformed("chunk"))?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size =
            usize::from_str_radix(size_text, 16).map_err(|_| ImdsError::Malformed("chunk size"))?;
        b = &b[eol + 2..];
        if size == 0 {
            return Ok(Some(out));
        }
        if b.len() < size + 2 {
            return Ok(None);
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

/// `aws.ec2` from the identity document's `instanceId`, `availabilityZone`, `instanceType`
/// (written as `instance_size`, as the Java and Node SDKs do) and `imageId`.
pub(crate) fn parse_identity(body: &[u8]) -> Result<Ec2, ImdsError> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| ImdsError::Document(e.to_string()))?;
    let s = |k: &str| {
        v.get(k)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    let instance_id = s("instanceId").ok_or_else(|| ImdsError::Document("no instanceId".into()))?;
    Ok(Ec2 {
        instance_id: Some(instance_id),
        availability_zone: s("availabilityZone"),
        instance_size: s("instanceType"),
        ami_id: s("imageId"),
        ..Ec2::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let c = Client::new("http://169.254.169.254", TIMEOUT).unwrap();
        assert_eq!((c.host.as_str(), c.port), ("169.254.169.254", 80));
        let c = Client::new("http://127.0.0.1:8080/", TIMEOUT).unwrap();
        assert_eq!(
            (c.host.as_str(), c.port, c.authority.as_str()),
            ("127.0.0.1", 8080, "127.0.0.1:8080")
        );
        let c = Client::new("http://[fd00:ec2::254]", TIMEOUT).unwrap();
        assert_eq!((c.host.as_str(), c.port), ("fd00:ec2::254", 80));
        let c = Client::new("http://[::1]:1338", TIMEOUT).unwrap();
        assert_eq!((c.host.as_str(), c.port), ("::1", 1338));
        for bad in [
            "",
            "169.254.169.254",
            "https://169.254.169.254",
            "http://",
            "http://h:x",
            "http://[::1",
        ] {
            assert!(Client::new(bad, TIMEOUT).is_err(), "{bad}");
        }
    }

    #[test]
    fn responses() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        assert_eq!(
            parse_response(r, false).unwrap(),
            Some((200, b"hello".to_vec()))
        );
        // Incomplete body, then the rest.
        assert_eq!(parse_response(&r[..r.len() - 1], false).unwrap(), None);
        // No length: complete when the server closes.
        let r = b"HTTP/1.0 404 Not Found\r\n\r\nnope";
        assert_eq!(parse_response(r, false).unwrap(), None);
        assert_eq!(
            parse_response(r, true).unwrap(),
            Some((404, b"nope".to_vec()))
        );
        let r = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;x=y\r\n abc\r\n0\r\n\r\n";
        assert_eq!(
            parse_response(r, false).unwrap(),
            Some((200, b"hello ab".to_vec()))
        );
        assert!(parse_response(b"SSH-2.0-OpenSSH\r\n\r\n", true).is_err());
        assert!(parse_response(b"HTTP/1.1 abc\r\n\r\n", true).is_err());
    }

    #[test]
    fn identity_document() {
        let e = parse_identity(
            br#"{"instanceId":"i-1","availabilityZone":"us-east-1a","instanceType":"t3.micro","imageId":"ami-1","region":"us-east-1"}"#,
        )
        .unwrap();
        assert_eq!(e.instance_id.as_deref(), Some("i-1"));
        assert_eq!(e.availability_zone.as_deref(), Some("us-east-1a"));
        assert_eq!(e.instance_size.as_deref(), Some("t3.micro"));
        assert_eq!(e.ami_id.as_deref(), Some("ami-1"));
        assert!(e.instance_type.is_none());
        assert!(parse_identity(b"{}").is_err());
        assert!(parse_identity(b"<html>").is_err());
    }
}

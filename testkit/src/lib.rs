//! Test support shared by the workspace's tests and load tools: where the real SDK captures
//! are, their datagrams in arrival order, and a plain HTTP/1.1 exchange written by hand, so
//! that a test never goes through the HTTP client of the code it tests.
//!
//! Dev-only: crates take it as a dev-dependency, never as a dependency. It depends on nothing,
//! so any crate (`fluoro-proto` included) can use it without a second copy of its own types.

use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the captures are: `FLUORO_FIXTURES`, else `shared/fixtures` beside the checkout.
pub fn fixtures_dir() -> PathBuf {
    std::env::var_os("FLUORO_FIXTURES").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures"),
        PathBuf::from,
    )
}

/// The bytes of every datagram one SDK (`python`, `node`) sent, in arrival order (the `.dgram`
/// files in name order). Panics, saying where it looked, when there are none.
pub fn fixture_datagrams(sdk: &str) -> Vec<Vec<u8>> {
    let dir = fixtures_dir().join(sdk);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!(
                "fixtures missing at {}: {e} (set FLUORO_FIXTURES)",
                dir.display()
            )
        })
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "dgram"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .dgram files in {}", dir.display());
    files
        .iter()
        .map(|f| std::fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display())))
        .collect()
}

/// One HTTP/1.1 exchange on a fresh connection (`Connection: close`, JSON content type, 30 s
/// read timeout): the status and the body. Blocking; from async code, run it with
/// `spawn_blocking`. A response without a status line gives status 0.
pub fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut s =
        std::net::TcpStream::connect(addr).unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    // The body is returned as sent: a chunked one would need decoding first.
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{head}"
    );
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, body.to_owned())
}

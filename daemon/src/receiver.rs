//! The UDP receiver: one socket with a large receive buffer, read by a dedicated thread with
//! blocking `recv` (no async wake-up per datagram: at 100k datagrams/s that overhead decided
//! whether the kernel buffer overflowed), one datagram at a time through
//! `fluoro_proto::frame::decode`; good bodies go to the [`Buffer`] verbatim, rejected datagrams
//! are counted by reason (the `FrameError` labels) and logged at debug level. Nothing a sender
//! puts in a datagram can make it fail: every input ends in a counter.
//!
//! Depends on the proto crate for framing; never on the forwarder or the network beyond its socket.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use fluoro_proto::frame::{self, MAX_DATAGRAM_LEN};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::sync::{oneshot, watch};

use crate::buffer::Buffer;
use crate::metrics::Metrics;

/// Receive buffer asked of the kernel (`SO_RCVBUF`): enough for bursts of a few thousand
/// datagrams while the receiver is busy. The kernel may grant less (`net.core.rmem_max`).
pub const SOCKET_RECEIVE_BUFFER: usize = 4 * 1024 * 1024;

/// How long a blocking `recv` waits before the thread looks at the stop flag and the kernel's
/// drop count.
const RECV_TIMEOUT: Duration = Duration::from_millis(100);
/// Stack of the receiver thread: it holds a 64 KiB datagram buffer on the heap and little else.
const RECEIVER_STACK: usize = 256 * 1024;

/// Binds the UDP socket (blocking, with a receive timeout) with a large receive buffer; returns
/// it and the size obtained.
pub fn bind(addr: SocketAddr) -> io::Result<(UdpSocket, usize)> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if let Err(e) = socket.set_recv_buffer_size(SOCKET_RECEIVE_BUFFER) {
        tracing::warn!(error = %e, "cannot set the UDP receive buffer size");
    }
    socket.bind(&addr.into())?;
    socket.set_read_timeout(Some(RECV_TIMEOUT))?;
    let obtained = socket.recv_buffer_size().unwrap_or(0);
    Ok((socket.into(), obtained))
}

/// How often the kernel's drop count for the socket is read.
const KERNEL_DROPS_POLL: std::time::Duration = std::time::Duration::from_secs(1);

/// The kernel's count of datagrams dropped on the UDP socket bound to `addr`, from
/// `/proc/net/udp` (`/proc/net/udp6` for IPv6); `None` where that file does not exist.
pub fn kernel_drops(addr: SocketAddr) -> Option<u64> {
    let file = if addr.is_ipv4() {
        "/proc/net/udp"
    } else {
        "/proc/net/udp6"
    };
    parse_proc_net_udp(&std::fs::read_to_string(file).ok()?, addr.port())
}

/// The `drops` column of the row whose local port is `port` (summed if several match).
fn parse_proc_net_udp(text: &str, port: u16) -> Option<u64> {
    let want = format!(":{port:04X}");
    let mut found = None;
    for line in text.lines().skip(1) {
        let mut cols = line.split_whitespace();
        let Some(local) = cols.nth(1) else { continue };
        if !local.ends_with(&want) {
            continue;
        }
        if let Some(drops) = line
            .split_whitespace()
            .last()
            .and_then(|d| d.parse::<u64>().ok())
        {
            found = Some(found.unwrap_or(0) + drops);
        }
    }
    found
}

/// The receiver task.
#[derive(Debug)]
pub struct Receiver {
    socket: UdpSocket,
    buffer: Arc<Buffer>,
    metrics: Arc<Metrics>,
}

impl Receiver {
    /// A receiver reading `socket` into `buffer`.
    pub fn new(socket: UdpSocket, buffer: Arc<Buffer>, metrics: Arc<Metrics>) -> Receiver {
        Receiver {
            socket,
            buffer,
            metrics,
        }
    }

    /// Reads datagrams on a dedicated thread until `stop` turns true (or its sender is gone);
    /// returns once the thread has finished.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let flag = Arc::new(AtomicBool::new(false));
        let (done_tx, done_rx) = oneshot::channel::<()>();
        let f = Arc::clone(&flag);
        let spawned = std::thread::Builder::new()
            .name("fluoro-udp".into())
            .stack_size(RECEIVER_STACK)
            .spawn(move || {
                self.blocking_loop(&f);
                let _ = done_tx.send(());
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the udp receiver thread");
            return;
        }
        loop {
            if stop.changed().await.is_err() || *stop.borrow() {
                break;
            }
        }
        flag.store(true, Ordering::Relaxed);
        let _ = done_rx.await;
    }

    fn blocking_loop(&self, stop: &AtomicBool) {
        // One byte more than the largest datagram we accept, so an oversized one shows as such.
        let mut buf = vec![0u8; MAX_DATAGRAM_LEN + 1];
        let local = self.socket.local_addr().ok();
        let mut next_drops_poll = Instant::now();
        let mut logged_drops = 0;
        while !stop.load(Ordering::Relaxed) {
            match self.socket.recv(&mut buf) {
                Ok(n) => self.handle(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => {
                    // ICMP errors and the like: nothing to do but note it and go on.
                    tracing::debug!(error = %e, "udp receive error");
                }
            }
            if Instant::now() >= next_drops_poll {
                next_drops_poll = Instant::now() + KERNEL_DROPS_POLL;
                if let Some(drops) = local.and_then(kernel_drops) {
                    self.metrics.set_kernel_drops(drops);
                    if drops > logged_drops {
                        tracing::warn!(
                            total = drops,
                            "the kernel dropped datagrams: the socket buffer was full"
                        );
                        logged_drops = drops;
                    }
                }
            }
        }
    }

    /// Handles one datagram.
    pub fn handle(&self, datagram: &[u8]) {
        handle_datagram(&self.buffer, &self.metrics, datagram);
    }
}

/// Counts, checks and queues one datagram.
pub fn handle_datagram(buffer: &Buffer, metrics: &Metrics, datagram: &[u8]) {
    metrics.datagram_received();
    match frame::decode(datagram) {
        Ok(f) => {
            metrics.document_accepted();
            buffer.push(f.body.to_owned());
        }
        Err(e) => {
            metrics.datagram_rejected(e.reason());
            tracing::debug!(error = %e, len = datagram.len(), "datagram rejected");
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn proc_net_udp_drops() {
        let text = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
  40: 0100007F:07D0 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 81234 2 0000000000000000 17\n\
  41: 0100007F:1F90 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 81235 2 0000000000000000 3\n";
        assert_eq!(super::parse_proc_net_udp(text, 2000), Some(17));
        assert_eq!(super::parse_proc_net_udp(text, 8080), Some(3));
        assert_eq!(super::parse_proc_net_udp(text, 9), None);
    }

    #[test]
    fn our_own_socket_is_found() {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        assert_eq!(super::kernel_drops(sock.local_addr().unwrap()), Some(0));
    }

    use super::*;

    #[test]
    fn every_input_ends_in_a_counter() {
        let m = Arc::new(Metrics::default());
        let b = Arc::new(Buffer::new(1 << 20, Arc::clone(&m)));
        let good = b"{\"format\":\"json\",\"version\":1}\n{\"id\":\"1\"}".as_slice();
        let spaced = b"{\"format\": \"json\", \"version\": 1}\n{}".as_slice();
        let oversize = {
            let mut v = b"{\"format\":\"json\",\"version\":1}\n".to_vec();
            v.resize(70_000, b' ');
            v
        };
        let cases: &[(&[u8], Option<&str>)] = &[
            (good, None),
            (spaced, None),
            (b"", Some("missing_newline")),
            (
                b"{\"format\":\"json\",\"version\":1}",
                Some("missing_newline"),
            ),
            (b"{\"format\":\"json\",\"version\":1}\n", Some("empty_body")),
            (
                b"{\"format\":\"json\",\"version\":2}\n{}",
                Some("unsupported_version"),
            ),
            (
                b"{\"format\":\"xml\",\"version\":1}\n{}",
                Some("unsupported_format"),
            ),
            (b"\xff\xfe\x00garbage\n\x01", Some("header_not_json")),
            (
                b"{\"format\":\"json\",\"version\":1}\n\xff",
                Some("body_not_utf8"),
            ),
            (&oversize, Some("too_large")),
        ];
        for (dgram, reason) in cases {
            let before = m.snapshot();
            handle_datagram(&b, &m, dgram);
            let after = m.snapshot();
            assert_eq!(after.datagrams_received, before.datagrams_received + 1);
            match reason {
                None => assert_eq!(after.documents_accepted, before.documents_accepted + 1),
                Some(r) => assert_eq!(after.rejected[r], before.rejected[r] + 1, "{r}"),
            }
        }
        assert_eq!(b.len(), 2);
        let (docs, _) = b.take(10).unwrap();
        assert_eq!(docs, ["{\"id\":\"1\"}", "{}"]);
    }

    #[test]
    fn binds_with_a_receive_buffer() {
        let (sock, size) = bind(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
        assert!(sock.local_addr().unwrap().port() != 0);
        assert!(size > 0);
    }
}

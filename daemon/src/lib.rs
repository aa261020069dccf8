//! `fluoro-daemon`: a drop-in replacement for the AWS X-Ray daemon that loses nothing.
//!
//! It owns the sidecar path from SDK to API: X-Ray SDKs send segment documents as UDP datagrams
//! (`{"format":"json","version":1}\n<document>`); the daemon checks the framing, buffers the
//! documents in bounded memory, batches them and forwards them with `PutTraceSegments` to an
//! X-Ray API endpoint (a `fluoro-collector` by default). Its TCP port proxies the SDKs' sampling
//! calls to the same endpoint. It takes the AWS daemon's flags and `cfg.yaml` keys.
//!
//! Module map, in the order data flows:
//! - [`config`]: flags, `cfg.yaml`, validation (before any socket is bound);
//! - [`receiver`]: the UDP socket and per-datagram framing checks;
//! - [`buffer`]: bounded memory (queued and in-flight documents), drop-oldest when full;
//! - [`forward`]: the batcher, the concurrent senders with retries, the spool drainer;
//! - [`spool`]: batches on disk while the endpoint is unreachable or throttling;
//! - [`client`]: HTTP to the endpoint (TCP, the `CONNECT` proxy and TLS under it come from
//!   `fluoro_aws::connect`; AWS endpoints, SigV4 signing and the credential chain from
//!   `fluoro-aws`, shared with the console);
//! - [`proxy`]: the TCP sampling proxy, `/metrics` and `/health`;
//! - [`metrics`]: counters for every received, rejected, dropped, sent and spooled document.
//!
//! It depends on `fluoro-proto` for the wire contract (and SigV4) and on `fluoro-aws` for AWS I/O,
//! and on nothing else of Fluoro: never on the SDK or the console; the collector only as a
//! dev-dependency, for end-to-end tests.

pub mod buffer;
pub mod client;
pub mod config;
pub mod forward;
pub mod metrics;
pub mod proxy;
pub mod receiver;
pub mod spool;
pub mod telemetry;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use fluoro_aws::{self as aws, connect};
use tokio::sync::{Mutex, mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use config::Config;
use config::ConfigError;
pub use metrics::Snapshot;

use buffer::Buffer;
use client::{Client, Endpoint};
use forward::{Batcher, Drainer, Forwarder};
use metrics::Metrics;
use proxy::HttpState;
use spool::{Spool, SpoolError};

/// Why the daemon could not start or stopped badly.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The configuration is unusable (exit status 64).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The spool directory cannot be used.
    #[error(transparent)]
    Spool(#[from] SpoolError),
    /// A listen address could not be bound.
    #[error("cannot listen on {what} {addr}: {source}")]
    Bind {
        /// `udp`, `tcp` or `admin`.
        what: &'static str,
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// What shutdown could not deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Counters at the end.
    pub totals: Snapshot,
    /// Documents left in the spool for the next run.
    pub spooled_documents: u64,
}

/// A running daemon.
#[derive(Debug)]
pub struct Daemon {
    udp_addr: SocketAddr,
    tcp_addr: SocketAddr,
    admin_addr: SocketAddr,
    metrics: Arc<Metrics>,
    spool: Option<Arc<Spool>>,
    grace: std::time::Duration,
    stop_receiver: watch::Sender<bool>,
    stop_batcher: watch::Sender<bool>,
    stop_drainer: watch::Sender<bool>,
    stop_http: watch::Sender<bool>,
    give_up: watch::Sender<Option<Instant>>,
    receiver: JoinHandle<()>,
    batcher: JoinHandle<()>,
    senders: Vec<JoinHandle<()>>,
    drainer: Option<JoinHandle<()>>,
    http: Vec<JoinHandle<()>>,
    telemetry: Option<JoinHandle<()>>,
}

impl Daemon {
    /// The UDP address (useful with port 0).
    pub fn udp_addr(&self) -> SocketAddr {
        self.udp_addr
    }

    /// The TCP address of the sampling proxy.
    pub fn tcp_addr(&self) -> SocketAddr {
        self.tcp_addr
    }

    /// Where `/metrics` and `/health` are served (the TCP address without `--admin`).
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// The counters so far.
    pub fn snapshot(&self) -> Snapshot {
        self.metrics.snapshot()
    }

    /// Batches, documents and bytes in the spool (zeros without one).
    pub fn spool_usage(&self) -> (usize, u64, u64) {
        self.spool.as_ref().map_or((0, 0, 0), |s| s.usage())
    }

    /// Stops receiving, sends what is buffered within the grace period (spooling what cannot be
    /// sent, when there is a spool), stops the proxy, and reports what was left undelivered.
    pub async fn shutdown(self) -> ShutdownReport {
        let _ = self.stop_receiver.send(true);
        let _ = self.receiver.await;
        let _ = self.give_up.send(Some(Instant::now() + self.grace));
        let _ = self.stop_batcher.send(true);
        let _ = self.batcher.await;
        for s in self.senders {
            let _ = s.await;
        }
        let _ = self.stop_drainer.send(true);
        if let Some(d) = self.drainer {
            let _ = d.await;
        }
        let _ = self.stop_http.send(true);
        for h in self.http {
            let _ = h.await;
        }
        if let Some(t) = self.telemetry {
            let _ = t.await;
        }
        let totals = self.metrics.snapshot();
        let spooled_documents = self.spool.as_ref().map_or(0, |s| s.usage().1);
        let dropped = totals.dropped_total();
        if dropped > 0 || spooled_documents > 0 {
            tracing::warn!(
                dropped,
                dropped_by_reason = ?totals.dropped,
                left_in_spool = spooled_documents,
                "daemon stopped; not everything was delivered"
            );
        } else {
            tracing::info!(
                received = totals.datagrams_received,
                sent = totals.documents_sent,
                rejected = totals.rejected_total(),
                "daemon stopped; everything accepted was delivered"
            );
        }
        ShutdownReport {
            totals,
            spooled_documents,
        }
    }
}

async fn bind_tcp(
    what: &'static str,
    addr: SocketAddr,
) -> Result<(tokio::net::TcpListener, SocketAddr), RunError> {
    let err = |source| RunError::Bind { what, addr, source };
    let l = tokio::net::TcpListener::bind(addr).await.map_err(err)?;
    let bound = l.local_addr().map_err(err)?;
    Ok((l, bound))
}

fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "http listener failed");
        }
    })
}

/// Whether and how requests are signed: always towards AWS (a region is then required, from the
/// configuration or the endpoint's host name) or with `--role-arn`; towards another endpoint
/// when a region is known and credentials are found.
fn signer_for(
    config: &Config,
    endpoint: &Endpoint,
    direct: connect::HttpClient,
    outbound: connect::HttpClient,
) -> Result<Option<Arc<aws::Signer>>, ConfigError> {
    let is_aws = aws::is_aws_host(endpoint.host());
    let region = config.region.clone().or_else(|| {
        is_aws
            .then(|| aws::region_of_host(endpoint.host()).map(str::to_owned))
            .flatten()
    });
    let required = is_aws || config.role_arn.is_some();
    let Some(region) = region else {
        if required {
            return Err(ConfigError(format!(
                "requests to {} must be signed and no region is known: give -n/--region, Region or AWS_REGION",
                endpoint.authority()
            )));
        }
        return Ok(None);
    };
    let mut credentials = aws::CredentialsProvider::new(
        config.env.clone(),
        config.local_mode,
        config.role_arn.clone(),
        region.clone(),
        direct,
        outbound,
    );
    if !required {
        credentials =
            credentials.with_retry_after_failure(aws::credentials::RETRY_AFTER_FAILURE_OPTIONAL);
    }
    let credentials = Arc::new(credentials);
    Ok(Some(Arc::new(aws::Signer::new(
        region,
        credentials,
        required,
    ))))
}

/// Validates the configuration, opens the spool, binds the sockets and starts every task.
pub async fn start(config: Config) -> Result<Daemon, RunError> {
    config.validate()?;
    let endpoint = Endpoint::parse(&config.endpoint)?;
    let tls = connect::tls_config(
        config.no_verify_ssl,
        config.env.get("AWS_CA_BUNDLE").map(std::path::Path::new),
    )
    .map_err(|e| ConfigError(e.to_string()))?;
    let proxy = config
        .proxy_address
        .as_deref()
        .map(|p| config.proxy_uri(p))
        .transpose()?;
    let outbound = connect::http_client(tls.clone(), proxy.as_ref(), config.concurrency + 2);
    let direct = connect::http_client(tls, None, 1);
    let signer = signer_for(&config, &endpoint, direct, outbound.clone())?;
    let metrics = Arc::new(Metrics::default());
    let spool = match &config.spool_dir {
        Some(dir) => Some(Arc::new(Spool::open(
            dir,
            config.spool_size_mb * 1024 * 1024,
            Arc::clone(&metrics),
        )?)),
        None => None,
    };

    let (udp, rcvbuf) = receiver::bind(config.udp_addr).map_err(|source| RunError::Bind {
        what: "udp",
        addr: config.udp_addr,
        source,
    })?;
    let udp_addr = udp.local_addr().map_err(|source| RunError::Bind {
        what: "udp",
        addr: config.udp_addr,
        source,
    })?;
    metrics.set_socket_receive_buffer(rcvbuf);
    if rcvbuf < receiver::SOCKET_RECEIVE_BUFFER {
        tracing::warn!(
            requested = receiver::SOCKET_RECEIVE_BUFFER,
            obtained = rcvbuf,
            "the kernel granted a smaller UDP receive buffer; bursts may be dropped by the kernel (raise net.core.rmem_max)"
        );
    }
    let (tcp, tcp_addr) = bind_tcp("tcp", config.tcp_addr).await?;
    let admin = match config.admin_addr {
        Some(a) => Some(bind_tcp("admin", a).await?),
        None => None,
    };
    let admin_addr = admin.as_ref().map_or(tcp_addr, |(_, a)| *a);

    let capacity = usize::try_from(config.buffer_memory_mb * 1024 * 1024).unwrap_or(usize::MAX);
    let buffer = Arc::new(Buffer::new(capacity, Arc::clone(&metrics)));
    let signing = signer
        .as_ref()
        .map(|s| (s.region().to_owned(), s.required()));
    let client = Client::new(endpoint, outbound, signer);
    let (give_up, give_up_rx) = watch::channel(None);
    let fwd = Arc::new(Forwarder::new(
        client.clone(),
        Arc::clone(&metrics),
        spool.clone(),
        give_up_rx,
    ));

    let (stop_receiver, stop_receiver_rx) = watch::channel(false);
    let (stop_batcher, stop_batcher_rx) = watch::channel(false);
    let (stop_drainer, stop_drainer_rx) = watch::channel(false);
    let (stop_http, stop_http_rx) = watch::channel(false);

    let (tx, rx) = mpsc::channel(config.concurrency);
    let queue = Arc::new(Mutex::new(rx));
    let senders = (0..config.concurrency)
        .map(|_| tokio::spawn(forward::sender(Arc::clone(&queue), Arc::clone(&fwd))))
        .collect();
    let batcher =
        tokio::spawn(Batcher::new(Arc::clone(&buffer), tx, Arc::clone(&fwd)).run(stop_batcher_rx));
    let drainer = spool
        .as_ref()
        .map(|s| tokio::spawn(Drainer::new(Arc::clone(s), Arc::clone(&fwd)).run(stop_drainer_rx)));
    let receiver = tokio::spawn(
        receiver::Receiver::new(udp, Arc::clone(&buffer), Arc::clone(&metrics))
            .run(stop_receiver_rx),
    );

    let telemetry = (!config.telemetry_interval.is_zero()).then(|| {
        tokio::spawn(telemetry::run(
            client.clone(),
            Arc::clone(&metrics),
            config.telemetry_interval,
            config.resource_arn.clone(),
            config.env.get("AWS_HOSTNAME").map(str::to_owned),
            stop_http_rx.clone(),
        ))
    });
    let state = Arc::new(HttpState {
        client,
        metrics: Arc::clone(&metrics),
        buffer,
        spool: spool.clone(),
    });
    let mut http = vec![serve(
        tcp,
        proxy::proxy_router(Arc::clone(&state), admin.is_none()),
        stop_http_rx.clone(),
    )];
    if let Some((listener, _)) = admin {
        http.push(serve(listener, proxy::admin_router(state), stop_http_rx));
    }

    tracing::info!(
        udp = %udp_addr,
        tcp = %tcp_addr,
        admin = %admin_addr,
        endpoint = %config.endpoint,
        buffer_memory_mb = config.buffer_memory_mb,
        socket_receive_buffer = rcvbuf,
        concurrency = config.concurrency,
        spool = ?config.spool_dir,
        signing = ?signing,
        proxy = ?config.proxy_address,
        no_verify_ssl = config.no_verify_ssl,
        "fluoro-daemon listening"
    );
    Ok(Daemon {
        udp_addr,
        tcp_addr,
        admin_addr,
        metrics,
        spool,
        grace: config.shutdown_grace,
        stop_receiver,
        stop_batcher,
        stop_drainer,
        stop_http,
        give_up,
        receiver,
        batcher,
        senders,
        drainer,
        http,
        telemetry,
    })
}

/// Runs the daemon until `shutdown` completes, then shuts it down.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> Result<ShutdownReport, RunError> {
    let daemon = start(config).await?;
    shutdown.await;
    tracing::info!("shutting down: flushing the buffer");
    Ok(daemon.shutdown().await)
}

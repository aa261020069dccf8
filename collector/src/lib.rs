//! `fluoro-collector`: where traces live.
//!
//! It serves the AWS X-Ray HTTP API (same paths and shapes as AWS, routed by path), stores
//! segment documents in SQLite, assembles traces, derives trace summaries and the service graph,
//! and keeps sampling rules, groups and daemon telemetry. It is the composition root of Fluoro:
//! the only crate that may assemble the others into one process.
//!
//! Module map:
//! - [`config`]: flags and their validation;
//! - [`api`]: the HTTP layer: routing, AWS error shapes, SigV4, one handler per operation;
//! - [`store`]: SQLite (the only module that touches SQL): writer thread, readers, schema,
//!   pre-aggregation of summaries and graph statistics;
//! - [`trace`]: pure; stored documents of one trace → the assembled trace (subsegments merged
//!   under their parents, in-progress documents replaced, inferred segments added) → its
//!   `TraceSummary`;
//! - [`graph`]: pure; assembled traces → service-graph contributions that merge across traces
//!   and time buckets → `Service`/`Edge` lists;
//! - [`filter`]: pure; filter expressions: parser with positioned errors and the in-memory
//!   reference evaluator over assembled traces and their summaries;
//! - [`sampling`]: pure; how a rule's reservoir is split among reporting clients;
//! - [`metrics`]: counters for `/metrics`;
//! - [`otlp`]: the OTLP/gRPC and OTLP/HTTP trace receivers, feeding translated spans through
//!   the same validation and store writes as PutTraceSegments.
//! - `embed`: the all-in-one process: the console at `/` (feature `console`) and an in-process
//!   UDP receiver for `--udp`/`--demo` (feature `receiver`); [`demo`]: the `--demo` traffic.

pub mod api;
pub mod config;
#[cfg(feature = "receiver")]
pub mod demo;
mod embed;
pub mod filter;
pub mod graph;
pub mod metrics;
pub mod otlp;
pub mod sampling;
pub mod store;
pub mod trace;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::oneshot;

pub use config::Config;
use config::ConfigError;
use store::{Store, StoreConfig, StoreError};

/// File name of the database inside `--data-dir`.
pub const DB_FILE: &str = "fluoro.sqlite";

/// Why the collector could not start or stopped badly.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The configuration is unusable (exit status 64).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The HTTP server failed.
    #[error("http server: {0}")]
    Serve(std::io::Error),
    /// The console, the in-process receiver or the demo could not start.
    #[error("{0}")]
    Embedded(String),
}

/// A running collector.
#[derive(Debug)]
pub struct Collector {
    addr: SocketAddr,
    store: Store,
    stop: oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    otlp: otlp::Receivers,
    extras: embed::Extras,
}

impl Collector {
    /// The address the API listens on (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where the OTLP/gRPC receiver listens, when on.
    pub fn otlp_grpc_addr(&self) -> Option<SocketAddr> {
        self.otlp.grpc_addr()
    }

    /// Where the OTLP/HTTP receiver listens, when on.
    pub fn otlp_http_addr(&self) -> Option<SocketAddr> {
        self.otlp.http_addr()
    }

    /// The UDP address of the in-process receiver (`--udp`, `--demo`), when it runs.
    pub fn udp_addr(&self) -> Option<SocketAddr> {
        self.extras.udp_addr()
    }

    /// The TCP address where the in-process receiver proxies SDK sampling calls, when it runs.
    pub fn sampling_addr(&self) -> Option<SocketAddr> {
        self.extras.tcp_addr()
    }

    /// Stops the demo and the in-process receiver (delivering what it holds), then stops
    /// accepting connections, finishes in-flight requests, flushes queued writes.
    pub async fn shutdown(self) -> Result<(), RunError> {
        self.extras.shutdown().await;
        let _ = self.stop.send(());
        let served = self.server.await;
        self.otlp.shutdown().await;
        self.store.close().await;
        tracing::info!("collector stopped");
        match served {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(RunError::Serve(e)),
            Err(e) => Err(RunError::Serve(std::io::Error::other(e))),
        }
    }
}

/// Validates the configuration, opens the store and starts serving.
pub async fn start(config: Config) -> Result<Collector, RunError> {
    config.validate()?;
    let auth = match &config.auth_keys {
        Some(path) => Some(api::sigv4::Keys::load(path).map_err(ConfigError)?),
        None => None,
    };
    let metrics = Arc::new(metrics::Metrics::default());
    let store = Store::open(
        &StoreConfig {
            path: config.data_dir.join(DB_FILE),
            write_queue: config.write_queue,
            aggregate_delay: config.aggregate_delay,
            retention: config.retention,
            aggregate_cache: config.aggregate_cache_bytes,
            wal_limit: config.wal_limit_bytes,
        },
        Arc::clone(&metrics),
    )?;
    let (region, account) = (config.region.clone(), config.account_id.clone());
    store
        .write(move |conn| api::ensure_default_rule(conn, &region, &account))
        .await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| RunError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| RunError::Bind {
        addr: config.listen,
        source,
    })?;
    tracing::info!(
        %addr,
        data = %store.path().display(),
        auth = auth.is_some(),
        "fluoro-collector listening: X-Ray API on http://{addr}"
    );
    let otlp = otlp::Receivers::start(&config, &store, &metrics).await?;
    let embedding = config.clone();
    // The mounted console and the in-process receiver sign their calls with the first key, so
    // they work with auth on.
    let first_key = auth.as_ref().map(|k| {
        let (id, secret) = k.first();
        (id.to_owned(), secret.to_owned())
    });
    let console_region = config.region.clone();
    let mut state = api::AppState::new(config, store.clone(), metrics, auth);
    state.otlp_export = otlp.exporter();
    let state = Arc::new(state);
    let app = embed::mount_console(api::router(state), addr, first_key.clone(), &console_region)?;
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        use axum::serve::ListenerExt as _;
        // TCP_NODELAY: an answer goes out at once instead of waiting for the client's delayed
        // ACK (Nagle's algorithm), as on the OTLP listeners.
        let listener = listener.tap_io(|tcp| {
            if let Err(error) = tcp.set_nodelay(true) {
                tracing::debug!(%error, "could not set TCP_NODELAY");
            }
        });
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    let extras = match embed::start_extras(&embedding, addr, first_key).await {
        Ok(e) => e,
        Err(e) => {
            let _ = stop.send(());
            otlp.shutdown().await;
            let _ = server.await;
            store.close().await;
            return Err(e);
        }
    };
    Ok(Collector {
        addr,
        store,
        stop,
        server,
        otlp,
        extras,
    })
}

/// Runs the collector until `shutdown` completes.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), RunError> {
    let collector = start(config).await?;
    shutdown.await;
    tracing::info!("shutting down: finishing requests and flushing writes");
    collector.shutdown().await
}

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

pub mod api;
pub mod config;
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
}

/// A running collector.
#[derive(Debug)]
pub struct Collector {
    addr: SocketAddr,
    store: Store,
    stop: oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    otlp: otlp::Receivers,
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

    /// Stops accepting connections, finishes in-flight requests, flushes queued writes.
    pub async fn shutdown(self) -> Result<(), RunError> {
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
    let mut state = api::AppState::new(config, store.clone(), metrics, auth);
    state.otlp_export = otlp.exporter();
    let state = Arc::new(state);
    let app = api::router(state);
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    Ok(Collector {
        addr,
        store,
        stop,
        server,
        otlp,
    })
}

/// Runs the collector until `shutdown` completes.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), RunError> {
    let collector = start(config).await?;
    shutdown.await;
    tracing::info!("shutting down: finishing requests and flushing writes");
    collector.shutdown().await
}

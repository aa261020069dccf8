//! `fluoro-console`: service maps, traces and timelines in the browser.
//!
//! Server-rendered pages (axum + askama), a little plain JavaScript and CSS compiled into the
//! binary; nothing is fetched from the internet. All data comes from an X-Ray HTTP API endpoint
//! through [`client::ApiClient`], so the console browses a `fluoro-collector` or any other
//! server speaking the X-Ray API. It depends on `fluoro-proto` only: never on the collector,
//! the daemon or the SDK. The collector mounts [`router`] in-process (cargo feature `console`).
//!
//! Module map:
//! - [`client`]: the X-Ray API over HTTP (the one place requests are built);
//! - [`layout`]: pure; layered, deterministic graph layout;
//! - [`map`]: pure; `Service`/`Edge` lists → laid-out, coloured SVG map;
//! - [`timeline`]: pure; a trace's segment documents → nested, scaled timeline rows;
//! - [`filter_error`]: where a filter expression failed, from the API's message;
//! - `pages`: the HTTP handlers and their templates; `ops`: sampling rules and groups (forms);
//!   `assets`: CSS and JavaScript.
//!
//! Safe by construction: every value from a segment reaches HTML through askama's escaping, every
//! response carries a Content-Security-Policy without `unsafe-inline`, and pages use no inline
//! scripts, styles or event handlers.

mod assets;
pub mod client;
pub mod filter_error;
pub mod layout;
pub mod map;
mod ops;
mod pages;
pub mod timeline;

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use clap::Parser;

pub use client::ApiClient;

/// Default address of the standalone console.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:2021";
/// Default X-Ray API endpoint.
pub const DEFAULT_API: &str = "http://127.0.0.1:2020";

/// `fluoro-console`: browse any X-Ray API endpoint's service map, traces and timelines.
#[derive(Debug, Clone, Parser)]
#[command(name = "fluoro-console", version, about, long_about = None)]
pub struct Config {
    /// The X-Ray API endpoint to browse (`http://host:port`).
    #[arg(long, env = "FLUORO_API", default_value = DEFAULT_API)]
    pub api: String,

    /// Address to serve the console on.
    #[arg(long, env = "FLUORO_CONSOLE_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,

    /// Log filter: `error`, `warn`, `info`, `debug`, `trace`, or a tracing directive list.
    #[arg(long, env = "FLUORO_LOG", default_value = "info")]
    pub log_level: String,
}

/// Why the console could not start or stopped badly.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// `--api` is unusable (exit status 64).
    #[error(transparent)]
    Endpoint(#[from] client::EndpointError),
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

/// The console's pages and assets, reading from `api`. Its paths are lowercase (`/`, `/map`,
/// `/traces`, `/traces/{id}`, `/sampling`, `/groups`, `/static/...`), so they never collide with X-Ray operation paths
/// when mounted beside the API.
pub fn router(api: ApiClient) -> Router {
    pages::router(api)
}

/// Serves the console on `config.listen` until `shutdown` completes; `ready` gets the bound
/// address.
pub async fn run(
    config: Config,
    ready: impl FnOnce(SocketAddr),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let api = ApiClient::new(&config.api)?;
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
    tracing::info!(%addr, api = %api.endpoint(), "fluoro-console on http://{addr}");
    ready(addr);
    axum::serve(listener, router(api))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(RunError::Serve)
}

//! `fluoro-console`: service maps, traces and timelines in the browser.
//!
//! Server-rendered pages (axum + askama), a little plain JavaScript and CSS compiled into the
//! binary; nothing is fetched from the internet. All data comes from an X-Ray HTTP API endpoint
//! through [`client::ApiClient`], so the console browses a `fluoro-collector` or any other
//! server speaking the X-Ray API, AWS X-Ray included. It depends on `fluoro-proto` and
//! `fluoro-aws` only: never on the collector, the daemon or the SDK. The collector mounts [`router`] in-process (cargo feature `console`).
//!
//! Module map:
//! - [`client`]: the X-Ray API over HTTP or HTTPS, SigV4-signed when needed (the one place
//!   requests are built); TLS, credentials and signing come from `fluoro-aws`;
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

pub use client::{ApiClient, ApiOptions};
pub use fluoro_aws::Vars;

/// Default address of the standalone console.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:2021";
/// Default X-Ray API endpoint.
pub const DEFAULT_API: &str = "http://127.0.0.1:2020";

/// `fluoro-console`: browse any X-Ray API endpoint's service map, traces and timelines.
#[derive(Debug, Clone, Parser)]
#[command(name = "fluoro-console", version, about, long_about = None)]
pub struct Config {
    /// The X-Ray API endpoint to browse: `http://host:port`, `https://host[:port]`, or AWS
    /// X-Ray itself (`https://xray.us-east-1.amazonaws.com`).
    #[arg(long, env = "FLUORO_API", default_value = DEFAULT_API)]
    pub api: String,

    /// AWS region to sign for [default: AWS_REGION, AWS_DEFAULT_REGION, else the region in an
    /// `xray.{region}.amazonaws.com` endpoint].
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,

    /// Profile of the shared AWS credentials and config files [default: AWS_PROFILE, else
    /// `default`].
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,

    /// Assume this IAM role (STS AssumeRole) with the credentials found; implies --sign.
    #[arg(long, value_name = "ARN")]
    pub role_arn: Option<String>,

    /// SigV4-sign requests to a non-AWS endpoint too (a `fluoro-collector --auth-keys`);
    /// requests to AWS hosts are always signed.
    #[arg(long)]
    pub sign: bool,

    /// Accept any TLS certificate from the endpoint (AWS_CA_BUNDLE adds trusted ones instead).
    #[arg(long)]
    pub no_verify_ssl: bool,

    /// Address to serve the console on.
    #[arg(long, env = "FLUORO_CONSOLE_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,

    /// Log filter: `error`, `warn`, `info`, `debug`, `trace`, or a tracing directive list.
    #[arg(long, env = "FLUORO_LOG", default_value = "info")]
    pub log_level: String,

    /// The environment the AWS credential chain, `AWS_REGION` and `AWS_CA_BUNDLE` are read from,
    /// passed in (the binary fills it from the process; tests give their own).
    #[arg(skip)]
    pub env: Vars,
}

impl Config {
    /// The API client options these flags and the environment give.
    pub fn api_options(&self) -> ApiOptions {
        let mut env = self.env.clone();
        if let Some(p) = &self.profile {
            env = env.with("AWS_PROFILE", p);
        }
        ApiOptions {
            region: self.region.clone(),
            sign: self.sign,
            role_arn: self.role_arn.clone(),
            no_verify_ssl: self.no_verify_ssl,
            env,
        }
    }
}

/// The process environment the console passes to [`Config::env`]: every `AWS_*` variable and
/// `HOME` (where `~/.aws/` is).
pub fn process_env() -> Vars {
    Vars(
        std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .filter(|(k, _)| k.starts_with("AWS_") || k == "HOME")
            .collect(),
    )
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
    let api = ApiClient::with_options(&config.api, &config.api_options())?;
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
        api = %api.endpoint(),
        signing_region = api.signing_region().unwrap_or("none (unsigned)"),
        "fluoro-console on http://{addr}"
    );
    ready(addr);
    axum::serve(listener, router(api))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(RunError::Serve)
}

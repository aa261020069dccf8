//! The all-in-one process: what the collector assembles around its API when built with the
//! `console` and `receiver` features (both on by default).
//!
//! - the console ([`fluoro_console::router`]) mounted at `/`, reading this collector's own
//!   X-Ray API over loopback HTTP, exactly as it reads any other endpoint;
//! - an in-process UDP receiver (`--udp`, `--demo`): fluoro-daemon's receiver, batcher and
//!   forwarder, forwarding to this collector's API, so datagrams take the real UDP path;
//! - the demo traffic generator ([`crate::demo`]), sending through that receiver.

use std::net::SocketAddr;
#[cfg(any(feature = "console", feature = "receiver"))]
use std::net::{Ipv4Addr, Ipv6Addr};

use axum::Router;

use crate::RunError;
use crate::config::Config;

/// Where the collector's own API is reachable from inside the process.
#[cfg(any(feature = "console", feature = "receiver"))]
pub(crate) fn loopback(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V4(a) if a.ip().is_unspecified() => {
            SocketAddr::from((Ipv4Addr::LOCALHOST, a.port()))
        }
        SocketAddr::V6(a) if a.ip().is_unspecified() => {
            SocketAddr::from((Ipv6Addr::LOCALHOST, a.port()))
        }
        other => other,
    }
}

/// Adds the console's pages to the API router. With SigV4 verification on (`--auth-keys`),
/// `key` is the file's first `(access key id, secret)`: the console signs every call with it,
/// for `region` (the collector's own), so its pages work as for any client.
#[cfg(feature = "console")]
pub(crate) fn mount_console(
    app: Router,
    api: SocketAddr,
    key: Option<(String, String)>,
    region: &str,
) -> Result<Router, RunError> {
    let mut client = fluoro_console::ApiClient::new(&format!("http://{}", loopback(api)))
        .map_err(|e| RunError::Embedded(e.to_string()))?;
    if let Some((access_key_id, secret_access_key)) = key {
        tracing::info!(%access_key_id, "console signs its API calls with the first --auth-keys key");
        client = client.with_fixed_credentials(
            region,
            fluoro_proto::sigv4::Credentials {
                access_key_id,
                secret_access_key,
                session_token: None,
            },
        );
    }
    tracing::info!(
        "console on http://{}/ (service map, traces, timelines)",
        loopback(api)
    );
    Ok(app.merge(fluoro_console::router(client)))
}

/// Without the `console` feature there is nothing to mount.
#[cfg(not(feature = "console"))]
pub(crate) fn mount_console(
    app: Router,
    _api: SocketAddr,
    _key: Option<(String, String)>,
    _region: &str,
) -> Result<Router, RunError> {
    Ok(app)
}

/// The receiver and the demo, when running.
#[derive(Debug, Default)]
pub(crate) struct Extras {
    #[cfg(feature = "receiver")]
    daemon: Option<fluoro_daemon::Daemon>,
    #[cfg(feature = "receiver")]
    demo: Option<crate::demo::Demo>,
}

impl Extras {
    /// The UDP address SDKs send to, when the receiver runs.
    pub(crate) fn udp_addr(&self) -> Option<SocketAddr> {
        #[cfg(feature = "receiver")]
        {
            self.daemon.as_ref().map(fluoro_daemon::Daemon::udp_addr)
        }
        #[cfg(not(feature = "receiver"))]
        {
            None
        }
    }

    /// The TCP address of the receiver's sampling proxy, when the receiver runs.
    pub(crate) fn tcp_addr(&self) -> Option<SocketAddr> {
        #[cfg(feature = "receiver")]
        {
            self.daemon.as_ref().map(fluoro_daemon::Daemon::tcp_addr)
        }
        #[cfg(not(feature = "receiver"))]
        {
            None
        }
    }

    /// Stops the demo, then drains the receiver into the API (before the API stops).
    pub(crate) async fn shutdown(self) {
        #[cfg(feature = "receiver")]
        {
            if let Some(d) = self.demo {
                d.stop().await;
            }
            if let Some(d) = self.daemon {
                let report = d.shutdown().await;
                tracing::info!(
                    sent = report.totals.documents_sent,
                    "in-process receiver stopped"
                );
            }
        }
    }
}

/// Starts the receiver (and the demo) that `config` asks for, forwarding to `api`; with
/// `--auth-keys`, `key` is the file's first key and the receiver signs with it (for the
/// collector's `--region`), as any daemon pointed at this collector would.
#[cfg(feature = "receiver")]
pub(crate) async fn start_extras(
    config: &Config,
    api: SocketAddr,
    key: Option<(String, String)>,
) -> Result<Extras, RunError> {
    let udp = match (config.udp, config.demo) {
        (Some(a), _) => a,
        (None, true) => SocketAddr::from((Ipv4Addr::LOCALHOST, crate::demo::DEFAULT_UDP_PORT)),
        (None, false) => return Ok(Extras::default()),
    };
    let mut dc = fluoro_daemon::Config::for_endpoint(format!("http://{}", loopback(api)));
    dc.udp_addr = udp;
    dc.tcp_addr = udp;
    if let Some((id, secret)) = &key {
        dc.region = Some(config.region.clone());
        dc.local_mode = true;
        dc.env = fluoro_daemon::config::Vars::from([
            ("AWS_ACCESS_KEY_ID", id.as_str()),
            ("AWS_SECRET_ACCESS_KEY", secret.as_str()),
        ]);
    }
    let daemon = fluoro_daemon::start(dc)
        .await
        .map_err(|e| RunError::Embedded(format!("in-process UDP receiver: {e}")))?;
    tracing::info!(
        udp = %daemon.udp_addr(),
        tcp = %daemon.tcp_addr(),
        "in-process receiver: point X-Ray SDKs at AWS_XRAY_DAEMON_ADDRESS={}",
        daemon.udp_addr()
    );
    let demo = if config.demo {
        Some(
            crate::demo::Demo::start(daemon.udp_addr())
                .await
                .map_err(|e| RunError::Embedded(format!("demo: {e}")))?,
        )
    } else {
        None
    };
    Ok(Extras {
        daemon: Some(daemon),
        demo,
    })
}

/// Without the `receiver` feature, `--udp` and `--demo` are refused.
#[cfg(not(feature = "receiver"))]
pub(crate) async fn start_extras(
    config: &Config,
    _api: SocketAddr,
    _key: Option<(String, String)>,
) -> Result<Extras, RunError> {
    if config.udp.is_some() || config.demo {
        return Err(RunError::Config(crate::config::ConfigError(
            "--udp and --demo need the `receiver` feature, which this build lacks".into(),
        )));
    }
    Ok(Extras::default())
}

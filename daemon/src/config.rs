//! The daemon's configuration: the AWS X-Ray daemon's flags and `cfg.yaml` keys (so an existing
//! command line and config file work unchanged) plus Fluoro's own (`-e/--endpoint`, the spool,
//! the admin port), resolved into one typed [`Config`] and validated before any socket is bound.
//!
//! Precedence, as the AWS daemon: command-line flag, then the `-c` file (or, without `-c`, the
//! first existing file of [`Environment::config_search`], read leniently), then the environment
//! (`AWS_REGION`), then the built-in default. The environment is passed in as an
//! [`Environment`] value, so tests never touch the process environment.
//!
//! Owns no I/O beyond reading the config file; depends on clap and yaml-rust2 only.

use std::ffi::OsString;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{ArgAction, Parser};
use yaml_rust2::{Yaml, YamlLoader};

/// Default UDP address for segment datagrams, as the AWS daemon.
pub const DEFAULT_UDP_ADDRESS: &str = "127.0.0.1:2000";
/// Default TCP address for the sampling proxy, as the AWS daemon.
pub const DEFAULT_TCP_ADDRESS: &str = "127.0.0.1:2000";
/// Default destination: a local `fluoro-collector`.
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:2020";
/// Default buffer memory in MB (the AWS daemon takes 1% of the host's memory instead).
pub const DEFAULT_BUFFER_MEMORY_MB: u64 = 16;
/// Smallest buffer memory accepted, in MB, as the AWS daemon.
pub const MIN_BUFFER_MEMORY_MB: u64 = 3;
/// Default number of concurrent `PutTraceSegments` senders, as the AWS daemon's `Concurrency`.
pub const DEFAULT_CONCURRENCY: usize = 8;
/// Most concurrent senders accepted.
pub const MAX_CONCURRENCY: usize = 256;
/// Default spool bound in MB (only used with `--spool-dir`).
pub const DEFAULT_SPOOL_SIZE_MB: u64 = 256;
/// Default time given to in-flight and buffered documents at shutdown.
pub const DEFAULT_SHUTDOWN_GRACE: &str = "5s";
/// Default period of daemon telemetry, as the AWS daemon (60 s).
pub const DEFAULT_TELEMETRY_INTERVAL: &str = "60s";
/// Config files the AWS daemon reads when `-c` is not given, in order.
pub const AWS_CONFIG_SEARCH: [&str; 2] = ["/etc/amazon/xray/cfg.yaml", "cfg.yaml"];

/// Long flag names, so that Go-style single-dash long flags (`-bind-tcp`) also work.
const LONG_FLAGS: [&str; 20] = [
    "bind",
    "bind-tcp",
    "buffer-memory",
    "region",
    "local-mode",
    "role-arn",
    "resource-arn",
    "proxy-address",
    "config",
    "log-level",
    "log-file",
    "version",
    "help",
    "endpoint",
    "spool-dir",
    "spool-size",
    "concurrency",
    "admin",
    "shutdown-grace",
    "telemetry-interval",
];

/// `fluoro-daemon`: a drop-in AWS X-Ray daemon. Receives segment documents over UDP, batches
/// them to `PutTraceSegments` on the endpoint, proxies sampling calls on TCP, and (with
/// `--spool-dir`) keeps documents on disk while the endpoint is down instead of dropping them.
#[derive(Debug, Clone, Default, Parser)]
#[command(name = "fluoro-daemon", version, about, long_about = None, disable_version_flag = true)]
pub struct Cli {
    /// UDP address for segment datagrams [default: 127.0.0.1:2000; cfg.yaml Socket.UDPAddress].
    #[arg(short = 'b', long = "bind", value_name = "HOST:PORT")]
    pub bind: Option<String>,
    /// TCP address of the sampling proxy [default: 127.0.0.1:2000; cfg.yaml Socket.TCPAddress].
    #[arg(short = 't', long = "bind-tcp", value_name = "HOST:PORT")]
    pub bind_tcp: Option<String>,
    /// Buffer memory in MB, at least 3; 0 means the default [default: 16; TotalBufferSizeMB].
    #[arg(short = 'm', long = "buffer-memory", value_name = "MB")]
    pub buffer_memory: Option<u64>,
    /// AWS region [cfg.yaml Region, then AWS_REGION]: requests are SigV4-signed for it, and
    /// without -e/Endpoint, -n or Region sends to AWS X-Ray in that region.
    #[arg(short = 'n', long = "region")]
    pub region: Option<String>,
    /// Do not ask EC2 instance metadata for credentials; `-o` or `-o=false` [cfg.yaml LocalMode].
    #[arg(short = 'o', long = "local-mode", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_name = "BOOL")]
    pub local_mode: Option<bool>,
    /// Role to assume with STS for signed requests (session xray-daemon) [cfg.yaml RoleARN].
    #[arg(short = 'r', long = "role-arn")]
    pub role_arn: Option<String>,
    /// ARN of the resource running the daemon, for telemetry [cfg.yaml ResourceARN].
    #[arg(short = 'a', long = "resource-arn")]
    pub resource_arn: Option<String>,
    /// HTTP CONNECT proxy for the endpoint and STS, e.g. http://10.0.0.1:3128 [cfg.yaml
    /// ProxyAddress, then HTTPS_PROXY].
    #[arg(short = 'p', long = "proxy-address", value_name = "URL")]
    pub proxy_address: Option<String>,
    /// YAML config file of the AWS daemon (`cfg.yaml`); flags override it.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// dev, debug, info, warn, error or prod (= info) [default: prod; Logging.LogLevel].
    #[arg(short = 'l', long = "log-level")]
    pub log_level: Option<String>,
    /// Log to this file instead of stderr [cfg.yaml Logging.LogPath].
    #[arg(short = 'f', long = "log-file", value_name = "FILE")]
    pub log_file: Option<PathBuf>,
    /// Print the version and exit.
    #[arg(short = 'v', long = "version", action = ArgAction::Version)]
    pub version: Option<bool>,
    /// Where batches go: http://host:port of a fluoro-collector, or https://host [default:
    /// https://xray.<region>.amazonaws.com with -n/Region, else http://127.0.0.1:2020; cfg.yaml
    /// Endpoint].
    #[arg(short = 'e', long = "endpoint", value_name = "URL")]
    pub endpoint: Option<String>,
    /// Directory for the on-disk spool: batches the endpoint cannot take wait here instead of
    /// being dropped, and drain in order when it answers again. Off when not set.
    #[arg(long = "spool-dir", value_name = "DIR")]
    pub spool_dir: Option<PathBuf>,
    /// Bound of the spool in MB; past it the oldest spooled batches are dropped [default: 256].
    #[arg(long = "spool-size", value_name = "MB")]
    pub spool_size: Option<u64>,
    /// Concurrent PutTraceSegments senders [default: 8; cfg.yaml Concurrency].
    #[arg(long = "concurrency", value_name = "N")]
    pub concurrency: Option<usize>,
    /// Serve /metrics and /health on this address instead of on the TCP proxy address.
    #[arg(long = "admin", value_name = "HOST:PORT")]
    pub admin: Option<String>,
    /// Time to deliver (or spool) what is buffered at shutdown, e.g. `5s`, `500ms`.
    #[arg(long = "shutdown-grace", value_name = "DURATION")]
    pub shutdown_grace: Option<String>,
    /// How often daemon telemetry (PutTelemetryRecords) is sent, e.g. `60s`; `0s` turns it off
    /// [default: 60s, as the AWS daemon].
    #[arg(long = "telemetry-interval", value_name = "DURATION")]
    pub telemetry_interval: Option<String>,
}

/// Environment variables, passed explicitly (the type lives in `fluoro-aws`, whose credential
/// chain reads them).
pub use fluoro_aws::Vars;

/// The environment variables the daemon reads: the region, the outbound proxy, the AWS
/// credential chain (see `fluoro_aws::credentials`), extra trusted certificates, and the host
/// name reported in telemetry.
pub const ENV_VARS: [&str; 19] = [
    "AWS_REGION",
    "HTTPS_PROXY",
    "https_proxy",
    "HOME",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_EC2_METADATA_DISABLED",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
    "AWS_ENDPOINT_URL_STS",
    "AWS_CA_BUNDLE",
    "AWS_HOSTNAME",
];

/// What the process environment contributes, passed explicitly.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    /// Environment variables the daemon reads ([`ENV_VARS`]).
    pub vars: Vars,
    /// Config files read (leniently) when `-c` is not given: the first that exists.
    pub config_search: Vec<PathBuf>,
}

impl Environment {
    /// The real process environment and the AWS daemon's config file locations.
    pub fn from_process() -> Environment {
        let vars = Vars(
            ENV_VARS
                .into_iter()
                .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_owned(), v)))
                .collect(),
        );
        Environment {
            vars,
            config_search: AWS_CONFIG_SEARCH.iter().map(PathBuf::from).collect(),
        }
    }
}

/// Log verbosity with the AWS daemon's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// Everything (`trace`).
    Dev,
    /// `debug`.
    Debug,
    /// `info`.
    Info,
    /// `warn`.
    Warn,
    /// `error`.
    Error,
    /// The AWS default, same as `info`.
    Prod,
}

impl LogLevel {
    /// Parses `dev`, `debug`, `info`, `warn`, `error`, `prod` (case-insensitive).
    pub fn parse(s: &str) -> Result<LogLevel, ConfigError> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "dev" => LogLevel::Dev,
            "debug" => LogLevel::Debug,
            "info" => LogLevel::Info,
            "warn" => LogLevel::Warn,
            "error" => LogLevel::Error,
            "prod" => LogLevel::Prod,
            _ => {
                return Err(ConfigError(format!(
                    "log level {s:?}: expected dev, debug, info, warn, error or prod"
                )));
            }
        })
    }

    /// The `tracing` filter directive.
    pub fn filter(self) -> &'static str {
        match self {
            LogLevel::Dev => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info | LogLevel::Prod => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

/// The resolved configuration of one daemon.
#[derive(Debug, Clone)]
pub struct Config {
    /// UDP address for segment datagrams.
    pub udp_addr: SocketAddr,
    /// TCP address of the sampling proxy (and of `/metrics`, `/health` without `admin_addr`).
    pub tcp_addr: SocketAddr,
    /// Separate address for `/metrics` and `/health`.
    pub admin_addr: Option<SocketAddr>,
    /// Memory for buffered and in-flight documents, in MB.
    pub buffer_memory_mb: u64,
    /// Concurrent senders.
    pub concurrency: usize,
    /// Base URL of the X-Ray API to forward to (`http://host:port`, `https://host`): `-e` or
    /// `Endpoint`; else, with a region from `-n` or `Region`, AWS X-Ray in that region; else a
    /// local `fluoro-collector`.
    pub endpoint: String,
    /// AWS region: signs requests (and picks the AWS endpoint when given by `-n` or `Region`).
    pub region: Option<String>,
    /// `-o`: no EC2/ECS metadata lookups.
    pub local_mode: bool,
    /// `-r`: role assumed with STS for signing.
    pub role_arn: Option<String>,
    /// `-a`.
    pub resource_arn: Option<String>,
    /// `-p`, else `HTTPS_PROXY`: HTTP `CONNECT` proxy for the endpoint and STS.
    pub proxy_address: Option<String>,
    /// `NoVerifySSL`: TLS certificates are not verified.
    pub no_verify_ssl: bool,
    /// Verbosity.
    pub log_level: LogLevel,
    /// Log file, stderr when `None`.
    pub log_file: Option<PathBuf>,
    /// `Logging.LogRotation` (accepted; logs are not rotated by the daemon).
    pub log_rotation: bool,
    /// Spool directory; no spool when `None`.
    pub spool_dir: Option<PathBuf>,
    /// Spool bound in MB.
    pub spool_size_mb: u64,
    /// Time to deliver or spool what is buffered at shutdown.
    pub shutdown_grace: Duration,
    /// Period of PutTelemetryRecords; zero turns telemetry off.
    pub telemetry_interval: Duration,
    /// The config file that was read, if any.
    pub config_file: Option<PathBuf>,
    /// The environment variables read by the credential chain, TLS and telemetry.
    pub env: Vars,
}

/// A configuration that cannot work (exit status 64).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

/// Why [`Config::load`] did not produce a configuration.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Bad command line, or `--help`/`--version` (print it; see [`clap::Error::use_stderr`]).
    #[error(transparent)]
    Cli(#[from] clap::Error),
    /// A value or file that cannot work.
    #[error(transparent)]
    Invalid(#[from] ConfigError),
}

/// Values read from a `cfg.yaml`; `None` where the file is silent, zero or empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileConfig {
    /// `Version`.
    pub version: Option<i64>,
    /// `TotalBufferSizeMB`.
    pub total_buffer_size_mb: Option<u64>,
    /// `Concurrency`.
    pub concurrency: Option<usize>,
    /// `Region`.
    pub region: Option<String>,
    /// `Endpoint`.
    pub endpoint: Option<String>,
    /// `Socket.UDPAddress`.
    pub udp_address: Option<String>,
    /// `Socket.TCPAddress`.
    pub tcp_address: Option<String>,
    /// `Logging.LogRotation`.
    pub log_rotation: Option<bool>,
    /// `Logging.LogLevel`.
    pub log_level: Option<String>,
    /// `Logging.LogPath`.
    pub log_path: Option<String>,
    /// `LocalMode`.
    pub local_mode: Option<bool>,
    /// `ResourceARN`.
    pub resource_arn: Option<String>,
    /// `RoleARN`.
    pub role_arn: Option<String>,
    /// `NoVerifySSL`.
    pub no_verify_ssl: Option<bool>,
    /// `ProxyAddress`.
    pub proxy_address: Option<String>,
}

impl FileConfig {
    /// Parses a `cfg.yaml`. `strict` (a file given with `-c`) requires `Version` and refuses
    /// unknown or retired keys with the AWS daemon's reasons; otherwise they are ignored.
    pub fn parse(text: &str, strict: bool) -> Result<FileConfig, ConfigError> {
        let docs = YamlLoader::load_from_str(text)
            .map_err(|e| ConfigError(format!("not valid YAML: {e}")))?;
        let mut fc = FileConfig::default();
        let root = match docs.into_iter().next() {
            None | Some(Yaml::Null) => {
                return if strict {
                    Err(ConfigError("Version is missing (expected 1 or 2)".into()))
                } else {
                    Ok(fc)
                };
            }
            Some(Yaml::Hash(h)) => h,
            Some(_) => return Err(ConfigError("the file must be a YAML mapping".into())),
        };
        for (k, v) in &root {
            let key = key_name(k)?;
            match key {
                "Version" => match v {
                    Yaml::Integer(n @ (1 | 2)) => fc.version = Some(*n),
                    _ => {
                        return Err(ConfigError(format!(
                            "Version must be 1 or 2, found {}",
                            show(v)
                        )));
                    }
                },
                "TotalBufferSizeMB" => fc.total_buffer_size_mb = uint(key, v)?.filter(|n| *n > 0),
                "Concurrency" => {
                    fc.concurrency = uint(key, v)?
                        .filter(|n| *n > 0)
                        .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
                }
                "Region" => fc.region = string(key, v)?,
                "Endpoint" => fc.endpoint = string(key, v)?,
                "LocalMode" => fc.local_mode = boolean(key, v)?,
                "ResourceARN" => fc.resource_arn = string(key, v)?,
                "RoleARN" => fc.role_arn = string(key, v)?,
                "NoVerifySSL" => fc.no_verify_ssl = boolean(key, v)?,
                "ProxyAddress" => fc.proxy_address = string(key, v)?,
                // Internal to the AWS daemon and always overwritten with its defaults.
                "ProxyServer" => {}
                "Socket" => {
                    for (sk, sv) in section(key, v)? {
                        match key_name(sk)? {
                            "UDPAddress" => fc.udp_address = string("Socket.UDPAddress", sv)?,
                            "TCPAddress" => fc.tcp_address = string("Socket.TCPAddress", sv)?,
                            "BufferSizeKB" => retired(strict, "Socket.BufferSizeKB", false)?,
                            other => unknown(strict, &format!("Socket.{other}"))?,
                        }
                    }
                }
                "Logging" => {
                    for (lk, lv) in section(key, v)? {
                        match key_name(lk)? {
                            "LogRotation" => fc.log_rotation = boolean("Logging.LogRotation", lv)?,
                            "LogLevel" => fc.log_level = string("Logging.LogLevel", lv)?,
                            "LogPath" => fc.log_path = string("Logging.LogPath", lv)?,
                            "LogFormat" => retired(strict, "Logging.LogFormat", false)?,
                            other => unknown(strict, &format!("Logging.{other}"))?,
                        }
                    }
                }
                "Profile" => retired(strict, "Profile", false)?,
                "Processor" => {
                    for (pk, _) in section(key, v)? {
                        match key_name(pk)? {
                            "BatchProcessorQueueSize" => {
                                retired(strict, "Processor.BatchProcessorQueueSize", false)?;
                            }
                            other @ ("Region" | "Endpoint" | "Routine") => {
                                retired(strict, &format!("Processor.{other}"), true)?;
                            }
                            other => unknown(strict, &format!("Processor.{other}"))?,
                        }
                    }
                }
                "LogRotation" | "MemoryLimit" => retired(strict, key, true)?,
                other => unknown(strict, other)?,
            }
        }
        if strict && fc.version.is_none() {
            return Err(ConfigError("Version is missing (expected 1 or 2)".into()));
        }
        Ok(fc)
    }
}

fn key_name(k: &Yaml) -> Result<&str, ConfigError> {
    k.as_str()
        .ok_or_else(|| ConfigError(format!("keys must be strings, found {}", show(k))))
}

fn show(v: &Yaml) -> String {
    match v {
        Yaml::Real(s) | Yaml::String(s) => format!("{s:?}"),
        Yaml::Integer(n) => n.to_string(),
        Yaml::Boolean(b) => b.to_string(),
        Yaml::Null => "null".into(),
        Yaml::Array(_) => "a list".into(),
        Yaml::Hash(_) => "a mapping".into(),
        _ => "an unsupported value".into(),
    }
}

fn section<'a>(
    key: &str,
    v: &'a Yaml,
) -> Result<Box<dyn Iterator<Item = (&'a Yaml, &'a Yaml)> + 'a>, ConfigError> {
    match v {
        Yaml::Hash(h) => Ok(Box::new(h.iter())),
        Yaml::Null => Ok(Box::new(std::iter::empty())),
        other => Err(ConfigError(format!(
            "{key} must be a mapping, found {}",
            show(other)
        ))),
    }
}

fn uint(key: &str, v: &Yaml) -> Result<Option<u64>, ConfigError> {
    match v {
        Yaml::Null => Ok(None),
        Yaml::Integer(n) if *n >= 0 => Ok(Some(n.unsigned_abs())),
        other => Err(ConfigError(format!(
            "{key} must be a non-negative integer, found {}",
            show(other)
        ))),
    }
}

fn string(key: &str, v: &Yaml) -> Result<Option<String>, ConfigError> {
    match v {
        Yaml::Null => Ok(None),
        Yaml::String(s) => Ok(Some(s.clone()).filter(|s| !s.is_empty())),
        other => Err(ConfigError(format!(
            "{key} must be a string, found {}",
            show(other)
        ))),
    }
}

fn boolean(key: &str, v: &Yaml) -> Result<Option<bool>, ConfigError> {
    match v {
        Yaml::Null => Ok(None),
        Yaml::Boolean(b) => Ok(Some(*b)),
        other => Err(ConfigError(format!(
            "{key} must be true or false, found {}",
            show(other)
        ))),
    }
}

fn retired(strict: bool, key: &str, migrate: bool) -> Result<(), ConfigError> {
    if !strict {
        return Ok(());
    }
    Err(ConfigError(if migrate {
        format!("{key} is an old key: use the AWS daemon's config migration script")
    } else {
        format!("{key} is not supported any more")
    }))
}

fn unknown(strict: bool, key: &str) -> Result<(), ConfigError> {
    if strict {
        Err(ConfigError(format!("{key}: flag is invalid (unknown key)")))
    } else {
        Ok(())
    }
}

/// Rewrites Go-style single-dash long flags (`-bind-tcp x`, `-local-mode=false`) to `--...`.
fn normalize_args(args: Vec<OsString>) -> Vec<OsString> {
    args.into_iter()
        .enumerate()
        .map(|(i, a)| {
            if i == 0 {
                return a;
            }
            let Some(s) = a.to_str() else { return a };
            let Some(rest) = s.strip_prefix('-') else {
                return a;
            };
            let name = rest.split('=').next().unwrap_or(rest);
            if !rest.starts_with('-') && name.len() > 1 && LONG_FLAGS.contains(&name) {
                OsString::from(format!("-{s}"))
            } else {
                a
            }
        })
        .collect()
}

fn resolve_addr(what: &str, s: &str) -> Result<SocketAddr, ConfigError> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    s.to_socket_addrs()
        .ok()
        .and_then(|mut it| it.next())
        .ok_or_else(|| ConfigError(format!("{what} {s:?}: expected HOST:PORT")))
}

impl Config {
    /// Parses `args` (the first item is the program name), reads the config file and resolves
    /// every value; nothing is bound or opened besides the config file.
    pub fn load<I, T>(args: I, env: &Environment) -> Result<Config, LoadError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let args = normalize_args(args.into_iter().map(Into::into).collect());
        let cli = Cli::try_parse_from(args)?;
        Ok(Config::resolve(cli, env)?)
    }

    /// Resolves parsed flags against the config file, the environment and the defaults.
    pub fn resolve(cli: Cli, env: &Environment) -> Result<Config, ConfigError> {
        let (file, config_file) = match &cli.config {
            Some(path) => (read_file(path, true)?, Some(path.clone())),
            None => match env.config_search.iter().find(|p| p.is_file()) {
                Some(path) => (read_file(path, false)?, Some(path.clone())),
                None => (FileConfig::default(), None),
            },
        };
        let udp = cli
            .bind
            .or(file.udp_address)
            .unwrap_or_else(|| DEFAULT_UDP_ADDRESS.into());
        let tcp = cli
            .bind_tcp
            .or(file.tcp_address)
            .unwrap_or_else(|| DEFAULT_TCP_ADDRESS.into());
        let admin_addr = cli
            .admin
            .as_deref()
            .map(|a| resolve_addr("--admin", a))
            .transpose()?;
        let log_level = LogLevel::parse(
            cli.log_level
                .as_deref()
                .or(file.log_level.as_deref())
                .unwrap_or("prod"),
        )?;
        let shutdown_grace = parse_duration(
            cli.shutdown_grace
                .as_deref()
                .unwrap_or(DEFAULT_SHUTDOWN_GRACE),
        )
        .map_err(|e| ConfigError(format!("--shutdown-grace {e}")))?;
        let telemetry_interval = parse_duration(
            cli.telemetry_interval
                .as_deref()
                .unwrap_or(DEFAULT_TELEMETRY_INTERVAL),
        )
        .map_err(|e| ConfigError(format!("--telemetry-interval {e}")))?;
        let explicit_region = cli
            .region
            .clone()
            .or(file.region.clone())
            .filter(|r| !r.is_empty());
        let config = Config {
            udp_addr: resolve_addr("UDP address (-b)", &udp)?,
            tcp_addr: resolve_addr("TCP address (-t)", &tcp)?,
            admin_addr,
            buffer_memory_mb: cli
                .buffer_memory
                .filter(|m| *m > 0)
                .or(file.total_buffer_size_mb)
                .unwrap_or(DEFAULT_BUFFER_MEMORY_MB),
            concurrency: cli
                .concurrency
                .or(file.concurrency)
                .unwrap_or(DEFAULT_CONCURRENCY),
            endpoint: cli.endpoint.or(file.endpoint).unwrap_or_else(|| {
                // A region given to the daemon itself means AWS X-Ray, as the AWS daemon; one
                // only in AWS_REGION (set everywhere in ECS and Lambda) does not.
                explicit_region
                    .as_deref()
                    .map_or_else(|| DEFAULT_ENDPOINT.into(), fluoro_aws::xray_endpoint)
            }),
            region: explicit_region.or_else(|| env.vars.get("AWS_REGION").map(str::to_owned)),
            local_mode: cli.local_mode.or(file.local_mode).unwrap_or(false),
            role_arn: cli.role_arn.or(file.role_arn),
            resource_arn: cli.resource_arn.or(file.resource_arn),
            proxy_address: cli
                .proxy_address
                .or(file.proxy_address)
                .filter(|p| !p.is_empty())
                .or_else(|| {
                    env.vars
                        .get("HTTPS_PROXY")
                        .or_else(|| env.vars.get("https_proxy"))
                        .map(str::to_owned)
                }),
            no_verify_ssl: file.no_verify_ssl.unwrap_or(false),
            log_level,
            log_file: cli.log_file.or(file.log_path.map(PathBuf::from)),
            log_rotation: file.log_rotation.unwrap_or(true),
            spool_dir: cli.spool_dir,
            spool_size_mb: cli.spool_size.unwrap_or(DEFAULT_SPOOL_SIZE_MB),
            shutdown_grace,
            telemetry_interval,
            config_file,
            env: env.vars.clone(),
        };
        config.validate()?;
        Ok(config)
    }

    /// For tests and embedding: UDP, TCP on `127.0.0.1:0`, forwarding to `endpoint`, no spool,
    /// defaults otherwise.
    pub fn for_endpoint(endpoint: impl Into<String>) -> Config {
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        let mut c = Config::resolve(Cli::default(), &Environment::default())
            .unwrap_or_else(|e| unreachable!("the defaults are valid: {e}"));
        c.udp_addr = loopback;
        c.tcp_addr = loopback;
        c.endpoint = endpoint.into();
        c
    }

    /// Checks values that parsing cannot; [`crate::start`] calls it again before binding.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.buffer_memory_mb < MIN_BUFFER_MEMORY_MB {
            return Err(ConfigError(format!(
                "buffer memory (-m) must be at least {MIN_BUFFER_MEMORY_MB} MB, got {}",
                self.buffer_memory_mb
            )));
        }
        if self.buffer_memory_mb > 1 << 20 {
            return Err(ConfigError(format!(
                "buffer memory (-m) of {} MB is more than 1 TB",
                self.buffer_memory_mb
            )));
        }
        if !(1..=MAX_CONCURRENCY).contains(&self.concurrency) {
            return Err(ConfigError(format!(
                "concurrency must be between 1 and {MAX_CONCURRENCY}, got {}",
                self.concurrency
            )));
        }
        if let Some(r) = &self.region
            && !r
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(ConfigError(format!(
                "region (-n) {r:?}: expected a region name such as us-east-1"
            )));
        }
        crate::client::Endpoint::parse(&self.endpoint)?;
        if self.spool_dir.is_some() && self.spool_size_mb == 0 {
            return Err(ConfigError("--spool-size must be at least 1 MB".into()));
        }
        if let Some(p) = &self.proxy_address {
            self.proxy_uri(p)?;
        }
        if let Some(arn) = &self.role_arn
            && !arn.starts_with("arn:")
        {
            return Err(ConfigError(format!(
                "role ARN (-r) {arn:?}: expected arn:aws:iam::<account>:role/<name>"
            )));
        }
        if let Some(dir) = &self.spool_dir
            && dir.exists()
            && !dir.is_dir()
        {
            return Err(ConfigError(format!(
                "--spool-dir {}: not a directory",
                dir.display()
            )));
        }
        Ok(())
    }
}

impl Config {
    /// The outbound proxy as a URI (`http://host:port`).
    pub fn proxy_uri(&self, p: &str) -> Result<hyper::Uri, ConfigError> {
        let bad = |why: &str| ConfigError(format!("proxy address (-p) {p:?}: {why}"));
        if !(p.starts_with("http://") || p.starts_with("https://")) {
            return Err(bad(
                "a URL with a scheme is required, e.g. http://192.0.2.0:3000",
            ));
        }
        let uri: hyper::Uri = p.parse().map_err(|_| bad("not a URL"))?;
        if uri.host().is_none() {
            return Err(bad("no host"));
        }
        if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
            return Err(bad("proxy credentials in the URL are not supported"));
        }
        Ok(uri)
    }
}

fn read_file(path: &Path, strict: bool) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("config file {}: {e}", path.display())))?;
    FileConfig::parse(&text, strict)
        .map_err(|ConfigError(m)| ConfigError(format!("config file {}: {m}", path.display())))
}

/// Parses `1.5s`, `500ms`, `2m` (a bare number is seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?}: expected a number followed by ms, s or m"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        other => return Err(format!("{s:?}: unknown unit {other:?}; use ms, s or m")),
    };
    if !secs.is_finite() || !(0.0..=86_400.0).contains(&secs) {
        return Err(format!("{s:?}: not a valid duration"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests;

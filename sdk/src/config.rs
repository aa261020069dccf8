//! The recorder's configuration: AWS's environment variables, parsed from a lookup function so
//! tests never touch the process environment.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

/// The daemon's default address (UDP for documents, TCP for sampling).
pub const DEFAULT_DAEMON_ADDRESS: &str = "127.0.0.1:2000";
/// Documents waiting for the emitter thread before new ones are dropped.
pub const DEFAULT_QUEUE_CAPACITY: usize = 4096;
/// Closed subsegments a segment holds before they are sent on their own (Node's and Java's 100).
pub const DEFAULT_STREAMING_THRESHOLD: usize = 100;

/// What to do when instrumentation runs without an active segment
/// (`AWS_XRAY_CONTEXT_MISSING`). The SDK never panics, so AWS's `RUNTIME_ERROR` is read as
/// [`ContextMissing::Log`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContextMissing {
    /// `LOG_ERROR` (default): log once per call site kind, count every occurrence.
    Log,
    /// `IGNORE_ERROR`: count only.
    Ignore,
}

/// Where the daemon listens: UDP for documents, TCP for the sampling API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DaemonAddress {
    /// Segment documents go here.
    pub udp: SocketAddr,
    /// `GetSamplingRules` / `SamplingTargets` go here.
    pub tcp: SocketAddr,
}

/// An `AWS_XRAY_DAEMON_ADDRESS` value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("AWS_XRAY_DAEMON_ADDRESS {value:?}: {reason}")]
pub struct DaemonAddressError {
    /// The value as given.
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
}

impl DaemonAddress {
    /// Parses `host:port` (both protocols) or `tcp:host:port udp:host:port` (either order,
    /// separated by whitespace). Host names are resolved once, here.
    pub fn parse(value: &str) -> Result<DaemonAddress, DaemonAddressError> {
        let err = |reason: &str| DaemonAddressError {
            value: value.to_owned(),
            reason: reason.to_owned(),
        };
        let parts: Vec<&str> = value.split_whitespace().collect();
        match parts.as_slice() {
            [single] => {
                if single.starts_with("tcp:") || single.starts_with("udp:") {
                    return Err(err("the tcp:/udp: form needs both parts"));
                }
                let a = resolve(single).map_err(|r| err(&r))?;
                Ok(DaemonAddress { udp: a, tcp: a })
            }
            [a, b] => {
                let (mut udp, mut tcp) = (None, None);
                for p in [a, b] {
                    if let Some(rest) = p.strip_prefix("udp:") {
                        udp = Some(resolve(rest).map_err(|r| err(&r))?);
                    } else if let Some(rest) = p.strip_prefix("tcp:") {
                        tcp = Some(resolve(rest).map_err(|r| err(&r))?);
                    } else {
                        return Err(err("expected tcp:<host>:<port> udp:<host>:<port>"));
                    }
                }
                match (udp, tcp) {
                    (Some(udp), Some(tcp)) => Ok(DaemonAddress { udp, tcp }),
                    _ => Err(err("both tcp: and udp: are needed")),
                }
            }
            _ => Err(err(
                "expected <host>:<port> or tcp:<host>:<port> udp:<host>:<port>",
            )),
        }
    }
}

fn resolve(hostport: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = hostport.parse::<SocketAddr>() {
        return Ok(a);
    }
    if !hostport.contains(':') {
        return Err(format!("{hostport:?} has no port"));
    }
    hostport
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {hostport:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("{hostport:?} resolves to nothing"))
}

/// Everything the recorder reads from the environment, with AWS's variable names.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvConfig {
    /// `AWS_XRAY_SDK_ENABLED` (`false/0/no/n/f/off` disable, as in the Python SDK; anything
    /// else enables) and Go's `AWS_XRAY_SDK_DISABLED=true`.
    pub enabled: bool,
    /// `AWS_XRAY_DAEMON_ADDRESS`; `None` when unset or invalid (the error is in `problems`).
    pub daemon: Option<DaemonAddress>,
    /// `AWS_XRAY_CONTEXT_MISSING`.
    pub context_missing: ContextMissing,
    /// `AWS_XRAY_TRACING_NAME`: overrides segment names given in code.
    pub tracing_name: Option<String>,
    /// `LAMBDA_TASK_ROOT` is set.
    pub lambda: bool,
    /// `AWS_EC2_METADATA_SERVICE_ENDPOINT`: where the EC2 plugin asks for instance metadata
    /// (`http://host[:port]`; default `http://169.254.169.254`).
    pub ec2_metadata_endpoint: Option<String>,
    /// `AWS_EC2_METADATA_DISABLED=true`: the EC2 plugin makes no request.
    pub ec2_metadata_disabled: bool,
    /// Values that were present but unusable (logged by the recorder, then ignored).
    pub problems: Vec<String>,
}

impl EnvConfig {
    /// Reads the variables through `get` (e.g. `|k| std::env::var(k).ok()`).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> EnvConfig {
        let mut problems = Vec::new();
        let mut enabled = get("AWS_XRAY_SDK_ENABLED").is_none_or(|v| {
            !matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "false" | "0" | "no" | "n" | "f" | "off"
            )
        });
        if get("AWS_XRAY_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
            enabled = false;
        }
        let daemon = match get("AWS_XRAY_DAEMON_ADDRESS") {
            Some(v) => match DaemonAddress::parse(&v) {
                Ok(a) => Some(a),
                Err(e) => {
                    problems.push(e.to_string());
                    None
                }
            },
            None => None,
        };
        let context_missing = match get("AWS_XRAY_CONTEXT_MISSING").as_deref() {
            None | Some("LOG_ERROR" | "RUNTIME_ERROR") => ContextMissing::Log,
            Some("IGNORE_ERROR") => ContextMissing::Ignore,
            Some(other) => {
                problems.push(format!(
                    "AWS_XRAY_CONTEXT_MISSING {other:?}: expected LOG_ERROR or IGNORE_ERROR"
                ));
                ContextMissing::Log
            }
        };
        EnvConfig {
            enabled,
            daemon,
            context_missing,
            tracing_name: get("AWS_XRAY_TRACING_NAME").filter(|s| !s.is_empty()),
            lambda: get("LAMBDA_TASK_ROOT").is_some(),
            ec2_metadata_endpoint: get("AWS_EC2_METADATA_SERVICE_ENDPOINT")
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty()),
            ec2_metadata_disabled: get("AWS_EC2_METADATA_DISABLED")
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("true")),
            problems,
        }
    }

    /// Reads the process environment.
    pub fn from_process() -> EnvConfig {
        EnvConfig::from_lookup(|k| std::env::var(k).ok())
    }
}

/// How often centralized sampling polls, as the AWS SDKs do.
pub const RULES_INTERVAL: Duration = Duration::from_secs(300);
/// How often sampling statistics are reported and targets fetched.
pub const TARGETS_INTERVAL: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> EnvConfig {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        EnvConfig::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn daemon_address_forms() {
        let a = DaemonAddress::parse("127.0.0.1:3000").unwrap();
        assert_eq!(a.udp, a.tcp);
        assert_eq!(a.udp.port(), 3000);
        let a = DaemonAddress::parse("tcp:127.0.0.1:2001 udp:127.0.0.1:2002").unwrap();
        assert_eq!((a.tcp.port(), a.udp.port()), (2001, 2002));
        let a = DaemonAddress::parse("udp:127.0.0.1:2002  tcp:127.0.0.1:2001").unwrap();
        assert_eq!((a.tcp.port(), a.udp.port()), (2001, 2002));
        assert!(DaemonAddress::parse("localhost:2000").is_ok());
        for bad in [
            "",
            "127.0.0.1",
            "tcp:127.0.0.1:1",
            "udp:1.2.3.4:1 udp:1.2.3.4:2",
            "a b c",
        ] {
            assert!(DaemonAddress::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn environment() {
        let c = env(&[]);
        assert!(c.enabled && c.daemon.is_none() && c.problems.is_empty() && !c.lambda);
        assert_eq!(c.context_missing, ContextMissing::Log);
        assert!(c.ec2_metadata_endpoint.is_none() && !c.ec2_metadata_disabled);
        let c = env(&[
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1338"),
            ("AWS_EC2_METADATA_DISABLED", "TRUE"),
        ]);
        assert_eq!(
            c.ec2_metadata_endpoint.as_deref(),
            Some("http://127.0.0.1:1338")
        );
        assert!(c.ec2_metadata_disabled);
        for off in ["false", "0", "OFF", "n"] {
            assert!(!env(&[("AWS_XRAY_SDK_ENABLED", off)]).enabled, "{off}");
        }
        assert!(env(&[("AWS_XRAY_SDK_ENABLED", "maybe")]).enabled);
        assert!(!env(&[("AWS_XRAY_SDK_DISABLED", "TRUE")]).enabled);
        let c = env(&[
            ("AWS_XRAY_CONTEXT_MISSING", "IGNORE_ERROR"),
            ("AWS_XRAY_DAEMON_ADDRESS", "nonsense"),
            ("AWS_XRAY_TRACING_NAME", "svc"),
            ("LAMBDA_TASK_ROOT", "/var/task"),
        ]);
        assert_eq!(c.context_missing, ContextMissing::Ignore);
        assert_eq!(c.problems.len(), 1);
        assert_eq!(c.tracing_name.as_deref(), Some("svc"));
        assert!(c.lambda);
        assert_eq!(
            env(&[("AWS_XRAY_CONTEXT_MISSING", "RUNTIME_ERROR")]).context_missing,
            ContextMissing::Log
        );
    }
}

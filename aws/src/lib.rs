//! `fluoro-aws`: the AWS-facing I/O that both the daemon and the console need, and nothing else.
//!
//! It exists as a crate because the daemon and the console must not depend on each other (see
//! `docs/ARCHITECTURE.md`) and both talk to AWS X-Ray: the daemon forwards segments and proxies
//! sampling calls, the console reads traces. Each would otherwise carry its own copy of TLS, the
//! credential chain and SigV4 signing.
//!
//! Module map:
//! - [`connect`]: TCP, an optional HTTP `CONNECT` proxy and TLS (rustls, `ring`, Mozilla's
//!   roots plus `AWS_CA_BUNDLE`, or no verification); the pooled hyper client and one
//!   whole-response exchange with a timeout and a body limit;
//! - [`credentials`]: the standard AWS credential chain (environment, shared files, container
//!   credentials, IMDSv2, STS `AssumeRole`) with a cache refreshed before expiry;
//! - [`sign`]: X-Ray endpoints by region (with partitions), "is this an AWS host", and SigV4
//!   signing of a `hyper::Request` (the computation itself is `fluoro_proto::sigv4`).
//!
//! The environment is always passed in as [`Vars`], never read here, so tests never touch the
//! process environment. Depends on `fluoro-proto` only; never on the daemon, the console, the
//! collector or the SDK.

pub mod connect;
pub mod credentials;
pub mod sign;

use std::collections::BTreeMap;

pub use credentials::{CredentialsError, CredentialsProvider};
pub use sign::{
    SERVICE, Signer, dns_suffix, host_of, is_aws_host, now_secs, region_of_host, sign_request,
    xray_endpoint,
};

/// Environment variables, passed explicitly (the binaries read the process environment once, at
/// start); `Debug` shows names, never values.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Vars(pub BTreeMap<String, String>);

impl std::fmt::Debug for Vars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl Vars {
    /// The value of `name`, when set and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// Sets `name` (builder style; for flags that override a variable, e.g. `--profile`).
    #[must_use]
    pub fn with(mut self, name: &str, value: &str) -> Vars {
        self.0.insert(name.to_owned(), value.to_owned());
        self
    }
}

impl<const N: usize> From<[(&str, &str); N]> for Vars {
    fn from(pairs: [(&str, &str); N]) -> Vars {
        Vars(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }
}

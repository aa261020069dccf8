//! The AWS credential chain, in the AWS SDKs' order: environment variables, the shared
//! credentials and config files (a profile), container credentials (ECS, EKS Pod Identity),
//! EC2 instance metadata (IMDSv2, skipped in local mode); then, with `--role-arn`, STS
//! `AssumeRole` with those credentials (session name `xray-daemon`, as the AWS daemon).
//!
//! Credentials are cached and fetched again 5 minutes before they expire; static ones (from
//! the environment or a profile) are re-read every 15 minutes so a rotated file is picked up.
//! A failed fetch is not repeated for [`RETRY_AFTER_FAILURE`].
//!
//! The environment is passed in ([`crate::Vars`]) so tests need not touch the process
//! environment. Besides the standard variables, `AWS_EC2_METADATA_SERVICE_ENDPOINT` and
//! `AWS_ENDPOINT_URL_STS` move the metadata service and STS (as in the AWS SDKs).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use fluoro_proto::api::EpochSeconds;
use fluoro_proto::sigv4::Credentials;
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use tokio::sync::Mutex;

use crate::Vars;
use crate::connect::{self, HttpClient};

/// Credentials are fetched again this long before they expire.
pub const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);
/// Static credentials (environment, profile) are re-read this often.
pub const STATIC_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// After a failed fetch, the error is returned without trying again for this long.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5);
/// The same when signing is optional (a Fluoro endpoint, a region known only from
/// `AWS_REGION`): a machine with no credentials at all should not pay for the search often.
pub const RETRY_AFTER_FAILURE_OPTIONAL: Duration = Duration::from_secs(300);
/// Timeout of one call to the container credentials service or STS.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Timeout of one call to the EC2 metadata service (as the AWS SDKs: it answers at once or is
/// not there).
pub const IMDS_TIMEOUT: Duration = Duration::from_secs(1);
/// The ECS credentials host used with `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`.
pub const ECS_CREDENTIALS_HOST: &str = "http://169.254.170.2";
/// The EC2 instance metadata service.
pub const IMDS_ENDPOINT: &str = "http://169.254.169.254";
/// `RoleSessionName` of `AssumeRole`, as the AWS daemon.
pub const ROLE_SESSION_NAME: &str = "xray-daemon";

/// Why no credentials could be had.
#[derive(Debug, Clone, thiserror::Error)]
#[error("no AWS credentials: {0}")]
pub struct CredentialsError(pub String);

fn err(m: impl Into<String>) -> CredentialsError {
    CredentialsError(m.into())
}

/// Credentials with where they came from and until when they are good.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The credentials.
    pub credentials: Credentials,
    /// `environment`, `profile <name>`, `container`, `instance metadata`, `assume role`.
    pub source: String,
    /// Unix time after which they must not be used; `None`: no end.
    pub expires: Option<f64>,
}

#[derive(Debug)]
enum Cached {
    Empty,
    Have {
        fetched: Fetched,
        refresh_at: f64,
    },
    Failed {
        at: Instant,
        error: CredentialsError,
    },
}

/// The chain with its cache.
#[derive(Debug)]
pub struct CredentialsProvider {
    env: Vars,
    local_mode: bool,
    role_arn: Option<String>,
    region: String,
    /// Metadata services, never through the proxy.
    direct: HttpClient,
    /// STS, through the proxy when there is one.
    outbound: HttpClient,
    retry_after_failure: Duration,
    cache: Mutex<Cached>,
}

impl CredentialsProvider {
    /// The chain for `region` (used by STS), reading `env`.
    pub fn new(
        env: Vars,
        local_mode: bool,
        role_arn: Option<String>,
        region: String,
        direct: HttpClient,
        outbound: HttpClient,
    ) -> CredentialsProvider {
        CredentialsProvider {
            env,
            local_mode,
            role_arn,
            region,
            direct,
            outbound,
            retry_after_failure: RETRY_AFTER_FAILURE,
            cache: Mutex::new(Cached::Empty),
        }
    }

    /// How long a failure is returned before the chain is searched again.
    #[must_use]
    pub fn with_retry_after_failure(mut self, d: Duration) -> CredentialsProvider {
        self.retry_after_failure = d;
        self
    }

    /// Current credentials, fetched when there are none or they are about to expire.
    pub async fn get(&self) -> Result<Credentials, CredentialsError> {
        Ok(self.get_fetched().await?.credentials)
    }

    /// As [`get`](Self::get), with the source and expiry.
    pub async fn get_fetched(&self) -> Result<Fetched, CredentialsError> {
        let mut cache = self.cache.lock().await;
        let now = crate::now_secs() as f64;
        match &*cache {
            Cached::Have {
                fetched,
                refresh_at,
            } if now < *refresh_at => return Ok(fetched.clone()),
            Cached::Failed { at, error } if at.elapsed() < self.retry_after_failure => {
                return Err(error.clone());
            }
            _ => {}
        }
        match self.fetch().await {
            Ok(fetched) => {
                let refresh_at = fetched
                    .expires
                    .map_or(now + STATIC_LIFETIME.as_secs_f64(), |e| {
                        e - REFRESH_BEFORE_EXPIRY.as_secs_f64()
                    });
                tracing::info!(
                    source = %fetched.source,
                    access_key_id = %fetched.credentials.access_key_id,
                    expires = ?fetched.expires,
                    "aws credentials obtained"
                );
                *cache = Cached::Have {
                    fetched: fetched.clone(),
                    refresh_at,
                };
                Ok(fetched)
            }
            Err(e) => {
                // Credentials about to expire are still better than none.
                if let Cached::Have { fetched, .. } = &*cache
                    && fetched.expires.is_some_and(|x| now < x)
                {
                    tracing::warn!(error = %e, "aws credentials not refreshed; using the current ones until they expire");
                    return Ok(fetched.clone());
                }
                tracing::warn!(error = %e, "no aws credentials");
                *cache = Cached::Failed {
                    at: Instant::now(),
                    error: e.clone(),
                };
                Err(e)
            }
        }
    }

    async fn fetch(&self) -> Result<Fetched, CredentialsError> {
        let base = self.base().await?;
        match &self.role_arn {
            Some(arn) => self.assume_role(arn, &base.credentials).await,
            None => Ok(base),
        }
    }

    fn var(&self, k: &str) -> Option<&str> {
        self.env
            .0
            .get(k)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The chain without the role.
    async fn base(&self) -> Result<Fetched, CredentialsError> {
        if let Some(f) = from_env(&self.env) {
            return Ok(f);
        }
        if let Some(f) = from_profile(&self.env)? {
            return Ok(f);
        }
        if self.var("AWS_CONTAINER_CREDENTIALS_FULL_URI").is_some()
            || self.var("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI").is_some()
        {
            return self.container().await;
        }
        let imds_disabled = self
            .var("AWS_EC2_METADATA_DISABLED")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        if self.local_mode || imds_disabled {
            return Err(err(
                "none in AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, the shared credentials file or container credentials (instance metadata not asked: local mode)",
            ));
        }
        self.instance_metadata().await.map_err(|CredentialsError(e)| {
            err(format!(
                "none in the environment, the shared credentials file or container credentials, and instance metadata failed: {e}"
            ))
        })
    }

    async fn container(&self) -> Result<Fetched, CredentialsError> {
        let uri = match (
            self.var("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"),
            self.var("AWS_CONTAINER_CREDENTIALS_FULL_URI"),
        ) {
            (Some(rel), _) => format!("{ECS_CREDENTIALS_HOST}{rel}"),
            (None, Some(full)) => {
                check_container_uri(full)?;
                full.to_owned()
            }
            (None, None) => unreachable!("checked by the caller"),
        };
        let token = match (
            self.var("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"),
            self.var("AWS_CONTAINER_AUTHORIZATION_TOKEN"),
        ) {
            (Some(file), _) => Some(
                std::fs::read_to_string(file)
                    .map_err(|e| {
                        err(format!(
                            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE {file}: {e}"
                        ))
                    })?
                    .trim()
                    .to_owned(),
            ),
            (None, Some(t)) => Some(t.to_owned()),
            (None, None) => None,
        };
        let mut req = Request::builder().method(Method::GET).uri(&uri);
        if let Some(t) = token {
            req = req.header(hyper::header::AUTHORIZATION, t);
        }
        let req = req
            .body(Bytes::new())
            .map_err(|e| err(format!("container credentials URI {uri}: {e}")))?;
        let body = self
            .call(&self.direct, req, "container credentials", FETCH_TIMEOUT)
            .await?;
        parse_json_credentials(&body, "container")
    }

    async fn instance_metadata(&self) -> Result<Fetched, CredentialsError> {
        let base = self
            .var("AWS_EC2_METADATA_SERVICE_ENDPOINT")
            .unwrap_or(IMDS_ENDPOINT)
            .trim_end_matches('/')
            .to_owned();
        let build = |m: Method, path: &str, token: Option<&str>| {
            let mut r = Request::builder().method(m).uri(format!("{base}{path}"));
            r = match token {
                Some(t) => r.header("x-aws-ec2-metadata-token", t),
                None => r.header("x-aws-ec2-metadata-token-ttl-seconds", "21600"),
            };
            r.body(Bytes::new())
                .map_err(|e| err(format!("instance metadata {base}: {e}")))
        };
        let token = self
            .call(
                &self.direct,
                build(Method::PUT, "/latest/api/token", None)?,
                "instance metadata token",
                IMDS_TIMEOUT,
            )
            .await?;
        let token = String::from_utf8_lossy(&token).trim().to_owned();
        let path = "/latest/meta-data/iam/security-credentials/";
        let roles = self
            .call(
                &self.direct,
                build(Method::GET, path, Some(&token))?,
                "instance metadata role",
                IMDS_TIMEOUT,
            )
            .await?;
        let roles = String::from_utf8_lossy(&roles);
        let role = roles
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .ok_or_else(|| err("the instance has no IAM role"))?
            .to_owned();
        let body = self
            .call(
                &self.direct,
                build(Method::GET, &format!("{path}{role}"), Some(&token))?,
                "instance metadata credentials",
                IMDS_TIMEOUT,
            )
            .await?;
        parse_json_credentials(&body, "instance metadata")
    }

    async fn assume_role(
        &self,
        role_arn: &str,
        base: &Credentials,
    ) -> Result<Fetched, CredentialsError> {
        let endpoint = self.var("AWS_ENDPOINT_URL_STS").map_or_else(
            || {
                format!(
                    "https://sts.{}.{}",
                    self.region,
                    crate::dns_suffix(&self.region)
                )
            },
            |e| e.trim_end_matches('/').to_owned(),
        );
        let body = format!(
            "Action=AssumeRole&RoleArn={}&RoleSessionName={ROLE_SESSION_NAME}&Version=2011-06-15",
            percent_encode(role_arn)
        );
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(format!("{endpoint}/"))
            .header(
                hyper::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .body(Bytes::from(body))
            .map_err(|e| err(format!("STS endpoint {endpoint}: {e}")))?;
        crate::sign_request(base, &self.region, "sts", crate::now_secs(), &mut req);
        let xml = self
            .call(&self.outbound, req, "STS AssumeRole", FETCH_TIMEOUT)
            .await?;
        let xml = String::from_utf8_lossy(&xml);
        let field = |name: &str| {
            xml_field(&xml, name).ok_or_else(|| err(format!("STS AssumeRole answer has no {name}")))
        };
        let expires = EpochSeconds::parse_rfc3339(field("Expiration")?)
            .map_err(|e| err(format!("STS AssumeRole Expiration: {e}")))?
            .0;
        Ok(Fetched {
            credentials: Credentials {
                access_key_id: field("AccessKeyId")?.to_owned(),
                secret_access_key: field("SecretAccessKey")?.to_owned(),
                session_token: Some(field("SessionToken")?.to_owned()),
            },
            source: format!("assume role {role_arn}"),
            expires: Some(expires),
        })
    }

    async fn call(
        &self,
        client: &HttpClient,
        req: Request<Bytes>,
        what: &str,
        timeout: Duration,
    ) -> Result<Bytes, CredentialsError> {
        let uri = req.uri().clone();
        let resp = connect::exchange(client, req, timeout)
            .await
            .map_err(|e| err(format!("{what} ({uri}): {e}")))?;
        if resp.status() != StatusCode::OK {
            let body = String::from_utf8_lossy(resp.body());
            return Err(err(format!(
                "{what} ({uri}) answered {}: {}",
                resp.status(),
                body.chars().take(300).collect::<String>()
            )));
        }
        Ok(resp.into_body())
    }
}

/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`.
pub fn from_env(env: &Vars) -> Option<Fetched> {
    let get = |k: &str| env.0.get(k).filter(|v| !v.is_empty()).cloned();
    Some(Fetched {
        credentials: Credentials {
            access_key_id: get("AWS_ACCESS_KEY_ID")?,
            secret_access_key: get("AWS_SECRET_ACCESS_KEY")?,
            session_token: get("AWS_SESSION_TOKEN"),
        },
        source: "environment".into(),
        expires: None,
    })
}

/// The profile `AWS_PROFILE` (else `default`) from the shared credentials file
/// (`AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/credentials`), then from the config file
/// (`AWS_CONFIG_FILE`, else `~/.aws/config`, where it is `[profile NAME]`). Only static keys;
/// `None` when neither file names the profile with keys.
pub fn from_profile(env: &Vars) -> Result<Option<Fetched>, CredentialsError> {
    let var = |k: &str| env.0.get(k).filter(|v| !v.is_empty());
    let profile = var("AWS_PROFILE").map_or("default", String::as_str);
    let home = var("HOME").map(PathBuf::from);
    let file = |var_name: &str, default: &str| {
        var(var_name)
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".aws").join(default)))
    };
    let files = [
        (
            file("AWS_SHARED_CREDENTIALS_FILE", "credentials"),
            profile.to_owned(),
        ),
        (
            file("AWS_CONFIG_FILE", "config"),
            if profile == "default" {
                "default".to_owned()
            } else {
                format!("profile {profile}")
            },
        ),
    ];
    for (path, section) in files {
        let Some(path) = path else { continue };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(err(format!("{}: {e}", path.display()))),
        };
        let keys = ini_section(&text, &section);
        let get = |k: &str| {
            keys.iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty())
        };
        if let (Some(id), Some(secret)) = (get("aws_access_key_id"), get("aws_secret_access_key")) {
            return Ok(Some(Fetched {
                credentials: Credentials {
                    access_key_id: id,
                    secret_access_key: secret,
                    session_token: get("aws_session_token"),
                },
                source: format!("profile {profile} ({})", path.display()),
                expires: None,
            }));
        }
    }
    Ok(None)
}

/// `key = value` pairs of `[section]` in an INI file (`#` and `;` comments).
pub fn ini_section(text: &str, section: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = name.split_whitespace().collect::<Vec<_>>().join(" ") == section;
            continue;
        }
        if inside && let Some((k, v)) = line.split_once('=') {
            out.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    out
}

/// `AWS_CONTAINER_CREDENTIALS_FULL_URI` over plain HTTP only to loopback or the ECS/EKS link-local
/// hosts, as the AWS SDKs require.
fn check_container_uri(uri: &str) -> Result<(), CredentialsError> {
    let parsed: hyper::Uri = uri.parse().map_err(|_| {
        err(format!(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI {uri:?} is not a URL"
        ))
    })?;
    match parsed.scheme_str() {
        Some("https") => Ok(()),
        Some("http") => {
            let host = parsed.host().unwrap_or("").trim_matches(['[', ']']);
            let allowed = host == "localhost"
                || host == "169.254.170.2"
                || host == "169.254.170.23"
                || host == "fd00:ec2::23"
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if allowed {
                Ok(())
            } else {
                Err(err(format!(
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI {uri:?}: plain http is only allowed to loopback or the ECS/EKS hosts"
                )))
            }
        }
        _ => Err(err(format!(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI {uri:?}: expected http or https"
        ))),
    }
}

/// The JSON answer of the container and instance metadata services.
fn parse_json_credentials(body: &[u8], source: &str) -> Result<Fetched, CredentialsError> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Answer {
        access_key_id: String,
        secret_access_key: String,
        token: Option<String>,
        expiration: Option<String>,
    }
    let a: Answer = serde_json::from_slice(body)
        .map_err(|e| err(format!("{source} credentials answer: {e}")))?;
    let expires = a
        .expiration
        .as_deref()
        .map(|e| EpochSeconds::parse_rfc3339(e).map(|t| t.0))
        .transpose()
        .map_err(|e| err(format!("{source} credentials Expiration: {e}")))?;
    Ok(Fetched {
        credentials: Credentials {
            access_key_id: a.access_key_id,
            secret_access_key: a.secret_access_key,
            session_token: a.token.filter(|t| !t.is_empty()),
        },
        source: source.to_owned(),
        expires,
    })
}

/// The text of the first `<name>...</name>` element (STS answers are flat enough for this).
fn xml_field<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let len = xml[start..].find(&format!("</{name}>"))?;
    Some(xml[start..start + len].trim())
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn percent_encode(s: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests;

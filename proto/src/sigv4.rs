//! AWS Signature Version 4: the pure computation shared by the side that signs (the daemon) and
//! the side that verifies (the collector with `--auth-keys`).
//!
//! The four steps of the algorithm are separate functions so each can be checked against AWS's
//! published test suite: [`canonical_request`], [`string_to_sign`], [`signing_key`] and
//! [`signature`]; [`authorization`] assembles the `Authorization` header, [`sign`] does all of it
//! for a request. [`amz_date`] formats a Unix time as `X-Amz-Date` (`YYYYMMDD'T'HHMMSS'Z'`).
//!
//! No I/O, no clock: the caller passes the time. Paths and query strings are taken as they are
//! sent on the wire (already percent-encoded); X-Ray's paths (`/TraceSegments`, ...) need no
//! further encoding.

use std::fmt::Write as _;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The algorithm name that opens the `Authorization` header and the string to sign.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// Hex SHA-256 of the empty body.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Lowercase hex SHA-256 of `data` (the payload hash of a signed request).
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The canonical query string: `name=value` pairs sorted by name, then value.
pub fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(&str, &str)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect();
    pairs.sort_unstable();
    let mut out = String::with_capacity(query.len() + 1);
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

fn push_trimmed(out: &mut String, v: &str) {
    // Leading and trailing space removed, inner runs of spaces collapsed to one.
    for (i, word) in v.split_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(word);
    }
}

/// The canonical request. `headers` are all the request's headers (any case, repeated names
/// allowed); only those named in `signed_headers` (lowercase, `;`-separated, sorted) are used,
/// repeated values joined with `,` in the order given.
pub fn canonical_request<N: AsRef<str>, V: AsRef<str>>(
    method: &str,
    path: &str,
    query: &str,
    headers: &[(N, V)],
    signed_headers: &str,
    payload_hash: &str,
) -> String {
    let mut out = String::with_capacity(256);
    let _ = write!(
        out,
        "{method}\n{}\n{}\n",
        if path.is_empty() { "/" } else { path },
        canonical_query(query)
    );
    for name in signed_headers.split(';') {
        out.push_str(name);
        out.push(':');
        let mut first = true;
        for (_, v) in headers
            .iter()
            .filter(|(n, _)| n.as_ref().eq_ignore_ascii_case(name))
        {
            if !first {
                out.push(',');
            }
            first = false;
            push_trimmed(&mut out, v.as_ref());
        }
        out.push('\n');
    }
    let _ = write!(out, "\n{signed_headers}\n{payload_hash}");
    out
}

/// The credential scope `YYYYMMDD/region/service/aws4_request`.
pub fn scope(amz_date: &str, region: &str, service: &str) -> String {
    let date = &amz_date[..amz_date.len().min(8)];
    format!("{date}/{region}/{service}/aws4_request")
}

/// The string to sign for a canonical request.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

/// The signing key derived from the secret for one day, region and service.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

/// The hex signature of a canonical request.
pub fn signature(
    secret: &str,
    amz_date: &str,
    region: &str,
    service: &str,
    canonical_request: &str,
) -> String {
    let scope = scope(amz_date, region, service);
    let sts = string_to_sign(amz_date, &scope, canonical_request);
    let date = &amz_date[..amz_date.len().min(8)];
    hex(&hmac(
        &signing_key(secret, date, region, service),
        sts.as_bytes(),
    ))
}

/// The `Authorization` header value.
pub fn authorization(
    access_key_id: &str,
    scope: &str,
    signed_headers: &str,
    signature: &str,
) -> String {
    format!(
        "{ALGORITHM} Credential={access_key_id}/{scope}, SignedHeaders={signed_headers}, Signature={signature}"
    )
}

/// Credentials to sign with.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Access key id (`AKIA...`, `ASIA...`).
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Session token of temporary credentials, sent as `X-Amz-Security-Token`.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets.
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("session_token", &self.session_token.is_some())
            .finish_non_exhaustive()
    }
}

/// A request to sign: everything the signature covers.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `GET`, `POST`, ...
    pub method: &'a str,
    /// The path as sent (`/TraceSegments`).
    pub path: &'a str,
    /// The query as sent, without `?` (often empty).
    pub query: &'a str,
    /// The headers to sign, `host` among them (any case). `x-amz-date` and, with a session token,
    /// `x-amz-security-token` are added by [`sign`].
    pub headers: &'a [(&'a str, &'a str)],
    /// Hex SHA-256 of the body ([`sha256_hex`]).
    pub payload_hash: &'a str,
}

/// Signs `request` for `region` and `service` at `amz_date` and returns the headers to add:
/// `x-amz-date`, `x-amz-security-token` when the credentials have a session token, and
/// `authorization`. Every header in `request.headers` is signed.
pub fn sign(
    credentials: &Credentials,
    region: &str,
    service: &str,
    amz_date: &str,
    request: &Request<'_>,
) -> Vec<(&'static str, String)> {
    let mut added = vec![("x-amz-date", amz_date.to_owned())];
    if let Some(token) = &credentials.session_token {
        added.push(("x-amz-security-token", token.clone()));
    }
    let mut all: Vec<(String, &str)> = request
        .headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), *v))
        .chain(added.iter().map(|(n, v)| ((*n).to_owned(), v.as_str())))
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    let mut names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
    names.dedup();
    let signed_headers = names.join(";");
    let creq = canonical_request(
        request.method,
        request.path,
        request.query,
        &all,
        &signed_headers,
        request.payload_hash,
    );
    let sig = signature(
        &credentials.secret_access_key,
        amz_date,
        region,
        service,
        &creq,
    );
    let auth = authorization(
        &credentials.access_key_id,
        &scope(amz_date, region, service),
        &signed_headers,
        &sig,
    );
    added.push(("authorization", auth));
    added
}

/// `X-Amz-Date` for a Unix time in seconds: `YYYYMMDD'T'HHMMSS'Z'` (UTC).
pub fn amz_date(unix_secs: u64) -> String {
    let days = unix_secs / 86_400;
    let rem = unix_secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's
/// `civil_from_days`, for non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests;

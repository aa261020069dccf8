//! AWS Signature Version 4 verification for service `xray`, on when `--auth-keys` is set.
//!
//! The request is rebuilt in canonical form from what arrived (method, path, sorted query,
//! exactly the headers listed in `SignedHeaders`, the body's SHA-256), signed with the secret of
//! the access key named in the credential scope, and compared with the signature sent. Errors
//! are AWS's: `MissingAuthenticationTokenException` for an unsigned request,
//! `UnrecognizedClientException` for an unknown key, `InvalidSignatureException` for a wrong or
//! expired signature.

use std::collections::HashMap;
use std::path::Path;

use axum::http::{HeaderMap, Method};
use fluoro_proto::api::{ApiError, EpochSeconds, ErrorCode};
// The SigV4 computation is shared with the daemon, which signs with it.
use fluoro_proto::sigv4::{canonical_request, sha256_hex, signature};

/// How far a request's `X-Amz-Date` may be from our clock, as AWS allows.
pub const MAX_CLOCK_SKEW_SECS: f64 = 15.0 * 60.0;
const SERVICE: &str = "xray";

/// Access key id → secret access key, and the file's first key (which the mounted console signs
/// with).
#[derive(Clone)]
pub struct Keys(HashMap<String, String>, (String, String));

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets.
        write!(f, "Keys({} access keys)", self.0.len())
    }
}

impl Keys {
    /// Reads `ACCESS_KEY_ID SECRET_ACCESS_KEY` lines; blank lines and `#` comments are skipped.
    pub fn load(path: &Path) -> Result<Keys, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Keys::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses the key file format.
    pub fn parse(text: &str) -> Result<Keys, String> {
        let mut map = HashMap::new();
        let mut first = None;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut parts = line.split_whitespace();
            match (parts.next(), parts.next(), parts.next()) {
                (Some(id), Some(secret), None) => {
                    map.insert(id.to_owned(), secret.to_owned());
                    first.get_or_insert_with(|| (id.to_owned(), secret.to_owned()));
                }
                _ => {
                    return Err(format!(
                        "line {}: expected `ACCESS_KEY_ID SECRET_ACCESS_KEY`",
                        i + 1
                    ));
                }
            }
        }
        let Some(first) = first else {
            return Err("no keys".into());
        };
        Ok(Keys(map, first))
    }

    /// The first `(access key id, secret)` of the file.
    pub fn first(&self) -> (&str, &str) {
        (&self.1.0, &self.1.1)
    }
}

struct Authorization<'a> {
    access_key: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
}

fn parse_authorization(value: &str) -> Option<Authorization<'_>> {
    let rest = value.strip_prefix("AWS4-HMAC-SHA256")?.trim_start();
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed_headers = Some(v),
            "Signature" => signature = Some(v),
            _ => {}
        }
    }
    let mut scope = credential?.split('/');
    let access_key = scope.next()?;
    let date = scope.next()?;
    let region = scope.next()?;
    let service = scope.next()?;
    if scope.next()? != "aws4_request" {
        return None;
    }
    Some(Authorization {
        access_key,
        date,
        region,
        service,
        signed_headers: signed_headers?,
        signature: signature?,
    })
}

fn amz_date_secs(d: &str) -> Option<f64> {
    // 20260101T120000Z
    if d.len() != 16 {
        return None;
    }
    let iso = format!(
        "{}-{}-{}T{}:{}:{}Z",
        d.get(0..4)?,
        d.get(4..6)?,
        d.get(6..8)?,
        d.get(9..11)?,
        d.get(11..13)?,
        d.get(13..15)?
    );
    EpochSeconds::parse_rfc3339(&iso).ok().map(|t| t.0)
}

/// Verifies a request's SigV4 signature.
pub fn verify(
    keys: &Keys,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), ApiError> {
    let invalid = |m: String| ApiError::new(ErrorCode::InvalidSignature, m);
    let Some(auth) = headers.get("authorization") else {
        return Err(ApiError::new(
            ErrorCode::MissingAuthenticationToken,
            "Missing Authentication Token: this collector requires SigV4-signed requests",
        ));
    };
    let auth = auth
        .to_str()
        .ok()
        .and_then(parse_authorization)
        .ok_or_else(|| {
            invalid("Authorization header is not a valid AWS4-HMAC-SHA256 header".into())
        })?;
    let Some(secret) = keys.0.get(auth.access_key) else {
        return Err(ApiError::new(
            ErrorCode::UnrecognizedClient,
            "The security token included in the request is invalid.",
        ));
    };
    if auth.service != SERVICE {
        return Err(invalid(format!(
            "Credential should be scoped to correct service: '{SERVICE}'"
        )));
    }
    let amz_date = headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| invalid("missing X-Amz-Date header".into()))?;
    if !amz_date.starts_with(auth.date) {
        return Err(invalid(format!(
            "Date in Credential scope does not match YYYYMMDD from X-Amz-Date ({amz_date})"
        )));
    }
    let t = amz_date_secs(amz_date).ok_or_else(|| {
        invalid(format!(
            "X-Amz-Date {amz_date:?} is not YYYYMMDD'T'HHMMSS'Z'"
        ))
    })?;
    let now = crate::store::traces::now_secs();
    if (now - t).abs() > MAX_CLOCK_SKEW_SECS {
        return Err(invalid(format!(
            "Signature expired: {amz_date} is more than 15 minutes from the server time"
        )));
    }
    if !auth.signed_headers.split(';').any(|h| h == "host") {
        return Err(invalid("SignedHeaders must include host".into()));
    }
    let header_list: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let payload_hash = match headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
    {
        Some("UNSIGNED-PAYLOAD") => "UNSIGNED-PAYLOAD".to_owned(),
        _ => sha256_hex(body),
    };
    let creq = canonical_request(
        method.as_str(),
        path,
        query,
        &header_list,
        auth.signed_headers,
        &payload_hash,
    );
    let expected = signature(secret, amz_date, auth.region, auth.service, &creq);
    // Compare without an early exit.
    let same = expected.len() == auth.signature.len()
        && expected
            .bytes()
            .zip(auth.signature.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if same {
        Ok(())
    } else {
        Err(invalid(
            "The request signature we calculated does not match the signature you provided.".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example from AWS's SigV4 documentation (IAM ListUsers).
    #[test]
    fn aws_documentation_example() {
        let headers = vec![
            (
                "content-type".to_owned(),
                "application/x-www-form-urlencoded; charset=utf-8".to_owned(),
            ),
            ("host".to_owned(), "iam.amazonaws.com".to_owned()),
            ("x-amz-date".to_owned(), "20150830T123600Z".to_owned()),
        ];
        let creq = canonical_request(
            "GET",
            "/",
            "Version=2010-05-08&Action=ListUsers",
            &headers,
            "content-type;host;x-amz-date",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        );
        assert_eq!(
            sha256_hex(creq.as_bytes()),
            "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
        );
        assert_eq!(
            signature(
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                "20150830T123600Z",
                "us-east-1",
                "iam",
                &creq
            ),
            "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
    }

    #[test]
    fn key_file() {
        let k = Keys::parse("# comment\n\nAKID SECRET\n").unwrap();
        assert_eq!(k.0.get("AKID").map(String::as_str), Some("SECRET"));
        assert_eq!(
            Keys::parse("AKID").unwrap_err(),
            "line 1: expected `ACCESS_KEY_ID SECRET_ACCESS_KEY`"
        );
        assert!(Keys::parse("").is_err());
    }

    #[test]
    fn unsigned_and_unknown_key() {
        let keys = Keys::parse("AKID SECRET").unwrap();
        let e = verify(
            &keys,
            &Method::POST,
            "/Traces",
            "",
            &HeaderMap::new(),
            b"{}",
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::MissingAuthenticationToken);
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=OTHER/20260101/us-east-1/xray/aws4_request, SignedHeaders=host;x-amz-date, Signature=00"
                .parse()
                .unwrap(),
        );
        let e = verify(&keys, &Method::POST, "/Traces", "", &h, b"{}").unwrap_err();
        assert_eq!(e.code, ErrorCode::UnrecognizedClient);
    }
}

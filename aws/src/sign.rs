//! AWS X-Ray endpoints and SigV4 signing: which endpoint a region means, whether a host is an
//! AWS one, and the signing of outgoing requests (the computation is `fluoro_proto::sigv4`,
//! shared with the collector's verification) with credentials from [`crate::credentials`].
//!
//! The callers decide when to sign: the daemon and the console sign (service `xray`) towards an
//! AWS endpoint always, and towards any other endpoint when a region is known and credentials
//! are found (so a `fluoro-collector --auth-keys` can verify them).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use fluoro_proto::sigv4;
use hyper::body::Bytes;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Request, Uri};

use crate::credentials::{CredentialsError, CredentialsProvider};

/// SigV4 service name of X-Ray.
pub const SERVICE: &str = "xray";

/// The X-Ray endpoint of `region`, with the partition's DNS suffix, as the AWS daemon picks it.
pub fn xray_endpoint(region: &str) -> String {
    format!("https://xray.{region}.{}", dns_suffix(region))
}

/// The DNS suffix of the partition `region` belongs to.
pub fn dns_suffix(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else if region.starts_with("us-isob-") {
        "sc2s.sgov.gov"
    } else if region.starts_with("us-iso-") {
        "c2s.ic.gov"
    } else {
        "amazonaws.com"
    }
}

/// Whether `host` is an AWS service endpoint (requests to it must be signed).
pub fn is_aws_host(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    [
        ".amazonaws.com",
        ".amazonaws.com.cn",
        ".c2s.ic.gov",
        ".sc2s.sgov.gov",
        ".api.aws",
    ]
    .iter()
    .any(|s| host.ends_with(s))
}

/// The region in an AWS endpoint host such as `xray.eu-west-1.amazonaws.com`.
pub fn region_of_host(host: &str) -> Option<&str> {
    let mut labels = host.split('.');
    let _service = labels.next()?;
    let region = labels.next()?;
    (region.contains('-') && region.bytes().any(|b| b.is_ascii_digit())).then_some(region)
}

/// Signs outgoing requests for one region.
#[derive(Debug)]
pub struct Signer {
    region: String,
    credentials: Arc<CredentialsProvider>,
    required: bool,
}

impl Signer {
    /// A signer for `region`. `required`: a request that cannot be signed fails (an AWS
    /// endpoint) rather than going out unsigned (a Fluoro endpoint).
    pub fn new(region: String, credentials: Arc<CredentialsProvider>, required: bool) -> Signer {
        Signer {
            region,
            credentials,
            required,
        }
    }

    /// The region signed for.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// Whether requests must be signed.
    pub fn required(&self) -> bool {
        self.required
    }

    /// Adds `X-Amz-Date`, `X-Amz-Security-Token` (temporary credentials) and `Authorization`
    /// to `req` (whose URI is absolute), signing `host`, `content-type` and those.
    pub async fn sign(&self, req: &mut Request<Bytes>) -> Result<(), CredentialsError> {
        let creds = self.credentials.get().await?;
        sign_request(&creds, &self.region, SERVICE, now_secs(), req);
        Ok(())
    }
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The `Host` value of `uri` (its authority).
pub fn host_of(uri: &Uri) -> String {
    uri.authority()
        .map_or_else(String::new, |a| a.as_str().to_owned())
}

/// Signs `req` in place with `credentials` at `unix_secs`.
pub fn sign_request(
    credentials: &sigv4::Credentials,
    region: &str,
    service: &str,
    unix_secs: u64,
    req: &mut Request<Bytes>,
) {
    // Whatever signature the caller (an SDK through the proxy) sent is replaced.
    for h in [
        "authorization",
        "x-amz-date",
        "x-amz-security-token",
        "x-amz-content-sha256",
    ] {
        req.headers_mut().remove(h);
    }
    let host = match req.headers().get(hyper::header::HOST) {
        Some(h) => String::from_utf8_lossy(h.as_bytes()).into_owned(),
        None => {
            let h = host_of(req.uri());
            if let Ok(v) = HeaderValue::from_str(&h) {
                req.headers_mut().insert(hyper::header::HOST, v);
            }
            h
        }
    };
    let content_type = req
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let mut headers = vec![("host", host.as_str())];
    if let Some(ct) = &content_type {
        headers.push(("content-type", ct.as_str()));
    }
    let payload_hash = sigv4::sha256_hex(req.body());
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let added = sigv4::sign(
        credentials,
        region,
        service,
        &sigv4::amz_date(unix_secs),
        &sigv4::Request {
            method: req.method().as_str(),
            path: &path,
            query: &query,
            headers: &headers,
            payload_hash: &payload_hash,
        },
    );
    for (name, value) in added {
        if let Ok(v) = HeaderValue::from_str(&value) {
            req.headers_mut().insert(HeaderName::from_static(name), v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_by_region() {
        assert_eq!(
            xray_endpoint("eu-west-1"),
            "https://xray.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            xray_endpoint("cn-north-1"),
            "https://xray.cn-north-1.amazonaws.com.cn"
        );
        assert_eq!(
            xray_endpoint("us-iso-east-1"),
            "https://xray.us-iso-east-1.c2s.ic.gov"
        );
        assert_eq!(
            xray_endpoint("us-isob-east-1"),
            "https://xray.us-isob-east-1.sc2s.sgov.gov"
        );
        assert!(is_aws_host("xray.us-east-1.amazonaws.com"));
        assert!(is_aws_host("XRAY.cn-north-1.amazonaws.com.cn"));
        assert!(!is_aws_host("collector"));
        assert!(!is_aws_host("127.0.0.1"));
        assert!(!is_aws_host("amazonaws.com.evil.example"));
        assert_eq!(
            region_of_host("xray.eu-west-1.amazonaws.com"),
            Some("eu-west-1")
        );
        assert_eq!(region_of_host("xray.amazonaws.com"), None);
    }

    /// Request signing against AWS's published `post-vanilla` vector, through the
    /// same code path as a real request.
    #[test]
    fn signs_a_request_as_the_test_suite() {
        let creds = sigv4::Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
        };
        let mut req = Request::builder()
            .method("POST")
            .uri("https://example.amazonaws.com/")
            .header("authorization", "stale")
            .body(Bytes::new())
            .unwrap();
        sign_request(&creds, "us-east-1", "service", 1_440_938_160, &mut req);
        assert_eq!(req.headers()["host"], "example.amazonaws.com");
        assert_eq!(req.headers()["x-amz-date"], "20150830T123600Z");
        assert_eq!(
            req.headers()["authorization"],
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"
        );
    }
}

//! SigV4 against AWS's published test suite (`aws-sig-v4-test-suite`: credentials
//! `AKIDEXAMPLE`, 2015-08-30T12:36:00Z, region `us-east-1`, service `service`) and the worked
//! examples of the IAM and S3 documentation.

use super::*;

const SUITE_KEY: &str = "AKIDEXAMPLE";
const SUITE_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const SUITE_DATE: &str = "20150830T123600Z";
const HOST: (&str, &str) = ("Host", "example.amazonaws.com");

fn suite_credentials() -> Credentials {
    Credentials {
        access_key_id: SUITE_KEY.into(),
        secret_access_key: SUITE_SECRET.into(),
        session_token: None,
    }
}

/// Signs one suite request and returns its `Authorization` header.
fn suite(method: &str, query: &str, headers: &[(&str, &str)], body: &[u8]) -> String {
    let hash = sha256_hex(body);
    let added = sign(
        &suite_credentials(),
        "us-east-1",
        "service",
        SUITE_DATE,
        &Request {
            method,
            path: "/",
            query,
            headers,
            payload_hash: &hash,
        },
    );
    assert_eq!(added[0], ("x-amz-date", SUITE_DATE.to_owned()));
    added
        .into_iter()
        .find(|(n, _)| *n == "authorization")
        .map(|(_, v)| v)
        .unwrap()
}

fn suite_authorization(signed_headers: &str, signature: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders={signed_headers}, Signature={signature}"
    )
}

#[test]
fn get_vanilla() {
    assert_eq!(
        suite("GET", "", &[HOST], b""),
        suite_authorization(
            "host;x-amz-date",
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        )
    );
}

#[test]
fn post_vanilla() {
    assert_eq!(
        suite("POST", "", &[HOST], b""),
        suite_authorization(
            "host;x-amz-date",
            "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"
        )
    );
}

#[test]
fn get_vanilla_query_order_key_case() {
    assert_eq!(
        suite("GET", "Param2=value2&Param1=value1", &[HOST], b""),
        suite_authorization(
            "host;x-amz-date",
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
        )
    );
}

#[test]
fn post_vanilla_empty_query_value() {
    assert_eq!(
        suite("POST", "Param1=value1", &[HOST], b""),
        suite_authorization(
            "host;x-amz-date",
            "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"
        )
    );
}

/// The one suite vector with a body and a third signed header; the intermediate steps are
/// published too, so each function is checked on its own.
#[test]
fn post_x_www_form_urlencoded_step_by_step() {
    let body = b"Param1=value1";
    let hash = sha256_hex(body);
    assert_eq!(
        hash,
        "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"
    );
    let headers = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        HOST,
        ("X-Amz-Date", SUITE_DATE),
    ];
    let signed = "content-type;host;x-amz-date";
    let creq = canonical_request("POST", "/", "", &headers, signed, &hash);
    assert_eq!(
        creq,
        "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\n9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"
    );
    let scope = scope(SUITE_DATE, "us-east-1", "service");
    assert_eq!(scope, "20150830/us-east-1/service/aws4_request");
    assert_eq!(
        string_to_sign(SUITE_DATE, &scope, &creq),
        "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281"
    );
    let sig = "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a";
    assert_eq!(
        signature(SUITE_SECRET, SUITE_DATE, "us-east-1", "service", &creq),
        sig
    );
    assert_eq!(
        suite("POST", "", &headers[..2], body),
        suite_authorization(signed, sig)
    );
}

/// The worked example from AWS's SigV4 documentation (IAM ListUsers).
#[test]
fn iam_documentation_example() {
    let headers = [
        (
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        ),
        ("host", "iam.amazonaws.com"),
        ("x-amz-date", "20150830T123600Z"),
    ];
    let creq = canonical_request(
        "GET",
        "/",
        "Version=2010-05-08&Action=ListUsers",
        &headers,
        "content-type;host;x-amz-date",
        EMPTY_SHA256,
    );
    assert_eq!(
        sha256_hex(creq.as_bytes()),
        "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
    );
    assert_eq!(
        signature(SUITE_SECRET, "20150830T123600Z", "us-east-1", "iam", &creq),
        "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
    );
}

#[test]
fn header_values_are_trimmed_and_repeats_joined() {
    let headers = [
        ("My-Header1", "  value1  a   b "),
        ("host", "h"),
        ("my-header1", "value2"),
    ];
    let creq = canonical_request("GET", "", "", &headers, "host;my-header1", EMPTY_SHA256);
    assert_eq!(
        creq,
        format!(
            "GET\n/\n\nhost:h\nmy-header1:value1 a b,value2\n\nhost;my-header1\n{EMPTY_SHA256}"
        )
    );
}

#[test]
fn session_token_is_sent_and_signed() {
    let mut creds = suite_credentials();
    creds.session_token = Some("TOKEN".into());
    let added = sign(
        &creds,
        "us-east-1",
        "xray",
        SUITE_DATE,
        &Request {
            method: "POST",
            path: "/TraceSegments",
            query: "",
            headers: &[HOST, ("content-type", "application/json")],
            payload_hash: EMPTY_SHA256,
        },
    );
    assert_eq!(added[1], ("x-amz-security-token", "TOKEN".to_owned()));
    assert!(
        added[2]
            .1
            .contains("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token,"),
        "{}",
        added[2].1
    );
}

#[test]
fn amz_dates() {
    assert_eq!(amz_date(0), "19700101T000000Z");
    assert_eq!(amz_date(1_440_938_160), SUITE_DATE);
    assert_eq!(amz_date(951_782_400), "20000229T000000Z");
    assert_eq!(amz_date(4_102_444_799), "20991231T235959Z");
}

#[test]
fn credentials_debug_hides_secrets() {
    let mut c = suite_credentials();
    c.session_token = Some("TOKEN".into());
    let s = format!("{c:?}");
    assert!(s.contains("AKIDEXAMPLE") && !s.contains("EXAMPLEKEY") && !s.contains("TOKEN"));
}

//! The credential chain with loopback servers standing in for the container credentials
//! endpoint, the EC2 metadata service and STS; environments are passed in, never set.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post, put};

use super::*;

fn clients() -> (HttpClient, HttpClient) {
    let tls = crate::connect::tls_config(false, None).unwrap();
    (
        crate::connect::http_client(tls.clone(), None, 1),
        crate::connect::http_client(tls, None, 1),
    )
}

fn provider(env: Vars, local_mode: bool, role: Option<&str>) -> CredentialsProvider {
    let (direct, outbound) = clients();
    CredentialsProvider::new(
        env,
        local_mode,
        role.map(str::to_owned),
        "eu-west-1".into(),
        direct,
        outbound,
    )
}

async fn serve(router: Router) -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, router).await });
    addr
}

fn temp_file(tag: &str, text: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!(
        "fluoro-daemon-creds-{tag}-{}-{}",
        std::process::id(),
        fluoro_proto::ids::EntityId::generate()
    ));
    std::fs::write(&p, text).unwrap();
    p
}

/// An expiry in RFC 3339, `secs` from now.
fn expiry(secs: i64) -> String {
    let t = crate::now_secs().cast_signed() + secs;
    let d = fluoro_proto::sigv4::amz_date(t.cast_unsigned());
    format!(
        "{}-{}-{}T{}:{}:{}Z",
        &d[0..4],
        &d[4..6],
        &d[6..8],
        &d[9..11],
        &d[11..13],
        &d[13..15]
    )
}

#[tokio::test]
async fn environment_first() {
    let env = Vars::from([
        ("AWS_ACCESS_KEY_ID", "AKIDENV"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
        ("AWS_SESSION_TOKEN", "tok"),
        // Never reached: the environment wins.
        (
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "http://127.0.0.1:1/creds",
        ),
    ]);
    let f = provider(env, true, None).get_fetched().await.unwrap();
    assert_eq!(f.source, "environment");
    assert_eq!(f.credentials.access_key_id, "AKIDENV");
    assert_eq!(f.credentials.session_token.as_deref(), Some("tok"));
}

#[tokio::test]
async fn shared_credentials_and_config_profiles() {
    let creds = temp_file(
        "credentials",
        "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = s1\n\n# comment\n[work]\naws_access_key_id=AKIDWORK\naws_secret_access_key=s2\naws_session_token = t2\n",
    );
    let config = temp_file(
        "config",
        "[profile other]\naws_access_key_id = AKIDOTHER\naws_secret_access_key = s3\nregion = eu-west-1\n",
    );
    let env = |profile: &str| {
        Vars::from([
            ("AWS_SHARED_CREDENTIALS_FILE", creds.to_str().unwrap()),
            ("AWS_CONFIG_FILE", config.to_str().unwrap()),
            ("AWS_PROFILE", profile),
        ])
    };
    let id = |profile: &str| {
        from_profile(&env(profile))
            .unwrap()
            .map(|f| f.credentials.access_key_id)
    };
    assert_eq!(id("").as_deref(), Some("AKIDDEFAULT"));
    assert_eq!(id("work").as_deref(), Some("AKIDWORK"));
    assert_eq!(id("other").as_deref(), Some("AKIDOTHER"));
    assert_eq!(id("missing"), None);
    // Through the chain, with HOME pointing at a ~/.aws directory.
    let home = temp_file("home", "");
    std::fs::remove_file(&home).unwrap();
    std::fs::create_dir_all(home.join(".aws")).unwrap();
    std::fs::copy(&creds, home.join(".aws/credentials")).unwrap();
    let f = provider(Vars::from([("HOME", home.to_str().unwrap())]), true, None)
        .get_fetched()
        .await
        .unwrap();
    assert_eq!(f.credentials.access_key_id, "AKIDDEFAULT");
    assert!(f.source.starts_with("profile default"), "{}", f.source);
    let _ = std::fs::remove_dir_all(&home);
    let _ = std::fs::remove_file(&creds);
    let _ = std::fs::remove_file(&config);
}

#[tokio::test]
async fn container_credentials_with_token_and_refresh() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let router = Router::new().route(
        "/creds",
        get(move |h: HeaderMap| {
            let c = Arc::clone(&c);
            async move {
                if h.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer sesame") {
                    return (StatusCode::UNAUTHORIZED, String::new());
                }
                let n = c.fetch_add(1, Ordering::SeqCst);
                // The first answer is about to expire (inside the refresh margin): the next
                // `get` must fetch again.
                let secs = if n == 0 { 60 } else { 3600 };
                (
                    StatusCode::OK,
                    serde_json::json!({
                        "AccessKeyId": format!("ASIACONTAINER{n}"),
                        "SecretAccessKey": "s",
                        "Token": "t",
                        "Expiration": expiry(secs),
                    })
                    .to_string(),
                )
            }
        }),
    );
    let addr = serve(router).await;
    let uri = format!("http://{addr}/creds");
    let p = provider(
        Vars::from([
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", uri.as_str()),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "Bearer sesame"),
        ]),
        true,
        None,
    );
    let a = p.get_fetched().await.unwrap();
    assert_eq!(a.source, "container");
    assert_eq!(a.credentials.access_key_id, "ASIACONTAINER0");
    assert_eq!(a.credentials.session_token.as_deref(), Some("t"));
    let b = p.get().await.unwrap();
    assert_eq!(b.access_key_id, "ASIACONTAINER1", "refreshed before expiry");
    let c = p.get().await.unwrap();
    assert_eq!(c.access_key_id, "ASIACONTAINER1", "cached while good");
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    // A wrong token: the error names the service and the status.
    let p = provider(
        Vars::from([
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", uri.as_str()),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "Bearer wrong"),
        ]),
        true,
        None,
    );
    let e = p.get().await.unwrap_err();
    assert!(
        e.0.contains("container credentials") && e.0.contains("401"),
        "{e}"
    );
}

#[test]
fn container_uri_must_be_local_over_http() {
    assert!(check_container_uri("http://127.0.0.1:8080/x").is_ok());
    assert!(check_container_uri("http://169.254.170.2/v2/credentials/x").is_ok());
    assert!(check_container_uri("https://creds.example.com/x").is_ok());
    assert!(check_container_uri("http://creds.example.com/x").is_err());
    assert!(check_container_uri("ftp://127.0.0.1/x").is_err());
}

#[tokio::test]
async fn instance_metadata_v2() {
    let router = Router::new()
        .route(
            "/latest/api/token",
            put(|h: HeaderMap| async move {
                if h.contains_key("x-aws-ec2-metadata-token-ttl-seconds") {
                    (StatusCode::OK, "TOKEN-1")
                } else {
                    (StatusCode::BAD_REQUEST, "")
                }
            }),
        )
        .route(
            "/latest/meta-data/iam/security-credentials/",
            get(|h: HeaderMap| async move {
                if h.get("x-aws-ec2-metadata-token")
                    .is_some_and(|v| v == "TOKEN-1")
                {
                    (StatusCode::OK, "xray-role\n".to_owned())
                } else {
                    (StatusCode::UNAUTHORIZED, String::new())
                }
            }),
        )
        .route(
            "/latest/meta-data/iam/security-credentials/xray-role",
            get(|h: HeaderMap| async move {
                if h.get("x-aws-ec2-metadata-token")
                    .is_some_and(|v| v == "TOKEN-1")
                {
                    (
                        StatusCode::OK,
                        serde_json::json!({
                            "Code": "Success",
                            "AccessKeyId": "ASIAIMDS",
                            "SecretAccessKey": "s",
                            "Token": "t",
                            "Expiration": expiry(6 * 3600),
                        })
                        .to_string(),
                    )
                } else {
                    (StatusCode::UNAUTHORIZED, String::new())
                }
            }),
        );
    let addr = serve(router).await;
    let endpoint = format!("http://{addr}");
    let env = Vars::from([("AWS_EC2_METADATA_SERVICE_ENDPOINT", endpoint.as_str())]);
    let f = provider(env.clone(), false, None)
        .get_fetched()
        .await
        .unwrap();
    assert_eq!(f.source, "instance metadata");
    assert_eq!(f.credentials.access_key_id, "ASIAIMDS");
    // Local mode never asks the metadata service.
    let e = provider(env, true, None).get().await.unwrap_err();
    assert!(e.0.contains("local mode"), "{e}");
}

#[tokio::test]
async fn assume_role_signs_with_the_base_credentials() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let s = Arc::clone(&seen);
    let router = Router::new().route(
        "/",
        post(move |h: HeaderMap, body: String| {
            let s = Arc::clone(&s);
            async move {
                let auth = h
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                s.lock().unwrap().push(format!("{auth}\n{body}"));
                format!(
                    "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult><Credentials><AccessKeyId>ASIAROLE</AccessKeyId><SecretAccessKey>rs</SecretAccessKey><SessionToken>rt</SessionToken><Expiration>{}</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>",
                    expiry(3600)
                )
            }
        }),
    );
    let addr = serve(router).await;
    let sts = format!("http://{addr}");
    let env = Vars::from([
        ("AWS_ACCESS_KEY_ID", "AKIDBASE"),
        ("AWS_SECRET_ACCESS_KEY", "base-secret"),
        ("AWS_ENDPOINT_URL_STS", sts.as_str()),
    ]);
    let p = provider(env, true, Some("arn:aws:iam::123456789012:role/xray"));
    let f = p.get_fetched().await.unwrap();
    assert_eq!(f.credentials.access_key_id, "ASIAROLE");
    assert_eq!(f.credentials.session_token.as_deref(), Some("rt"));
    assert!(f.expires.is_some());
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert!(
        seen[0].starts_with("AWS4-HMAC-SHA256 Credential=AKIDBASE/")
            && seen[0].contains("/eu-west-1/sts/aws4_request"),
        "{}",
        seen[0]
    );
    assert!(
        seen[0].ends_with(
            "Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fxray&RoleSessionName=xray-daemon&Version=2011-06-15"
        ),
        "{}",
        seen[0]
    );
}

#[tokio::test]
async fn nothing_found_is_an_error_saying_where_it_looked() {
    let e = provider(Vars::from([("HOME", "/nonexistent")]), true, None)
        .get()
        .await
        .unwrap_err();
    assert!(e.0.contains("AWS_ACCESS_KEY_ID"), "{e}");
}

#[test]
fn helpers() {
    assert_eq!(
        ini_section("[a]\nk=1\n[ profile  b ]\nk = 2\n", "profile b"),
        vec![("k".to_owned(), "2".to_owned())]
    );
    assert_eq!(xml_field("<a><B> x </B></a>", "B"), Some("x"));
    assert_eq!(percent_encode("a:b/c d~"), "a%3Ab%2Fc%20d~");
}

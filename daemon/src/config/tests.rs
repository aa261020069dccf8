use super::*;

fn load(args: &[&str]) -> Result<Config, LoadError> {
    let mut all = vec!["fluoro-daemon"];
    all.extend_from_slice(args);
    Config::load(all, &Environment::default())
}

fn invalid(args: &[&str]) -> String {
    match load(args) {
        Err(LoadError::Invalid(e)) => e.to_string(),
        other => panic!("{args:?}: expected an invalid configuration, got {other:?}"),
    }
}

/// A configuration file in the temp directory, removed when dropped.
struct TempFile(PathBuf);

impl std::ops::Deref for TempFile {
    type Target = PathBuf;
    fn deref(&self) -> &PathBuf {
        &self.0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn temp_file(tag: &str, text: &str) -> TempFile {
    let p = std::env::temp_dir().join(format!(
        "fluoro-daemon-cfg-{tag}-{}.yaml",
        std::process::id()
    ));
    std::fs::write(&p, text).unwrap();
    TempFile(p)
}

#[test]
fn defaults_are_the_aws_daemons() {
    let c = load(&[]).unwrap();
    assert_eq!(c.udp_addr.to_string(), DEFAULT_UDP_ADDRESS);
    assert_eq!(c.tcp_addr.to_string(), DEFAULT_TCP_ADDRESS);
    assert_eq!(c.endpoint, DEFAULT_ENDPOINT);
    assert_eq!(c.buffer_memory_mb, DEFAULT_BUFFER_MEMORY_MB);
    assert_eq!(c.concurrency, 8);
    assert_eq!(c.log_level, LogLevel::Prod);
    assert!(!c.local_mode);
    assert!(c.spool_dir.is_none());
    assert_eq!(c.shutdown_grace, Duration::from_secs(5));
}

#[test]
fn every_aws_flag_in_short_long_and_go_forms() {
    let short = load(&[
        "-b",
        "127.0.0.1:3000",
        "-t",
        "127.0.0.1:3001",
        "-m",
        "32",
        "-n",
        "eu-west-1",
        "-o",
        "-r",
        "arn:aws:iam::1:role/x",
        "-a",
        "arn:aws:ec2:1",
        "-p",
        "http://192.0.2.0:3000",
        "-l",
        "debug",
        "-f",
        "/tmp/x.log",
        "-e",
        "http://127.0.0.1:9999",
    ])
    .unwrap();
    let long = load(&[
        "--bind=127.0.0.1:3000",
        "--bind-tcp",
        "127.0.0.1:3001",
        "--buffer-memory=32",
        "--region",
        "eu-west-1",
        "--local-mode",
        "--role-arn=arn:aws:iam::1:role/x",
        "--resource-arn",
        "arn:aws:ec2:1",
        "--proxy-address",
        "http://192.0.2.0:3000",
        "--log-level=debug",
        "--log-file",
        "/tmp/x.log",
        "--endpoint=http://127.0.0.1:9999",
    ])
    .unwrap();
    // Go's flag package also takes long names after a single dash.
    let go = load(&[
        "-bind",
        "127.0.0.1:3000",
        "-bind-tcp=127.0.0.1:3001",
        "-buffer-memory",
        "32",
        "-region=eu-west-1",
        "-local-mode=true",
        "-role-arn",
        "arn:aws:iam::1:role/x",
        "-resource-arn",
        "arn:aws:ec2:1",
        "-proxy-address=http://192.0.2.0:3000",
        "-log-level",
        "debug",
        "-log-file",
        "/tmp/x.log",
        "-endpoint",
        "http://127.0.0.1:9999",
    ])
    .unwrap();
    for c in [&short, &long, &go] {
        assert_eq!(c.udp_addr.to_string(), "127.0.0.1:3000");
        assert_eq!(c.tcp_addr.to_string(), "127.0.0.1:3001");
        assert_eq!(c.buffer_memory_mb, 32);
        assert_eq!(c.region.as_deref(), Some("eu-west-1"));
        assert!(c.local_mode);
        assert_eq!(c.role_arn.as_deref(), Some("arn:aws:iam::1:role/x"));
        assert_eq!(c.resource_arn.as_deref(), Some("arn:aws:ec2:1"));
        assert_eq!(c.proxy_address.as_deref(), Some("http://192.0.2.0:3000"));
        assert_eq!(c.log_level, LogLevel::Debug);
        assert_eq!(c.log_file.as_deref(), Some(Path::new("/tmp/x.log")));
        assert_eq!(c.endpoint, "http://127.0.0.1:9999");
    }
    assert!(!load(&["-o=false"]).unwrap().local_mode);
    assert!(load(&["-b=127.0.0.1:4000"]).unwrap().udp_addr.port() == 4000);
}

#[test]
fn help_and_version_are_not_errors() {
    for flag in ["-h", "--help", "-v", "--version", "-version"] {
        match load(&[flag]) {
            Err(LoadError::Cli(e)) => assert!(!e.use_stderr(), "{flag}"),
            other => panic!("{flag}: {other:?}"),
        }
    }
    match load(&["--no-such-flag"]) {
        Err(LoadError::Cli(e)) => assert!(e.use_stderr()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_values_are_refused_with_a_reason() {
    assert!(invalid(&["-m", "2"]).contains("at least 3 MB"));
    assert!(invalid(&["-b", "nowhere"]).contains("expected HOST:PORT"));
    assert!(invalid(&["-l", "loud"]).contains("expected dev, debug"));
    assert!(invalid(&["-e", "ftp://x:1"]).contains("http://"));
    assert!(invalid(&["-p", "192.0.2.0:3000"]).contains("scheme is required"));
    assert!(invalid(&["--concurrency", "0"]).contains("concurrency"));
    assert!(invalid(&["--spool-dir", "/tmp", "--spool-size", "0"]).contains("--spool-size"));
    assert!(invalid(&["--shutdown-grace", "soon"]).contains("--shutdown-grace"));
    assert!(invalid(&["-c", "/nonexistent/cfg.yaml"]).contains("/nonexistent/cfg.yaml"));
}

const AWS_SAMPLE: &str = r#"
# The AWS daemon's sample cfg.yaml, every key.
TotalBufferSizeMB: 24
Concurrency: 4
Region: "us-west-2"
Endpoint: "http://127.0.0.1:2021"
Socket:
  UDPAddress: "127.0.0.1:2100"
  TCPAddress: "127.0.0.1:2101"
Logging:
  LogRotation: false
  LogLevel: "warn"
  LogPath: "/var/log/xray/xray.log"
LocalMode: true
ResourceARN: "arn:aws:ecs:task"
RoleARN: ""
NoVerifySSL: true
ProxyAddress: ""
Version: 2
"#;

#[test]
fn every_yaml_key_and_flags_override_the_file() {
    let path = temp_file("sample", AWS_SAMPLE);
    let p = path.to_str().unwrap();
    let c = load(&["-c", p]).unwrap();
    assert_eq!(c.buffer_memory_mb, 24);
    assert_eq!(c.concurrency, 4);
    assert_eq!(c.region.as_deref(), Some("us-west-2"));
    assert_eq!(c.endpoint, "http://127.0.0.1:2021");
    assert_eq!(c.udp_addr.to_string(), "127.0.0.1:2100");
    assert_eq!(c.tcp_addr.to_string(), "127.0.0.1:2101");
    assert!(!c.log_rotation);
    assert_eq!(c.log_level, LogLevel::Warn);
    assert_eq!(
        c.log_file.as_deref(),
        Some(Path::new("/var/log/xray/xray.log"))
    );
    assert!(c.local_mode);
    assert_eq!(c.resource_arn.as_deref(), Some("arn:aws:ecs:task"));
    assert_eq!(c.role_arn, None, "empty strings mean unset");
    assert!(c.no_verify_ssl);
    assert_eq!(c.config_file.as_deref(), Some(path.as_path()));

    let c = load(&[
        "-c",
        p,
        "-m",
        "40",
        "-b",
        "127.0.0.1:2200",
        "-o=false",
        "-e",
        "http://127.0.0.1:1",
    ])
    .unwrap();
    assert_eq!(c.buffer_memory_mb, 40);
    assert_eq!(c.udp_addr.port(), 2200);
    assert_eq!(
        c.tcp_addr.port(),
        2101,
        "the file still supplies what flags do not"
    );
    assert!(!c.local_mode);
    assert_eq!(c.endpoint, "http://127.0.0.1:1");
}

#[test]
fn zero_values_in_the_file_mean_defaults() {
    let fc = FileConfig::parse(
        "Version: 1\nTotalBufferSizeMB: 0\nConcurrency: 0\nRegion: ''",
        true,
    )
    .unwrap();
    assert_eq!(fc.total_buffer_size_mb, None);
    assert_eq!(fc.concurrency, None);
    assert_eq!(fc.region, None);
}

#[test]
fn strict_file_validation_matches_the_aws_daemon() {
    let cases: &[(&str, &str)] = &[
        ("Region: x", "Version is missing"),
        ("", "Version is missing"),
        ("Version: 3", "Version must be 1 or 2"),
        (
            "Version: 2\nSocket:\n  BufferSizeKB: 64",
            "Socket.BufferSizeKB is not supported any more",
        ),
        (
            "Version: 2\nLogging:\n  LogFormat: x",
            "Logging.LogFormat is not supported any more",
        ),
        (
            "Version: 2\nProfile:\n  CPU: x",
            "Profile is not supported any more",
        ),
        (
            "Version: 2\nProcessor:\n  BatchProcessorQueueSize: 3",
            "Processor.BatchProcessorQueueSize is not supported any more",
        ),
        ("Version: 2\nProcessor:\n  Routine: 3", "migration script"),
        ("Version: 2\nMemoryLimit: 3", "migration script"),
        ("Version: 2\nLogRotation: true", "migration script"),
        ("Version: 2\nBogus: 1", "Bogus: flag is invalid"),
        (
            "Version: 2\nSocket:\n  Bogus: 1",
            "Socket.Bogus: flag is invalid",
        ),
        ("Version: 2\nConcurrency: -1", "non-negative integer"),
        ("Version: 2\nLocalMode: maybe", "true or false"),
        ("Version: 2\nSocket: 5", "must be a mapping"),
        ("[1, 2]", "must be a YAML mapping"),
        ("Version: 2\n  bad: [", "not valid YAML"),
    ];
    for (text, want) in cases {
        let err = FileConfig::parse(text, true).unwrap_err().to_string();
        assert!(err.contains(want), "{text:?}: {err}");
    }
    // A discovered file (no -c) is read leniently: old and unknown keys are ignored.
    let fc = FileConfig::parse(
        "Bogus: 1\nSocket:\n  BufferSizeKB: 64\n  UDPAddress: 0.0.0.0:2000",
        false,
    )
    .unwrap();
    assert_eq!(fc.udp_address.as_deref(), Some("0.0.0.0:2000"));
}

#[test]
fn discovered_file_and_environment_are_explicit_inputs() {
    let path = temp_file("discovered", "Region: ap-south-1\nBogus: ignored\n");
    let env = Environment {
        vars: Vars::from([("AWS_REGION", "eu-central-1")]),
        config_search: vec![PathBuf::from("/nonexistent/cfg.yaml"), path.clone()],
    };
    let c = Config::load(["fluoro-daemon"], &env).unwrap();
    assert_eq!(
        c.region.as_deref(),
        Some("ap-south-1"),
        "the file beats AWS_REGION"
    );
    assert_eq!(c.config_file.as_deref(), Some(path.as_path()));
    let env = Environment {
        config_search: vec![],
        ..env
    };
    let c = Config::load(["fluoro-daemon"], &env).unwrap();
    assert_eq!(c.region.as_deref(), Some("eu-central-1"));
    let c = Config::load(["fluoro-daemon", "-n", "us-east-2"], &env).unwrap();
    assert_eq!(c.region.as_deref(), Some("us-east-2"));
}

#[test]
fn durations() {
    assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
    assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
    assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
    assert!(parse_duration("1h").is_err());
    assert!(parse_duration("-1s").is_err());
}

/// Issue 4: a region given to the daemon means AWS X-Ray; one only in `AWS_REGION` keeps the
/// local collector (but still signs); `-e` always wins; `HTTPS_PROXY` is the fallback of `-p`.
#[test]
fn region_picks_the_aws_endpoint_and_proxy_falls_back_to_https_proxy() {
    let env = Environment {
        vars: Vars::from([
            ("AWS_REGION", "eu-central-1"),
            ("HTTPS_PROXY", "http://10.0.0.1:3128"),
        ]),
        config_search: vec![],
    };
    let c = Config::load(["fluoro-daemon"], &env).unwrap();
    assert_eq!(c.endpoint, DEFAULT_ENDPOINT);
    assert_eq!(c.region.as_deref(), Some("eu-central-1"));
    assert_eq!(c.proxy_address.as_deref(), Some("http://10.0.0.1:3128"));
    let c = Config::load(["fluoro-daemon", "-n", "cn-north-1"], &env).unwrap();
    assert_eq!(c.endpoint, "https://xray.cn-north-1.amazonaws.com.cn");
    let c = Config::load(
        [
            "fluoro-daemon",
            "-n",
            "us-east-1",
            "-e",
            "http://127.0.0.1:1",
        ],
        &env,
    )
    .unwrap();
    assert_eq!(c.endpoint, "http://127.0.0.1:1");
    let c = Config::load(["fluoro-daemon", "-p", "http://proxy:8080"], &env).unwrap();
    assert_eq!(c.proxy_address.as_deref(), Some("http://proxy:8080"));
    let file = temp_file(
        "region",
        "Version: 2\nRegion: ap-south-1\nNoVerifySSL: true\n",
    );
    let c = Config::load(
        ["fluoro-daemon", "-c", file.to_str().unwrap()],
        &Environment::default(),
    )
    .unwrap();
    assert_eq!(c.endpoint, "https://xray.ap-south-1.amazonaws.com");
    assert!(c.no_verify_ssl);
    for (args, want) in [
        (&["fluoro-daemon", "-r", "xray-role"][..], "role ARN (-r)"),
        (
            &["fluoro-daemon", "-p", "http://u:p@proxy:1"][..],
            "proxy credentials",
        ),
    ] {
        let e = Config::load(args.iter().copied(), &Environment::default()).unwrap_err();
        assert!(e.to_string().contains(want), "{args:?}: {e}");
    }
}

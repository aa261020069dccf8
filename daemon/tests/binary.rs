//! The `fluoro-daemon` binary: help and version exit 0, an unusable configuration exits 64 with
//! a message saying why, before anything is bound.

use std::process::Command;

fn daemon(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_fluoro-daemon"))
        .args(args)
        // Never the machine's real config file or region.
        .current_dir(std::env::temp_dir())
        .env_remove("AWS_REGION")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn help_and_version_exit_zero() {
    let (code, text) = daemon(&["-h"]);
    assert_eq!(code, 0, "{text}");
    for flag in [
        "--bind",
        "--bind-tcp",
        "--buffer-memory",
        "--endpoint",
        "--spool-dir",
    ] {
        assert!(text.contains(flag), "{flag} missing from:\n{text}");
    }
    let (code, text) = daemon(&["-v"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains(env!("CARGO_PKG_VERSION")), "{text}");
}

#[test]
fn bad_configuration_exits_64_with_a_reason() {
    let cases: &[(&[&str], &str)] = &[
        (&["-m", "2"], "at least 3 MB"),
        (
            &["-e", "ftp://xray.us-east-1.amazonaws.com"],
            "endpoint (-e)",
        ),
        (&["-p", "10.0.0.1:3128"], "a URL with a scheme is required"),
        (&["-n", "US East"], "region (-n)"),
        // An AWS endpoint must be signed, so it needs a region.
        (
            &[
                "-e",
                "https://xray.amazonaws.com",
                "-b",
                "127.0.0.1:0",
                "-t",
                "127.0.0.1:0",
            ],
            "no region is known",
        ),
        (&["-c", "/nonexistent/cfg.yaml"], "/nonexistent/cfg.yaml"),
        (&["--no-such-flag"], "--no-such-flag"),
        // Bound by nobody: validation fails before the sockets are bound.
        (
            &["-b", "127.0.0.1:0", "-t", "127.0.0.1:0", "-l", "loud"],
            "log level",
        ),
    ];
    for (args, want) in cases {
        let (code, text) = daemon(args);
        assert_eq!(code, 64, "{args:?}: {text}");
        assert!(text.contains(want), "{args:?}: {text}");
    }
}

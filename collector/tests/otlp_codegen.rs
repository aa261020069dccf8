//! The OTLP code generated from `proto/otlp/*.proto` is checked in (so builds need no `protoc`);
//! this test regenerates it into a temporary directory and fails on any difference.
//!
//! To refresh the checked-in files after changing the `.proto` files or the generator crates:
//! `FLUORO_REGENERATE=1 cargo test -p fluoro-collector --test otlp_codegen`.
//!
//! Messages go to `fluoro-proto` (`proto/src/otlp/pb/`, prost only); the gRPC service stub goes to
//! the collector (`collector/src/otlp/pb/`) and refers to the messages by `extern_path`, so the
//! contract crate never depends on tonic.

use std::path::{Path, PathBuf};

mod support;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("collector sits in the workspace")
        .to_path_buf()
}

const ROOT_PROTO: &str = "opentelemetry/proto/collector/trace/v1/trace_service.proto";

fn prost_config(out: &Path) -> prost_build::Config {
    let mut cfg = prost_build::Config::new();
    cfg.out_dir(out);
    cfg.protoc_executable(protoc_bin_vendored::protoc_bin_path().expect("vendored protoc"));
    cfg
}

fn generate_messages(out: &Path) {
    let include = workspace().join("proto/otlp");
    prost_config(out)
        .compile_protos(&[include.join(ROOT_PROTO)], &[include])
        .expect("prost-build");
}

fn generate_service(out: &Path) {
    let include = workspace().join("proto/otlp");
    let mut cfg = prost_config(out);
    cfg.extern_path(".opentelemetry.proto", "::fluoro_proto::otlp::pb");
    tonic_prost_build::configure()
        .build_client(false)
        .build_server(true)
        .build_transport(false)
        .out_dir(out)
        .compile_with_config(cfg, &[include.join(ROOT_PROTO)], &[include])
        .expect("tonic-prost-build");
}

/// `.rs` files in `dir`, by name.
fn rust_files(dir: &Path) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(dir)
        .expect("read generated dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .filter(|p| {
            // Hand-written module files sit beside the generated ones.
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with("opentelemetry.")
        })
        .map(|p| {
            let name = p
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("")
                .to_owned();
            let text = std::fs::read_to_string(&p).expect("read generated file");
            (name, text)
        })
        .collect();
    out.sort();
    out
}

fn check(generated: &Path, checked_in: &Path) {
    let fresh = rust_files(generated);
    assert!(!fresh.is_empty(), "the generator wrote nothing");
    if std::env::var_os("FLUORO_REGENERATE").is_some() {
        for (name, _) in rust_files(checked_in) {
            std::fs::remove_file(checked_in.join(name)).expect("remove old generated file");
        }
        for (name, text) in &fresh {
            std::fs::write(checked_in.join(name), text).expect("write generated file");
        }
        return;
    }
    let current = rust_files(checked_in);
    let names = |v: &[(String, String)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&fresh),
        names(&current),
        "generated file set differs in {}; run with FLUORO_REGENERATE=1",
        checked_in.display()
    );
    for ((name, want), (_, have)) in fresh.iter().zip(&current) {
        assert!(
            want == have,
            "{}/{name} is not what the generator produces; never edit it by hand, run with \
             FLUORO_REGENERATE=1",
            checked_in.display()
        );
    }
}

#[test]
fn otlp_messages_match_the_generator() {
    let tmp = support::TempDir::new("otlp-codegen-messages");
    generate_messages(tmp.path());
    check(tmp.path(), &workspace().join("proto/src/otlp/pb"));
}

#[test]
fn otlp_service_matches_the_generator() {
    let tmp = support::TempDir::new("otlp-codegen-service");
    generate_service(tmp.path());
    check(tmp.path(), &workspace().join("collector/src/otlp/pb"));
}

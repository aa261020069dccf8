//! The real X-Ray SDKs against the daemon. Python: its sampling connector through the TCP proxy
//! and its UDP emitter through the daemon to a real collector. Node: its UDP emitter. The Python
//! environment and the Node packages come from `scripts/test` (`FLUORO_PYTHON`,
//! `collector/tests/clients/node`); these tests fail, never skip, without them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use fluoro_proto::ids::EntityId;

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("FLUORO_PYTHON") {
        return PathBuf::from(p);
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    assert!(
        p.exists(),
        "FLUORO_PYTHON is not set and {} does not exist: run scripts/test",
        p.display()
    );
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_through_the_daemon() {
    let dir = std::env::temp_dir().join(format!(
        "fluoro-daemon-pysdk-{}-{}",
        std::process::id(),
        EntityId::generate()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let mut cfg = fluoro_collector::Config::for_dir(&dir);
    cfg.retention = Duration::from_secs(3650 * 86_400);
    let collector = fluoro_collector::start(cfg).await.unwrap();
    let daemon = fluoro_daemon::start(fluoro_daemon::Config::for_endpoint(format!(
        "http://{}",
        collector.addr()
    )))
    .await
    .unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/python_sdk_daemon.py");
    let args = [
        daemon.udp_addr().to_string(),
        daemon.tcp_addr().to_string(),
        format!("http://{}", collector.addr()),
    ];
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python())
            .arg(script)
            .args(args)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "python failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    assert!(stdout.contains("collector intact"), "{stdout}");
    daemon.shutdown().await;
    collector.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_sdk_through_the_daemon() {
    let dir = std::env::temp_dir().join(format!(
        "fluoro-daemon-nodesdk-{}-{}",
        std::process::id(),
        EntityId::generate()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let collector = fluoro_collector::start(fluoro_collector::Config::for_dir(&dir))
        .await
        .unwrap();
    let daemon = fluoro_daemon::start(fluoro_daemon::Config::for_endpoint(format!(
        "http://{}",
        collector.addr()
    )))
    .await
    .unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let modules = root.join("../collector/tests/clients/node/node_modules");
    assert!(
        modules.join("aws-xray-sdk-core").exists(),
        "{} is missing: run scripts/test, which installs the Node SDK",
        modules.display()
    );
    let script = root.join("tests/clients/node_sdk_daemon.js");
    let args = [
        daemon.udp_addr().to_string(),
        format!("http://{}", collector.addr()),
    ];
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .args(args)
            .env("NODE_PATH", modules)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "node failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    assert!(stdout.contains("collector intact"), "{stdout}");
    daemon.shutdown().await;
    collector.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

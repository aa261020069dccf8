//! The `fluoro-console` binary: browse any X-Ray API endpoint (`--api URL`).

use std::process::ExitCode;

use clap::Parser;
use fluoro_console::{Config, RunError};

/// Exit status for an unusable configuration (EX_USAGE).
const EXIT_CONFIG: u8 = 64;

fn main() -> ExitCode {
    let mut config = match Config::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_CONFIG } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    config.env = fluoro_console::process_env();
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match runtime.block_on(fluoro_console::run(config, |_| {}, shutdown)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ RunError::Endpoint(_)) => {
            tracing::error!(error = %e, "refusing to start");
            ExitCode::from(EXIT_CONFIG)
        }
        Err(e) => {
            tracing::error!(error = %e, "console failed");
            ExitCode::FAILURE
        }
    }
}

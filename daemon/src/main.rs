//! The `fluoro-daemon` binary: flags, logging, signals, exit codes.

use std::process::ExitCode;

use fluoro_daemon::RunError;
use fluoro_daemon::config::{Config, Environment, LoadError};

/// Exit status for an unusable configuration (EX_USAGE).
const EXIT_CONFIG: u8 = 64;

fn main() -> ExitCode {
    let config = match Config::load(std::env::args_os(), &Environment::from_process()) {
        Ok(c) => c,
        Err(LoadError::Cli(e)) => {
            let code = if e.use_stderr() { EXIT_CONFIG } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
        Err(LoadError::Invalid(e)) => {
            #[allow(clippy::print_stderr)] // logging is not set up before the config is known
            {
                eprintln!("fluoro-daemon: {e}");
            }
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if let Err(e) = init_logging(&config) {
        #[allow(clippy::print_stderr)] // the log file itself is what failed
        {
            eprintln!("fluoro-daemon: {e:#}");
        }
        return ExitCode::from(EXIT_CONFIG);
    }
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
    match runtime.block_on(fluoro_daemon::run(config, shutdown_signal())) {
        // What could not be delivered is in the last log line and in the report.
        Ok(_report) => ExitCode::SUCCESS,
        Err(e @ RunError::Config(_)) => {
            tracing::error!(error = %e, "refusing to start");
            ExitCode::from(EXIT_CONFIG)
        }
        Err(e) => {
            tracing::error!(error = %e, "daemon failed");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(config: &Config) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let filter = tracing_subscriber::EnvFilter::try_new(config.log_level.filter())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    match &config.log_file {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("log file {}", path.display()))?;
            tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(file))
                .init();
        }
        None => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init(),
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

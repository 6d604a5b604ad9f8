//! `auth-worker` binary: configuration from `.dev.vars` and the environment, bind, serve
//! until SIGINT/SIGTERM.

use std::process::ExitCode;

use auth_worker::AuthConfig;

#[tokio::main]
async fn main() -> ExitCode {
    let config = match shared::Vars::load().and_then(|vars| {
        shared::process::init_logging(&vars)?;
        AuthConfig::from_vars(&vars)
    }) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("auth-worker: {err}");
            return ExitCode::FAILURE;
        }
    };
    config.common.warn_if_insecure();
    if let Some(addr) = config.common.metrics_addr {
        if let Err(error) = shared::metrics::spawn_listener(addr).await {
            eprintln!("auth-worker: {error}");
            return ExitCode::FAILURE;
        }
    }
    let addr = format!("{}:{}", config.host, config.port);
    let listener = match shared::net::bind(&addr).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("auth-worker: cannot bind {addr}: {err}");
            return ExitCode::FAILURE;
        }
    };
    match auth_worker::run(config, listener, shared::process::shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            ExitCode::FAILURE
        }
    }
}

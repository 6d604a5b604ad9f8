//! `sync-worker` binary: configuration from `.dev.vars` and the environment, then
//! [`sync_worker::run`] on HOST:PORT until SIGINT/SIGTERM.

use sync_worker::SyncConfig;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shared::process::init_tracing();
    let config = match shared::Vars::load().and_then(|vars| SyncConfig::from_vars(&vars)) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("sync-worker: {error}");
            std::process::exit(1);
        }
    };
    config.common.warn_if_insecure();
    let listener = shared::net::bind((config.host.as_str(), config.port)).await?;
    sync_worker::run(config, listener, shared::process::shutdown_signal()).await
}

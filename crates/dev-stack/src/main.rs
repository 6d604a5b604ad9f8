//! `dev-stack`: runs auth-worker and sync-worker in one process for local development.
//!
//! Both services read the same `.dev.vars`/environment; the keys that must differ between
//! them (`PORT`, `DATABASE_URL`) come from this launcher's flags instead, and the sync
//! worker's `AUTH_URL` points at the auth worker started here (unless set). Each service
//! keeps its own binary for production.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Parser;
use shared::constants::env;
use shared::net::ServiceListener;
use tokio_util::sync::CancellationToken;

/// Starts the whole stack: auth API, sync socket, SQLite files, migrations applied.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Port of the auth API.
    #[arg(long, env = "AUTH_PORT", default_value_t = 8788)]
    auth_port: u16,
    /// Port of the sync socket (and the demo app, when built).
    #[arg(long, env = "SYNC_PORT", default_value_t = 8787)]
    sync_port: u16,
    /// Folder holding `auth.db` and `sync.db`.
    #[arg(long, env = "DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// Static folder served by the sync worker; defaults to `web/dist` when it exists.
    #[arg(long, env = "STATIC_DIR")]
    static_dir: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let vars = match shared::Vars::load() {
        Ok(vars) => vars,
        Err(err) => exit_with(&err),
    };
    shared::process::init_logging(&vars).unwrap_or_else(|e| exit_with(&e));

    let mut auth_vars = vars.clone();
    auth_vars.set(env::PORT, args.auth_port.to_string());
    auth_vars.set(env::DATABASE_URL, sqlite_url(&args.data_dir, "auth.db"));
    let mut sync_vars = vars;
    sync_vars.set(env::PORT, args.sync_port.to_string());
    sync_vars.set(env::DATABASE_URL, sqlite_url(&args.data_dir, "sync.db"));
    // In a checkout the demo is served from web/dist, also when it is built after start
    // (files are read per request).
    let static_dir = args
        .static_dir
        .or_else(|| Some(PathBuf::from("web/dist")).filter(|_| Path::new("web").is_dir()));
    if let Some(dir) = &static_dir {
        sync_vars.set("STATIC_DIR", dir.display().to_string());
    }
    // The sync worker follows this auth worker's change feed (revocations, memberships).
    if sync_vars.get("AUTH_URL").is_none() {
        let host = match auth_vars.get(env::HOST) {
            None | Some("0.0.0.0") => "127.0.0.1".to_owned(),
            Some("::") => "[::1]".to_owned(),
            Some(host) if host.contains(':') => format!("[{host}]"),
            Some(host) => host.to_owned(),
        };
        sync_vars.set("AUTH_URL", format!("http://{host}:{}", args.auth_port));
    }

    let auth_config =
        auth_worker::AuthConfig::from_vars(&auth_vars).unwrap_or_else(|e| exit_with(&e));
    let sync_config =
        sync_worker::SyncConfig::from_vars(&sync_vars).unwrap_or_else(|e| exit_with(&e));
    auth_config.common.warn_if_insecure();

    // One recorder serves both services in this process: one metrics listener.
    if let Some(addr) = auth_config.common.metrics_addr {
        shared::metrics::spawn_listener(addr)
            .await
            .map_err(anyhow::Error::msg)?;
    }
    let auth_listener = bind(&auth_config.host, auth_config.port).await?;
    let sync_listener = bind(&sync_config.host, sync_config.port).await?;
    if let Some(dir) = &static_dir {
        // The page asks `?auth=` where the auth API is; without it the demo would assume
        // the page's host on port 8788, wrong whenever AUTH_PORT or HOST is changed.
        let url = format!(
            "http://{}:{}/?auth=http://{}:{}",
            browser_host(&sync_config.host),
            sync_config.port,
            browser_host(&auth_config.host),
            auth_config.port,
        );
        if dir.join("index.html").is_file() {
            tracing::info!("demo app: {url}");
        } else {
            tracing::info!(
                "demo app not built yet: run `(cd web && npm ci && npm run build)`; \
                 it is served at {url} as soon as {} exists, no restart needed",
                dir.display()
            );
        }
    } else {
        tracing::info!("no demo app (no web/ folder here, --static-dir unset)");
    }

    let shutdown = CancellationToken::new();
    let auth = tokio::spawn(auth_worker::run(
        auth_config,
        auth_listener,
        shutdown.clone().cancelled_owned(),
    ));
    let sync = tokio::spawn(sync_worker::run(
        sync_config,
        sync_listener,
        shutdown.clone().cancelled_owned(),
    ));

    let signal = shutdown.clone();
    tokio::spawn(async move {
        shared::process::shutdown_signal().await;
        signal.cancel();
    });

    // Either service ending (cleanly or not) takes the other down with it.
    let (mut auth, mut sync) = (auth, sync);
    let (name, first, other) = tokio::select! {
        result = &mut auth => ("auth-worker", result, sync),
        result = &mut sync => ("sync-worker", result, auth),
    };
    shutdown.cancel();
    let first = first.with_context(|| format!("{name} task panicked"))?;
    let other = other.await.context("service task panicked")?;
    first.with_context(|| format!("{name} failed"))?;
    other
}

/// The host a browser on this machine uses to reach a service bound to `host`.
///
/// Wildcards become loopback: the demo needs a secure context, which plain-HTTP pages
/// get only on `127.0.0.1`/`localhost`.
fn browser_host(host: &str) -> String {
    match host {
        "0.0.0.0" => "127.0.0.1".to_owned(),
        "::" => "[::1]".to_owned(),
        host if host.contains(':') => format!("[{host}]"),
        host => host.to_owned(),
    }
}

fn sqlite_url(dir: &std::path::Path, file: &str) -> String {
    format!("sqlite://{}", dir.join(file).display())
}

async fn bind(host: &str, port: u16) -> anyhow::Result<ServiceListener> {
    shared::net::bind((host, port))
        .await
        .with_context(|| format!("cannot bind {host}:{port}"))
}

fn exit_with(err: &shared::ConfigError) -> ! {
    eprintln!("dev-stack: {err}");
    std::process::exit(1)
}

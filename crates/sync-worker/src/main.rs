//! `sync-worker` binary: with no subcommand (or `serve`), configuration from `.dev.vars`
//! and the environment, then [`sync_worker::run`] on HOST:PORT until SIGINT/SIGTERM.
//! `export`, `import` and `backup` are the operator tools of [`sync_worker::tools`].

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use std::sync::Arc;

use sync_worker::storage::sqlite::SqliteEventLog;
use sync_worker::storage::{Backend, EventLog, StorageOptions, StoreId};
use sync_worker::{tools, SyncConfig};

/// LiveStore sync server.
#[derive(Debug, Parser)]
#[command(name = "sync-worker", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve (the default).
    Serve,
    /// Write every event of a store to stdout, one JSON object per line.
    Export {
        #[arg(long)]
        store: String,
        #[command(flatten)]
        db: DatabaseArg,
    },
    /// Load an export (stdin) into an empty store: all or nothing.
    Import {
        #[arg(long)]
        store: String,
        #[command(flatten)]
        db: DatabaseArg,
    },
    /// Write an online, consistent copy of the SQLite database to DIR/sync.db.
    Backup {
        dir: PathBuf,
        #[command(flatten)]
        db: DatabaseArg,
    },
}

#[derive(Debug, clap::Args)]
struct DatabaseArg {
    /// Event log database; default: DATABASE_URL from the environment or `.dev.vars`,
    /// else `sqlite://data/sync.db`.
    #[arg(long)]
    database_url: Option<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve().await,
        Command::Export { store, db } => {
            tool(db, |log| async move {
                let store = parse_store(&store)?;
                let written = tools::export(&*log, &store, &mut tokio::io::stdout()).await?;
                eprintln!("sync-worker: exported {written} events of store {store}");
                Ok(())
            })
            .await
        }
        Command::Import { store, db } => {
            tool(db, |log| async move {
                let store = parse_store(&store)?;
                let mut stdin = tokio::io::BufReader::new(tokio::io::stdin());
                let summary = tools::import(&*log, &store, &mut stdin).await?;
                eprintln!(
                    "sync-worker: imported {} events into store {store} (head {})",
                    summary.events, summary.head
                );
                Ok(())
            })
            .await
        }
        Command::Backup { dir, db } => backup(db, dir).await,
    }
}

async fn serve() -> ExitCode {
    let config = match shared::Vars::load().and_then(|vars| {
        shared::process::init_logging(&vars)?;
        SyncConfig::from_vars(&vars)
    }) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("sync-worker: {error}");
            return ExitCode::FAILURE;
        }
    };
    config.common.warn_if_insecure();
    if let Some(addr) = config.common.metrics_addr {
        if let Err(error) = shared::metrics::spawn_listener(addr).await {
            eprintln!("sync-worker: {error}");
            return ExitCode::FAILURE;
        }
    }
    let listener = match shared::net::bind((config.host.as_str(), config.port)).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!(
                "sync-worker: cannot bind {}:{}: {error}",
                config.host, config.port
            );
            return ExitCode::FAILURE;
        }
    };
    match sync_worker::run(config, listener, shared::process::shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            ExitCode::FAILURE
        }
    }
}

fn parse_store(raw: &str) -> Result<StoreId, tools::ToolError> {
    StoreId::parse(raw).map_err(|e| tools::ToolError::Refused(e.to_string()))
}

/// Opens the event log, runs one tool, closes the log; errors go to stderr (stdout may
/// carry an export).
async fn tool<F, Fut>(db: DatabaseArg, run: F) -> ExitCode
where
    F: FnOnce(Arc<dyn EventLog>) -> Fut,
    Fut: std::future::Future<Output = Result<(), tools::ToolError>>,
{
    let Some(url) = database_url(db) else {
        return ExitCode::FAILURE;
    };
    let log = match sync_worker::storage::open(&url, &StorageOptions::default()).await {
        Ok(log) => log,
        Err(error) => {
            eprintln!("sync-worker: cannot open the event log: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = run(log.clone()).await;
    log.close().await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("sync-worker: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn backup(db: DatabaseArg, dir: PathBuf) -> ExitCode {
    let Some(url) = database_url(db) else {
        return ExitCode::FAILURE;
    };
    if Backend::of(&url).ok() != Some(Backend::Sqlite) {
        eprintln!("sync-worker: backup copies a SQLite database; for PostgreSQL use pg_dump");
        return ExitCode::FAILURE;
    }
    let log = match SqliteEventLog::open(&url, Default::default()).await {
        Ok(log) => log,
        Err(error) => {
            eprintln!("sync-worker: cannot open the event log: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = tools::backup(&log, &dir).await;
    log.close().await;
    match result {
        Ok(path) => {
            eprintln!("sync-worker: backup written to {}", path.display());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("sync-worker: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `--database-url`, else `DATABASE_URL` from the environment or `.dev.vars`, else the
/// default; `None` (after saying why) when `.dev.vars` cannot be read.
fn database_url(db: DatabaseArg) -> Option<String> {
    if let Some(url) = db.database_url {
        return Some(url);
    }
    match shared::Vars::load() {
        Ok(vars) => Some(
            vars.get_or(
                shared::constants::env::DATABASE_URL,
                SyncConfig::DEFAULT_DATABASE_URL,
            )
            .to_owned(),
        ),
        Err(error) => {
            eprintln!("sync-worker: {error}");
            None
        }
    }
}

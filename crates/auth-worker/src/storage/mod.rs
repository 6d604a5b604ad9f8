//! SQLite storage through sqlx: connection set-up, migrations, and the queries the
//! routes need (`users.rs`, `sessions.rs`). Every value is a bound parameter.

mod sessions;
mod users;

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

pub use sessions::{NewSession, RefreshTokenRecord, RotateOutcome};
pub use users::{Credentials, Instance, User, DEFAULT_INSTANCE_NAME};

/// Connections in the pool. SQLite serializes writers anyway; a few readers suffice.
pub const MAX_CONNECTIONS: u32 = 8;
/// How long a statement waits for the write lock before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Errors a caller can act on; everything else is `Database`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("email already registered")]
    EmailTaken,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Handle to the auth database. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AuthStore {
    pool: SqlitePool,
}

impl AuthStore {
    /// Opens (creating the folder and file if missing) and migrates the database.
    pub async fn connect(database_url: &str) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::from_str(database_url)
            .with_context(|| format!("DATABASE_URL {database_url:?} is not a SQLite URL"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        if let Some(parent) = options.get_filename().parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).with_context(|| {
                    format!("cannot create database folder {}", parent.display())
                })?;
            }
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_with(options)
            .await
            .with_context(|| format!("cannot open database {database_url:?}"))?;
        sqlx::migrate!("../../migrations/auth")
            .run(&pool)
            .await
            .context("cannot apply auth migrations")?;
        Ok(Self { pool })
    }

    /// Waits for open connections to finish and closes the pool (checkpoints the WAL).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Timestamps as the original's JavaScript wrote them (`Date.toISOString()`).
pub fn iso(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

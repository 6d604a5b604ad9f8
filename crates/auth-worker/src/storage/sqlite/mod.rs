//! The SQLite backend (migrations `migrations/auth`): connection set-up and the
//! queries per concern (`users.rs`, `sessions.rs`, `instances.rs`, `members.rs`,
//! `changes.rs`). One process writes at a time (`BEGIN IMMEDIATE`); WAL lets readers
//! proceed meanwhile.

mod changes;
mod instances;
mod members;
mod sessions;
mod users;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};
use tokio::sync::watch;

use super::{publish_head, StoreError};
use crate::config::WorkspaceLimits;

/// Connections in the pool. SQLite serializes writers anyway; a few readers suffice.
pub const MAX_CONNECTIONS: u32 = 8;
/// How long a statement waits for the write lock before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The migrations of `migrations/auth/`, embedded at build time.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/auth");

/// The auth database on SQLite. Cheap to clone.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    pub(super) limits: WorkspaceLimits,
    /// The latest committed change-feed sequence number, for long polls to wait on.
    pub(super) feed_head: Arc<watch::Sender<u64>>,
}

impl SqliteStore {
    /// Opens (creating the folder and file if missing) and migrates the database.
    pub(super) async fn connect(
        database_url: &str,
        feed_head: Arc<watch::Sender<u64>>,
    ) -> anyhow::Result<Self> {
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
        MIGRATOR
            .run(&pool)
            .await
            .context("cannot apply auth migrations")?;
        let head = changes::read_head(&pool)
            .await
            .context("cannot read the change feed head")?;
        feed_head.send_replace(head);
        Ok(Self {
            pool,
            limits: WorkspaceLimits::default(),
            feed_head,
        })
    }

    /// Whether the database answers and is migrated (`GET /ready`).
    pub(super) async fn readiness(&self) -> Result<super::Readiness, StoreError> {
        let applied: i64 = sqlx::query_scalar(super::APPLIED_VERSION)
            .fetch_one(&self.pool)
            .await?;
        Ok(super::readiness(&MIGRATOR, applied))
    }

    /// A write transaction that takes SQLite's write lock up front (`BEGIN IMMEDIATE`),
    /// so the checks it reads (last owner, limits) cannot be invalidated by another
    /// writer before it commits, and it never fails on a lock upgrade.
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        self.pool.begin_with("BEGIN IMMEDIATE").await
    }

    /// Commits `tx` and, when it appended changes (`last_seq`), wakes the feed's
    /// long polls.
    async fn commit(
        &self,
        tx: Transaction<'static, Sqlite>,
        last_seq: Option<u64>,
    ) -> Result<(), sqlx::Error> {
        tx.commit().await?;
        publish_head(&self.feed_head, last_seq);
        Ok(())
    }

    /// Waits for open connections to finish and closes the pool (checkpoints the WAL).
    pub(super) async fn close(&self) {
        self.pool.close().await;
    }
}

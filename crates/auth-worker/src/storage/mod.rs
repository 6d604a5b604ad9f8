//! SQLite storage through sqlx: connection set-up, migrations, and the queries the
//! routes need (`users.rs`, `sessions.rs`, `instances.rs`, `members.rs`, `changes.rs`).
//! Every value is a bound parameter.
//!
//! Every write that sync nodes must learn about (a revoked session, a membership change,
//! a deleted instance) appends its change-feed row in the same transaction, and after the
//! commit the store publishes the new feed head on a `watch` channel so long polls wake.

mod changes;
mod instances;
mod members;
mod sessions;
mod users;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};
use tokio::sync::watch;

pub use instances::Instance;
pub use members::Member;
pub use sessions::{NewSession, RefreshTokenRecord, RotateOutcome};
pub use users::{Credentials, User, DEFAULT_INSTANCE_NAME};

use crate::config::WorkspaceLimits;

/// Connections in the pool. SQLite serializes writers anyway; a few readers suffice.
pub const MAX_CONNECTIONS: u32 = 8;
/// How long a statement waits for the write lock before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Errors a caller can act on; everything else is `Database`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("email already registered")]
    EmailTaken,
    /// The instance does not exist or the caller is not a member (indistinguishable on
    /// purpose); also an unknown member of a known instance.
    #[error("not found")]
    NotFound,
    /// A member whose role does not allow the action.
    #[error("forbidden")]
    Forbidden,
    /// The action would leave the instance without an owner.
    #[error("last owner")]
    LastOwner,
    /// The user is a member of `max_instances_per_user` instances already.
    #[error("instance limit reached")]
    InstanceLimit(usize),
    /// The instance has `max_members_per_instance` members and pending invites already.
    #[error("member limit reached")]
    MemberLimit(usize),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Handle to the auth database. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AuthStore {
    pool: SqlitePool,
    limits: WorkspaceLimits,
    /// The latest committed change-feed sequence number, for long polls to wait on.
    feed_head: Arc<watch::Sender<u64>>,
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
        let head = changes::read_head(&pool)
            .await
            .context("cannot read the change feed head")?;
        Ok(Self {
            pool,
            limits: WorkspaceLimits::default(),
            feed_head: Arc::new(watch::Sender::new(head)),
        })
    }

    /// The same store, enforcing `limits` (the defaults until this is called).
    #[must_use]
    pub fn with_limits(mut self, limits: WorkspaceLimits) -> Self {
        self.limits = limits;
        self
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
        if let Some(seq) = last_seq {
            self.feed_head.send_modify(|head| *head = (*head).max(seq));
        }
        Ok(())
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

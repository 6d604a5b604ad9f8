//! The PostgreSQL backend (migrations `migrations/auth-postgres`): connection set-up and
//! the queries per concern (`users.rs`, `sessions.rs`, `instances.rs`, `members.rs`,
//! `changes.rs`), mirroring the SQLite backend statement for statement.
//!
//! Several auth-worker nodes may share the database, so what SQLite gets from its single
//! writer is made explicit here:
//!
//! - Check-then-act writes (limits, last owner, invites, revocations, signup's invite
//!   claims) start with a transaction-level advisory lock ([`WRITE_LOCK`]): such writes
//!   run one at a time across every node, exactly as under SQLite's `BEGIN IMMEDIATE`,
//!   and cannot deadlock each other. They are short (no hashing inside) and rare next to
//!   reads, which never take it.
//! - Reads that must agree with each other (a feed page and its head, a token's `mv` and
//!   `mem`, a members list and the caller's role) run in one `REPEATABLE READ` snapshot.
//! - Refresh-token rotation needs no advisory lock: it share-locks its live session (a
//!   revocation waits for it, or wins first and the rotation matches nothing), and its
//!   `UPDATE .. WHERE rotated_at IS NULL` row-locks the token, so the loser of a race
//!   re-checks the condition after the winner commits and matches nothing.
//! - Changes commit in `seq` order (see `changes.rs`), and each one wakes the feed's long
//!   polls on every node (`LISTEN/NOTIFY`, see `feed.rs`).

mod changes;
mod feed;
mod instances;
mod members;
mod sessions;
mod users;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};
use tokio::sync::watch;

use super::{publish_head, StoreError};
use crate::config::WorkspaceLimits;

/// The migrations of `migrations/auth-postgres/`, embedded at build time.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/auth-postgres");

/// Key of the advisory lock write transactions take (an arbitrary constant: `auth-wr`
/// in ASCII); no other user of the database may use it.
pub const WRITE_LOCK: i64 = 0x0061_7574_682d_7772;

/// Tunables of the PostgreSQL backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgOptions {
    /// Connections this node keeps (`AUTH_DB_POOL_SIZE`), besides the one listening for
    /// change notices. Default 8: nodes times (this + 1), plus the sync nodes' pools,
    /// must stay below the server's `max_connections`.
    pub max_connections: u32,
    /// How long a query waits for a pooled connection before failing
    /// (`AUTH_DB_ACQUIRE_TIMEOUT_SECONDS`): while the database is unreachable, requests
    /// fail (503) after at most this long, and `GET /ready` answers within it. Default 5 s.
    pub acquire_timeout: Duration,
}

/// Default of [`PgOptions::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: u32 = 8;

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// The auth database on PostgreSQL. Cheap to clone.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
    pub(super) limits: WorkspaceLimits,
    /// The latest change-feed sequence number committed by any node (this node's
    /// commits, and the others' as their notices arrive), for long polls to wait on.
    pub(super) feed_head: Arc<watch::Sender<u64>>,
    /// The task listening for other nodes' change notices; aborted by `close`.
    listener: Arc<tokio::task::JoinHandle<()>>,
}

impl PgStore {
    /// Connects and migrates (sqlx serializes concurrent migrations of several nodes
    /// with its own advisory lock).
    pub(super) async fn connect(
        database_url: &str,
        options: &PgOptions,
        feed_head: Arc<watch::Sender<u64>>,
    ) -> anyhow::Result<Self> {
        let connect: PgConnectOptions = database_url
            .parse()
            .context("DATABASE_URL is not a usable PostgreSQL database URL")?;
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            // A connection the server or the network dropped is found (and replaced)
            // before a query is sent on it. sqlx's default, stated because recovery
            // after an outage relies on it.
            .test_before_acquire(true)
            .connect_with(connect.clone())
            .await
            // The URL may carry a password: name the host and database only.
            .with_context(|| format!("cannot open database {}", redacted(database_url)))?;
        MIGRATOR
            .run(&pool)
            .await
            .context("cannot apply auth-postgres migrations to the database")?;
        let head = changes::read_head(&pool)
            .await
            .context("cannot read the change feed head")?;
        feed_head.send_replace(head);
        // The listener's own connection, outside the pool so it never takes a slot
        // queries need; reconnecting is bounded like any acquire (a pool of one).
        let listen_pool = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .acquire_timeout(options.acquire_timeout)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_lazy_with(connect);
        let listener = tokio::spawn(feed::listen(listen_pool, feed_head.clone()));
        Ok(Self {
            pool,
            limits: WorkspaceLimits::default(),
            feed_head,
            listener: Arc::new(listener),
        })
    }

    /// Whether the database answers and is migrated (`GET /ready`).
    pub(super) async fn readiness(&self) -> Result<super::Readiness, StoreError> {
        let applied: i64 = sqlx::query_scalar(super::APPLIED_VERSION)
            .fetch_one(&self.pool)
            .await?;
        Ok(super::readiness(&MIGRATOR, applied))
    }

    /// A write transaction holding [`WRITE_LOCK`] until it ends, so the checks it reads
    /// cannot be invalidated by another writer on any node before it commits.
    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(WRITE_LOCK)
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }

    /// A read-only transaction whose statements all see one snapshot.
    async fn begin_snapshot(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
    }

    /// Commits `tx` and, when it appended changes (`last_seq`), wakes this node's long
    /// polls.
    async fn commit(
        &self,
        tx: Transaction<'static, Postgres>,
        last_seq: Option<u64>,
    ) -> Result<(), sqlx::Error> {
        tx.commit().await?;
        publish_head(&self.feed_head, last_seq);
        Ok(())
    }

    /// Stops listening for change notices, waits for open connections to finish and
    /// closes the pool.
    pub(super) async fn close(&self) {
        self.listener.abort();
        self.pool.close().await;
    }
}

/// `database_url` without its user info (which may hold a password).
fn redacted(database_url: &str) -> String {
    match database_url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
            format!("{scheme}://{host}")
        }
        None => "(unparsable URL)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn redacted_urls_keep_host_and_database_only() {
        assert_eq!(
            redacted("postgres://app:s3cret@db.internal:5432/auth?sslmode=require"),
            "postgres://db.internal:5432/auth?sslmode=require"
        );
        assert_eq!(
            redacted("postgresql://127.0.0.1/auth"),
            "postgresql://127.0.0.1/auth"
        );
    }
}

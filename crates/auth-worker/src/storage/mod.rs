//! Storage of users, instances, memberships, invites, sessions, refresh tokens and the
//! change feed, on SQLite (`sqlite:`, the zero-config default) or PostgreSQL
//! (`postgres://` / `postgresql://`), chosen by the `DATABASE_URL` scheme.
//!
//! Callers only see [`AuthStore`]; it dispatches to [`sqlite::SqliteStore`] or
//! [`postgres::PgStore`]. Each backend keeps its SQL in one file per concern (`users`,
//! `sessions`, `instances`, `members`, `changes`), every value a bound parameter, and
//! enforces the same rules:
//!
//! - Check-then-act writes (last owner, instance and member limits, invites, revocations)
//!   run in one transaction that excludes every other such writer for its duration:
//!   SQLite's `BEGIN IMMEDIATE`; on PostgreSQL a transaction-level advisory lock, so
//!   several auth-worker nodes on one database keep the rules too.
//! - Two refreshes racing on one token: the rotation's `UPDATE .. WHERE rotated_at IS
//!   NULL` matches for exactly one of them (a row lock on PostgreSQL), the other is
//!   treated as reuse.
//! - A taken email is [`StoreError::EmailTaken`] (the unique index decides races).
//! - Every write that sync nodes must learn about appends its change-feed row in the same
//!   transaction; changes become visible in `seq` order (a reader past `seq` n never
//!   misses a smaller one committed later), and the feed head never goes backwards, even
//!   after a purge. After the commit the store publishes the new head on a `watch`
//!   channel so this node's long polls wake. Commits by other nodes wake them too on
//!   PostgreSQL (`LISTEN/NOTIFY`), and in any case the feed re-reads once a second.

mod model;
pub mod postgres;
pub mod sqlite;
mod store;

use chrono::{DateTime, SecondsFormat, Utc};
use tokio::sync::watch;

pub use model::{
    Credentials, Instance, Member, NewSession, RefreshTokenRecord, RotateOutcome, User,
    DEFAULT_INSTANCE_NAME,
};
pub use postgres::PgOptions;
pub use store::AuthStore;

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

/// Which backend a `DATABASE_URL` selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend of `database_url`, by scheme; any other scheme is an error naming the
    /// accepted ones.
    pub fn of(database_url: &str) -> anyhow::Result<Self> {
        let scheme = database_url.split(':').next().unwrap_or_default();
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => Ok(Self::Sqlite),
            "postgres" | "postgresql" => Ok(Self::Postgres),
            _ => anyhow::bail!(
                "DATABASE_URL must start with sqlite:, postgres:// or postgresql:// (database URL not usable)"
            ),
        }
    }
}

/// What `GET /ready` learns from the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// It answers and carries every migration of this build (later ones, applied by a
    /// newer build during a rolling upgrade, are fine: migrations are additive).
    Ready,
    /// It answers but lacks a migration of this build (a restored older database).
    NotMigrated,
}

/// The highest migration version sqlx recorded as applied (0 when none).
const APPLIED_VERSION: &str =
    "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success";

/// [`Readiness`] of a database whose highest applied migration is `applied`.
fn readiness(migrator: &sqlx::migrate::Migrator, applied: i64) -> Readiness {
    let latest = migrator.iter().map(|m| m.version).max().unwrap_or(0);
    if applied >= latest {
        Readiness::Ready
    } else {
        Readiness::NotMigrated
    }
}

/// Publishes `seq` as the feed head unless a later one was published already.
fn publish_head(feed_head: &watch::Sender<u64>, seq: Option<u64>) {
    if let Some(seq) = seq {
        feed_head.send_modify(|head| *head = (*head).max(seq));
    }
}

/// Timestamps as the original's JavaScript wrote them (`Date.toISOString()`).
pub fn iso(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Sequence numbers start at 1 and only grow.
fn to_u64(seq: i64) -> u64 {
    u64::try_from(seq).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::Backend;

    #[test]
    fn the_scheme_picks_the_backend() {
        for url in ["sqlite://data/auth.db", "sqlite::memory:", "SQLITE://x.db"] {
            assert_eq!(Backend::of(url).unwrap(), Backend::Sqlite, "{url}");
        }
        for url in ["postgres://root@127.0.0.1/auth", "postgresql://h/db"] {
            assert_eq!(Backend::of(url).unwrap(), Backend::Postgres, "{url}");
        }
        for url in ["mysql://h/db", "data/auth.db", ""] {
            let err = Backend::of(url).unwrap_err().to_string();
            assert!(err.contains("postgres://"), "{url}: {err}");
        }
    }
}

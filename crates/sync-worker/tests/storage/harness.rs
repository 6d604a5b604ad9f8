//! A fresh event log of one backend for one test.

use std::sync::Arc;
use std::time::Duration;

use sqlx::Connection as _;
use sync_worker::storage::postgres::{PgEventLog, PgOptions};
use sync_worker::storage::sqlite::{SqliteEventLog, SqliteOptions};
use sync_worker::storage::{AppendBatch, EventLog, StorageError};
use tempfile::TempDir;

/// Bound on any single awaited storage call, so a hang fails instead of stalling CI.
pub const STEP: Duration = Duration::from_secs(30);

const DEFAULT_PG_TEST_URL: &str = "postgres://root@127.0.0.1:5432/postgres";

/// A backend under test: its log, and how to open the same database again (a restart,
/// or a second node).
pub struct Backend {
    pub log: Arc<dyn EventLog>,
    url: String,
    _dir: Option<TempDir>,
    /// Admin URL and scratch database name, dropped by [`Backend::finish`].
    scratch: Option<(String, String)>,
}

impl Backend {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}/nested/sync.db", dir.path().display());
        let log = SqliteEventLog::open(&url, SqliteOptions::default())
            .await
            .expect("open sqlite event log");
        Self {
            log: Arc::new(log),
            url,
            _dir: Some(dir),
            scratch: None,
        }
    }

    pub async fn postgres() -> Self {
        let admin = std::env::var("PG_TEST_URL").unwrap_or_else(|_| DEFAULT_PG_TEST_URL.into());
        let name = format!("sync_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| {
                panic!("PostgreSQL at {admin} (PG_TEST_URL) is needed by these tests: {e}")
            });
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create scratch database");
        conn.close().await.ok();
        let url = scratch_url(&admin, &name);
        let log = PgEventLog::open(&url, PgOptions::default())
            .await
            .expect("open postgres event log");
        Self {
            log: Arc::new(log),
            url,
            _dir: None,
            scratch: Some((admin, name)),
        }
    }

    /// Another handle on the same database: a second node, or the log after a restart.
    pub async fn open_again(&self) -> Arc<dyn EventLog> {
        sync_worker::storage::open(&self.url, &Default::default())
            .await
            .expect("open the same database again")
    }

    /// Closes the log and drops a PostgreSQL scratch database.
    pub async fn finish(self) {
        self.log.close().await;
        if let Some((admin, name)) = self.scratch {
            let mut conn = sqlx::PgConnection::connect(&admin).await.expect("admin");
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn)
                .await
                .expect("drop scratch database");
            conn.close().await.ok();
        }
    }
}

/// `admin` with its database name replaced by `name`.
fn scratch_url(admin: &str, name: &str) -> String {
    let (base, query) = match admin.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (admin, None),
    };
    let prefix = match base.rsplit_once('/') {
        Some((prefix, _)) if prefix.contains("://") && !prefix.ends_with('/') => prefix,
        _ => base,
    };
    match query {
        Some(query) => format!("{prefix}/{name}?{query}"),
        None => format!("{prefix}/{name}"),
    }
}

/// Appends with a bounded wait.
pub async fn append(log: &dyn EventLog, batch: AppendBatch) -> Result<(), StorageError> {
    tokio::time::timeout(STEP, log.append(batch))
        .await
        .expect("append finished in time")
}

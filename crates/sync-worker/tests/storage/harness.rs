//! A fresh event log of one backend for one test.

use std::sync::Arc;
use std::time::Duration;

use sync_worker::storage::postgres::{PgEventLog, PgOptions};
use sync_worker::storage::sqlite::{SqliteEventLog, SqliteOptions};
use sync_worker::storage::{AppendBatch, EventLog, StorageError};
use tempfile::TempDir;

pub use pg_scratch::ScratchDb;
pub(crate) use test_support::pg_scratch;

/// Bound on any single awaited storage call, so a hang fails instead of stalling CI.
pub const STEP: Duration = Duration::from_secs(30);

/// A backend under test: its log, and how to open the same database again (a restart,
/// or a second node).
pub struct Backend {
    pub log: Arc<dyn EventLog>,
    url: String,
    _dir: Option<TempDir>,
    /// Dropped by [`Backend::finish`].
    scratch: Option<ScratchDb>,
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
        let scratch = ScratchDb::create("sync").await;
        let log = PgEventLog::open(&scratch.url, PgOptions::default())
            .await
            .expect("open postgres event log");
        Self {
            log: Arc::new(log),
            url: scratch.url.clone(),
            _dir: None,
            scratch: Some(scratch),
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
        if let Some(scratch) = self.scratch {
            scratch.drop_now().await;
        }
    }
}

/// Appends with a bounded wait.
pub async fn append(log: &dyn EventLog, batch: AppendBatch) -> Result<(), StorageError> {
    tokio::time::timeout(STEP, log.append(batch))
        .await
        .expect("append finished in time")
}

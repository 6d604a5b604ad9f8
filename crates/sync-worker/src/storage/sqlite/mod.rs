//! SQLite backend of [`EventLog`]: one durable write path with group commit (the
//! `writer` module) and a pool of readers that WAL lets run beside it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), sync_worker::storage::StorageError> {
//! use sync_worker::storage::sqlite::{SqliteEventLog, SqliteOptions};
//! let log = SqliteEventLog::open("sqlite://data/sync.db", SqliteOptions::default()).await?;
//! // ... serve ...
//! log.close().await;
//! # Ok(()) }
//! ```

mod codec;
mod group_error;
mod options;
mod writer;

use async_trait::async_trait;
use sqlx::sqlite::{SqlitePool, SqlitePoolOptions};
use sqlx::ConnectOptions;
use tokio::sync::{mpsc, oneshot, Mutex};
use tokio::task::JoinHandle;

pub use options::SqliteOptions;

use self::codec::{
    to_sql_seq, PackedDecoder, NTH_SEQ_SQL, PACKED_WINDOW_SQL, SELECT_HEAD, TAIL_SQL,
};
use self::options::Target;
use self::writer::{Command, GroupLimits, Op, Writer};
use super::{AppendBatch, EventLog, StorageError, StoreId, StoredEvent, Tail};

/// The migrations of `migrations/sync/`, embedded at build time.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sync");

/// The event log of every store, in one SQLite database.
///
/// Ordering: an `append` (or `reset`) joins the writer's FIFO queue the first time its
/// future is polled, and the writer applies queued writes in that order, so a caller
/// that pipelines a store's batches (polling each append before starting the next, e.g.
/// `FuturesOrdered` or `StreamExt::buffered`) has them committed in chain order; batches
/// of one store that land in the same group are also applied in chain order. Reads see
/// every append that has returned `Ok`. Large `read_range` limits are cheaper per event
/// than small ones (one query per [`SqliteOptions::read_chunk_rows`] events).
pub struct SqliteEventLog {
    writes: mpsc::Sender<Command>,
    writer: Mutex<Option<JoinHandle<()>>>,
    readers: SqlitePool,
    /// Most events one read query packs (see [`SqliteOptions::read_chunk_rows`]).
    read_chunk_rows: usize,
}

impl SqliteEventLog {
    /// Opens (creating the parent folder and file when missing) the database at
    /// `database_url` (`sqlite://data/sync.db`, relative to the working directory, or
    /// `sqlite::memory:`), applies the migrations of `migrations/sync/` and starts the
    /// writer. WAL journal, `synchronous=FULL`, foreign keys on.
    pub async fn open(database_url: &str, options: SqliteOptions) -> Result<Self, StorageError> {
        options.validate()?;
        let target = Target::parse(database_url, &options)?;
        if let Some(parent) = target.file.as_deref().and_then(std::path::Path::parent) {
            if !parent.as_os_str().is_empty() {
                tokio::fs::create_dir_all(parent)
                    .await
                    .map_err(|error| StorageError::Database(sqlx::Error::Io(error)))?;
            }
        }
        let mut conn = target
            .connect
            .clone()
            .create_if_missing(true)
            .connect()
            .await?;
        // `run_direct`, not `run`: `run`'s `Acquire` bound makes this future not `Send`
        // ("implementation of `Acquire` is not general enough"), so it could not be
        // spawned.
        MIGRATOR.run_direct(&mut conn).await?;

        let readers = SqlitePoolOptions::new()
            .max_connections(options.max_readers)
            .min_connections(0)
            .acquire_timeout(options.acquire_timeout)
            // A ping per acquire costs a worker-thread round trip per read; a local
            // SQLite file has no network link to go stale.
            .test_before_acquire(false)
            .connect_with(target.connect)
            .await?;

        let (writes, queue) = mpsc::channel(options.writer_queue);
        let limits = GroupLimits {
            max_batches: options.group_max_batches,
            max_events: options.group_max_events,
            max_cached_heads: options.max_cached_heads,
        };
        let writer = Writer::new(conn, limits, options.rows_per_insert);
        let writer = tokio::spawn(writer.run(queue));
        Ok(Self {
            writes,
            writer: Mutex::new(Some(writer)),
            readers,
            read_chunk_rows: options.read_chunk_rows,
        })
    }

    /// Finishes the writes already queued, then closes the writer and the readers (the
    /// last connection checkpoints the WAL). Later calls fail with
    /// [`StorageError::Closed`]; calling `close` again is a no-op.
    pub async fn close(&self) {
        let mut writer = self.writer.lock().await;
        if let Some(handle) = writer.take() {
            // Fails only when the writer already stopped, which is what we want anyway.
            let _ = self.writes.send(Command::Close).await;
            if let Err(error) = handle.await {
                tracing::error!(%error, "event log writer task failed");
            }
        }
        self.readers.close().await;
    }

    /// Writes an online, consistent copy of the whole database to `target` (a file that
    /// must not exist yet) with `VACUUM INTO`: readers and the writer go on meanwhile, and
    /// the copy is a transaction-consistent snapshot, compacted, ready to open.
    pub async fn backup_into(&self, target: &std::path::Path) -> Result<(), StorageError> {
        let target = target.to_str().ok_or_else(|| {
            StorageError::Corrupt(format!("backup path {} is not UTF-8", target.display()))
        })?;
        sqlx::query("VACUUM INTO ?1")
            .bind(target)
            .execute(&self.readers)
            .await
            .map_err(closed_or_database)?;
        Ok(())
    }

    async fn write(&self, op: Op) -> Result<(), StorageError> {
        let (reply, answer) = oneshot::channel();
        self.writes
            .send(Command::Write { op, reply })
            .await
            .map_err(|_| StorageError::Closed)?;
        answer.await.map_err(|_| StorageError::Closed)?
    }
}

#[async_trait]
impl EventLog for SqliteEventLog {
    async fn head(&self, store: &StoreId) -> Result<u64, StorageError> {
        let head: Option<i64> = sqlx::query_scalar(SELECT_HEAD)
            .bind(store.as_str())
            .fetch_optional(&self.readers)
            .await
            .map_err(closed_or_database)?;
        let head = head.unwrap_or(0);
        u64::try_from(head)
            .map_err(|_| StorageError::Corrupt(format!("negative head {head} of store {store}")))
    }

    async fn append(&self, batch: AppendBatch) -> Result<(), StorageError> {
        if batch.events.is_empty() {
            return Ok(());
        }
        self.write(Op::Append(batch)).await
    }

    async fn read_range(
        &self,
        store: &StoreId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StorageError> {
        // Sized for a typical pull, not for `limit`, which may be huge.
        let mut events = Vec::with_capacity(limit.min(self.read_chunk_rows));
        let mut decoder = PackedDecoder::default();
        let mut cursor = to_sql_seq(after);
        // Numbering is usually contiguous, so the window `(cursor, cursor + want]` holds
        // exactly `want` events: no need to find where it ends. Once a window comes back
        // short (a gap, or the end of the log), the rest of this read looks the end up.
        let mut dense = true;
        while events.len() < limit {
            let want = (limit - events.len()).min(self.read_chunk_rows);
            let end = if dense {
                cursor.saturating_add(i64::try_from(want).unwrap_or(i64::MAX))
            } else {
                let nth: Option<i64> = sqlx::query_scalar(NTH_SEQ_SQL)
                    .bind(store.as_str())
                    .bind(cursor)
                    .bind(i64::try_from(want - 1).unwrap_or(i64::MAX))
                    .fetch_optional(&self.readers)
                    .await
                    .map_err(closed_or_database)?;
                nth.unwrap_or(i64::MAX)
            };
            let packed: Option<String> = sqlx::query_scalar(PACKED_WINDOW_SQL)
                .bind(store.as_str())
                .bind(cursor)
                .bind(end)
                .fetch_one(&self.readers)
                .await
                .map_err(closed_or_database)?;
            let before = events.len();
            decoder.decode(packed.as_deref().unwrap_or(""), &mut events)?;
            let full = events.len() - before == want;
            if end == i64::MAX || (!full && !dense) {
                break; // the end of the log
            }
            cursor = end;
            dense &= full;
        }
        Ok(events)
    }

    async fn tail(&self, store: &StoreId, after: u64) -> Result<Tail, StorageError> {
        let (head, events): (i64, i64) = sqlx::query_as(TAIL_SQL)
            .bind(store.as_str())
            .bind(to_sql_seq(after))
            .fetch_one(&self.readers)
            .await
            .map_err(closed_or_database)?;
        let corrupt = || StorageError::Corrupt(format!("negative head or count of store {store}"));
        Ok(Tail {
            head: u64::try_from(head).map_err(|_| corrupt())?,
            events: u64::try_from(events).map_err(|_| corrupt())?,
        })
    }

    async fn backend_id(&self, store: &StoreId) -> Result<String, StorageError> {
        const SELECT: &str = "SELECT backend_id FROM stores WHERE store_id = ?1";
        for _ in 0..2 {
            let id: Option<String> = sqlx::query_scalar(SELECT)
                .bind(store.as_str())
                .fetch_optional(&self.readers)
                .await
                .map_err(closed_or_database)?;
            if let Some(id) = id {
                return Ok(id);
            }
            // Another writer may create it first: the insert keeps the first one.
            let id = super::new_backend_id();
            self.write(Op::CreateBackendId {
                store: store.clone(),
                id,
            })
            .await?;
        }
        Err(StorageError::Corrupt(format!(
            "backend id of store {store} vanished after it was created"
        )))
    }

    async fn reset(&self, store: &StoreId) -> Result<(), StorageError> {
        self.write(Op::Reset(store.clone())).await
    }

    async fn close(&self) {
        SqliteEventLog::close(self).await;
    }

    async fn move_store(&self, from: &StoreId, to: &StoreId) -> Result<(), StorageError> {
        self.write(Op::Move {
            from: from.clone(),
            to: to.clone(),
        })
        .await
    }
}

/// A read on a closed pool is a read after [`SqliteEventLog::close`].
fn closed_or_database(error: sqlx::Error) -> StorageError {
    match error {
        sqlx::Error::PoolClosed => StorageError::Closed,
        other => StorageError::Database(other),
    }
}

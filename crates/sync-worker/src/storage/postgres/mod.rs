//! PostgreSQL backend of [`EventLog`]: the store of record shared by several sync nodes.
//!
//! Each append is one transaction that locks the store's row in `store_heads` (an upsert,
//! so the first append of a store creates it), compares the batch's first parent with
//! the head under that lock, inserts the events with one `UNNEST` statement and moves the
//! head. Appends to one store are therefore serialized across every node, a racing loser
//! gets [`StorageError::Conflict`] with the winner's head, and an append returns only
//! after PostgreSQL committed it (with `synchronous_commit`, the server's default, that
//! means flushed to its WAL). Different stores lock different rows and run in parallel.
//!
//! Ordering: within this process, writes to one store also take a striped, FIFO
//! `tokio::sync::Mutex` on their first poll, so a caller that pipelines a store's batches
//! (polling each append before starting the next, as the hub does) has them committed in
//! chain order, as with the SQLite backend; without it, pooled connections would race
//! for the row lock in any order and turn a pipeline into conflicts.

mod feed;
mod options;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres, Row as _, Transaction};
use std::str::FromStr;

pub use options::PgOptions;

use super::{check_chain, AppendBatch, EventLog, StorageError, StoreId, StoredEvent, Tail};

/// The migrations of `migrations/sync-postgres/`, embedded at build time.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sync-postgres");

/// Locks (creating when missing) the head row of `$1` and returns the head.
const LOCK_HEAD: &str = "INSERT INTO store_heads (store_id, head) VALUES ($1, 0) \
     ON CONFLICT (store_id) DO UPDATE SET head = store_heads.head RETURNING head";
const SELECT_HEAD: &str = "SELECT head FROM store_heads WHERE store_id = $1";
const SET_HEAD: &str = "UPDATE store_heads SET head = $2 WHERE store_id = $1";
/// Moves the head and queues the commit notice (delivered by PostgreSQL at commit).
const SET_HEAD_AND_NOTIFY: &str = "WITH moved AS (UPDATE store_heads SET head = $2 \
     WHERE store_id = $1) SELECT pg_notify($3, $4)";
const INSERT_EVENTS: &str = "INSERT INTO events (store_id, seq_num, parent_seq_num, name, args, \
     client_id, session_id, created_at_ms, pushed_by) \
     SELECT $1, e.seq, e.parent, e.name, e.args, e.client, e.session, $8, $9 \
     FROM UNNEST($2::int8[], $3::int8[], $4::text[], $5::text[], $6::text[], $7::text[]) \
     AS e(seq, parent, name, args, client, session)";
/// Store `$1`'s head and the number of its events after `$2`, in one statement (one
/// snapshot): the head less the numbers the chain skips after `$2` (each event's parent is
/// the event before it), read through the partial index `events_gaps`.
const TAIL: &str = "SELECT h.head, GREATEST(h.head - $2, 0) - COALESCE((\
        SELECT sum(seq_num - GREATEST(parent_seq_num, $2) - 1) FROM events \
        WHERE store_id = $1 AND seq_num > $2 AND seq_num - parent_seq_num > 1), 0)::BIGINT \
    FROM (SELECT COALESCE((SELECT head FROM store_heads WHERE store_id = $1), 0) AS head) h";
const READ_RANGE: &str = "SELECT seq_num, parent_seq_num, name, args, client_id, session_id, \
     created_at_ms, pushed_by FROM events \
     WHERE store_id = $1 AND seq_num > $2 ORDER BY seq_num LIMIT $3";

/// Stripes of the per-store write order locks (stores hashing to one stripe share it).
const ORDER_STRIPES: usize = 256;

/// The event log of every store, in one PostgreSQL database.
pub struct PgEventLog {
    pool: PgPool,
    read_chunk_rows: usize,
    order: Vec<tokio::sync::Mutex<()>>,
    /// Random id of this node, so its own commit notices are not reported back.
    node: String,
    remote: tokio::sync::broadcast::Sender<super::RemoteCommit>,
}

impl PgEventLog {
    /// Connects to `database_url` (`postgres://` or `postgresql://`) and applies the
    /// migrations of `migrations/sync-postgres/`.
    pub async fn open(database_url: &str, options: PgOptions) -> Result<Self, StorageError> {
        options.validate()?;
        let connect = PgConnectOptions::from_str(database_url)?;
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .min_connections(0)
            .acquire_timeout(options.acquire_timeout)
            // A connection the server or the network dropped (a restart, an outage) is
            // found and replaced before a query is sent on it. sqlx's default, stated
            // because recovering without a restart relies on it.
            .test_before_acquire(true)
            .connect_with(connect)
            .await?;
        MIGRATOR.run(&pool).await?;
        let node = uuid::Uuid::new_v4().simple().to_string();
        let (remote, _) = tokio::sync::broadcast::channel(feed::REMOTE_QUEUE);
        let (ready, listening) = tokio::sync::oneshot::channel();
        tokio::spawn(feed::listen(
            pool.clone(),
            node.clone(),
            remote.clone(),
            ready,
        ));
        if tokio::time::timeout(options.acquire_timeout, listening)
            .await
            .is_err()
        {
            pool.close().await;
            return Err(StorageError::Database(sqlx::Error::PoolTimedOut));
        }
        Ok(Self {
            pool,
            read_chunk_rows: options.read_chunk_rows,
            order: (0..ORDER_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
            node,
            remote,
        })
    }

    /// The write-order lock of `store` (FIFO: waiters are served in first-poll order).
    fn order_of(&self, store: &StoreId) -> &tokio::sync::Mutex<()> {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        store.hash(&mut hasher);
        let stripe = usize::try_from(hasher.finish() % ORDER_STRIPES as u64).unwrap_or(0);
        &self.order[stripe]
    }

    /// The pool, for the change feed and readiness checks of this backend.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn lock_head(
        tx: &mut Transaction<'_, Postgres>,
        store: &StoreId,
    ) -> Result<u64, StorageError> {
        let head: i64 = sqlx::query_scalar(LOCK_HEAD)
            .bind(store.as_str())
            .fetch_one(&mut **tx)
            .await?;
        to_seq(head)
    }
}

#[async_trait]
impl EventLog for PgEventLog {
    async fn head(&self, store: &StoreId) -> Result<u64, StorageError> {
        let head: Option<i64> = sqlx::query_scalar(SELECT_HEAD)
            .bind(store.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(closed_or_database)?;
        to_seq(head.unwrap_or(0))
    }

    async fn append(&self, batch: AppendBatch) -> Result<(), StorageError> {
        if batch.events.is_empty() {
            return Ok(());
        }
        check_chain(&batch.events)?;
        refuse_nul(&batch)?;
        let (Some(first), Some(last)) = (batch.events.first(), batch.events.last()) else {
            return Ok(());
        };
        let _in_order = self.order_of(&batch.store).lock().await;
        let mut tx = self.pool.begin().await.map_err(closed_or_database)?;
        let head = Self::lock_head(&mut tx, &batch.store).await?;
        if first.parent_seq_num != head {
            tx.rollback().await?;
            return Err(StorageError::Conflict { head });
        }
        let events = &batch.events;
        let seqs: Vec<i64> = events.iter().map(|e| to_sql(e.seq_num)).collect();
        let parents: Vec<i64> = events.iter().map(|e| to_sql(e.parent_seq_num)).collect();
        let names: Vec<&str> = events.iter().map(|e| e.name.as_str()).collect();
        let args: Vec<Option<&str>> = events
            .iter()
            .map(|e| e.args.as_deref().map(|a| a.get()))
            .collect();
        let clients: Vec<&str> = events.iter().map(|e| e.client_id.as_str()).collect();
        let sessions: Vec<&str> = events.iter().map(|e| e.session_id.as_str()).collect();
        sqlx::query(INSERT_EVENTS)
            .bind(batch.store.as_str())
            .bind(&seqs)
            .bind(&parents)
            .bind(&names)
            .bind(&args)
            .bind(&clients)
            .bind(&sessions)
            .bind(batch.created_at.timestamp_millis())
            .bind(&*batch.pushed_by)
            .execute(&mut *tx)
            .await?;
        let notice = feed::notice(&self.node, first.parent_seq_num, last.seq_num, &batch.store);
        sqlx::query(SET_HEAD_AND_NOTIFY)
            .bind(batch.store.as_str())
            .bind(to_sql(last.seq_num))
            .bind(feed::CHANNEL)
            .bind(notice)
            .execute(&mut *tx)
            .await?;
        // Up to here a failure rolls the transaction back (PostgreSQL aborts it when the
        // connection goes); a failure of the commit itself may come after it took effect.
        tx.commit().await.map_err(StorageError::CommitUnknown)?;
        Ok(())
    }

    async fn read_range(
        &self,
        store: &StoreId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StorageError> {
        let mut events = Vec::with_capacity(limit.min(self.read_chunk_rows));
        let mut cursor = to_sql(after);
        while events.len() < limit {
            let want = (limit - events.len()).min(self.read_chunk_rows);
            let rows = sqlx::query(READ_RANGE)
                .bind(store.as_str())
                .bind(cursor)
                .bind(i64::try_from(want).unwrap_or(i64::MAX))
                .fetch_all(&self.pool)
                .await
                .map_err(closed_or_database)?;
            let got = rows.len();
            for row in rows {
                events.push(decode(&row)?);
            }
            match events.last() {
                Some(last) if got == want => cursor = to_sql(last.seq_num),
                _ => break,
            }
        }
        Ok(events)
    }

    async fn tail(&self, store: &StoreId, after: u64) -> Result<Tail, StorageError> {
        let (head, events): (i64, i64) = sqlx::query_as(TAIL)
            .bind(store.as_str())
            .bind(to_sql(after))
            .fetch_one(&self.pool)
            .await
            .map_err(closed_or_database)?;
        Ok(Tail {
            head: to_seq(head)?,
            events: to_seq(events)?,
        })
    }

    async fn backend_id(&self, store: &StoreId) -> Result<String, StorageError> {
        // The insert keeps the first id when two nodes create one at once.
        sqlx::query(
            "INSERT INTO stores (store_id, backend_id) VALUES ($1, $2) \
             ON CONFLICT (store_id) DO NOTHING",
        )
        .bind(store.as_str())
        .bind(super::new_backend_id())
        .execute(&self.pool)
        .await
        .map_err(closed_or_database)?;
        let id: String = sqlx::query_scalar("SELECT backend_id FROM stores WHERE store_id = $1")
            .bind(store.as_str())
            .fetch_one(&self.pool)
            .await
            .map_err(closed_or_database)?;
        Ok(id)
    }

    async fn reset(&self, store: &StoreId) -> Result<(), StorageError> {
        let _in_order = self.order_of(store).lock().await;
        let mut tx = self.pool.begin().await.map_err(closed_or_database)?;
        Self::lock_head(&mut tx, store).await?;
        sqlx::query("DELETE FROM events WHERE store_id = $1")
            .bind(store.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM stores WHERE store_id = $1")
            .bind(store.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query(SET_HEAD)
            .bind(store.as_str())
            .bind(0i64)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn move_store(&self, from: &StoreId, to: &StoreId) -> Result<(), StorageError> {
        let mut tx = self.pool.begin().await.map_err(closed_or_database)?;
        // Both rows, always in the same order, so two moves cannot deadlock.
        let (first, second) = if from.as_str() <= to.as_str() {
            (from, to)
        } else {
            (to, from)
        };
        let first_head = Self::lock_head(&mut tx, first).await?;
        let second_head = Self::lock_head(&mut tx, second).await?;
        let (from_head, to_head) = if first == from {
            (first_head, second_head)
        } else {
            (second_head, first_head)
        };
        if to_head != 0 {
            tx.rollback().await?;
            return Err(StorageError::Conflict { head: to_head });
        }
        sqlx::query("UPDATE events SET store_id = $2 WHERE store_id = $1")
            .bind(from.as_str())
            .bind(to.as_str())
            .execute(&mut *tx)
            .await?;
        for (store, head) in [(to, from_head), (from, 0)] {
            sqlx::query(SET_HEAD)
                .bind(store.as_str())
                .bind(to_sql(head))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    fn remote_commits(&self) -> Option<tokio::sync::broadcast::Receiver<super::RemoteCommit>> {
        Some(self.remote.subscribe())
    }
}

/// PostgreSQL text cannot hold NUL characters, which JSON strings may carry (`\u0000`):
/// refuse the batch with a clear error instead of a database error.
fn refuse_nul(batch: &AppendBatch) -> Result<(), StorageError> {
    let nul = |s: &str| s.contains('\0');
    let bad = nul(&batch.pushed_by)
        || batch
            .events
            .iter()
            .any(|e| nul(&e.name) || nul(&e.client_id) || nul(&e.session_id));
    if bad {
        return Err(StorageError::Corrupt(
            "a name, client id or session id contains a NUL character".into(),
        ));
    }
    Ok(())
}

fn decode(row: &sqlx::postgres::PgRow) -> Result<StoredEvent, StorageError> {
    let args: Option<String> = row.try_get("args")?;
    let seq_num = to_seq(row.try_get("seq_num")?)?;
    let created_at_ms: i64 = row.try_get("created_at_ms")?;
    Ok(StoredEvent {
        seq_num,
        parent_seq_num: to_seq(row.try_get("parent_seq_num")?)?,
        name: row.try_get("name")?,
        args: args
            .map(serde_json::value::RawValue::from_string)
            .transpose()
            .map_err(|e| StorageError::Corrupt(format!("args of seqNum {seq_num}: {e}")))?,
        client_id: row.try_get("client_id")?,
        session_id: row.try_get("session_id")?,
        created_at: chrono::DateTime::from_timestamp_millis(created_at_ms).ok_or_else(|| {
            StorageError::Corrupt(format!("created_at of seqNum {seq_num} is out of range"))
        })?,
        pushed_by: row.try_get("pushed_by")?,
    })
}

/// Sequence numbers are checked by [`check_chain`] before they are bound; read cursors
/// beyond the storable range are clamped (nothing is stored there).
fn to_sql(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

fn to_seq(raw: i64) -> Result<u64, StorageError> {
    u64::try_from(raw).map_err(|_| StorageError::Corrupt(format!("negative sequence number {raw}")))
}

fn closed_or_database(error: sqlx::Error) -> StorageError {
    match error {
        sqlx::Error::PoolClosed => StorageError::Closed,
        other => StorageError::Database(other),
    }
}

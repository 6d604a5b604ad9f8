//! The durable, per-store event log behind the sync protocol.
//!
//! The protocol layer only talks to [`EventLog`]; SQLite is the first backend and a
//! PostgreSQL one can follow without touching the protocol code. A backend's contract:
//!
//! - `append` commits the whole batch atomically and returns only after the commit is
//!   durable (SQLite: WAL with `synchronous=FULL`). It must refuse, as
//!   [`StorageError::Conflict`], a batch whose first `parent_seq_num` is not the store's
//!   current head (a second node, or a stale cache, can race): the primary key
//!   `(store_id, seq_num)` is the last line of defence.
//! - A store's log is one chain: the first event's parent is 0 and every other event's
//!   parent is the `seq_num` of the event before it; numbers increase but may skip
//!   (LiveStore 0.4 allows gaps), so the head is the last `seq_num`, not a count.
//! - `read_range` returns events with `seq_num > after`, ascending, at most `limit`.
//! - `tail` counts the events after a cursor exactly (never `head - after`: gaps).
//! - Store ids are opaque strings bound as parameters, never spliced into SQL.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::value::RawValue;

pub mod postgres;
pub mod sqlite;

/// The largest sequence number a backend stores (signed 64-bit integer columns).
pub(crate) const MAX_STORED_SEQ: u64 = i64::MAX as u64;

/// A store's id as LiveStore's client sends it (`storeId` query parameter): 1 to 256
/// characters, compared byte for byte (`a-b` and `a_b` are different stores).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StoreId(Arc<str>);

impl StoreId {
    pub const MAX_CHARS: usize = 256;

    /// Parses a raw `storeId`.
    pub fn parse(raw: &str) -> Result<Self, InvalidStoreId> {
        let chars = raw.chars().count();
        if chars == 0 || chars > Self::MAX_CHARS {
            return Err(InvalidStoreId);
        }
        if raw.chars().any(char::is_control) {
            return Err(InvalidStoreId);
        }
        Ok(Self(raw.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A private store id no client can name (it contains a control character, which
    /// [`StoreId::parse`] refuses): staging area of an import into `target`.
    pub fn staging_for(target: &StoreId) -> Self {
        Self(format!("\u{1}import\u{1}{}\u{1}{}", uuid::Uuid::new_v4(), target.0).into())
    }
}

impl std::fmt::Display for StoreId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `storeId` missing, empty, longer than 256 characters or containing control characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("storeId must be 1 to 256 characters without control characters")]
pub struct InvalidStoreId;

/// One event as pushed by a client, already validated by the protocol layer.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub seq_num: u64,
    pub parent_seq_num: u64,
    pub name: String,
    /// The event's `args` exactly as the client sent them (raw JSON); `None` when absent.
    pub args: Option<Box<RawValue>>,
    pub client_id: String,
    pub session_id: String,
}

/// One committed event as read back from the log.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub seq_num: u64,
    pub parent_seq_num: u64,
    pub name: String,
    pub args: Option<Box<RawValue>>,
    pub client_id: String,
    pub session_id: String,
    /// One timestamp per push, shared by the events of that push.
    pub created_at: DateTime<Utc>,
    /// The identity of the connection that pushed the event.
    pub pushed_by: String,
}

/// A batch to append: a chain of events whose first parent is the expected head.
#[derive(Debug, Clone)]
pub struct AppendBatch {
    pub store: StoreId,
    pub events: Arc<[NewEvent]>,
    pub created_at: DateTime<Utc>,
    pub pushed_by: Arc<str>,
}

/// A store's head and the number of events after some cursor (see [`EventLog::tail`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tail {
    /// The highest committed `seq_num` (0 when empty).
    pub head: u64,
    /// Events with `seq_num` above the cursor, up to `head`.
    pub events: u64,
}

/// Storage failures. `Conflict` is an expected outcome of a race; the rest are faults.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The batch's first parent is not the store's head (`head` is the current one).
    #[error("append conflict: store head is {head}")]
    Conflict { head: u64 },
    #[error("storage is shutting down")]
    Closed,
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The connection failed while the commit was under way: the batch may or may not
    /// be stored (a shared server cannot say which until it is reachable again).
    #[error("commit outcome unknown: {0}")]
    CommitUnknown(sqlx::Error),
    #[error("migration error: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A stored row that cannot be decoded, or a batch refused because writing it would
    /// corrupt the log (empty, not a chain, `seq_num` beyond `i64::MAX`).
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

/// The durable event log of every store on this server.
#[async_trait]
pub trait EventLog: Send + Sync + 'static {
    /// The highest committed `seq_num` of `store` (0 when empty).
    async fn head(&self, store: &StoreId) -> Result<u64, StorageError>;

    /// Durably appends `batch`; returns after commit. See the module docs for the
    /// conflict rule.
    async fn append(&self, batch: AppendBatch) -> Result<(), StorageError>;

    /// Events with `seq_num > after`, ascending, at most `limit` of them.
    async fn read_range(
        &self,
        store: &StoreId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StorageError>;

    /// The store's head and how many events have `seq_num > after`, read together (one
    /// snapshot). Counted exactly, never as `head - after` (numbers may skip): backends
    /// derive it from the chain's gaps, so it costs index seeks while a store has few.
    async fn tail(&self, store: &StoreId, after: u64) -> Result<Tail, StorageError>;

    /// The store's backend id (LiveStore 0.4 `backendId`), created on first use; a reset
    /// deletes it, so the next call returns a new one.
    async fn backend_id(&self, store: &StoreId) -> Result<String, StorageError>;

    /// Deletes every event of `store` (admin reset); its head goes back to 0 and its
    /// backend id is replaced.
    async fn reset(&self, store: &StoreId) -> Result<(), StorageError>;

    /// Atomically moves every event of `from` to `to`, which must be empty (else
    /// [`StorageError::Conflict`] with `to`'s head, and nothing moves). Imports stage
    /// their events under a private store id and move them in one step, so a failed
    /// import leaves nothing behind in the target store.
    async fn move_store(&self, from: &StoreId, to: &StoreId) -> Result<(), StorageError>;

    /// Finishes what is already queued, then releases the backend's connections. Later
    /// calls fail with [`StorageError::Closed`]; closing twice is a no-op.
    async fn close(&self);

    /// Commits made by other nodes sharing this database, for backends that have any
    /// (`None`: this node is the only writer, as with SQLite). A lagging receiver must
    /// treat the gap like [`RemoteCommit::Resync`].
    fn remote_commits(&self) -> Option<tokio::sync::broadcast::Receiver<RemoteCommit>> {
        None
    }
}

/// What the change feed of a shared backend reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteCommit {
    /// Another node committed events `(from, to]` of `store`.
    Advanced { store: StoreId, from: u64, to: u64 },
    /// Notices may have been lost (the feed reconnected): any store may have moved.
    Resync,
}

/// Settings of every backend; [`open`] uses the part its URL selects.
#[derive(Debug, Clone, Default)]
pub struct StorageOptions {
    pub sqlite: sqlite::SqliteOptions,
    pub postgres: postgres::PgOptions,
}

/// Opens the event log `database_url` names: `sqlite:` (a file, created when missing,
/// or `sqlite::memory:`) or `postgres://` / `postgresql://`; migrations are applied.
pub async fn open(
    database_url: &str,
    options: &StorageOptions,
) -> Result<Arc<dyn EventLog>, StorageError> {
    match Backend::of(database_url)? {
        Backend::Sqlite => Ok(Arc::new(
            sqlite::SqliteEventLog::open(database_url, options.sqlite.clone()).await?,
        )),
        Backend::Postgres => Ok(Arc::new(
            postgres::PgEventLog::open(database_url, options.postgres.clone()).await?,
        )),
    }
}

/// Which backend a database URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend of `database_url`, by scheme; any other scheme is an error naming the
    /// accepted ones.
    pub fn of(database_url: &str) -> Result<Self, StorageError> {
        let scheme = database_url.split(':').next().unwrap_or_default();
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => Ok(Self::Sqlite),
            "postgres" | "postgresql" => Ok(Self::Postgres),
            _ => Err(StorageError::Database(sqlx::Error::Configuration(
                "DATABASE_URL must start with sqlite:, postgres:// or postgresql://".into(),
            ))),
        }
    }
}

/// A new random backend id: 21 URL-safe characters, like the nanoid ids of LiveStore's
/// own server.
pub(crate) fn new_backend_id() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let more = uuid::Uuid::new_v4().into_bytes();
    bytes
        .iter()
        .chain(more.iter())
        .take(21)
        .map(|b| ALPHABET[usize::from(b & 63)] as char)
        .collect()
}

/// Refuses a batch that would break a store's chain: empty, not a chain (each parent the
/// previous `seq_num`, every `seq_num` greater than its parent; gaps are legal), or beyond
/// what a backend stores (a signed 64-bit integer). The protocol layer validates first;
/// this guards the log itself.
pub(crate) fn check_chain(events: &[NewEvent]) -> Result<(), StorageError> {
    let Some(first) = events.first() else {
        return Err(StorageError::Corrupt("empty batch".into()));
    };
    let mut expected_parent = first.parent_seq_num;
    for event in events {
        if event.parent_seq_num != expected_parent || event.seq_num <= event.parent_seq_num {
            return Err(StorageError::Corrupt(format!(
                "batch is not a chain at seqNum {} (parent {})",
                event.seq_num, event.parent_seq_num
            )));
        }
        if event.seq_num > MAX_STORED_SEQ {
            return Err(StorageError::Corrupt(format!(
                "seqNum {} is beyond the largest storable {MAX_STORED_SEQ}",
                event.seq_num
            )));
        }
        expected_parent = event.seq_num;
    }
    Ok(())
}

//! Tunables of the SQLite backend, every limit explicit, and the connection settings
//! derived from them.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};

use crate::storage::StorageError;

/// Most bound parameters SQLite (3.32+) accepts in one statement.
const SQLITE_MAX_VARIABLES: usize = 32_766;

/// Columns bound per inserted row (see `writer::INSERT_COLUMNS`).
pub(super) const COLUMNS_PER_ROW: usize = 9;

/// Limits and sizes of [`super::SqliteEventLog`]. `Default` suits a small server; every
/// field must be at least 1.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Connections in the read pool serving `head` and `read_range`. WAL lets them read
    /// while the writer commits. Default 4.
    pub max_readers: u32,
    /// How long a read waits for a free pooled connection before failing. Default 30 s.
    pub acquire_timeout: Duration,
    /// How long a connection waits for a lock held by another process (SQLite
    /// `busy_timeout`). Default 5 s.
    pub busy_timeout: Duration,
    /// Appends and resets queued for the writer; callers wait (backpressure) when the
    /// queue is full. Default 1024.
    pub writer_queue: usize,
    /// Most appends and resets committed together in one group transaction (one fsync).
    /// Default 256.
    pub group_max_batches: usize,
    /// The writer stops draining its queue into the current group once the group holds
    /// this many events (a group always takes at least one batch, so a group can exceed
    /// it by at most one batch). Default 20,000.
    pub group_max_events: usize,
    /// Most store heads the writer keeps in memory; past it the cache is dropped after
    /// the current group and reloaded store by store (one primary-key seek each).
    /// Default 100,000 (a few MiB).
    pub max_cached_heads: usize,
    /// Most rows per prepared multi-row `INSERT` (at most 3,640: SQLite's 32,766
    /// parameters over 9 columns). Default 128.
    pub rows_per_insert: usize,
    /// Most events one read query returns; a larger `read_range` runs several queries.
    /// A read's events come back packed in one text value, so this bounds that value
    /// (about 300 bytes per typical event). Default 1,000.
    pub read_chunk_rows: usize,
    /// SQLite page cache per connection (the writer and each reader), in KiB. Appends
    /// touch the right edge of each store's key range and reads scan forward, so a small
    /// cache does; the OS page cache holds the rest. Default 4,096 (4 MiB).
    pub cache_size_kib: u32,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            max_readers: 4,
            acquire_timeout: Duration::from_secs(30),
            busy_timeout: Duration::from_secs(5),
            writer_queue: 1024,
            group_max_batches: 256,
            group_max_events: 20_000,
            max_cached_heads: 100_000,
            rows_per_insert: 128,
            read_chunk_rows: 1000,
            cache_size_kib: 4 * 1024,
        }
    }
}

impl SqliteOptions {
    /// Refuses zero limits and a `rows_per_insert` beyond SQLite's parameter limit.
    pub(super) fn validate(&self) -> Result<(), StorageError> {
        let zero = [
            ("max_readers", self.max_readers == 0),
            ("writer_queue", self.writer_queue == 0),
            ("group_max_batches", self.group_max_batches == 0),
            ("group_max_events", self.group_max_events == 0),
            ("max_cached_heads", self.max_cached_heads == 0),
            ("rows_per_insert", self.rows_per_insert == 0),
            ("read_chunk_rows", self.read_chunk_rows == 0),
            ("cache_size_kib", self.cache_size_kib == 0),
        ];
        if let Some((name, _)) = zero.iter().find(|(_, is_zero)| *is_zero) {
            return Err(config_error(format!(
                "SqliteOptions::{name} must be at least 1"
            )));
        }
        let max_rows = SQLITE_MAX_VARIABLES / COLUMNS_PER_ROW;
        if self.rows_per_insert > max_rows {
            return Err(config_error(format!(
                "SqliteOptions::rows_per_insert must be at most {max_rows}"
            )));
        }
        Ok(())
    }
}

/// Connection settings shared by the writer and the readers, parsed from `database_url`.
pub(super) struct Target {
    pub connect: SqliteConnectOptions,
    /// The database file, `None` for an in-memory database.
    pub file: Option<PathBuf>,
}

impl Target {
    pub fn parse(database_url: &str, options: &SqliteOptions) -> Result<Self, StorageError> {
        // sqlx reads any other string as a file name (`postgres://x` would become a file).
        if !database_url.starts_with("sqlite:") {
            return Err(config_error(
                "the event log's database URL must start with `sqlite:`".into(),
            ));
        }
        let in_memory = database_url.contains(":memory:") || database_url.contains("mode=memory");
        let connect = SqliteConnectOptions::from_str(database_url)?
            // WAL: readers never block the writer nor the reverse. FULL: the WAL is
            // fsynced at every commit, so an acked push survives power loss.
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(options.busy_timeout)
            .foreign_keys(true)
            .pragma("cache_size", format!("-{}", options.cache_size_kib));
        let file = (!in_memory).then(|| connect.get_filename().to_path_buf());
        Ok(Self { connect, file })
    }
}

fn config_error(message: String) -> StorageError {
    StorageError::Database(sqlx::Error::Configuration(message.into()))
}

//! Tunables of the PostgreSQL backend, every limit explicit.

use std::time::Duration;

use crate::storage::StorageError;

/// Limits of [`super::PgEventLog`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgOptions {
    /// Connections this node keeps to PostgreSQL (appends, reads and the change feed
    /// share them). Default 16: several nodes times this must stay below the server's
    /// `max_connections` (100 by default).
    pub max_connections: u32,
    /// How long a query waits for a pooled connection before failing. Default 5 s.
    pub acquire_timeout: Duration,
    /// Most rows one read query returns; larger ranges run several. Default 1,000.
    pub read_chunk_rows: usize,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
            read_chunk_rows: 1000,
        }
    }
}

impl PgOptions {
    pub(super) fn validate(&self) -> Result<(), StorageError> {
        if self.max_connections == 0 || self.read_chunk_rows == 0 {
            return Err(StorageError::Database(sqlx::Error::Configuration(
                "PgOptions::max_connections and read_chunk_rows must be at least 1".into(),
            )));
        }
        Ok(())
    }
}

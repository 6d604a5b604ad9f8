//! `sync-worker backup DIR`: an online, consistent copy of the SQLite event log.
//!
//! PostgreSQL deployments back up with `pg_dump` instead (see the deployment docs).

use std::path::{Path, PathBuf};

use super::ToolError;
use crate::storage::sqlite::SqliteEventLog;

/// File name of the copy inside the backup folder.
pub const BACKUP_FILE: &str = "sync.db";

/// Copies the database behind `log` to `dir/sync.db` (the folder is created; an
/// existing copy is never overwritten) while the server may keep serving.
pub async fn backup(log: &SqliteEventLog, dir: &Path) -> Result<PathBuf, ToolError> {
    tokio::fs::create_dir_all(dir).await?;
    let target = dir.join(BACKUP_FILE);
    if tokio::fs::try_exists(&target).await? {
        return Err(ToolError::Refused(format!(
            "{} already exists; choose an empty folder",
            target.display()
        )));
    }
    log.backup_into(&target).await?;
    Ok(target)
}

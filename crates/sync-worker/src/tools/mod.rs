//! Operator tools behind the `sync-worker` subcommands: `export` a store as NDJSON,
//! `import` one (all or nothing), and `backup` the whole SQLite database online.
//!
//! One line of an export is one event, in the shape of the events endpoint plus the
//! parent: `{"seqNum","parentSeqNum","name","args","clientId","sessionId","createdAt","userId"}`
//! (`args` left out when the event had none; `userId` is who pushed it). Both directions
//! stream in windows, so memory does not grow with the store.

mod backup;
mod export;
mod import;

pub use backup::backup;
pub use export::export;
pub use import::{import, ImportSummary};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Events read or appended per storage call.
pub const WINDOW: usize = 1000;

/// Longest accepted line of an import file (an event's JSON); a push frame is capped at
/// 1 MiB by default, so a larger line cannot come from a real client.
pub const MAX_LINE_BYTES: usize = 4 << 20;

/// A tool failure, with what to tell the operator.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("storage: {0}")]
    Storage(#[from] crate::storage::StorageError),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("line {line}: {reason}")]
    BadLine { line: u64, reason: String },
    #[error("{0}")]
    Refused(String),
}

/// One exported event.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EventLine<'a> {
    seq_num: u64,
    parent_seq_num: u64,
    #[serde(borrow)]
    name: std::borrow::Cow<'a, str>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    args: Option<&'a RawValue>,
    #[serde(borrow)]
    client_id: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    session_id: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    created_at: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    user_id: std::borrow::Cow<'a, str>,
}

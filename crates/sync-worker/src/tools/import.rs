//! `sync-worker import --store ID`: loads an export into an empty store, all or nothing.
//!
//! Events are appended under a private staging store id (one no client can name) in
//! batches that keep each push's `createdAt` and pusher, checked against the same chain
//! rule as pushes, and moved to the target store in one transaction at the end. Any
//! error (a malformed line, one that breaks the chain, a target that is not empty) deletes the
//! staging events, so the target store is either untouched or complete.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt};

use super::{EventLine, ToolError, MAX_LINE_BYTES, WINDOW};
use crate::hub::validate_chain;
use crate::storage::{AppendBatch, EventLog, NewEvent, StorageError, StoreId};

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportSummary {
    pub events: u64,
    pub head: u64,
}

/// A batch being collected: consecutive events of one push (same time and pusher).
struct Pending {
    events: Vec<NewEvent>,
    created_at: DateTime<Utc>,
    pushed_by: Arc<str>,
}

/// Imports the NDJSON export read from `input` into `store`, which must be empty.
pub async fn import(
    log: &dyn EventLog,
    store: &StoreId,
    input: &mut (dyn AsyncBufRead + Unpin + Send),
) -> Result<ImportSummary, ToolError> {
    let head = log.head(store).await?;
    if head != 0 {
        return Err(not_empty(store, head));
    }
    let staging = StoreId::staging_for(store);
    let result = stage(log, &staging, input).await;
    let outcome = match result {
        Ok(summary) => match log.move_store(&staging, store).await {
            Ok(()) => Ok(summary),
            Err(StorageError::Conflict { head }) => Err(not_empty(store, head)),
            Err(error) => Err(error.into()),
        },
        Err(error) => Err(error),
    };
    if outcome.is_err() {
        // Nothing of a failed import may stay behind, not even out of sight.
        log.reset(&staging).await?;
    }
    outcome
}

fn not_empty(store: &StoreId, head: u64) -> ToolError {
    ToolError::Refused(format!(
        "store {store} already has events (head {head}); import only into an empty store"
    ))
}

async fn stage(
    log: &dyn EventLog,
    staging: &StoreId,
    input: &mut (dyn AsyncBufRead + Unpin + Send),
) -> Result<ImportSummary, ToolError> {
    let mut head = 0u64;
    let mut events = 0u64;
    let mut pending: Option<Pending> = None;
    let mut text = String::new();
    let mut line_no = 0u64;
    loop {
        text.clear();
        let read = AsyncReadExt::take(&mut *input, MAX_LINE_BYTES as u64 + 1)
            .read_line(&mut text)
            .await?;
        if read == 0 {
            break;
        }
        line_no += 1;
        if read > MAX_LINE_BYTES {
            return Err(bad(line_no, format!("longer than {MAX_LINE_BYTES} bytes")));
        }
        let trimmed = text.trim_end_matches(['\n', '\r']);
        if trimmed.trim().is_empty() {
            continue;
        }
        let record: EventLine<'_> =
            serde_json::from_str(trimmed).map_err(|e| bad(line_no, e.to_string()))?;
        let created_at = DateTime::parse_from_rfc3339(&record.created_at)
            .map_err(|e| bad(line_no, format!("createdAt: {e}")))?
            .with_timezone(&Utc);
        let event = NewEvent {
            seq_num: record.seq_num,
            parent_seq_num: record.parent_seq_num,
            name: record.name.into_owned(),
            args: record.args.map(RawValue::to_owned),
            client_id: record.client_id.into_owned(),
            session_id: record.session_id.into_owned(),
        };
        let expected_parent = pending
            .as_ref()
            .and_then(|p| p.events.last())
            .map_or(head, |last| last.seq_num);
        validate_chain(std::slice::from_ref(&event), expected_parent)
            .map_err(|reason| bad(line_no, reason.to_string()))?;
        let same_push = pending.as_ref().is_some_and(|p| {
            p.created_at == created_at && *p.pushed_by == *record.user_id && p.events.len() < WINDOW
        });
        if !same_push {
            if let Some(done) = pending.take() {
                head = append(log, staging, done).await?;
            }
            pending = Some(Pending {
                events: Vec::with_capacity(16),
                created_at,
                pushed_by: record.user_id.as_ref().into(),
            });
        }
        if let Some(p) = pending.as_mut() {
            p.events.push(event);
        }
        events += 1;
    }
    if let Some(done) = pending.take() {
        head = append(log, staging, done).await?;
    }
    Ok(ImportSummary { events, head })
}

async fn append(log: &dyn EventLog, store: &StoreId, batch: Pending) -> Result<u64, ToolError> {
    let head = batch.events.last().map_or(0, |e| e.seq_num);
    log.append(AppendBatch {
        store: store.clone(),
        events: batch.events.into(),
        created_at: batch.created_at,
        pushed_by: batch.pushed_by,
    })
    .await?;
    Ok(head)
}

fn bad(line: u64, reason: impl Into<String>) -> ToolError {
    ToolError::BadLine {
        line,
        reason: reason.into(),
    }
}

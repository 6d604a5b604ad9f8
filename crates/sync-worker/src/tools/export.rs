//! `sync-worker export --store ID`: every event of a store, one JSON object per line.

use std::borrow::Cow;

use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::{EventLine, ToolError, WINDOW};
use crate::protocol::iso_timestamp;
use crate::storage::{EventLog, StoreId};

/// Writes every event of `store` to `out`, ascending; returns how many. Reads
/// [`WINDOW`] events at a time, so memory stays flat however long the store is.
pub async fn export(
    log: &dyn EventLog,
    store: &StoreId,
    out: &mut (dyn AsyncWrite + Unpin + Send),
) -> Result<u64, ToolError> {
    let head = log.head(store).await?;
    let mut after = 0;
    let mut written = 0u64;
    let mut line = Vec::with_capacity(512);
    while after < head {
        let window = log.read_range(store, after, WINDOW).await?;
        let Some(last) = window.last() else { break };
        after = last.seq_num;
        for event in &window {
            line.clear();
            let record = EventLine {
                seq_num: event.seq_num,
                parent_seq_num: event.parent_seq_num,
                name: Cow::Borrowed(&event.name),
                args: event.args.as_deref(),
                client_id: Cow::Borrowed(&event.client_id),
                session_id: Cow::Borrowed(&event.session_id),
                created_at: Cow::Owned(iso_timestamp(event.created_at)),
                user_id: Cow::Borrowed(&event.pushed_by),
            };
            serde_json::to_writer(&mut line, &record).map_err(std::io::Error::from)?;
            line.push(b'\n');
            out.write_all(&line).await?;
            written += 1;
        }
    }
    out.flush().await?;
    Ok(written)
}

//! Pull streaming: one task per connection (started on its first `PullReq`) answers
//! pulls one after another, chunk by chunk, each chunk read, encoded and handed to the
//! connection through a 2-slot channel, so memory stays constant and a slow socket
//! slows the reads down instead of piling up chunks.

use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use tokio::sync::mpsc;

use crate::hub::StoreHub;
use crate::protocol::{encode_server_message, PullBatch, PullContext, ServerMessage};
use crate::storage::EventLog;

/// Pull requests one connection may queue behind the running one.
pub(crate) const MAX_QUEUED_PULLS: usize = 4;

/// One pull to answer.
pub(crate) struct PullRequest {
    pub request_id: String,
    pub cursor: Option<u64>,
}

/// One encoded response of a pull.
pub(crate) struct PullChunk {
    pub frame: Utf8Bytes,
    /// The pull's final response (`remaining` 0, or an Error).
    pub last: bool,
    /// The store head the pull streams up to, and the reset epoch it was read in.
    pub head: u64,
    pub epoch: u64,
}

/// Serves `requests` until the connection drops either channel.
pub(crate) async fn pull_worker(
    log: Arc<dyn EventLog>,
    hub: Arc<StoreHub>,
    chunk_size: usize,
    mut requests: mpsc::Receiver<PullRequest>,
    chunks: mpsc::Sender<PullChunk>,
) {
    while let Some(request) = requests.recv().await {
        if stream_pull(log.as_ref(), &hub, chunk_size, &request, &chunks)
            .await
            .is_err()
        {
            return;
        }
    }
}

/// The connection is gone.
struct Closed;

async fn stream_pull(
    log: &dyn EventLog,
    hub: &StoreHub,
    chunk_size: usize,
    request: &PullRequest,
    chunks: &mpsc::Sender<PullChunk>,
) -> Result<(), Closed> {
    let epoch = hub.epoch();
    let store = hub.store();
    let fail = |error: crate::storage::StorageError| {
        tracing::error!(%store, %error, "pull failed");
        PullChunk {
            frame: encode_server_message(&ServerMessage::Error {
                request_id: &request.request_id,
                message: "Internal error: pull failed",
            })
            .into(),
            last: true,
            head: 0,
            epoch,
        }
    };
    // Stream up to the head as of now; later events reach this client as broadcasts.
    let head = match log.head(store).await {
        Ok(head) => head,
        Err(error) => return chunks.send(fail(error)).await.map_err(|_| Closed),
    };
    let mut after = request.cursor.unwrap_or(0);
    loop {
        let want = usize::try_from(head.saturating_sub(after))
            .unwrap_or(usize::MAX)
            .min(chunk_size);
        let events = if want == 0 {
            Vec::new()
        } else {
            match log.read_range(store, after, want).await {
                Ok(events) => events,
                Err(error) => return chunks.send(fail(error)).await.map_err(|_| Closed),
            }
        };
        // Sequence numbers are contiguous, so what is left is a difference.
        let remaining = match events.last() {
            Some(last) => head.saturating_sub(last.seq_num),
            None => 0,
        };
        let frame = encode_server_message(&ServerMessage::PullRes {
            request_id: &request.request_id,
            context: PullContext::Pull,
            batch: PullBatch::Stored(&events),
            remaining,
        });
        let last = remaining == 0;
        if let Some(e) = events.last() {
            after = e.seq_num;
        }
        chunks
            .send(PullChunk {
                frame: frame.into(),
                last,
                head,
                epoch,
            })
            .await
            .map_err(|_| Closed)?;
        if last {
            return Ok(());
        }
    }
}

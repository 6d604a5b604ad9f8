//! Pull streaming: one task per connection (started on its first pull) answers
//! pulls one after another, chunk by chunk, each chunk encoded and handed to the
//! connection through a 2-slot channel, so memory stays constant and a slow socket
//! slows the reads down instead of piling up chunks.
//!
//! Storage is read a window of several chunks at a time, and the next window is read
//! while the current one is being sent: one query per 100-event chunk left the replay
//! waiting on thread hand-offs rather than on CPU (see BENCHMARKS.md, pull).

use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use tokio::sync::mpsc;

use crate::hub::StoreHub;
use crate::storage::{EventLog, StorageError, StoredEvent, Tail};

/// How one protocol writes the pages of a pull (called on the pull task, so encoding
/// overlaps the socket writes).
pub(crate) trait PullEncoder: Send + Sync + 'static {
    /// One page: `events` (possibly none), with `remaining` more up to the pull's head;
    /// `backend_id` is the store's when [`PullEncoder::wants_backend_id`], else empty.
    fn page(
        &self,
        request: &PullRequest,
        events: &[StoredEvent],
        remaining: u64,
        backend_id: &str,
    ) -> String;
    /// The answer ending a pull that storage failed.
    fn failure(&self, request: &PullRequest) -> String;
    /// Whether pages carry the store's backend id (read once per pull).
    fn wants_backend_id(&self) -> bool {
        false
    }
    /// The answer to a pull whose cursor names another backend id than `expected`.
    fn mismatch(&self, request: &PullRequest, expected: &str, received: &str) -> String {
        let _ = (expected, received);
        self.failure(request)
    }
    /// The most bytes of events one page may carry, if the protocol caps it.
    fn max_page_bytes(&self) -> Option<usize> {
        None
    }
    /// Whether a pull that is not live ends with a frame of its own ([`Self::finish`]).
    fn ends_streams(&self) -> bool {
        false
    }
    /// The frame sent after the last page of a pull that is not live.
    fn finish(&self, request: &PullRequest) -> String {
        self.failure(request)
    }
}

/// Pull requests one connection may queue behind the running one.
pub(crate) const MAX_QUEUED_PULLS: usize = 4;

/// One pull to answer.
pub(crate) struct PullRequest {
    pub request_id: String,
    pub cursor: Option<u64>,
    /// The backend id the cursor was read from (0.4), checked against the store's.
    pub cursor_backend: Option<String>,
    /// Keep the pull open after its pages (0.4 live pull): the connection then sends
    /// it every broadcast.
    pub live: bool,
    /// The continuation of a pull that held broadcasts back (see
    /// [`crate::hub::pull_state`]): with nothing past its cursor it writes nothing,
    /// since an empty last page would make the 0.3.1 client replay what it stashed.
    pub resumed: bool,
}

/// One encoded response of a pull.
pub(crate) struct PullChunk {
    pub frame: Utf8Bytes,
    /// Events in this page.
    pub events: usize,
    /// The pull's final response (`remaining` 0, or an Error).
    pub last: bool,
    /// The store head the pull streams up to, and the reset epoch it was read in.
    pub head: u64,
    pub epoch: u64,
    /// On the last chunk of a live pull: its request id, now subscribed.
    pub subscribe: Option<String>,
    /// On a last page that more pages could follow (not a failure, not a stream's
    /// final frame): how to continue the pull from its head.
    pub resume: Option<Resume>,
}

/// How to continue a pull past its head (see [`crate::hub::pull_state`]).
pub(crate) struct Resume {
    pub request_id: String,
    pub live: bool,
}

/// How a connection's pulls are cut up.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PullShape {
    /// Events per `PullRes` (the protocol's 100).
    pub chunk: usize,
    /// Events per storage read; at most two windows are held at once.
    pub window: usize,
}

/// Serves `requests` until the connection drops either channel.
pub(crate) async fn pull_worker(
    log: Arc<dyn EventLog>,
    hub: Arc<StoreHub>,
    shape: PullShape,
    encoder: Arc<dyn PullEncoder>,
    mut requests: mpsc::Receiver<PullRequest>,
    chunks: mpsc::Sender<PullChunk>,
) {
    while let Some(request) = requests.recv().await {
        if stream_pull(
            log.as_ref(),
            &hub,
            shape,
            encoder.as_ref(),
            &request,
            &chunks,
        )
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
    shape: PullShape,
    encoder: &dyn PullEncoder,
    request: &PullRequest,
    chunks: &mpsc::Sender<PullChunk>,
) -> Result<(), Closed> {
    let epoch = hub.epoch();
    let store = hub.store();
    let fail = |error: StorageError| {
        crate::metrics::storage_error("read");
        tracing::error!(%store, %error, "pull failed");
        PullChunk {
            frame: encoder.failure(request).into(),
            events: 0,
            last: true,
            head: 0,
            epoch,
            subscribe: None,
            resume: None,
        }
    };
    let backend_id = if encoder.wants_backend_id() {
        match log.backend_id(store).await {
            Ok(id) => id,
            Err(error) => return chunks.send(fail(error)).await.map_err(|_| Closed),
        }
    } else {
        String::new()
    };
    if let Some(received) = request.cursor_backend.as_deref() {
        if received != backend_id {
            let refusal = PullChunk {
                frame: encoder.mismatch(request, &backend_id, received).into(),
                events: 0,
                last: true,
                head: 0,
                epoch,
                subscribe: None,
                resume: None,
            };
            return chunks.send(refusal).await.map_err(|_| Closed);
        }
    }
    let backend_id = backend_id.as_str();
    // Stream up to the head as of now; later events reach this client as broadcasts.
    // The events to send are counted, not derived from the head: numbers may skip.
    let cursor = request.cursor.unwrap_or(0);
    let Tail {
        head,
        events: total,
    } = match log.tail(store, cursor).await {
        Ok(tail) => tail,
        Err(error) => return chunks.send(fail(error)).await.map_err(|_| Closed),
    };
    if request.resumed && total == 0 {
        let nothing = PullChunk {
            frame: Utf8Bytes::default(),
            events: 0,
            last: true,
            head: cursor.max(head),
            epoch,
            subscribe: None,
            resume: Some(Resume {
                request_id: request.request_id.clone(),
                live: request.live,
            }),
        };
        return chunks.send(nothing).await.map_err(|_| Closed);
    }
    // Reads `(after, head]`, at most a window and at most the `left` events still due.
    let read_window = |after: u64, left: u64| async move {
        let want = usize::try_from(left)
            .unwrap_or(usize::MAX)
            .min(shape.window);
        if want == 0 {
            return Ok(Vec::new());
        }
        let mut events = log.read_range(store, after, want).await?;
        // Only after a reset and new pushes meanwhile can a read pass the pull's head.
        events.retain(|event| event.seq_num <= head);
        Ok(events)
    };
    let mut left = total;
    let mut window = match read_window(cursor, left).await {
        Ok(events) => events,
        Err(error) => return chunks.send(fail(error)).await.map_err(|_| Closed),
    };
    loop {
        let asked = left.min(shape.window as u64);
        left = left.saturating_sub(window.len() as u64);
        // A window shorter than asked (the store was reset meanwhile) ends the pull too;
        // an empty one ends it with one empty chunk.
        let next_after = window
            .last()
            .map(|event| event.seq_num)
            .filter(|_| left > 0 && window.len() as u64 == asked);
        if next_after.is_none() {
            left = 0;
        }
        let page = Page {
            head,
            epoch,
            encoder,
            backend_id,
            request,
        };
        let send = send_window(&window, shape.chunk, left, &page, chunks);
        let read_next = async {
            match next_after {
                Some(after) => Some(read_window(after, left).await),
                None => None,
            }
        };
        let (sent, next) = tokio::join!(send, read_next);
        sent?;
        window = match next {
            None => {
                if !has_finish(encoder, request) {
                    return Ok(());
                }
                let end = PullChunk {
                    frame: encoder.finish(request).into(),
                    events: 0,
                    last: true,
                    head,
                    epoch,
                    subscribe: None,
                    resume: None,
                };
                return chunks.send(end).await.map_err(|_| Closed);
            }
            Some(Ok(events)) => events,
            Some(Err(error)) => return chunks.send(fail(error)).await.map_err(|_| Closed),
        };
    }
}

/// Encodes `window` as `PullRes` chunks (one empty chunk when it is empty) and hands
/// them to the connection; `after_window` events of the pull follow this window.
async fn send_window(
    window: &[StoredEvent],
    chunk_size: usize,
    after_window: u64,
    page: &Page<'_>,
    chunks: &mpsc::Sender<PullChunk>,
) -> Result<(), Closed> {
    if window.is_empty() {
        return send_chunk(&[], 0, page, chunks).await;
    }
    let mut left_in_window = window.len();
    for chunk in window.chunks(chunk_size) {
        let parts = match page.encoder.max_page_bytes() {
            None => vec![chunk],
            Some(budget) => split_by_size(chunk, budget),
        };
        for part in parts {
            left_in_window -= part.len();
            let remaining = after_window + left_in_window as u64;
            send_chunk(part, remaining, page, chunks).await?;
        }
    }
    Ok(())
}

/// About how many bytes `event` takes in a page (its variable fields plus a fixed
/// allowance for keys, numbers and metadata).
pub(crate) fn approx_event_bytes(event: &StoredEvent) -> usize {
    const FIXED: usize = 220;
    FIXED
        + event.name.len()
        + event.args.as_ref().map_or(0, |args| args.get().len())
        + event.client_id.len()
        + event.session_id.len()
}

/// Cuts `events` into runs of at most `budget` approximate bytes (one event at least).
pub(crate) fn split_by_size(events: &[StoredEvent], budget: usize) -> Vec<&[StoredEvent]> {
    let mut parts = Vec::new();
    let (mut start, mut size) = (0, 0);
    for (i, event) in events.iter().enumerate() {
        let bytes = approx_event_bytes(event);
        if i > start && size + bytes > budget {
            parts.push(&events[start..i]);
            start = i;
            size = 0;
        }
        size += bytes;
    }
    if start < events.len() {
        parts.push(&events[start..]);
    }
    parts
}

/// What every page of one pull shares.
struct Page<'a> {
    head: u64,
    epoch: u64,
    encoder: &'a dyn PullEncoder,
    backend_id: &'a str,
    request: &'a PullRequest,
}

async fn send_chunk(
    chunk: &[StoredEvent],
    remaining: u64,
    page: &Page<'_>,
    chunks: &mpsc::Sender<PullChunk>,
) -> Result<(), Closed> {
    let &Page {
        head,
        epoch,
        encoder,
        backend_id,
        request,
    } = page;
    let frame = encoder.page(request, chunk, remaining, backend_id);
    // A stream with a closing frame ends with that frame, not with its last page.
    let last = remaining == 0 && !has_finish(encoder, request);
    chunks
        .send(PullChunk {
            frame: frame.into(),
            events: chunk.len(),
            last,
            head,
            epoch,
            subscribe: (last && request.live).then(|| request.request_id.clone()),
            resume: last.then(|| Resume {
                request_id: request.request_id.clone(),
                live: request.live,
            }),
        })
        .await
        .map_err(|_| Closed)
}

/// Whether the pull ends with a frame of its own after the last page.
fn has_finish(encoder: &dyn PullEncoder, request: &PullRequest) -> bool {
    !request.live && encoder.ends_streams()
}

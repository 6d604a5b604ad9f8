//! One WebSocket connection: a single task whose `select!` reads frames, writes the
//! outbound queue and pull chunks, and watches for shutdown and for being kicked. The
//! loop is shared by every protocol; what a frame means and how replies, broadcasts and
//! pull pages are written is the protocol's ([`Wire`]).
//!
//! Ordering rules toward the client (which LiveStore's client relies on):
//! - a `Ping` is answered inline, so it never waits behind a pull or a busy store;
//! - between the first and the last chunk of a pull nothing from the outbound queue is
//!   written: the client processes push broadcasts as soon as its first pull chunk has
//!   arrived, so a broadcast inside a pull would hand it events out of order;
//! - after a pull, broadcasts of events the pull already delivered are skipped.
//!
//! - a pull whose pages held broadcasts back long enough to fill the outbound queue is
//!   resumed from its head instead of the socket being kicked (see
//!   [`crate::hub::pull_state`]).
//!
//! Closes: 1001 on server shutdown (after this connection's pushes are answered), 1013
//! when the outbound queue overflowed (slow client), 1009 when a message exceeded
//! `MAX_FRAME_BYTES`, 1008 after too many wrong admin secrets, 4401 / 4403 when the
//! change feed revokes the session or the user's access to the store, 4408 after
//! `IDLE_TIMEOUT_SECONDS` without a frame from the client, and 4429 when the client
//! sends faster than `MAX_MESSAGES_PER_SECOND` (beyond `MESSAGE_BURST`).

pub(crate) mod pull;
mod stats;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::stream::{SplitSink, StreamExt};
use futures_util::SinkExt;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::connect::Identity;
use crate::hub::{Committed, ConnHandle, HubPush, Outbound, PushRefused, Reply, StoreHub};
use crate::limits::{ConnectionSlot, TokenBucket};
use crate::protocol::ProtocolId;
use crate::revocation::{CloseReason, Registration};
use crate::storage::StoreId;
use crate::AppState;
use pull::{PullChunk, PullEncoder, PullRequest};
use stats::{ConnStats, Sent};

/// One wire protocol over the shared socket loop: its dispatch of received frames and
/// its encoding of hub replies, broadcasts and pull pages.
pub(crate) trait Wire: Send + Sized + 'static {
    /// Which protocol this is (metrics and logs).
    const PROTOCOL: ProtocolId;
    /// Handles one text frame; `Some(frame)` is written back at once.
    fn on_text(conn: &mut Connection<Self>, text: &str) -> Option<String>;
    /// Handles one binary frame.
    fn on_binary(conn: &mut Connection<Self>) -> Option<String>;
    /// The frame answering a push or reset of this connection.
    fn encode_reply(&self, reply: &Reply) -> Utf8Bytes;
    /// The frame of a broadcast for this connection, `None` when it wants none.
    fn encode_broadcast(&self, committed: &Committed) -> Option<Utf8Bytes>;
    /// How this protocol's pull pages are written (on the pull task).
    fn pull_encoder(&self) -> Arc<dyn PullEncoder>;
    /// A live pull has sent its last page: broadcasts go to it from now on.
    fn on_subscribed(&mut self, request_id: String) {
        let _ = request_id;
    }
}

/// Close codes this server sends.
pub mod close_code {
    /// Server shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// A message larger than `MAX_FRAME_BYTES`.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// The client did not read fast enough and its outbound queue overflowed.
    pub const TRY_AGAIN_LATER: u16 = 1013;
    /// Too many wrong admin secrets on one connection.
    pub const POLICY_VIOLATION: u16 = 1008;
    pub use crate::limits::close_code::{IDLE_TIMEOUT, MESSAGE_RATE};
    pub use crate::revocation::registry::close_code::{ACCESS_REVOKED, SESSION_REVOKED};
}

/// Everything a connection task starts with.
pub struct ConnectionContext {
    pub state: AppState,
    pub store: StoreId,
    pub identity: Identity,
    /// The socket's entry in the node's registry (live role, close orders); removed
    /// when the connection ends.
    pub registration: Registration,
    pub id: u64,
    /// The socket's place in the node's connection caps, released when it closes.
    pub slot: ConnectionSlot,
}

/// Serves one upgraded socket speaking LiveStore 0.3.1 until it closes.
pub async fn serve(socket: WebSocket, context: ConnectionContext) {
    serve_with(socket, context, crate::protocol::v0_3::V03).await;
}

/// Serves one upgraded socket speaking `wire` until it closes.
pub(crate) async fn serve_with<P: Wire>(socket: WebSocket, context: ConnectionContext, wire: P) {
    // Identity only: the token itself never reaches a log line.
    let span = tracing::info_span!(
        "connection",
        store = %context.store,
        conn = context.id,
        user = %context.identity.user_id,
        session = context.identity.session_id.as_deref(),
    );
    async move {
        tracing::info!(
            protocol = crate::metrics::protocol_label(P::PROTOCOL),
            admitted_as = ?context.identity.kind,
            role = ?context.identity.role,
            "socket opened"
        );
        Connection::new(context, wire).run(socket).await;
    }
    .instrument(span)
    .await
}

type Sink = SplitSink<WebSocket, Message>;

/// Why the main loop ended.
enum End {
    /// The client closed (with this close code, if it sent one) or the stream ended.
    ClientGone(Option<u16>),
    Shutdown,
    Kicked,
    TooBig,
    WriteFailed,
    /// The change feed revoked this socket's session or access.
    Revoked(CloseReason),
    /// Too many wrong admin secrets.
    AdminAbuse,
    /// No frame from the client for the idle timeout.
    Idle,
    /// More messages than the message rate allows.
    RateLimited,
}

impl End {
    /// The close code (sent by the server, or by the client for `ClientGone`) and why,
    /// for the `socket closed` line.
    fn summary(&self) -> (Option<u16>, &'static str) {
        match self {
            Self::ClientGone(code) => (*code, "client closed"),
            Self::Shutdown => (Some(close_code::GOING_AWAY), "server shutting down"),
            Self::Kicked => (
                Some(close_code::TRY_AGAIN_LATER),
                "slow consumer: outbound queue full",
            ),
            Self::TooBig => (Some(close_code::MESSAGE_TOO_BIG), "message too big"),
            Self::WriteFailed => (None, "write failed or timed out"),
            Self::Revoked(reason) => (Some(reason.code), reason.reason),
            Self::AdminAbuse => (
                Some(close_code::POLICY_VIOLATION),
                "too many wrong admin secrets",
            ),
            Self::Idle => (Some(close_code::IDLE_TIMEOUT), "idle timeout"),
            Self::RateLimited => (Some(close_code::MESSAGE_RATE), "message rate exceeded"),
        }
    }
}

/// The state of one socket, shared by every protocol; `wire` is the protocol's own.
pub(crate) struct Connection<P> {
    pub(crate) ctx: ConnectionContext,
    pub(crate) hub: Arc<StoreHub>,
    pub(crate) handle: ConnHandle,
    outbound: mpsc::Receiver<Outbound>,
    pub(crate) push_permits: Arc<Semaphore>,
    /// The pull task and its channels, made on the first pull (an idle socket that never
    /// pulls does not pay for them: each channel allocates a 32-slot block up front).
    pull: Option<PullLane>,
    /// Between the first and last chunk of a pull.
    pulling: bool,
    /// `(epoch, head)` of the last completed pull: broadcasts up to it are redundant.
    pulled_through: Option<(u64, u64)>,
    /// Wrong admin secrets received so far.
    pub(crate) admin_failures: u32,
    /// The message budget (`None`: unlimited).
    messages: Option<TokenBucket>,
    /// Frames and events in and out, for the close line and the metrics.
    stats: ConnStats,
    pub(crate) wire: P,
}

impl<P: Wire> Connection<P> {
    fn new(ctx: ConnectionContext, wire: P) -> Self {
        let limits = &ctx.state.config.limits;
        let (tx, outbound) = mpsc::channel(limits.outbound_queue);
        let handle = ConnHandle::new(ctx.id, tx);
        let hub = ctx.state.hubs.join(&ctx.store, handle.clone());
        let messages = limits.connections.message_bucket();
        Self {
            push_permits: Arc::new(Semaphore::new(limits.max_pushes_in_flight)),
            ctx,
            hub,
            handle,
            outbound,
            pull: None,
            pulling: false,
            pulled_through: None,
            admin_failures: 0,
            messages,
            stats: ConnStats::open(P::PROTOCOL),
            wire,
        }
    }

    async fn run(mut self, socket: WebSocket) {
        let (mut sink, mut stream) = socket.split();
        let shutdown = self.ctx.state.shutdown.clone();
        let kick = self.handle.kick.clone();
        let control = self.ctx.registration.control().clone();
        let idle_timeout = self.ctx.state.config.limits.connections.idle_timeout;
        // Far enough never to fire when the timeout is off (the branch is disabled then).
        let idle = tokio::time::sleep(idle_timeout.unwrap_or(Duration::from_secs(86_400)));
        tokio::pin!(idle);
        let end = loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break End::Shutdown,
                () = control.closed().cancelled() => {
                    break End::Revoked(control.close_reason().unwrap_or(crate::revocation::registry::ACCESS_REVOKED));
                }
                () = kick.cancelled() => break End::Kicked,
                () = &mut idle, if idle_timeout.is_some() => break End::Idle,
                frame = stream.next() => match frame {
                    None => break End::ClientGone(None),
                    Some(Ok(Message::Close(frame))) => {
                        break End::ClientGone(frame.map(|f| f.code));
                    }
                    Some(Err(error)) => {
                        if is_too_big(&error) {
                            break End::TooBig;
                        }
                        tracing::debug!(%error, "read failed");
                        break End::ClientGone(None);
                    }
                    Some(Ok(message)) => {
                        self.stats.received_frame();
                        // Every frame counts, protocol pings included: they keep the
                        // socket alive and spend the message budget alike.
                        let now = tokio::time::Instant::now();
                        if let Some(timeout) = idle_timeout {
                            idle.as_mut().reset(now + timeout);
                        }
                        if let Some(bucket) = &mut self.messages {
                            if !bucket.try_take(now.into_std()) {
                                break End::RateLimited;
                            }
                        }
                        if let Some(reply) = self.on_message(message) {
                            if self.write(&mut sink, Message::Text(reply.into())).await.is_err() {
                                break self.write_failed();
                            }
                        }
                        if self.admin_failures >= self.ctx.state.config.limits.admin_max_failures {
                            break End::AdminAbuse;
                        }
                    }
                },
                Some(chunk) = next_chunk(&mut self.pull) => {
                    if !chunk.last && !self.pulling {
                        self.handle.pull_started();
                    }
                    self.pulling = !chunk.last;
                    if chunk.last {
                        self.pulled_through = Some((chunk.epoch, chunk.head));
                        if self.handle.pull_ended() {
                            // Broadcasts were dropped while the pages held the queue
                            // back: stream them from storage before the queue resumes.
                            if !self.resume_pull(&chunk) {
                                break End::Kicked;
                            }
                            self.pulling = true;
                        }
                    }
                    if let Some(request_id) = chunk.subscribe {
                        self.wire.on_subscribed(request_id);
                    }
                    // An empty frame: a resumed pull that found nothing to add.
                    if !chunk.frame.is_empty()
                        && self.write(&mut sink, Message::Text(chunk.frame)).await.is_err()
                    {
                        break self.write_failed();
                    }
                    self.stats.sent_pull_page(chunk.events);
                }
                Some(out) = self.outbound.recv(), if !self.pulling => {
                    if self.write_outbound(&mut sink, out).await.is_err() {
                        break self.write_failed();
                    }
                }
            }
        };
        if let Some(lane) = self.pull.take() {
            lane.task.abort();
        }
        let (code, reason) = end.summary();
        if !matches!(end, End::ClientGone(_) | End::WriteFailed) {
            if let Some(code) = code {
                crate::metrics::socket_closed_by_server(code);
            }
        }
        match end {
            End::Shutdown => self.shut_down(&mut sink).await,
            End::Kicked => {
                crate::metrics::metrics()
                    .slow_consumer_disconnects
                    .increment(1);
                let reason = "client too slow: outbound queue full";
                close(&mut sink, close_code::TRY_AGAIN_LATER, reason).await;
            }
            End::TooBig => {
                let limit = self.ctx.state.config.limits.max_frame_bytes;
                let reason = format!("message larger than {limit} bytes");
                close(&mut sink, close_code::MESSAGE_TOO_BIG, &reason).await;
            }
            End::Revoked(reason) => {
                tracing::info!(
                    code = reason.code,
                    reason = reason.reason,
                    "closing: access revoked by the change feed"
                );
                close(&mut sink, reason.code, reason.reason).await;
            }
            End::AdminAbuse => {
                tracing::warn!("closing after too many wrong admin secrets");
                let reason = "too many wrong admin secrets";
                close(&mut sink, close_code::POLICY_VIOLATION, reason).await;
            }
            End::Idle => {
                let secs = self
                    .ctx
                    .state
                    .config
                    .limits
                    .connections
                    .idle_timeout
                    .map_or(0, |d| d.as_secs());
                tracing::info!(secs, "closing: idle timeout");
                let reason = format!("no message for {secs} s");
                close(&mut sink, close_code::IDLE_TIMEOUT, &reason).await;
            }
            End::RateLimited => {
                let rate = self.ctx.state.config.limits.connections.messages_per_second;
                tracing::warn!(rate, "closing: message rate exceeded");
                let reason = format!("more than {rate} messages per second");
                close(&mut sink, close_code::MESSAGE_RATE, &reason).await;
            }
            End::ClientGone(_) | End::WriteFailed => {}
        }
        self.ctx.state.hubs.leave(&self.hub, self.ctx.id);
        self.stats.log_closed(code, reason);
    }

    /// Writes one queued message (nothing for a redundant broadcast).
    async fn write_outbound(&mut self, sink: &mut Sink, out: Outbound) -> Result<(), ()> {
        let sent = Sent::of(&out);
        let Some(frame) = self.admit(out) else {
            return Ok(());
        };
        self.write(sink, Message::Text(frame)).await?;
        self.stats.sent_outbound(sent);
        Ok(())
    }

    /// A write failed: because this connection was kicked, or because the socket broke.
    fn write_failed(&self) -> End {
        if self.handle.kick.is_cancelled() {
            End::Kicked
        } else {
            End::WriteFailed
        }
    }

    /// Queues the rest of a pull whose broadcasts were dropped: from the head it streamed
    /// to, with the same request (so the client sees more pages of its pull). `false`
    /// when that cannot cover them: the store was reset meanwhile, the pull ended with
    /// its own final frame or a failure, or the pull queue is full.
    fn resume_pull(&mut self, chunk: &PullChunk) -> bool {
        let Some(resume) = &chunk.resume else {
            return false;
        };
        if chunk.epoch != self.hub.epoch() {
            return false;
        }
        let request = PullRequest {
            request_id: resume.request_id.clone(),
            cursor: Some(chunk.head),
            cursor_backend: None,
            live: resume.live,
            resumed: true,
        };
        tracing::debug!(
            head = chunk.head,
            "resuming a pull past broadcasts it held back"
        );
        self.start_pull(request).is_ok()
    }

    /// The frame to write for a queued message, or `None` for a redundant broadcast.
    fn admit(&self, out: Outbound) -> Option<Utf8Bytes> {
        match out {
            Outbound::Reply(reply) => Some(self.wire.encode_reply(&reply)),
            Outbound::Broadcast(committed) => match self.pulled_through {
                Some((epoch, head)) if epoch == committed.epoch && committed.last_seq <= head => {
                    None
                }
                _ => self.wire.encode_broadcast(&committed),
            },
        }
    }

    /// Handles one received message; `Some(frame)` is written back at once.
    fn on_message(&mut self, message: Message) -> Option<String> {
        match message {
            Message::Text(text) => P::on_text(self, text.as_str()),
            Message::Binary(_) => P::on_binary(self),
            // Protocol-level ping/pong/close are handled by the WebSocket layer.
            Message::Ping(_) | Message::Pong(_) | Message::Close(_) => None,
        }
    }

    /// The connection's current role on its store (lowered live by the change feed).
    pub(crate) fn role(&self) -> shared::Role {
        self.ctx.registration.control().role()
    }

    /// Hands a push to the store's hub after the rules every protocol shares: the role
    /// may push, the batch is within `MAX_PUSH_BATCH`, and the connection has a free
    /// in-flight slot. `Err` is the refusal, in words, for the protocol to wrap.
    pub(crate) fn submit_push(
        &mut self,
        request_id: &str,
        batch: Vec<crate::storage::NewEvent>,
        backend_id: Option<String>,
    ) -> Result<(), String> {
        self.stats.events_in += batch.len() as u64;
        let refused = self.admit_push(request_id, batch, backend_id);
        if refused.is_err() {
            crate::metrics::push_rejected("refused");
        }
        refused
    }

    fn admit_push(
        &self,
        request_id: &str,
        batch: Vec<crate::storage::NewEvent>,
        backend_id: Option<String>,
    ) -> Result<(), String> {
        if !self.role().can_push() {
            return Err("Forbidden: viewers cannot push to this store".to_owned());
        }
        let limits = &self.ctx.state.config.limits;
        if batch.len() > limits.max_push_batch {
            return Err(format!(
                "Push batch too large: {} events (limit {})",
                batch.len(),
                limits.max_push_batch
            ));
        }
        let Ok(permit) = self.push_permits.clone().try_acquire_owned() else {
            return Err(format!(
                "Too many pushes in flight on this connection (limit {})",
                limits.max_pushes_in_flight
            ));
        };
        let push = HubPush {
            request_id: request_id.into(),
            batch,
            pushed_by: self.ctx.identity.user_id.clone(),
            permit,
            backend_id,
            received: self.stats.frame_received,
        };
        self.hub
            .push(self.handle.clone(), push)
            .map_err(|refused: PushRefused| {
                if let PushRefused::QueueFull { .. } = refused {
                    tracing::warn!("push refused: the store's queue is full");
                }
                refused.to_string()
            })
    }

    /// Queues a pull on the connection's pull task (started on first use); the request
    /// comes back when too many are queued.
    pub(crate) fn start_pull(&mut self, request: PullRequest) -> Result<(), PullRequest> {
        let lane = match &mut self.pull {
            Some(lane) => lane,
            None => {
                let (requests, requests_rx) = mpsc::channel(pull::MAX_QUEUED_PULLS);
                let (chunks_tx, chunks) = mpsc::channel(2);
                let task = pull::pull_worker(
                    Arc::clone(&self.ctx.state.log),
                    Arc::clone(&self.hub),
                    pull::PullShape {
                        chunk: self.ctx.state.config.limits.pull_chunk,
                        window: self.ctx.state.config.limits.pull_read_window,
                    },
                    self.wire.pull_encoder(),
                    requests_rx,
                    chunks_tx,
                );
                self.pull.insert(PullLane {
                    requests,
                    chunks,
                    task: tokio::spawn(Instrument::in_current_span(task)),
                })
            }
        };
        lane.requests
            .try_send(request)
            .map_err(|error| match error {
                mpsc::error::TrySendError::Full(request)
                | mpsc::error::TrySendError::Closed(request) => request,
            })?;
        crate::metrics::metrics().pulls.increment(1);
        Ok(())
    }

    /// Writes one message, giving up when kicked or after the write timeout.
    async fn write(&mut self, sink: &mut Sink, message: Message) -> Result<(), ()> {
        let timeout = self.ctx.state.config.limits.write_timeout;
        tokio::select! {
            biased;
            () = self.handle.kick.cancelled() => Err(()),
            result = tokio::time::timeout(timeout, sink.send(message)) => match result {
                Ok(Ok(())) => {
                    self.stats.frames_out += 1;
                    Ok(())
                }
                Ok(Err(error)) => {
                    tracing::debug!(%error, "write failed");
                    Err(())
                }
                Err(_) => {
                    tracing::warn!("write timed out: closing");
                    Err(())
                }
            },
        }
    }

    /// Server shutdown: answer this connection's pending pushes, then close with 1001.
    async fn shut_down(&mut self, sink: &mut Sink) {
        let grace = self.ctx.state.config.limits.shutdown_grace;
        let deadline = tokio::time::Instant::now() + grace;
        let all =
            u32::try_from(self.ctx.state.config.limits.max_pushes_in_flight).unwrap_or(u32::MAX);
        let pushes_done = self.push_permits.clone().acquire_many_owned(all);
        tokio::pin!(pushes_done);
        loop {
            tokio::select! {
                biased;
                _ = &mut pushes_done => break,
                Some(out) = self.outbound.recv() => {
                    if self.write_outbound(sink, out).await.is_err() {
                        return;
                    }
                }
                () = tokio::time::sleep_until(deadline) => {
                    tracing::warn!("shutdown grace elapsed with pushes still pending");
                    break;
                }
            }
        }
        while let Ok(out) = self.outbound.try_recv() {
            if self.write_outbound(sink, out).await.is_err() {
                return;
            }
        }
        close(sink, close_code::GOING_AWAY, "server shutting down").await;
    }
}

/// Whether a read failed because a message or frame exceeded `MAX_FRAME_BYTES`.
fn is_too_big(error: &axum::Error) -> bool {
    use tungstenite::error::{CapacityError, Error};
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if let Some(ws) = current.downcast_ref::<Error>() {
            return matches!(ws, Error::Capacity(CapacityError::MessageTooLong { .. }));
        }
        source = current.source();
    }
    false
}

/// A connection's pull task: requests go in, encoded chunks come out in order.
struct PullLane {
    requests: mpsc::Sender<PullRequest>,
    chunks: mpsc::Receiver<PullChunk>,
    task: JoinHandle<()>,
}

/// The next pull chunk; never ready before the first pull.
async fn next_chunk(lane: &mut Option<PullLane>) -> Option<PullChunk> {
    match lane {
        Some(lane) => lane.chunks.recv().await,
        None => std::future::pending().await,
    }
}

/// Sends a close frame, best effort: a client that does not read may never take it.
async fn close(sink: &mut Sink, code: u16, reason: &str) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let sent = tokio::time::timeout(Duration::from_secs(1), async {
        sink.send(Message::Close(Some(frame))).await?;
        sink.close().await
    })
    .await;
    if !matches!(sent, Ok(Ok(()))) {
        tracing::debug!(code, "close frame not delivered");
    }
}

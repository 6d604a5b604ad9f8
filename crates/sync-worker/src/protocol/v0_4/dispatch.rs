//! What a 0.4 connection does with each frame. `Ping` is answered inline, a bad
//! envelope with a `Defect`, pushes go to the store's hub, pulls to the connection's
//! pull task; a live pull then receives every broadcast of the store as a `Chunk`.

use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;

use super::decode::{decode_frame, Call, ClientFrame};
use super::encode::{
    chunk, defect, exit_die, exit_failure, exit_pong, exit_push_success, exit_stream_success,
    pull_response_committed, pull_response_stored, PONG,
};
use super::RpcError;
use crate::connection::pull::{PullEncoder, PullRequest};
use crate::connection::{Connection, Wire};
use crate::hub::{Committed, PushOutcome, Reply};
use crate::protocol::ProtocolId;
use crate::storage::StoredEvent;

/// The 0.4 protocol over the shared socket loop, with the connection's live pull.
#[derive(Debug, Default)]
pub(crate) struct V04 {
    /// The request id of the live pull that receives broadcasts (the client keeps one).
    live: Option<String>,
    /// Live pulls interrupted before their pages ended.
    interrupted: Vec<String>,
}

fn unknown(request_id: &str, message: &str) -> Option<String> {
    Some(exit_failure(request_id, &RpcError::Unknown { message }))
}

impl Wire for V04 {
    const PROTOCOL: ProtocolId = ProtocolId::V0_4;

    fn on_text(conn: &mut Connection<Self>, text: &str) -> Option<String> {
        let frame = match decode_frame(text) {
            Ok(frame) => frame,
            Err(reason) => {
                tracing::debug!(%reason, "malformed 0.4 frame");
                return Some(defect(&reason));
            }
        };
        match frame {
            ClientFrame::Ping => Some(PONG.to_owned()),
            ClientFrame::Ack | ClientFrame::Eof => None,
            ClientFrame::Interrupt { request_id } => {
                if conn.wire.live.as_deref() == Some(request_id.as_str()) {
                    conn.wire.live = None;
                } else if conn.wire.interrupted.len() < 16 {
                    conn.wire.interrupted.push(request_id);
                }
                None
            }
            ClientFrame::Invalid { id, reason } => Some(exit_die(&id, &reason)),
            ClientFrame::Request {
                id,
                call: Call::Ping,
            } => Some(exit_pong(&id)),
            ClientFrame::Request {
                id,
                call: Call::Pull { live, cursor },
            } => {
                let (cursor_backend, cursor) = match cursor {
                    Some((backend, seq)) => (Some(backend), Some(seq)),
                    None => (None, None),
                };
                let request = PullRequest {
                    request_id: id,
                    cursor,
                    cursor_backend,
                    live,
                    resumed: false,
                };
                match conn.start_pull(request) {
                    Ok(()) => None,
                    Err(request) => unknown(
                        &request.request_id,
                        "Too many pull requests queued on this connection",
                    ),
                }
            }
            ClientFrame::Request {
                id,
                call: Call::Push { batch, backend_id },
            } => match conn.submit_push(&id, batch, backend_id) {
                Ok(()) => None,
                Err(message) => unknown(&id, &message),
            },
        }
    }

    fn on_binary(_conn: &mut Connection<Self>) -> Option<String> {
        Some(defect(
            "Binary frames are not supported: send JSON text frames",
        ))
    }

    fn encode_reply(&self, reply: &Reply) -> Utf8Bytes {
        match reply {
            Reply::Push {
                request_id,
                outcome,
                ..
            } => match outcome {
                PushOutcome::Committed => exit_push_success(request_id),
                PushOutcome::WrongParent { head, parent } => exit_failure(
                    request_id,
                    &RpcError::ServerAhead {
                        minimum_expected: *head,
                        provided: *parent,
                    },
                ),
                PushOutcome::BackendIdMismatch { expected, received } => exit_failure(
                    request_id,
                    &RpcError::BackendIdMismatch { expected, received },
                ),
                PushOutcome::InvalidChain(error) => exit_failure(
                    request_id,
                    &RpcError::Unknown {
                        message: &error.to_string(),
                    },
                ),
                PushOutcome::StorageFailure(failure) => exit_failure(
                    request_id,
                    &RpcError::Unknown {
                        message: failure.message(),
                    },
                ),
            },
            // 0.4 has no admin RPCs, so no reset comes from a 0.4 connection.
            Reply::Reset { request_id, .. } => exit_failure(
                request_id,
                &RpcError::Unknown {
                    message: "Unsupported request",
                },
            ),
        }
        .into()
    }

    fn encode_broadcast(&self, committed: &Committed) -> Option<Utf8Bytes> {
        let live = self.live.as_deref()?;
        let value = committed.encoded(ProtocolId::V0_4, pull_response_committed);
        Some(chunk(live, value.as_str()).into())
    }

    fn on_subscribed(&mut self, request_id: String) {
        if let Some(at) = self.interrupted.iter().position(|id| *id == request_id) {
            self.interrupted.swap_remove(at);
        } else {
            self.live = Some(request_id);
        }
    }

    fn pull_encoder(&self) -> Arc<dyn PullEncoder> {
        Arc::new(V04Pull)
    }
}

/// Pull pages of the 0.4 protocol: `Chunk`s of one `PullResponse` each, then `Exit`.
struct V04Pull;

impl PullEncoder for V04Pull {
    fn page(
        &self,
        request: &PullRequest,
        events: &[StoredEvent],
        remaining: u64,
        backend_id: &str,
    ) -> String {
        let value = pull_response_stored(events, remaining, backend_id);
        chunk(&request.request_id, &value)
    }

    fn failure(&self, request: &PullRequest) -> String {
        exit_failure(
            &request.request_id,
            &RpcError::Unknown {
                message: "Internal error: pull failed",
            },
        )
    }

    fn wants_backend_id(&self) -> bool {
        true
    }

    fn max_page_bytes(&self) -> Option<usize> {
        Some(super::MAX_PAGE_BYTES)
    }

    fn mismatch(&self, request: &PullRequest, expected: &str, received: &str) -> String {
        exit_failure(
            &request.request_id,
            &RpcError::BackendIdMismatch { expected, received },
        )
    }

    fn ends_streams(&self) -> bool {
        true
    }

    fn finish(&self, request: &PullRequest) -> String {
        exit_stream_success(&request.request_id)
    }
}

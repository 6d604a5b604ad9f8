//! What a connection does with each client message. Answers that need no store work
//! (Pong, decode errors, admin info, refusals) are returned for an inline write;
//! pushes and resets go to the store's hub, pulls to the connection's pull task.

use std::sync::Arc;

use axum::extract::ws::Message;
use shared::secret::optional_secret_matches;

use super::pull::{pull_worker, PullRequest, PullShape, MAX_QUEUED_PULLS};
use super::Connection;
use crate::protocol::{
    decode_client_message, encode_server_message, ClientMessage, ServerMessage, UNKNOWN_REQUEST_ID,
};

fn error(request_id: &str, message: &str) -> Option<String> {
    Some(encode_server_message(&ServerMessage::Error {
        request_id,
        message,
    }))
}

/// `durableObjectId` of admin info: a stable id naming this store on this server
/// (SHA-256 of the store id, hex, like Cloudflare's 64-hex-digit object ids).
pub(crate) fn store_object_id(store: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("sync-worker/store/{store}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl Connection {
    /// Handles one received message; `Some(frame)` is written back at once.
    pub(super) fn on_message(&mut self, message: Message) -> Option<String> {
        match message {
            Message::Text(text) => self.on_text(text.as_str()),
            Message::Binary(_) => error(
                UNKNOWN_REQUEST_ID,
                "Binary frames are not supported: send JSON text frames",
            ),
            // Protocol-level ping/pong/close are handled by the WebSocket layer.
            Message::Ping(_) | Message::Pong(_) | Message::Close(_) => None,
        }
    }

    fn on_text(&mut self, text: &str) -> Option<String> {
        let message = match decode_client_message(text) {
            Ok(message) => message,
            Err(e) => {
                tracing::debug!(error = %e.message, "malformed frame");
                return error(e.reply_request_id(), &e.message);
            }
        };
        match message {
            ClientMessage::Ping => Some(encode_server_message(&ServerMessage::Pong)),
            ClientMessage::PullReq { request_id, cursor } => self.start_pull(request_id, cursor),
            ClientMessage::PushReq { request_id, batch } => {
                let limits = &self.ctx.state.config.limits;
                if batch.len() > limits.max_push_batch {
                    let message = format!(
                        "Push batch too large: {} events (limit {})",
                        batch.len(),
                        limits.max_push_batch
                    );
                    return error(&request_id, &message);
                }
                let Ok(permit) = self.push_permits.clone().try_acquire_owned() else {
                    let message = format!(
                        "Too many pushes in flight on this connection (limit {})",
                        limits.max_pushes_in_flight
                    );
                    return error(&request_id, &message);
                };
                let pushed_by = self.ctx.identity.user_id.clone();
                let accepted = self.hub.push(
                    self.handle.clone(),
                    request_id.as_str().into(),
                    batch,
                    pushed_by,
                    permit,
                );
                if accepted {
                    None
                } else {
                    error(
                        &request_id,
                        "Store unavailable: the server is shutting down",
                    )
                }
            }
            ClientMessage::AdminResetRoomReq {
                request_id,
                admin_secret,
            } => {
                if !self.admin_secret_matches(&admin_secret) {
                    return error(&request_id, "Invalid admin secret");
                }
                if self
                    .hub
                    .reset(self.handle.clone(), request_id.as_str().into())
                {
                    None
                } else {
                    error(
                        &request_id,
                        "Store unavailable: the server is shutting down",
                    )
                }
            }
            ClientMessage::AdminInfoReq {
                request_id,
                admin_secret,
            } => {
                if !self.admin_secret_matches(&admin_secret) {
                    return error(&request_id, "Invalid admin secret");
                }
                let id = store_object_id(self.ctx.store.as_str());
                Some(encode_server_message(&ServerMessage::AdminInfoRes {
                    request_id: &request_id,
                    durable_object_id: &id,
                }))
            }
        }
    }

    fn admin_secret_matches(&self, presented: &str) -> bool {
        let configured = self.ctx.state.config.common.admin_secret.as_ref();
        let ok = optional_secret_matches(configured, Some(presented));
        if !ok {
            tracing::warn!("admin request with a wrong or unconfigured secret");
        }
        ok
    }

    fn start_pull(&mut self, request_id: String, cursor: Option<u64>) -> Option<String> {
        let requests = match &self.pull_requests {
            Some(requests) => requests.clone(),
            None => {
                let (tx, rx) = tokio::sync::mpsc::channel(MAX_QUEUED_PULLS);
                let task = pull_worker(
                    Arc::clone(&self.ctx.state.log),
                    Arc::clone(&self.hub),
                    PullShape {
                        chunk: self.ctx.state.config.limits.pull_chunk,
                        window: self.ctx.state.config.limits.pull_read_window,
                    },
                    rx,
                    self.chunks_tx.clone(),
                );
                self.pull_task = Some(tokio::spawn(tracing::Instrument::in_current_span(task)));
                self.pull_requests = Some(tx.clone());
                tx
            }
        };
        match requests.try_send(PullRequest { request_id, cursor }) {
            Ok(()) => None,
            Err(tokio::sync::mpsc::error::TrySendError::Full(req))
            | Err(tokio::sync::mpsc::error::TrySendError::Closed(req)) => error(
                &req.request_id,
                "Too many pull requests queued on this connection",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn object_id_is_stable_hex_and_per_store() {
        let a = super::store_object_id("a-b");
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(a, super::store_object_id("a-b"));
        assert_ne!(a, super::store_object_id("a_b"));
    }
}

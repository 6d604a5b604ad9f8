//! What a 0.3.1 connection does with each client message. Answers that need no store
//! work (Pong, decode errors, admin info, refusals) are returned for an inline write;
//! pushes and resets go to the store's hub, pulls to the connection's pull task.

use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use shared::secret::optional_secret_matches;
use shared::Role;

use super::{
    decode_client_message, encode_broadcast, encode_push_outcome, encode_server_message,
    ClientMessage, PullBatch, PullContext, ServerMessage, UNKNOWN_REQUEST_ID,
};
use crate::connection::pull::{PullEncoder, PullRequest};
use crate::connection::{Connection, Wire};
use crate::hub::{Committed, Reply};
use crate::identity::IdentityKind;
use crate::protocol::ProtocolId;
use crate::storage::StoredEvent;

/// The 0.3.1 protocol (`WSMessage.*` frames) over the shared socket loop.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct V03;

impl Wire for V03 {
    const PROTOCOL: ProtocolId = ProtocolId::V0_3;

    fn on_text(conn: &mut Connection<Self>, text: &str) -> Option<String> {
        conn.on_text(text)
    }

    fn on_binary(_conn: &mut Connection<Self>) -> Option<String> {
        error(
            UNKNOWN_REQUEST_ID,
            "Binary frames are not supported: send JSON text frames",
        )
    }

    fn encode_reply(&self, reply: &Reply) -> Utf8Bytes {
        match reply {
            Reply::Push {
                request_id,
                outcome,
                ..
            } => encode_push_outcome(request_id, outcome),
            Reply::Reset {
                request_id,
                done: true,
            } => encode_server_message(&ServerMessage::AdminResetRoomRes { request_id }),
            Reply::Reset {
                request_id,
                done: false,
            } => encode_server_message(&ServerMessage::Error {
                request_id,
                message: "Internal error: reset failed",
            }),
        }
        .into()
    }

    fn encode_broadcast(&self, committed: &Committed) -> Option<Utf8Bytes> {
        Some(committed.encoded(ProtocolId::V0_3, encode_broadcast))
    }

    fn pull_encoder(&self) -> Arc<dyn PullEncoder> {
        Arc::new(V03)
    }
}

impl PullEncoder for V03 {
    fn page(
        &self,
        request: &PullRequest,
        events: &[StoredEvent],
        remaining: u64,
        _: &str,
    ) -> String {
        encode_server_message(&ServerMessage::PullRes {
            request_id: &request.request_id,
            context: PullContext::Pull,
            batch: PullBatch::Stored(events),
            remaining,
        })
    }

    fn failure(&self, request: &PullRequest) -> String {
        encode_server_message(&ServerMessage::Error {
            request_id: &request.request_id,
            message: "Internal error: pull failed",
        })
    }
}

fn error(request_id: &str, message: &str) -> Option<String> {
    Some(encode_server_message(&ServerMessage::Error {
        request_id,
        message,
    }))
}

/// Whether a connection may send admin messages at all (the secret is checked after):
/// internal services always, anyone in development, otherwise only the store's owners.
pub(crate) fn admin_allowed(require_auth: bool, kind: IdentityKind, role: Role) -> bool {
    kind == IdentityKind::ServerBypass || !require_auth || role.is_owner()
}

/// `durableObjectId` of admin info: a stable id naming this store on this server
/// (SHA-256 of the store id, hex, like Cloudflare's 64-hex-digit object ids).
pub(crate) fn store_object_id(store: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("sync-worker/store/{store}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl Connection<V03> {
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
            ClientMessage::PullReq { request_id, cursor } => self.queue_pull(request_id, cursor),
            ClientMessage::PushReq { request_id, batch } => {
                match self.submit_push(&request_id, batch, None) {
                    Ok(()) => None,
                    Err(message) => error(&request_id, &message),
                }
            }
            ClientMessage::AdminResetRoomReq {
                request_id,
                admin_secret,
            } => {
                if let Some(refusal) = self.refuse_admin(&request_id, &admin_secret) {
                    return Some(refusal);
                }
                // In the connection's span: store, user and session name who asked.
                tracing::info!(action = "reset", "admin action: store reset requested");
                crate::metrics::admin_action("reset");
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
                if let Some(refusal) = self.refuse_admin(&request_id, &admin_secret) {
                    return Some(refusal);
                }
                tracing::info!(action = "info", "admin action: store info requested");
                crate::metrics::admin_action("info");
                let id = store_object_id(self.ctx.store.as_str());
                Some(encode_server_message(&ServerMessage::AdminInfoRes {
                    request_id: &request_id,
                    durable_object_id: &id,
                }))
            }
        }
    }

    /// The Error answering an admin request this connection may not make, or `None`.
    /// Admin needs the server bypass, or (auth enforced) the owner role, and the secret;
    /// the role is checked first so a non-owner learns nothing about the secret.
    fn refuse_admin(&mut self, request_id: &str, presented: &str) -> Option<String> {
        let refuse = |message: &str| {
            encode_server_message(&ServerMessage::Error {
                request_id,
                message,
            })
        };
        let allowed = admin_allowed(
            self.ctx.state.config.common.require_auth,
            self.ctx.identity.kind,
            self.role(),
        );
        if !allowed {
            return Some(refuse(
                "Forbidden: admin messages need the owner role on this store",
            ));
        }
        let configured = self.ctx.state.config.common.admin_secret.as_ref();
        if optional_secret_matches(configured, Some(presented)) {
            return None;
        }
        self.admin_failures += 1;
        tracing::warn!(
            failures = self.admin_failures,
            "admin request with a wrong or unconfigured secret"
        );
        Some(refuse("Invalid admin secret"))
    }

    fn queue_pull(&mut self, request_id: String, cursor: Option<u64>) -> Option<String> {
        match self.start_pull(PullRequest {
            request_id,
            cursor,
            cursor_backend: None,
            live: false,
            resumed: false,
        }) {
            Ok(()) => None,
            Err(request) => error(
                &request.request_id,
                "Too many pull requests queued on this connection",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_needs_bypass_or_owner_when_enforced() {
        for role in Role::ALL {
            assert!(admin_allowed(false, IdentityKind::Dev, role));
            assert!(admin_allowed(true, IdentityKind::ServerBypass, role));
            assert_eq!(
                admin_allowed(true, IdentityKind::Jwt, role),
                role == Role::Owner
            );
        }
    }

    #[test]
    fn object_id_is_stable_hex_and_per_store() {
        let a = super::store_object_id("a-b");
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(a, super::store_object_id("a-b"));
        assert_ne!(a, super::store_object_id("a_b"));
    }
}

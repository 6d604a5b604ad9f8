//! LiveStore 0.4 over HTTP (`makeHttpSync`): `POST <path>?storeId&payload&transport=http`
//! with one `Request` body (`SyncHttpRpc.Pull`, `.Push`, `.Ping`), answered with a JSON
//! array of every message for it (pull chunks, then the `Exit`). Every request is
//! authenticated by its own `payload` with the connect rules of the sockets (unlike the
//! 0.4.0 reference, which drops the payload of HTTP pushes).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use tokio::sync::{mpsc, Semaphore};

use super::decode::{decode_frame, Call, ClientFrame};
use super::encode::{
    chunk, defect, exit_die, exit_failure, exit_pong, exit_stream_success, pull_response_stored,
    PONG,
};
use super::{RpcError, V04};
use crate::connect::{decide, parse_connect_query, IdentityKind};
use crate::connection::pull::split_by_size;
use crate::connection::Wire;
use crate::hub::{ConnHandle, Outbound, Reply};
use crate::storage::{StoreId, Tail};
use crate::AppState;

/// Serves one HTTP RPC request. Shutdown waits for it as for a socket (its push is
/// committed and answered); a request arriving during shutdown is refused with 503.
pub async fn handle(state: AppState, request: Request) -> Response {
    if state.shutdown.is_cancelled() {
        crate::metrics::connect_refused("SHUTTING_DOWN");
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    let _tracked = state.tracker.token();
    let connect = match parse_connect_query(request.uri()) {
        Ok(connect) => connect,
        Err(rejection) => {
            crate::metrics::connect_refused(rejection.code);
            return rejection.into_response();
        }
    };
    let credential = match decide(connect.payload.as_ref(), &state.auth, Utc::now()) {
        Ok(credential) => credential,
        Err(rejection) => {
            crate::metrics::connect_refused(rejection.code);
            return rejection.into_response();
        }
    };
    if credential.kind == IdentityKind::Jwt {
        state.revocations.wait_first_sync().await;
    }
    let id = state.next_connection_id.fetch_add(1, Ordering::Relaxed);
    let (identity, registration) = match state.revocations.admit(&credential, &connect.store, id) {
        Ok(admitted) => admitted,
        Err(rejection) => {
            crate::metrics::connect_refused(rejection.code);
            return rejection.into_response();
        }
    };
    // An HTTP request holds a place in the socket caps while it is served.
    let slot = match crate::connect::take_slot(&state, &request, &identity) {
        Ok(slot) => slot,
        Err(rejection) => {
            crate::metrics::connect_refused(rejection.code);
            return rejection.into_response();
        }
    };
    let limit = state.config.limits.max_frame_bytes;
    let body = match axum::body::to_bytes(request.into_body(), limit).await {
        Ok(body) => body,
        Err(_) => {
            let body = serde_json::json!({
                "code": "PAYLOAD_TOO_LARGE",
                "message": format!("request body larger than {limit} bytes"),
            });
            return (StatusCode::PAYLOAD_TOO_LARGE, axum::Json(body)).into_response();
        }
    };
    let text = String::from_utf8_lossy(&body);
    let messages = match decode_frame(&text) {
        Err(reason) => vec![defect(&reason)],
        Ok(ClientFrame::Ping) => vec![PONG.to_owned()],
        Ok(ClientFrame::Ack | ClientFrame::Eof | ClientFrame::Interrupt { .. }) => Vec::new(),
        Ok(ClientFrame::Invalid { id, reason }) => vec![exit_die(&id, &reason)],
        Ok(ClientFrame::Request { id, call }) => match call {
            Call::Ping => vec![exit_pong(&id)],
            Call::Pull { cursor, .. } => pull(&state, &connect.store, &id, cursor).await,
            Call::Push { batch, backend_id } => {
                let role = registration.control().role();
                if !role.can_push() {
                    vec![unknown(&id, "Forbidden: viewers cannot push to this store")]
                } else if batch.len() > state.config.limits.max_push_batch {
                    let message = format!(
                        "Push batch too large: {} events (limit {})",
                        batch.len(),
                        state.config.limits.max_push_batch
                    );
                    vec![unknown(&id, &message)]
                } else {
                    let pushed_by = identity.user_id.clone();
                    let push = Push {
                        store: &connect.store,
                        conn_id: id_of(&state),
                        request_id: &id,
                    };
                    vec![push.run(&state, batch, pushed_by, backend_id).await]
                }
            }
        },
    };
    drop((registration, slot));
    let mut out = String::with_capacity(2 + messages.iter().map(|m| m.len() + 1).sum::<usize>());
    out.push('[');
    out.push_str(&messages.join(","));
    out.push(']');
    ([(header::CONTENT_TYPE, "application/json")], out).into_response()
}

fn id_of(state: &AppState) -> u64 {
    state.next_connection_id.fetch_add(1, Ordering::Relaxed)
}

fn unknown(request_id: &str, message: &str) -> String {
    exit_failure(request_id, &RpcError::Unknown { message })
}

/// Every page of a pull (not live: the HTTP client polls), then its `Exit`.
async fn pull(
    state: &AppState,
    store: &StoreId,
    request_id: &str,
    cursor: Option<(String, u64)>,
) -> Vec<String> {
    let log = &state.log;
    crate::metrics::metrics().pulls.increment(1);
    let failed = |error: crate::storage::StorageError| {
        crate::metrics::storage_error("read");
        tracing::error!(%store, %error, "http pull failed");
        vec![unknown(request_id, "Internal error: pull failed")]
    };
    let backend_id = match log.backend_id(store).await {
        Ok(id) => id,
        Err(error) => return failed(error),
    };
    let after = match cursor {
        Some((received, _)) if received != backend_id => {
            let error = RpcError::BackendIdMismatch {
                expected: &backend_id,
                received: &received,
            };
            return vec![exit_failure(request_id, &error)];
        }
        Some((_, seq)) => seq,
        None => 0,
    };
    // Counted, not derived from the head: numbers may skip.
    let Tail {
        head,
        events: total,
    } = match log.tail(store, after).await {
        Ok(tail) => tail,
        Err(error) => return failed(error),
    };
    let chunk_size = state.config.limits.pull_chunk.max(1);
    let mut messages = Vec::new();
    let mut cursor = after;
    let mut left = total;
    while left > 0 {
        let want = usize::try_from(left).unwrap_or(usize::MAX).min(chunk_size);
        let mut events = match log.read_range(store, cursor, want).await {
            Ok(events) => events,
            Err(error) => return failed(error),
        };
        // Only after a reset and new pushes meanwhile can a read pass the pull's head.
        events.retain(|event| event.seq_num <= head);
        let Some(last) = events.last().map(|e| e.seq_num) else {
            break;
        };
        crate::metrics::metrics()
            .events_pulled
            .increment(events.len() as u64);
        // A read shorter than asked (a reset meanwhile) is the end.
        left = if events.len() < want {
            0
        } else {
            left - events.len() as u64
        };
        let mut left_in_read = events.len();
        for part in split_by_size(&events, super::MAX_PAGE_BYTES) {
            left_in_read -= part.len();
            let remaining = left + left_in_read as u64;
            let page = pull_response_stored(part, remaining, &backend_id);
            messages.push(chunk(request_id, &page));
        }
        cursor = last;
    }
    if messages.is_empty() {
        messages.push(chunk(
            request_id,
            &pull_response_stored(&[], 0, &backend_id),
        ));
    }
    messages.push(exit_stream_success(request_id));
    messages
}

/// One push through the store's hub, as a short-lived connection of it.
struct Push<'a> {
    store: &'a StoreId,
    conn_id: u64,
    request_id: &'a str,
}

impl Push<'_> {
    async fn run(
        self,
        state: &AppState,
        batch: Vec<crate::storage::NewEvent>,
        pushed_by: Arc<str>,
        backend_id: Option<String>,
    ) -> String {
        let (tx, mut rx) = mpsc::channel(state.config.limits.outbound_queue);
        let handle = ConnHandle::new(self.conn_id, tx);
        let hub = state.hubs.join(self.store, handle.clone());
        let permit = Arc::new(Semaphore::new(1))
            .try_acquire_owned()
            .expect("a fresh semaphore has a permit");
        let push = crate::hub::HubPush {
            request_id: self.request_id.into(),
            batch,
            pushed_by,
            permit,
            backend_id,
            received: std::time::Instant::now(),
        };
        let sent = hub.push(handle.clone(), push);
        if let Err(refused @ crate::hub::PushRefused::QueueFull { .. }) = sent {
            state.hubs.leave(&hub, self.conn_id);
            return unknown(self.request_id, &refused.to_string());
        }
        let answer = if sent.is_ok() {
            let wait = async {
                loop {
                    tokio::select! {
                        () = handle.kick.cancelled() => return None,
                        message = rx.recv() => match message {
                            Some(Outbound::Reply(reply)) if matches!(*reply, Reply::Push { .. }) => {
                                return Some(*reply)
                            }
                            Some(_) => continue,
                            None => return None,
                        },
                    }
                }
            };
            tokio::time::timeout(state.config.limits.write_timeout, wait)
                .await
                .ok()
                .flatten()
        } else {
            None
        };
        state.hubs.leave(&hub, self.conn_id);
        match answer {
            Some(reply) => V04::default().encode_reply(&reply).to_string(),
            None => unknown(
                self.request_id,
                "Store unavailable: the push was not answered",
            ),
        }
    }
}

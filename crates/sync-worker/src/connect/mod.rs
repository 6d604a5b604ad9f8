//! The upgrade route: `storeId` and `payload` parsing, the auth decision, and the
//! rejection (as a plain HTTP response) or the upgrade with small per-socket buffers.

pub mod access;
pub mod auth;

use std::sync::atomic::Ordering;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Query, Request};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::Deserialize;
use shared::{PayloadError, SyncPayload};

use crate::connection::{self, ConnectionContext};
pub use crate::identity::{Identity, IdentityKind};
use crate::storage::StoreId;
use crate::AppState;
pub use auth::{decide, AuthSettings, Credential, Rejection};

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "code": self.code, "message": self.message });
        (self.status, Json(body)).into_response()
    }
}

#[derive(Debug, Deserialize)]
struct ConnectQuery {
    #[serde(rename = "storeId")]
    store_id: Option<String>,
    payload: Option<String>,
    transport: Option<String>,
}

/// The protocol a socket speaks, chosen by its URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireProtocol {
    /// `.../websocket?storeId&payload`: LiveStore 0.3.1.
    V0_3,
    /// `<any path>?storeId&payload&transport=ws`: LiveStore 0.4 (Effect RPC).
    V0_4,
}

/// The `transport` of a LiveStore 0.4 request: the query's, when it also has a
/// `storeId` (anything else is not a 0.4 sync request).
pub fn transport_of(uri: &http::Uri) -> Option<String> {
    let Query(query) = Query::<ConnectQuery>::try_from_uri(uri).ok()?;
    query.store_id?;
    query.transport
}

/// What a connect request asks for, once its query is parsed.
#[derive(Debug)]
pub struct ConnectRequest {
    pub store: StoreId,
    pub payload: Option<SyncPayload>,
}

/// Parses the query of an upgrade request.
///
/// LiveStore's client encodes the payload JSON with `encodeURIComponent` and then
/// form-encodes the query (`URLSearchParams`), so on the wire it is encoded twice; a
/// payload encoded once (as in SPEC's example) is accepted too.
pub fn parse_connect_query(uri: &http::Uri) -> Result<ConnectRequest, Rejection> {
    let Query(query) = Query::<ConnectQuery>::try_from_uri(uri)
        .map_err(|_| Rejection::bad_request("Invalid query string"))?;
    let raw_store = query
        .store_id
        .ok_or_else(|| Rejection::bad_request("storeId is required"))?;
    let store = StoreId::parse(&raw_store).map_err(|e| Rejection::bad_request(e.to_string()))?;
    let payload = match query.payload.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => Some(parse_payload(raw).map_err(|e| Rejection::bad_request(e.to_string()))?),
    };
    Ok(ConnectRequest { store, payload })
}

fn parse_payload(raw: &str) -> Result<SyncPayload, PayloadError> {
    match SyncPayload::parse_checked(raw) {
        Err(PayloadError::NotAnObject) => match percent_decode(raw) {
            Some(decoded) => SyncPayload::parse_checked(&decoded),
            None => Err(PayloadError::NotAnObject),
        },
        other => other,
    }
}

/// `decodeURIComponent`: `%XX` sequences to bytes, which must form UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `GET .../websocket` (0.3.1) or `GET ...?transport=ws` (0.4): decide before
/// upgrading; a rejection is never upgraded.
pub async fn websocket(state: AppState, request: Request, protocol: WireProtocol) -> Response {
    let connect = match parse_connect_query(request.uri()) {
        Ok(c) => c,
        Err(rejection) => {
            crate::metrics::connect_refused(rejection.code);
            return rejection.into_response();
        }
    };
    let credential = match decide(connect.payload.as_ref(), &state.auth, Utc::now()) {
        Ok(credential) => credential,
        Err(rejection) => {
            crate::metrics::connect_refused(rejection.code);
            tracing::info!(store = %connect.store, code = rejection.code, "connect rejected");
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
            tracing::info!(store = %connect.store, user = %credential.user_id, code = rejection.code, "connect refused");
            return rejection.into_response();
        }
    };
    if state.shutdown.is_cancelled() {
        crate::metrics::connect_refused("SHUTTING_DOWN");
        return (http::StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    let (mut parts, _body) = request.into_parts();
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    if identity.kind == IdentityKind::Dev {
        // Presented-but-unusable tokens are warned about in `decide`; a tokenless
        // development connection is routine.
        tracing::debug!(store = %connect.store, "connection admitted as the development user");
    }
    let limits = &state.config.limits;
    let token = state.tracker.token();
    let context = ConnectionContext {
        state: state.clone(),
        store: connect.store,
        identity,
        registration,
        id,
    };
    upgrade
        .read_buffer_size(limits.ws_buffer_bytes)
        .write_buffer_size(limits.ws_buffer_bytes)
        .max_message_size(limits.max_frame_bytes)
        .max_frame_size(limits.max_frame_bytes)
        .on_upgrade(move |socket| async move {
            match protocol {
                WireProtocol::V0_3 => connection::serve(socket, context).await,
                WireProtocol::V0_4 => {
                    connection::serve_with(socket, context, crate::protocol::v0_4::V04::default())
                        .await;
                }
            }
            drop(token);
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &str) -> Result<ConnectRequest, Rejection> {
        parse_connect_query(&format!("/websocket?{q}").parse().unwrap())
    }

    #[test]
    fn payload_encoded_once_or_twice() {
        let once = parse("storeId=a-b&payload=%7B%22authToken%22%3A%22t%2Bx%22%7D").unwrap();
        assert_eq!(once.store.as_str(), "a-b");
        assert_eq!(once.payload.unwrap().auth_token(), Some("t+x"));
        // What the real client sends: encodeURIComponent, then URLSearchParams.
        let twice =
            parse("storeId=s&payload=%257B%2522authToken%2522%253A%2522t%252Bx%2522%257D").unwrap();
        assert_eq!(twice.payload.unwrap().auth_token(), Some("t+x"));
        assert!(parse("storeId=s").unwrap().payload.is_none());
    }

    #[test]
    fn bad_queries_are_400() {
        for q in [
            "",
            "payload=%7B%7D",
            "storeId=",
            "storeId=s&payload=nope",
            "storeId=s&payload=%5B1%5D",
            "storeId=s&payload=%7B%22a%22%3A1%2C%22a%22%3A2%7D",
        ] {
            let r = parse(q).unwrap_err();
            assert_eq!(r.status, http::StatusCode::BAD_REQUEST, "{q}");
            assert_eq!(r.code, "INVALID_REQUEST");
        }
        let long = "x".repeat(257);
        assert!(parse(&format!("storeId={long}")).is_err());
    }
}

//! The upgrade route: `storeId` and `payload` parsing, the auth decision, and the
//! rejection (as a plain HTTP response) or the upgrade with small per-socket buffers.

pub mod access;
pub mod auth;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, FromRequestParts, Query, Request};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::Deserialize;
use shared::{PayloadError, SyncPayload};

use crate::connection::{self, ConnectionContext};
pub use crate::identity::{Identity, IdentityKind};
use crate::limits::ConnectionSlot;
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

/// `decodeURIComponent`: `%XX` sequences to bytes, which must form UTF-8. A `%` not
/// followed by two hex digits (`%+f`, `%4`) makes the text undecodable, as in JavaScript.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let malformed = bytes.iter().enumerate().any(|(i, &b)| {
        b == b'%'
            && !bytes
                .get(i + 1..i + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    });
    if malformed {
        return None;
    }
    percent_encoding::percent_decode(bytes)
        .decode_utf8()
        .ok()
        .map(|text| text.into_owned())
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
    let slot = match take_slot(&state, &request, &identity) {
        Ok(slot) => slot,
        Err(rejection) => {
            crate::metrics::connect_refused(rejection.code);
            return rejection.into_response();
        }
    };
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
        slot,
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

/// The client's IP: the TCP peer, or with `TRUST_PROXY=true` the address the proxy
/// appended to `X-Forwarded-For` (the same rule as auth-worker's rate limits).
pub fn client_ip(state: &AppState, request: &Request) -> std::net::IpAddr {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| *addr);
    shared::net::client_ip(peer, request.headers(), state.config.common.trust_proxy)
}

/// A place in the node's socket caps for this request (refused: 503 or 429). Only
/// verified users count toward the per-user cap: the development user and the server
/// bypass stand for many clients.
pub fn take_slot(
    state: &AppState,
    request: &Request,
    identity: &Identity,
) -> Result<ConnectionSlot, Rejection> {
    let ip = client_ip(state, request);
    let user = (identity.kind == IdentityKind::Jwt).then(|| identity.user_id.clone());
    state.caps.acquire(ip, user).inspect_err(|rejection| {
        tracing::warn!(%ip, user = %identity.user_id, code = rejection.code, "connect refused by a connection cap");
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
        // `%+f` is not a hex escape (u8::from_str_radix accepted "+f").
        for bad in ["%7B%+f%7D", "%7B%22a%22%3A1%7D%", "%7B%4"] {
            assert_eq!(percent_decode(bad), None, "{bad}");
        }
        assert_eq!(percent_decode("%7B%7d").as_deref(), Some("{}"));
        assert_eq!(percent_decode("%FF"), None);
        let long = "x".repeat(257);
        assert!(parse(&format!("storeId={long}")).is_err());
    }
}

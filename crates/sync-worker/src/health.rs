//! `GET /health` (the process is up), `GET /ready` (it can serve: storage answers and,
//! where revocations come from a change feed, the feed is live) and `GET /config.json`
//! (where the auth service is, for browser apps served by this node).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::protocol::iso_timestamp;
use crate::storage::StoreId;
use crate::AppState;

/// `{"status":"healthy","timestamp"}`, always 200 while the process serves HTTP.
pub async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "healthy", "timestamp": iso_timestamp(chrono::Utc::now()) }))
}

/// 200 `{"status":"ready",...}` or 503 `{"status":"not_ready",...}` with each check.
pub async fn ready(State(state): State<AppState>) -> Response {
    // Any store id works: a head lookup is one primary-key read on either backend.
    let probe = StoreId::parse("readiness-probe").ok();
    // Bounded even where a connection hangs (a partition): the pool's acquire timeout
    // (`DB_ACQUIRE_TIMEOUT_SECONDS`) already bounds connecting to an unreachable server.
    let bound = state.config.storage.postgres.acquire_timeout;
    let storage_ok = match &probe {
        Some(store) => matches!(
            tokio::time::timeout(bound, state.log.head(store)).await,
            Ok(Ok(_))
        ),
        None => false,
    };
    let feed = if !state.revocations.follows_feed() {
        "not_followed"
    } else if state.revocations.is_live() {
        "live"
    } else {
        "not_live"
    };
    let ready = storage_ok && feed != "not_live" && !state.shutdown.is_cancelled();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "storage": if storage_ok { "ok" } else { "unavailable" },
        "changeFeed": feed,
        "shuttingDown": state.shutdown.is_cancelled(),
    });
    (status, Json(body)).into_response()
}

/// `{"authUrl"}` from `PUBLIC_AUTH_URL` (default `AUTH_URL`); 404 when neither is set.
pub async fn client_config(State(state): State<AppState>) -> Response {
    match &state.config.public_auth_url {
        Some(url) => (
            [(header::CACHE_CONTROL, "no-cache")],
            Json(json!({ "authUrl": url })),
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({ "code": "NOT_FOUND", "message": "PUBLIC_AUTH_URL is not set" })),
        )
            .into_response(),
    }
}

//! `GET /health`: liveness, `{"status":"healthy","timestamp":<ISO>}`; `GET /ready`:
//! whether this node can serve (its database answers and is migrated), for load
//! balancer health checks. The same bodies as sync-worker's.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::startup::AppState;
use crate::storage::{iso, Readiness};

pub async fn health() -> Json<Value> {
    Json(json!({ "status": "healthy", "timestamp": iso(chrono::Utc::now()) }))
}

/// 200 `{"status":"ready","storage":"ok","shuttingDown":false}`, or 503
/// `{"status":"not_ready",...}` with `storage` `unavailable` (no answer within the
/// database acquire timeout) or `not_migrated`, or while shutting down.
pub async fn ready(State(state): State<AppState>) -> Response {
    // Bounded even where a connection hangs: the acquire timeout already bounds
    // connecting to an unreachable server.
    let bound = state.config.postgres.acquire_timeout;
    let storage = match tokio::time::timeout(bound, state.store.readiness()).await {
        Ok(Ok(Readiness::Ready)) => "ok",
        Ok(Ok(Readiness::NotMigrated)) => "not_migrated",
        Ok(Err(_)) | Err(_) => "unavailable",
    };
    let shutting_down = state.shutdown.is_cancelled();
    let ready = storage == "ok" && !shutting_down;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "storage": storage,
        "shuttingDown": shutting_down,
    });
    (status, Json(body)).into_response()
}

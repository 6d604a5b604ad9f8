//! `GET /health`: liveness, `{"status":"healthy","timestamp":<ISO>}`.

use axum::Json;
use serde_json::{json, Value};

use crate::storage::iso;

pub async fn health() -> Json<Value> {
    Json(json!({ "status": "healthy", "timestamp": iso(chrono::Utc::now()) }))
}

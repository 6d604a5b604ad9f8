//! `POST /logout {"refreshToken"}`: revokes the token's session (every refresh token in
//! it, and, through `sid`, every access token `/me` would accept). Idempotent: unknown,
//! rotated or already revoked tokens also answer `{"success":true}`, which also keeps
//! logout from telling anyone whether a token exists.

use axum::extract::State;
use axum::Json;
use chrono::Utc;
use serde_json::{json, Value};

use super::RefreshTokenBody;
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::startup::AppState;
use crate::tokens::{hash_refresh_token, MAX_REFRESH_TOKEN_CHARS};

pub const LOGOUT_REASON: &str = "logout";

pub async fn logout(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<RefreshTokenBody>,
) -> Result<Json<Value>, ApiError> {
    let presented = body.refresh_token;
    if !presented.is_empty() && presented.len() <= MAX_REFRESH_TOKEN_CHARS {
        let revoked = state
            .store
            .revoke_session_of_token(&hash_refresh_token(&presented), LOGOUT_REASON, Utc::now())
            .await?;
        if revoked {
            tracing::info!("session logged out");
        }
    }
    Ok(Json(json!({ "success": true })))
}

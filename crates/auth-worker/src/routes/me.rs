//! `GET /me` with `Authorization: Bearer <access token>`: the user and its instances.
//!
//! No grace period here: an expired access token is `TOKEN_EXPIRED` (401), telling the
//! client to refresh; a bad, non-access (e.g. a refresh token) or missing token is
//! `INVALID_TOKEN`, and so is a valid token whose session (`sid`) was revoked by logout
//! or reuse detection.

use axum::extract::State;
use axum::Json;

use super::{record_user, UserResponse};
use crate::error::ApiError;
use crate::extract::BearerToken;
use crate::startup::AppState;

pub async fn me(
    State(state): State<AppState>,
    BearerToken(token): BearerToken,
) -> Result<Json<UserResponse>, ApiError> {
    let verified = state
        .jwt
        .verify_access_token(&token)
        .map_err(|_| ApiError::InvalidToken)?;
    if verified.is_expired() {
        return Err(ApiError::TokenExpired);
    }
    let claims = verified.claims;
    record_user(&claims.sub);
    if !state
        .store
        .session_is_active(&claims.sid, &claims.sub)
        .await?
    {
        return Err(ApiError::InvalidToken);
    }
    let user = state
        .store
        .find_user(&claims.sub)
        .await?
        .ok_or(ApiError::InvalidToken)?;
    Ok(Json(UserResponse {
        success: true,
        user,
    }))
}

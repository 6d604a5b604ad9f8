//! `GET /me` with `Authorization: Bearer <access token>`: the user and its instances.
//!
//! No grace period here: an expired access token is `TOKEN_EXPIRED` (401), telling the
//! client to refresh; a bad, non-access (e.g. a refresh token) or missing token is
//! `INVALID_TOKEN`, and so is a valid token whose session (`sid`) was revoked by logout
//! or reuse detection (see [`CurrentUser`]).

use axum::extract::State;
use axum::Json;

use super::UserResponse;
use crate::error::ApiError;
use crate::extract::CurrentUser;
use crate::startup::AppState;

pub async fn me(
    State(state): State<AppState>,
    caller: CurrentUser,
) -> Result<Json<UserResponse>, ApiError> {
    let user = state
        .store
        .find_user(&caller.user_id)
        .await?
        .ok_or(ApiError::InvalidToken)?;
    Ok(Json(UserResponse {
        success: true,
        user,
    }))
}

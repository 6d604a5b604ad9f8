//! `POST /refresh {"refreshToken"}`: rotation with reuse detection.
//!
//! The presented token is exchanged for a new one in the same session and dies. A token
//! that was already rotated is reuse (a stolen copy, or a client replaying): it fails and
//! the whole session is revoked, so the successor dies too. Unknown, revoked or reused:
//! `INVALID_TOKEN`; past its lifetime: `TOKEN_EXPIRED`. The new access token carries the
//! current memberships, so a member added since the last token can open its store now.

use axum::extract::State;
use axum::Json;
use chrono::Utc;

use super::{auth_response, record_user, refresh_expiry_ms, AuthResponse, RefreshTokenBody};
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::startup::AppState;
use crate::storage::RotateOutcome;
use crate::tokens::{hash_refresh_token, NewRefreshToken, MAX_REFRESH_TOKEN_CHARS};

/// Recorded on a session revoked because one of its tokens was replayed.
pub const REUSE_REASON: &str = "refresh_token_reuse";

pub async fn refresh(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<RefreshTokenBody>,
) -> Result<Json<AuthResponse>, ApiError> {
    let presented = body.refresh_token;
    if presented.is_empty() || presented.len() > MAX_REFRESH_TOKEN_CHARS {
        return Err(ApiError::InvalidToken);
    }
    let token_hash = hash_refresh_token(&presented);
    let record = state
        .store
        .find_refresh_token(&token_hash)
        .await?
        .ok_or(ApiError::InvalidToken)?;
    record_user(&record.user_id);
    let now = Utc::now();
    if record.session_revoked {
        return Err(ApiError::InvalidToken);
    }
    if record.rotated {
        return Err(revoke_for_reuse(&state, &record.session_id, now).await);
    }
    if now.timestamp_millis() >= record.expires_at_ms {
        return Err(ApiError::TokenExpired);
    }

    let next = NewRefreshToken::generate();
    let outcome = state
        .store
        .rotate_refresh_token(&token_hash, &next.hash, refresh_expiry_ms(&state, now), now)
        .await?;
    if outcome == RotateOutcome::NotCurrent {
        // Another request rotated it (or logout revoked it) since we read it.
        return Err(revoke_for_reuse(&state, &record.session_id, now).await);
    }
    // Invites that waited for room (instance limit) or arrived since login.
    state
        .store
        .claim_invites(&record.user_id, &record.email, now)
        .await?;
    let user = state
        .store
        .find_user(&record.user_id)
        .await?
        .ok_or(ApiError::InvalidToken)?;
    tracing::info!(session_id = %record.session_id, "refresh token rotated");
    auth_response(&state, user, &record.session_id, next.token, now).await
}

async fn revoke_for_reuse(
    state: &AppState,
    session_id: &str,
    now: chrono::DateTime<Utc>,
) -> ApiError {
    tracing::warn!(%session_id, "refresh token reuse detected: revoking the session");
    match state
        .store
        .revoke_session(session_id, REUSE_REASON, now)
        .await
    {
        Ok(()) => ApiError::InvalidToken,
        Err(e) => e.into(),
    }
}

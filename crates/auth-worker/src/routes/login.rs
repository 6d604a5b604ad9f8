//! `POST /login {"email","password"}`: verifies the password and starts a session.
//!
//! An unknown email and a wrong password are the same `ApiError::InvalidCredentials`
//! (byte-identical bodies) after the same work: one lookup and one argon2 verification,
//! against the dummy hash when there is no user. Failed attempts count against the
//! (normalized email, client IP) pair and the email, known or not, in the
//! [`crate::login_throttle`]: the pair backs off, the account is slowed down before its
//! password is checked, nobody is locked out. Pending invites of the email are claimed
//! before the token is issued, so it carries them.

use axum::extract::State;
use axum::Json;
use chrono::Utc;

use super::{auth_response, record_user, AuthResponse, CredentialsBody, SessionStart};
use crate::domain::Email;
use crate::error::ApiError;
use crate::extract::{ClientIp, JsonBody};
use crate::startup::AppState;

pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    JsonBody(body): JsonBody<CredentialsBody>,
) -> Result<Json<AuthResponse>, ApiError> {
    let email = Email::parse(&body.email)?;
    match state.login_throttle.check(email.as_str(), ip) {
        Err(retry_after) => {
            tracing::warn!(%ip, "login refused: this address failed too often for this account");
            crate::metrics::rate_limited("login");
            return Err(ApiError::RateLimited { retry_after });
        }
        Ok(delay) if !delay.is_zero() => {
            tracing::info!(
                delay_ms = delay.as_millis(),
                "login slowed down: failed attempts on this account"
            );
            tokio::time::sleep(delay).await;
        }
        Ok(_) => {}
    }
    let credentials = state.store.find_credentials(&email).await?;
    let (user_id, stored_hash) = match credentials {
        Some(c) => (Some(c.user_id), Some(c.password_hash)),
        None => (None, None),
    };
    let verified = state
        .hasher
        .verify(body.password, stored_hash)
        .await
        .map_err(ApiError::Internal)?;
    let Some(user_id) = user_id.filter(|_| verified) else {
        state.login_throttle.record_failure(email.as_str(), ip);
        crate::metrics::login_failed();
        tracing::info!("login failed");
        return Err(ApiError::InvalidCredentials);
    };
    state.login_throttle.clear(email.as_str(), ip);
    record_user(&user_id);

    let now = Utc::now();
    let start = SessionStart::new(&state, now);
    state
        .store
        .start_session(&user_id, &start.session, now)
        .await?;
    state
        .store
        .claim_invites(&user_id, email.as_str(), now)
        .await?;
    let user = state
        .store
        .find_user(&user_id)
        .await?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("user vanished during login")))?;
    tracing::info!(session_id = %start.session.id, "user logged in");
    auth_response(&state, user, &start.session.id, start.refresh_token, now).await
}

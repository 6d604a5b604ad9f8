//! `POST /signup {"email","password"}`: creates the user, its default instance and a
//! session; answers with tokens.

use axum::extract::State;
use axum::Json;
use chrono::Utc;

use super::{auth_response, record_user, AuthResponse, CredentialsBody, SessionStart};
use crate::domain::{Email, Password};
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::startup::AppState;

pub async fn signup(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<CredentialsBody>,
) -> Result<Json<AuthResponse>, ApiError> {
    let email = Email::parse(&body.email)?;
    let password = Password::parse(body.password)?;
    // Saves a hash for the common duplicate case; the unique index catches races.
    if state.store.email_exists(&email).await? {
        return Err(ApiError::EmailAlreadyExists);
    }
    let password_hash = state
        .hasher
        .hash(password.into_inner())
        .await
        .map_err(ApiError::Internal)?;
    let now = Utc::now();
    let start = SessionStart::new(&state, now);
    let user = state
        .store
        .create_user(&email, &password_hash, &start.session, now)
        .await?;
    record_user(&user.id);
    tracing::info!(session_id = %start.session.id, "user signed up");
    auth_response(&state, user, &start.session.id, start.refresh_token, now).await
}

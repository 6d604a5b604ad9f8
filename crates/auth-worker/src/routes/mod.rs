//! HTTP handlers, one file per endpoint (the instance and member routes share one file
//! each), plus what they share: the success body and issuing tokens for a session.

mod changes;
mod health;
mod instances;
mod login;
mod logout;
mod me;
mod members;
mod refresh;
mod signup;

use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use shared::constants::MAX_TOKEN_BYTES;

pub use changes::changes;
pub use health::{health, ready};
pub use instances::{create_instance, delete_instance, list_instances, rename_instance};
pub use login::login;
pub use logout::logout;
pub use me::me;
pub use members::{add_member, list_members, remove_member, set_member_role};
pub use refresh::refresh;
pub use signup::signup;

use crate::error::ApiError;
use crate::extract::{Fields, RequestBody};
use crate::startup::AppState;
use crate::storage::{NewSession, User};
use crate::tokens::NewRefreshToken;

/// `{"success":true,"user":{...},"accessToken","refreshToken"}`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthResponse {
    pub success: bool,
    pub user: User,
    pub access_token: String,
    pub refresh_token: String,
}

/// `{"success":true,"user":{...}}` (`/me`).
#[derive(Serialize)]
pub struct UserResponse {
    pub success: bool,
    pub user: User,
}

/// `{"email","password"}` of signup and login. Deliberately not `Debug`.
pub struct CredentialsBody {
    pub email: String,
    pub password: String,
}

impl RequestBody for CredentialsBody {
    fn from_fields(fields: &mut Fields) -> Result<Self, ApiError> {
        Ok(Self {
            email: fields.string("email")?,
            password: fields.string("password")?,
        })
    }
}

/// `{"refreshToken"}` of refresh and logout.
pub struct RefreshTokenBody {
    pub refresh_token: String,
}

impl RequestBody for RefreshTokenBody {
    fn from_fields(fields: &mut Fields) -> Result<Self, ApiError> {
        Ok(Self {
            refresh_token: fields.string("refreshToken")?,
        })
    }
}

/// A new session's id and first refresh token, ready to store and to hand out.
pub struct SessionStart {
    pub session: NewSession,
    pub refresh_token: String,
}

impl SessionStart {
    pub fn new(state: &AppState, now: DateTime<Utc>) -> Self {
        let token = NewRefreshToken::generate();
        Self {
            session: NewSession {
                id: uuid::Uuid::new_v4().to_string(),
                token_hash: token.hash,
                expires_at_ms: refresh_expiry_ms(state, now),
            },
            refresh_token: token.token,
        }
    }
}

/// When a refresh token issued `now` expires, in epoch milliseconds.
pub fn refresh_expiry_ms(state: &AppState, now: DateTime<Utc>) -> i64 {
    let ttl_ms =
        i64::try_from(state.config.common.refresh_token_ttl.as_millis()).unwrap_or(i64::MAX);
    now.timestamp_millis().saturating_add(ttl_ms)
}

/// The success body: a fresh access token for `session_id` plus the given refresh token.
pub async fn auth_response(
    state: &AppState,
    user: User,
    session_id: &str,
    refresh_token: String,
    now: DateTime<Utc>,
) -> Result<Json<AuthResponse>, ApiError> {
    let access_token = issue_access_token(state, &user, session_id, now).await?;
    Ok(Json(AuthResponse {
        success: true,
        user,
        access_token,
        refresh_token,
    }))
}

/// Signs an access token for `user` in `session_id` carrying every membership (`mem`)
/// and the change-feed head they reflect (`mv`), read head first (see
/// [`crate::storage::AuthStore::token_memberships`]).
async fn issue_access_token(
    state: &AppState,
    user: &User,
    session_id: &str,
    now: DateTime<Utc>,
) -> Result<String, ApiError> {
    let (mv, mem) = state.store.token_memberships(&user.id).await?;
    let mut claims = state.jwt.access_claims(
        &user.id,
        &user.email,
        session_id,
        state.config.common.access_token_ttl,
        now,
    );
    claims.mem = mem;
    claims.mv = mv;
    let token = state
        .jwt
        .sign_access_token(&claims)
        .map_err(ApiError::internal)?;
    if token.len() > MAX_TOKEN_BYTES {
        // Only possible when AUTH_MAX_INSTANCES_PER_USER was lowered below what some
        // user already has: every verifier would refuse the token, so fail loudly here.
        return Err(ApiError::internal(anyhow::anyhow!(
            "access token of {} bytes with {} memberships exceeds {MAX_TOKEN_BYTES} bytes",
            token.len(),
            claims.mem.len()
        )));
    }
    Ok(token)
}

/// Records the acting user on the request span.
pub fn record_user(user_id: &str) {
    tracing::Span::current().record("user_id", user_id);
}

/// Fallback for unknown paths.
pub async fn not_found() -> ApiError {
    ApiError::NotFound
}

/// Fallback for a known path with an unsupported method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

//! `ApiError`: every failure the API answers, mapped in one place to a status, a stable
//! code and the body `{"success":false,"error":{"code","message"}}`.
//!
//! Messages are fixed or built from what the client sent about its own request; internal
//! errors are logged once here (with the request span) and answered with a generic text.

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use shared::AuthErrorCode;

use crate::storage::StoreError;

/// An error answered to the client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed body, missing field, wrong type, bad email, body too large, ...
    #[error("{0}")]
    InvalidRequest(String),
    /// The password breaks the policy; the message says which rule.
    #[error("{0}")]
    WeakPassword(String),
    /// Unknown email or wrong password: one variant, so one body, for both.
    #[error("Invalid email or password")]
    InvalidCredentials,
    /// Unknown, revoked, reused or malformed token.
    #[error("Invalid or revoked token")]
    InvalidToken,
    /// No `Authorization` header at all (a header that is not `Bearer <token>` is
    /// `InvalidToken`).
    #[error("Authorization header with a Bearer token is required")]
    TokenMissing,
    #[error("Token has expired")]
    TokenExpired,
    #[error("An account with this email already exists")]
    EmailAlreadyExists,
    #[error("Method not allowed")]
    MethodNotAllowed,
    /// Unknown path, or an instance (or member) the caller may not know about: an
    /// instance the caller is not a member of is "not found", never "forbidden".
    #[error("Not found")]
    NotFound,
    /// A member whose role does not allow the action.
    #[error("Your role in this instance does not allow this")]
    Forbidden,
    #[error("An instance must keep at least one owner")]
    LastOwner,
    #[error("You are a member of the maximum number of instances ({0})")]
    InstanceLimit(usize),
    #[error("This instance has the maximum number of members and pending invites ({0})")]
    MemberLimit(usize),
    #[error("Too many requests, retry later")]
    RateLimited { retry_after: Duration },
    /// Anything unexpected. The cause is logged, never sent.
    #[error("Internal server error")]
    Internal(#[source] anyhow::Error),
    /// The database cannot be reached (connection refused, lost or timed out): nothing
    /// was done, or a write's outcome is unknown; the client may retry. Logged, never sent.
    #[error("Service temporarily unavailable, retry later")]
    Unavailable(#[source] anyhow::Error),
}

impl ApiError {
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::InvalidRequest(message.into())
    }

    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        Self::Internal(error.into())
    }

    pub fn code(&self) -> AuthErrorCode {
        match self {
            Self::InvalidRequest(_) => AuthErrorCode::InvalidRequest,
            Self::WeakPassword(_) => AuthErrorCode::WeakPassword,
            Self::InvalidCredentials => AuthErrorCode::InvalidCredentials,
            Self::InvalidToken => AuthErrorCode::InvalidToken,
            Self::TokenMissing => AuthErrorCode::TokenMissing,
            Self::TokenExpired => AuthErrorCode::TokenExpired,
            Self::EmailAlreadyExists => AuthErrorCode::EmailAlreadyExists,
            Self::MethodNotAllowed => AuthErrorCode::MethodNotAllowed,
            Self::NotFound => AuthErrorCode::NotFound,
            Self::Forbidden => AuthErrorCode::Forbidden,
            Self::LastOwner => AuthErrorCode::LastOwner,
            Self::InstanceLimit(_) => AuthErrorCode::InstanceLimit,
            Self::MemberLimit(_) => AuthErrorCode::MemberLimit,
            Self::RateLimited { .. } => AuthErrorCode::RateLimited,
            Self::Internal(_) => AuthErrorCode::InternalError,
            Self::Unavailable(_) => AuthErrorCode::ServiceUnavailable,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::EmailTaken => Self::EmailAlreadyExists,
            StoreError::NotFound => Self::NotFound,
            StoreError::Forbidden => Self::Forbidden,
            StoreError::LastOwner => Self::LastOwner,
            StoreError::InstanceLimit(max) => Self::InstanceLimit(max),
            StoreError::MemberLimit(max) => Self::MemberLimit(max),
            StoreError::Database(e) if is_unreachable(&e) => Self::Unavailable(e.into()),
            StoreError::Database(e) => Self::Internal(e.into()),
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    success: bool,
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: AuthErrorCode,
    message: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = self.code();
        let status =
            StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        match &self {
            // The one place a 5xx is logged; `{:#}` keeps the cause chain.
            Self::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "request failed");
            }
            Self::Unavailable(cause) => {
                tracing::warn!(
                    error = format!("{cause:#}"),
                    "request failed: database unreachable"
                );
            }
            _ => {}
        }
        let message = self.to_string();
        let body = ErrorBody {
            success: false,
            error: ErrorDetail {
                code,
                message: &message,
            },
        };
        let mut response = (status, Json(body)).into_response();
        let retry_after = match self {
            Self::RateLimited { retry_after } => Some(retry_after),
            Self::Unavailable(_) => Some(UNAVAILABLE_RETRY_AFTER),
            _ => None,
        };
        if let Some(wait) = retry_after {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs(wait)),
            );
        }
        response
    }
}

/// `Retry-After` of a 503: the database usually comes back within seconds (a restart,
/// a failover), and clients should not hammer it meanwhile.
const UNAVAILABLE_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Whether `error` means the database could not be reached or the connection was lost
/// (as opposed to a query the database refused): the pool timing out or closed, an I/O
/// error, or the server ending the session (SQLSTATE class 08, connection exception,
/// and 57, operator intervention: shutdown, restart, `pg_terminate_backend`).
pub fn is_unreachable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("08") || code.starts_with("57")),
        _ => false,
    }
}

/// Whole seconds, rounded up and at least 1, so a client that waits that long succeeds.
pub fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(5_001)), 6);
        assert_eq!(retry_after_secs(Duration::from_secs(60)), 60);
    }

    #[test]
    fn an_unreachable_database_is_503_not_500() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        for error in [sqlx::Error::PoolTimedOut, sqlx::Error::Io(io)] {
            let api = ApiError::from(StoreError::Database(error));
            assert_eq!(api.code(), AuthErrorCode::ServiceUnavailable);
            assert_eq!(
                api.to_string(),
                "Service temporarily unavailable, retry later"
            );
        }
        let other = ApiError::from(StoreError::Database(sqlx::Error::RowNotFound));
        assert_eq!(other.code(), AuthErrorCode::InternalError);
    }

    #[test]
    fn internal_errors_never_leak() {
        let err = ApiError::internal(anyhow::anyhow!("disk /secret/path is full"));
        assert_eq!(err.to_string(), "Internal server error");
        assert_eq!(err.code(), AuthErrorCode::InternalError);
    }
}

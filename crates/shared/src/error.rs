//! Error codes of the auth API (SPEC section 3), with the HTTP status each maps to.

use serde::Serialize;

/// A stable, machine-readable error code returned in `{"success":false,"error":{"code"}}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AuthErrorCode {
    InvalidRequest,
    WeakPassword,
    InvalidCredentials,
    InvalidToken,
    /// No `Authorization` header where a token is required.
    TokenMissing,
    TokenExpired,
    EmailAlreadyExists,
    MethodNotAllowed,
    NotFound,
    /// Authenticated, a member, but the role does not allow this (e.g. an editor renaming).
    Forbidden,
    /// The change would leave an instance without an owner.
    LastOwner,
    /// The user is already a member of as many instances as allowed.
    InstanceLimit,
    /// The instance already has as many members and pending invites as allowed.
    MemberLimit,
    RateLimited,
    InternalError,
    /// The database cannot be reached right now; retrying later may succeed.
    ServiceUnavailable,
}

impl AuthErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "INVALID_REQUEST",
            Self::WeakPassword => "WEAK_PASSWORD",
            Self::InvalidCredentials => "INVALID_CREDENTIALS",
            Self::InvalidToken => "INVALID_TOKEN",
            Self::TokenMissing => "TOKEN_MISSING",
            Self::TokenExpired => "TOKEN_EXPIRED",
            Self::EmailAlreadyExists => "EMAIL_ALREADY_EXISTS",
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::NotFound => "NOT_FOUND",
            Self::Forbidden => "FORBIDDEN",
            Self::LastOwner => "LAST_OWNER",
            Self::InstanceLimit => "INSTANCE_LIMIT",
            Self::MemberLimit => "MEMBER_LIMIT",
            Self::RateLimited => "RATE_LIMITED",
            Self::InternalError => "INTERNAL_ERROR",
            Self::ServiceUnavailable => "SERVICE_UNAVAILABLE",
        }
    }

    /// The HTTP status code this error is answered with.
    pub fn http_status(self) -> u16 {
        match self {
            Self::InvalidRequest | Self::WeakPassword => 400,
            Self::InvalidCredentials
            | Self::InvalidToken
            | Self::TokenMissing
            | Self::TokenExpired => 401,
            Self::Forbidden => 403,
            Self::EmailAlreadyExists
            | Self::LastOwner
            | Self::InstanceLimit
            | Self::MemberLimit => 409,
            Self::MethodNotAllowed => 405,
            Self::NotFound => 404,
            Self::RateLimited => 429,
            Self::InternalError => 500,
            Self::ServiceUnavailable => 503,
        }
    }
}

impl std::fmt::Display for AuthErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_name_matches_as_str() {
        for code in [
            AuthErrorCode::InvalidRequest,
            AuthErrorCode::WeakPassword,
            AuthErrorCode::InvalidCredentials,
            AuthErrorCode::InvalidToken,
            AuthErrorCode::TokenMissing,
            AuthErrorCode::TokenExpired,
            AuthErrorCode::EmailAlreadyExists,
            AuthErrorCode::MethodNotAllowed,
            AuthErrorCode::NotFound,
            AuthErrorCode::Forbidden,
            AuthErrorCode::LastOwner,
            AuthErrorCode::InstanceLimit,
            AuthErrorCode::MemberLimit,
            AuthErrorCode::RateLimited,
            AuthErrorCode::InternalError,
            AuthErrorCode::ServiceUnavailable,
        ] {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }
}

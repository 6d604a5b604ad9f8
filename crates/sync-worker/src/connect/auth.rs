//! The connect decision table of SPEC section 4 as a pure function.
//!
//! | token in payload | REQUIRE_AUTH=false | REQUIRE_AUTH=true |
//! |---|---|---|
//! | valid access JWT | its `sub` | its `sub` |
//! | expired, within grace | its `sub` | its `sub` (warning) |
//! | expired beyond grace | dev user | `GRACE_PERIOD_EXPIRED` |
//! | `insecure-token-change-me` | dev user | `TOKEN_INVALID` (legacy) |
//! | `serverBypass` = SERVER_BYPASS_TOKEN | `server-internal` | `server-internal` |
//! | none | dev user | `TOKEN_MISSING` |
//! | anything else | dev user (warning) | `TOKEN_INVALID` |
//!
//! This table only says who the token proves; whether that user may open the store,
//! and whether a revocation or a feed outage overrides the grace period, is decided
//! next by [`super::access::authorize`].

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use http::StatusCode;
use shared::constants::{DEV_USER_ID, INSECURE_DEV_TOKEN, SERVER_INTERNAL_ID};
use shared::secret::{optional_secret_matches, Secret};
use shared::{CommonConfig, JwtKeys, Memberships, SyncPayload};

pub use crate::identity::IdentityKind;

/// What a token (or its absence) proves, before the store is considered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub user_id: Arc<str>,
    /// The access token's `sid` (the session it was issued for).
    pub session_id: Option<Arc<str>>,
    pub kind: IdentityKind,
    /// For [`IdentityKind::Jwt`]: what the token says about memberships and expiry.
    pub grant: Option<TokenGrant>,
}

/// The parts of a verified access token the access rules need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenGrant {
    /// The `mem` claim: instance id -> role at issue time.
    pub memberships: Memberships,
    /// The `mv` claim: feed changes with a higher `seq` override `memberships`.
    pub membership_version: u64,
    /// Admitted only thanks to the grace period.
    pub expired: bool,
}

impl Credential {
    fn dev() -> Self {
        Self {
            user_id: DEV_USER_ID.into(),
            session_id: None,
            kind: IdentityKind::Dev,
            grant: None,
        }
    }
}

/// A refused connect, answered as an HTTP response before any upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl Rejection {
    pub fn unauthorized(code: &'static str, message: &str) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            code,
            message: message.to_owned(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "INVALID_REQUEST",
            message: message.into(),
        }
    }

    /// The token is fine but its user may not open this store (403).
    pub fn forbidden_store() -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            code: "STORE_FORBIDDEN",
            message: "Access to this store is not allowed".to_owned(),
        }
    }
}

/// What the decision needs from the configuration.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub require_auth: bool,
    pub keys: JwtKeys,
    pub grace: Duration,
    pub server_bypass_token: Option<Secret>,
}

impl AuthSettings {
    pub fn from_common(common: &CommonConfig) -> Self {
        Self {
            require_auth: common.require_auth,
            keys: common.jwt_keys(),
            grace: common.grace_period,
            server_bypass_token: common.server_bypass_token.clone(),
        }
    }
}

/// Applies the decision table to a parsed payload (`None`: no payload at all).
pub fn decide(
    payload: Option<&SyncPayload>,
    settings: &AuthSettings,
    now: DateTime<Utc>,
) -> Result<Credential, Rejection> {
    let bypass = payload.and_then(|p| p.server_bypass.as_deref());
    if optional_secret_matches(settings.server_bypass_token.as_ref(), bypass) {
        return Ok(Credential {
            user_id: SERVER_INTERNAL_ID.into(),
            session_id: None,
            kind: IdentityKind::ServerBypass,
            grant: None,
        });
    }
    let strict = settings.require_auth;
    let Some(token) = payload.and_then(SyncPayload::auth_token) else {
        return if strict {
            Err(Rejection::unauthorized(
                "TOKEN_MISSING",
                "Authentication required",
            ))
        } else {
            Ok(Credential::dev())
        };
    };
    if token == INSECURE_DEV_TOKEN {
        return if strict {
            Err(Rejection::unauthorized(
                "TOKEN_INVALID",
                "Legacy token not allowed in production",
            ))
        } else {
            Ok(Credential::dev())
        };
    }
    match settings.keys.verify_access_token_at(token, now) {
        Ok(verified) if verified.within_grace(settings.grace) => {
            if verified.is_expired() {
                tracing::warn!(
                    user_id = %verified.claims.sub,
                    "accepting an expired access token within the grace period"
                );
            }
            let expired = verified.is_expired();
            let claims = verified.claims;
            Ok(Credential {
                user_id: claims.sub.into(),
                session_id: Some(claims.sid.into()),
                kind: IdentityKind::Jwt,
                grant: Some(TokenGrant {
                    memberships: claims.mem,
                    membership_version: claims.mv,
                    expired,
                }),
            })
        }
        Ok(_) if strict => Err(Rejection::unauthorized(
            "GRACE_PERIOD_EXPIRED",
            "Token expired beyond grace period",
        )),
        Ok(_) => {
            tracing::warn!(
                "access token expired beyond the grace period: connecting as the dev user"
            );
            Ok(Credential::dev())
        }
        Err(_) if strict => Err(Rejection::unauthorized(
            "TOKEN_INVALID",
            "Invalid JWT token",
        )),
        Err(error) => {
            tracing::warn!(%error, "invalid token: connecting as the dev user (development mode)");
            Ok(Credential::dev())
        }
    }
}

#[cfg(test)]
#[path = "auth_tests.rs"]
mod tests;

//! Access tokens: HS256 JWTs signed and verified through `jsonwebtoken`.
//!
//! The verifier pins the algorithm, requires the configured issuer and `typ: "access"`,
//! and does not reject expired tokens itself: it reports how long ago the token expired
//! so each caller applies its own rule (the auth API rejects any expired token; the sync
//! worker admits one within the grace period).

use std::time::Duration;

use chrono::{DateTime, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::access::Memberships;
use crate::constants::{ACCESS_TOKEN_TYPE, MAX_TOKEN_BYTES, SERVICE_TOKEN_TYPE};
use crate::secret::Secret;

/// Claims of an access token (SPEC section 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// User id.
    pub sub: String,
    /// Same value as `sub`; the original frontend reads this name.
    #[serde(rename = "userId")]
    pub user_id: String,
    pub email: String,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Expires at, seconds since the epoch.
    pub exp: i64,
    pub iss: String,
    /// Random token id.
    pub jti: String,
    /// The session (refresh-token family) the token was issued for.
    pub sid: String,
    /// Always `"access"` for access tokens.
    pub typ: String,
    /// The user's instances (workspaces) and role in each, at issue time.
    #[serde(default, skip_serializing_if = "Memberships::is_empty")]
    pub mem: Memberships,
    /// The membership version `mem` reflects: the auth change feed's sequence number when
    /// the token was issued. Feed changes with a higher number override `mem`.
    #[serde(default)]
    pub mv: u64,
}

/// Claims of a service token: how a sync node authenticates to auth-worker's internal
/// change feed. Short-lived, `typ: "service"`, never accepted as an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceClaims {
    /// The calling service (`sync-worker`).
    pub sub: String,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub jti: String,
    /// Always `"service"`.
    pub typ: String,
}

/// A token whose signature, algorithm, issuer and type checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    pub claims: AccessClaims,
    /// How long ago the token expired; `None` while it is still valid.
    pub expired_for: Option<Duration>,
}

impl VerifiedToken {
    /// The grace rule: a token that expired at most `grace` ago is still admitted.
    pub fn within_grace(&self, grace: Duration) -> bool {
        self.expired_for
            .is_none_or(|expired_for| expired_for <= grace)
    }

    pub fn is_expired(&self) -> bool {
        self.expired_for.is_some()
    }
}

/// Why a token was refused. Messages are fixed strings: they never echo the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token is malformed")]
    Malformed,
    #[error("token is too long")]
    TooLong,
    #[error("token signature is invalid")]
    BadSignature,
    #[error("token algorithm is not HS256")]
    WrongAlgorithm,
    #[error("token issuer is not accepted")]
    WrongIssuer,
    #[error("token is not an access token")]
    WrongType,
    #[error("token has no subject")]
    NoSubject,
    #[error("token has expired")]
    Expired,
    #[error("token could not be signed")]
    Signing,
}

/// Keys and validation rules for one secret and issuer. Cheap to share behind an `Arc`.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    issuer: String,
    validation: Validation,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl JwtKeys {
    pub fn new(secret: &Secret, issuer: &str) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        // Expiry is reported, not enforced, here: see the module docs.
        validation.validate_exp = false;
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.set_issuer(&[issuer]);
        Self {
            encoding: EncodingKey::from_secret(secret.expose().as_bytes()),
            decoding: DecodingKey::from_secret(secret.expose().as_bytes()),
            issuer: issuer.to_owned(),
            validation,
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Builds claims for a new access token (fresh random `jti`).
    pub fn access_claims(
        &self,
        user_id: &str,
        email: &str,
        session_id: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> AccessClaims {
        let iat = now.timestamp();
        AccessClaims {
            sub: user_id.to_owned(),
            user_id: user_id.to_owned(),
            email: email.to_owned(),
            iat,
            exp: iat.saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX)),
            iss: self.issuer.clone(),
            jti: uuid::Uuid::new_v4().to_string(),
            sid: session_id.to_owned(),
            typ: ACCESS_TOKEN_TYPE.to_owned(),
            mem: Memberships::new(),
            mv: 0,
        }
    }

    /// Signs the given claims with HS256.
    pub fn sign_access_token(&self, claims: &AccessClaims) -> Result<String, TokenError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|_| TokenError::Signing)
    }

    /// Verifies `token` against the current time.
    pub fn verify_access_token(&self, token: &str) -> Result<VerifiedToken, TokenError> {
        self.verify_access_token_at(token, Utc::now())
    }

    /// Verifies `token`, measuring expiry against `now`.
    pub fn verify_access_token_at(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<VerifiedToken, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::TooLong);
        }
        let data = jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .map_err(|e| map_decode_error(&e))?;
        let claims = data.claims;
        if claims.typ != ACCESS_TOKEN_TYPE {
            return Err(TokenError::WrongType);
        }
        if claims.sub.is_empty() {
            return Err(TokenError::NoSubject);
        }
        let now = now.timestamp();
        let expired_for = (claims.exp <= now)
            .then(|| Duration::from_secs(u64::try_from(now - claims.exp).unwrap_or(0)));
        Ok(VerifiedToken {
            claims,
            expired_for,
        })
    }

    /// Signs a service token for `service`, valid for `ttl` from `now`.
    pub fn sign_service_token(
        &self,
        service: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<String, TokenError> {
        let iat = now.timestamp();
        let claims = ServiceClaims {
            sub: service.to_owned(),
            iat,
            exp: iat.saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX)),
            iss: self.issuer.clone(),
            jti: uuid::Uuid::new_v4().to_string(),
            typ: SERVICE_TOKEN_TYPE.to_owned(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|_| TokenError::Signing)
    }

    /// Verifies a service token: signature, algorithm, issuer, `typ: "service"`, and not
    /// expired (no grace: these are minted for each request batch).
    pub fn verify_service_token_at(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<ServiceClaims, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::TooLong);
        }
        let claims = jsonwebtoken::decode::<ServiceClaims>(token, &self.decoding, &self.validation)
            .map_err(|e| map_decode_error(&e))?
            .claims;
        if claims.typ != SERVICE_TOKEN_TYPE {
            return Err(TokenError::WrongType);
        }
        if claims.sub.is_empty() {
            return Err(TokenError::NoSubject);
        }
        if claims.exp <= now.timestamp() {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

fn map_decode_error(e: &jsonwebtoken::errors::Error) -> TokenError {
    match e.kind() {
        ErrorKind::InvalidSignature => TokenError::BadSignature,
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => TokenError::WrongAlgorithm,
        ErrorKind::InvalidIssuer => TokenError::WrongIssuer,
        _ => TokenError::Malformed,
    }
}

#[cfg(test)]
mod tests;

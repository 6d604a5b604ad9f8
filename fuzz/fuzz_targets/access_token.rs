//! The access-token verifier (HS256 with a fixed secret) on arbitrary input.
//!
//! Properties: verifying any text never panics, and a token that verifies holds what the
//! checks promise; and claims built from the same bytes, signed by our own code with
//! that secret, verify back to exactly themselves, or fail with exactly the error the
//! rules give (malformed expiry, wrong issuer, wrong type, empty subject).

#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use shared::constants::{ACCESS_TOKEN_TYPE, MAX_TOKEN_BYTES};
use shared::secret::Secret;
use shared::{AccessClaims, JwtKeys, Memberships, Role, TokenError, VerifiedToken};

/// The seeds in `corpus/access_token` are signed with this secret (by `fuzz/seeds.py`).
const SECRET: &str = "fuzz-secret-that-is-at-least-32-bytes-long";
const ISSUER: &str = "auth-worker";
/// 2026-01-01T12:00:00Z: the seeds' time of verification.
const NOW: i64 = 1_767_268_800;

fn keys() -> &'static JwtKeys {
    static KEYS: OnceLock<JwtKeys> = OnceLock::new();
    KEYS.get_or_init(|| JwtKeys::new(&Secret::new(SECRET), ISSUER))
}

/// Claims as the fuzzer builds them; `None` issuer and type mean the accepted ones.
#[derive(Debug, Arbitrary)]
struct ClaimsInput {
    sub: String,
    user_id: String,
    email: String,
    iat: i64,
    exp: i64,
    iss: Option<String>,
    jti: String,
    sid: String,
    typ: Option<String>,
    mem: Vec<(String, u8)>,
    mv: u64,
    /// Seconds from `NOW` at which the token is verified.
    now_offset: i32,
}

impl ClaimsInput {
    fn claims(self) -> AccessClaims {
        let mem: Memberships = self
            .mem
            .into_iter()
            .map(|(instance, role)| (instance, Role::ALL[usize::from(role % 3)]))
            .collect();
        AccessClaims {
            sub: self.sub,
            user_id: self.user_id,
            email: self.email,
            iat: self.iat,
            exp: self.exp,
            iss: self.iss.unwrap_or_else(|| ISSUER.to_owned()),
            jti: self.jti,
            sid: self.sid,
            typ: self.typ.unwrap_or_else(|| ACCESS_TOKEN_TYPE.to_owned()),
            mem,
            mv: self.mv,
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let keys = keys();
    let now = chrono::DateTime::from_timestamp(NOW, 0).expect("a valid time");

    // 1. The bytes as a presented token.
    if let Ok(token) = std::str::from_utf8(data) {
        if let Ok(verified) = keys.verify_access_token_at(token, now) {
            let claims = &verified.claims;
            assert_eq!(claims.typ, ACCESS_TOKEN_TYPE);
            assert_eq!(claims.iss, ISSUER);
            assert!(!claims.sub.is_empty());
            assert_eq!(verified.is_expired(), claims.exp <= NOW);
        }
        let _ = keys.verify_service_token_at(token, now);
    }

    // 2. Mint, then verify.
    let Ok(input) = ClaimsInput::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let now_secs = NOW + i64::from(input.now_offset);
    let now = chrono::DateTime::from_timestamp(now_secs, 0).expect("a valid time");
    let claims = input.claims();
    let token = keys
        .sign_access_token(&claims)
        .expect("our claims always sign");
    let expected = if token.len() > MAX_TOKEN_BYTES {
        Err(TokenError::TooLong)
    } else if claims.exp < 0 {
        // `exp` must be a NumericDate (jsonwebtoken reads it as an unsigned number).
        Err(TokenError::Malformed)
    } else if claims.iss != ISSUER {
        Err(TokenError::WrongIssuer)
    } else if claims.typ != ACCESS_TOKEN_TYPE {
        Err(TokenError::WrongType)
    } else if claims.sub.is_empty() {
        Err(TokenError::NoSubject)
    } else {
        let expired_for = (claims.exp <= now_secs)
            .then(|| Duration::from_secs((now_secs - claims.exp).unsigned_abs()));
        Ok(VerifiedToken {
            claims: claims.clone(),
            expired_for,
        })
    };
    assert_eq!(keys.verify_access_token_at(&token, now), expected);
});

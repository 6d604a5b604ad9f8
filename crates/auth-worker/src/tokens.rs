//! Opaque refresh tokens (access tokens are signed through `shared::JwtKeys`, see
//! `routes::auth_response`).
//!
//! A refresh token is 32 bytes from the OS CSPRNG, URL-safe base64 without padding
//! (43 characters). Only its SHA-256 (hex) is stored, so a copy of the database cannot
//! be replayed as tokens.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

/// Bytes of randomness in a refresh token (256 bits).
pub const REFRESH_TOKEN_BYTES: usize = 32;
/// Longest refresh token looked up; anything longer cannot be one of ours.
pub const MAX_REFRESH_TOKEN_CHARS: usize = 128;

/// A freshly generated refresh token: the value for the client and the hash to store.
pub struct NewRefreshToken {
    pub token: String,
    pub hash: String,
}

impl NewRefreshToken {
    pub fn generate() -> Self {
        let mut bytes = [0u8; REFRESH_TOKEN_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let token = URL_SAFE_NO_PAD.encode(bytes);
        let hash = hash_refresh_token(&token);
        Self { token, hash }
    }
}

impl std::fmt::Debug for NewRefreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewRefreshToken([REDACTED])")
    }
}

/// The stored form of a refresh token: SHA-256, lower-case hex.
pub fn hash_refresh_token(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_are_random_url_safe_and_hashed() {
        let a = NewRefreshToken::generate();
        let b = NewRefreshToken::generate();
        assert_ne!(a.token, b.token);
        assert_eq!(a.token.len(), 43);
        assert!(a
            .token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_eq!(a.hash, hash_refresh_token(&a.token));
        assert_eq!(a.hash.len(), 64);
        assert!(!format!("{a:?}").contains(&a.token));
    }

    #[test]
    fn sha256_matches_known_vector() {
        assert_eq!(
            hash_refresh_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}

//! Secrets that must not leak through `Debug` and are compared in constant time.

use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

/// A configured secret (bypass token, admin secret, JWT key). `Debug` prints
/// `[REDACTED]`; equality with a presented value takes time independent of where the
/// two first differ.
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(SecretString::from(value.into()))
    }

    /// The secret's bytes, for signing keys. Never log the result.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// Length in bytes (safe to log).
    pub fn len(&self) -> usize {
        self.expose().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Constant-time comparison with a presented value.
    pub fn matches(&self, presented: &str) -> bool {
        self.expose().as_bytes().ct_eq(presented.as_bytes()).into()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

/// Constant-time check of a presented value against an optional configured secret. An
/// unset secret matches nothing, not even an absent or empty presented value.
pub fn optional_secret_matches(configured: Option<&Secret>, presented: Option<&str>) -> bool {
    match (configured, presented) {
        (Some(secret), Some(value)) if !secret.is_empty() => secret.matches(value),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = Secret::new("hunter2-hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn unset_secret_matches_nothing() {
        assert!(!optional_secret_matches(None, None));
        assert!(!optional_secret_matches(None, Some("")));
        assert!(!optional_secret_matches(Some(&Secret::new("")), Some("")));
        assert!(optional_secret_matches(
            Some(&Secret::new("abc")),
            Some("abc")
        ));
        assert!(!optional_secret_matches(
            Some(&Secret::new("abc")),
            Some("abd")
        ));
        assert!(!optional_secret_matches(
            Some(&Secret::new("abc")),
            Some("ab")
        ));
    }
}

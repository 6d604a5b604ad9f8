//! `Password`: a new password that satisfies the policy (the original's): 8 to 128
//! characters, at least three of upper case, lower case, digit and other, and not one of
//! the common passwords in `common_passwords.txt`.

use std::collections::HashSet;
use std::sync::LazyLock;

use crate::error::ApiError;

pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_CHARS: usize = 128;
/// How many of the four character classes a password must use.
pub const MIN_CHARACTER_CLASSES: usize = 3;

/// The shipped list, lower-cased, comments and blank lines dropped.
static COMMON_PASSWORDS: LazyLock<HashSet<String>> = LazyLock::new(|| {
    include_str!("common_passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_lowercase)
        .collect()
});

/// A password accepted by the policy. `Debug` never shows it.
pub struct Password(String);

impl Password {
    /// Applies the policy. Each failure is `WEAK_PASSWORD` with a message naming the rule.
    pub fn parse(raw: String) -> Result<Self, ApiError> {
        let chars = raw.chars().count();
        if chars < MIN_PASSWORD_CHARS {
            return Err(ApiError::WeakPassword(format!(
                "Password must be at least {MIN_PASSWORD_CHARS} characters"
            )));
        }
        if chars > MAX_PASSWORD_CHARS {
            return Err(ApiError::WeakPassword(format!(
                "Password must be at most {MAX_PASSWORD_CHARS} characters"
            )));
        }
        if character_classes(&raw) < MIN_CHARACTER_CLASSES {
            return Err(ApiError::WeakPassword(format!(
                "Password must contain at least {MIN_CHARACTER_CLASSES} of: upper-case letters, \
                 lower-case letters, digits, special characters"
            )));
        }
        if COMMON_PASSWORDS.contains(&raw.to_lowercase()) {
            return Err(ApiError::WeakPassword(
                "Password is too common; choose a less predictable one".to_owned(),
            ));
        }
        Ok(Self(raw))
    }

    /// The plain text, for hashing only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([REDACTED])")
    }
}

/// Counts the classes used: upper, lower, digit, and anything else ("special",
/// including spaces and non-Latin symbols).
fn character_classes(password: &str) -> usize {
    let (mut upper, mut lower, mut digit, mut special) = (false, false, false, false);
    for c in password.chars() {
        if c.is_uppercase() {
            upper = true;
        } else if c.is_lowercase() {
            lower = true;
        } else if c.is_numeric() {
            digit = true;
        } else if !c.is_alphabetic() {
            special = true;
        }
    }
    [upper, lower, digit, special]
        .into_iter()
        .filter(|&b| b)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejects(raw: &str, fragment: &str) {
        match Password::parse(raw.to_owned()) {
            Err(ApiError::WeakPassword(message)) => {
                assert!(message.contains(fragment), "{raw:?}: {message}")
            }
            other => panic!("{raw:?}: expected WeakPassword, got {other:?}"),
        }
    }

    #[test]
    fn accepts_strong_passwords() {
        for ok in [
            "Str0ng!pass",
            "correct Horse battery",
            "ABCdef123",
            "zz9!ZZ9!",
        ] {
            assert!(Password::parse(ok.to_owned()).is_ok(), "{ok}");
        }
        assert!(Password::parse(format!("Aa1{}", "x".repeat(125))).is_ok());
    }

    #[test]
    fn each_rule_is_enforced() {
        rejects("Ab1!xyz", "at least 8");
        rejects(&format!("Aa1{}", "x".repeat(126)), "at most 128");
        rejects("onlylowercase", "at least 3 of");
        rejects("lowerand123", "at least 3 of");
        rejects("Password123!", "too common");
        rejects("P@SSW0RD", "too common");
    }

    #[test]
    fn the_list_is_loaded_and_lower_case() {
        assert!(COMMON_PASSWORDS.len() > 150);
        assert!(COMMON_PASSWORDS.contains("p@ssw0rd"));
        assert!(!COMMON_PASSWORDS.iter().any(|p| p.starts_with('#')));
    }

    #[test]
    fn debug_is_redacted() {
        let p = Password::parse("Str0ng!pass".to_owned()).unwrap();
        assert!(!format!("{p:?}").contains("Str0ng"));
    }
}

//! `Email`: trimmed, lower-cased, at most 254 characters, sensible syntax.

use crate::error::ApiError;

/// Longest email accepted (RFC 5321 path limit minus the angle brackets).
pub const MAX_EMAIL_CHARS: usize = 254;
const MAX_LOCAL_PART_CHARS: usize = 64;

/// A normalized email address: the form stored and compared, so uniqueness is
/// case-insensitive and ignores surrounding whitespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Trims, lower-cases and checks syntax. Failures are `INVALID_REQUEST`.
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let email = raw.trim().to_lowercase();
        if email.is_empty() {
            return Err(ApiError::invalid_request("Email is required"));
        }
        if email.chars().count() > MAX_EMAIL_CHARS {
            return Err(ApiError::invalid_request(format!(
                "Email must be at most {MAX_EMAIL_CHARS} characters"
            )));
        }
        if !is_valid_syntax(&email) {
            return Err(ApiError::invalid_request("Email address is not valid"));
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `local@domain` with a dot-atom local part and a dotted domain of letter/digit/hyphen
/// labels. Quoted local parts and IP-literal domains are legal but not accepted: no
/// real user signs up with them and they complicate every later consumer of the value.
fn is_valid_syntax(email: &str) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    is_valid_local_part(local) && is_valid_domain(domain)
}

fn is_valid_local_part(local: &str) -> bool {
    const ALLOWED_SYMBOLS: &str = "!#$%&'*+-/=?^_`{|}~.";
    !local.is_empty()
        && local.chars().count() <= MAX_LOCAL_PART_CHARS
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_alphanumeric() || ALLOWED_SYMBOLS.contains(c))
}

fn is_valid_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.chars().count() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.chars().count() >= 2 && !tld.chars().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_case_and_whitespace() {
        let email = Email::parse("  Alice.Smith+tag@Example.COM \n").unwrap();
        assert_eq!(email.as_str(), "alice.smith+tag@example.com");
    }

    #[test]
    fn accepts_ordinary_addresses() {
        for ok in [
            "a@b.co",
            "first.last@sub.example.org",
            "x_y-z@my-host.io",
            "o'brien@ex.ie",
        ] {
            assert!(Email::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_bad_syntax() {
        for bad in [
            "",
            "   ",
            "plainaddress",
            "@example.com",
            "a@",
            "a@b",
            "a@b.c",
            "a@@b.co",
            "a b@c.co",
            ".a@b.co",
            "a.@b.co",
            "a..b@c.co",
            "a@-b.co",
            "a@b-.co",
            "a@b..co",
            "a@b.co.",
            "a@1.2.3.4",
            "a@[127.0.0.1]",
            "\"quoted\"@b.co",
            "a<script>@b.co",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn enforces_length_limits() {
        let local = "a".repeat(64);
        let domain = format!(
            "{}.{}.{}.com",
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(57)
        );
        let longest = format!("{local}@{domain}");
        assert_eq!(longest.len(), 254);
        assert!(Email::parse(&longest).is_ok());
        let too_long = format!("{local}@e{domain}");
        assert!(Email::parse(&too_long).is_err());
        assert!(Email::parse(&format!("{}@b.co", "a".repeat(65))).is_err());
    }
}

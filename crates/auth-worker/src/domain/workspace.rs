//! Validated inputs of the instance routes: instance names and roles.

use shared::Role;

use crate::error::ApiError;

/// Longest instance name, in characters (after trimming).
pub const MAX_INSTANCE_NAME_CHARS: usize = 100;

/// An instance name: trimmed, 1 to 100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceName(String);

impl InstanceName {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let name = raw.trim();
        let chars = name.chars().count();
        if chars == 0 || chars > MAX_INSTANCE_NAME_CHARS {
            return Err(ApiError::invalid_request(format!(
                "Field `name` must be 1 to {MAX_INSTANCE_NAME_CHARS} characters"
            )));
        }
        if name.chars().any(char::is_control) {
            return Err(ApiError::invalid_request(
                "Field `name` must not contain control characters",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A role from a request body: exactly `owner`, `editor` or `viewer`.
pub fn parse_role(raw: &str) -> Result<Role, ApiError> {
    Role::parse(raw).ok_or_else(|| {
        ApiError::invalid_request("Field `role` must be one of `owner`, `editor`, `viewer`")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded_in_characters() {
        assert_eq!(InstanceName::parse("  Team  ").unwrap().as_str(), "Team");
        assert_eq!(
            InstanceName::parse(&"é".repeat(100)).unwrap().as_str(),
            "é".repeat(100)
        );
        for bad in ["", "   ", &"x".repeat(101), "a\u{0}b", "line\nbreak"] {
            assert!(InstanceName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn roles_are_exact_names() {
        assert_eq!(parse_role("editor").unwrap(), Role::Editor);
        for bad in ["Editor", "admin", "", " owner"] {
            assert!(parse_role(bad).is_err(), "{bad:?}");
        }
    }
}

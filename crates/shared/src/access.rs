//! Workspace (instance) roles, as auth-worker grants them and sync-worker enforces them.
//!
//! A store id is an instance id. Access tokens carry the caller's memberships as a map
//! `instance id -> role` (claim `mem`) plus the membership version they reflect (claim
//! `mv`, the auth change feed's sequence number at issue time); later changes reach the
//! sync nodes through the change feed ([`crate::change_feed`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What a member may do in an instance (and its store).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything: pull, push, manage members, rename, delete, admin messages.
    Owner,
    /// Pull and push.
    Editor,
    /// Pull only.
    Viewer,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Owner, Role::Editor, Role::Viewer];

    /// The role as it appears on the wire (`owner`, `editor`, `viewer`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Editor => "editor",
            Self::Viewer => "viewer",
        }
    }

    /// Parses a wire name; anything else is `None`.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|role| role.as_str() == raw)
    }

    /// May push events to the store.
    pub fn can_push(self) -> bool {
        matches!(self, Self::Owner | Self::Editor)
    }

    /// May manage the instance (members, name, deletion) and send admin messages.
    pub fn is_owner(self) -> bool {
        self == Self::Owner
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `mem` claim: every instance the token's user is a member of, with the role.
pub type Memberships = BTreeMap<String, Role>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
            let json = serde_json::to_string(&role).unwrap();
            assert_eq!(json, format!("\"{role}\""));
            assert_eq!(serde_json::from_str::<Role>(&json).unwrap(), role);
        }
        assert_eq!(Role::parse("Owner"), None);
        assert!(serde_json::from_str::<Role>("\"admin\"").is_err());
    }

    #[test]
    fn rights() {
        assert!(Role::Owner.can_push() && Role::Owner.is_owner());
        assert!(Role::Editor.can_push() && !Role::Editor.is_owner());
        assert!(!Role::Viewer.can_push() && !Role::Viewer.is_owner());
    }
}

//! The records storage hands to the routes, the same for every backend.

use serde::Serialize;
use shared::Role;

/// Name of the instance every new user gets.
pub const DEFAULT_INSTANCE_NAME: &str = "Personal Workspace";

/// A user as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: String,
    pub email: String,
    /// Every instance the user is a member of, with the role.
    pub instances: Vec<Instance>,
}

/// What a login needs to check a password. Deliberately not `Debug`: it holds the hash.
pub struct Credentials {
    pub user_id: String,
    pub email: String,
    pub password_hash: String,
}

/// A session to create, with its first refresh token (hash only).
#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: String,
    pub token_hash: String,
    pub expires_at_ms: i64,
}

/// A stored refresh token with the state of its session and user.
#[derive(Debug, Clone)]
pub struct RefreshTokenRecord {
    pub session_id: String,
    pub user_id: String,
    pub email: String,
    pub expires_at_ms: i64,
    pub rotated: bool,
    pub session_revoked: bool,
}

/// Result of trying to rotate a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotateOutcome {
    Rotated,
    /// Someone rotated it first, or the session was revoked meanwhile.
    NotCurrent,
}

/// One of a user's instances with the user's role in it, camelCase on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Instance {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub created_at: String,
    pub last_accessed_at: String,
    pub is_default: bool,
}

/// A member as `GET /instances/{id}/members` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    pub user_id: String,
    pub email: String,
    pub role: Role,
}

//! Who a connection (or an events request) acts as, and with which role on its store.
//!
//! Every admitted socket carries an [`Identity`]: the verified user (recorded as
//! `pushed_by`), the token's session (so a logout finds its sockets), how it was
//! admitted, and its role on the store at connect time. The live role, which the change
//! feed may lower while the socket is open, is the connection's
//! [`crate::revocation::ConnControl`].

use std::sync::Arc;

use shared::Role;

/// How a connection was admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityKind {
    /// A verified access token (possibly within the grace period).
    Jwt,
    /// The development fallback user (`REQUIRE_AUTH=false` only).
    Dev,
    /// The server bypass token.
    ServerBypass,
}

/// Who a connection acts as; `user_id` is recorded as `pushed_by` on its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user_id: Arc<str>,
    /// The access token's `sid` (the session it was issued for).
    pub session_id: Option<Arc<str>>,
    pub kind: IdentityKind,
    /// The role on the connection's store when it was admitted.
    pub role: Role,
}

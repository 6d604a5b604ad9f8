//! Who may open which store, as a pure function of the credential, the store id and
//! what the change feed says (collected by the caller into [`FeedFacts`]).
//!
//! | case | outcome |
//! |---|---|
//! | `REQUIRE_AUTH=false` | open, role owner (development, as before) |
//! | server bypass | any store, role owner |
//! | session revoked (logout, refresh-token reuse) | 401 `TOKEN_REVOKED` (the grace period never forgives it) |
//! | token expired (within grace) while the feed is not live | 401 `GRACE_PERIOD_EXPIRED` (grace suspended) |
//! | `members`: instance deleted after the token (`seq > mv`) | 403 `STORE_FORBIDDEN` |
//! | `members`: role = feed change for (user, store) with `seq > mv`, else `mem[store]` | that role; none: 403 `STORE_FORBIDDEN` |
//! | `any-user`: the same role when there is one, else editor | open (deleted instances still 403) |

use shared::Role;

use super::auth::{Credential, Rejection};
use crate::config::StoreAccess;
use crate::identity::{Identity, IdentityKind};

/// What the change feed knows that bears on one (session, user, store).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FeedFacts {
    /// Synced at least once and the last poll succeeded recently.
    pub live: bool,
    /// The credential's session was revoked.
    pub session_revoked: bool,
    /// The latest membership change of (user, store): `(seq, role)`.
    pub membership: Option<(u64, Option<Role>)>,
    /// The store's instance was deleted at this `seq`.
    pub deleted: Option<u64>,
}

/// The access rules' inputs from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessRules {
    pub require_auth: bool,
    pub store_access: StoreAccess,
}

/// The 401 for a revoked session.
pub fn revoked() -> Rejection {
    Rejection::unauthorized("TOKEN_REVOKED", "Session has been revoked")
}

/// Decides whether `credential` may open `store`, and with which role.
pub fn authorize(
    credential: &Credential,
    store: &str,
    rules: AccessRules,
    facts: &FeedFacts,
) -> Result<Identity, Rejection> {
    let identity = |role| Identity {
        user_id: credential.user_id.clone(),
        session_id: credential.session_id.clone(),
        kind: credential.kind,
        role,
    };
    if !rules.require_auth {
        return Ok(identity(Role::Owner));
    }
    let grant = match (credential.kind, &credential.grant) {
        (IdentityKind::ServerBypass, _) => return Ok(identity(Role::Owner)),
        (IdentityKind::Jwt, Some(grant)) => grant,
        // Enforced mode never admits the dev user; nothing else lacks a grant.
        _ => {
            return Err(Rejection::unauthorized(
                "TOKEN_INVALID",
                "Invalid JWT token",
            ))
        }
    };
    if facts.session_revoked {
        return Err(revoked());
    }
    if grant.expired && !facts.live {
        return Err(Rejection::unauthorized(
            "GRACE_PERIOD_EXPIRED",
            "Token expired; the grace period is suspended while revocations cannot be checked",
        ));
    }
    let mv = grant.membership_version;
    if facts.deleted.is_some_and(|seq| seq > mv) {
        return Err(Rejection::forbidden_store());
    }
    let membership = match facts.membership {
        Some((seq, role)) if seq > mv => role,
        _ => grant.memberships.get(store).copied(),
    };
    role_for(rules.store_access, membership)
        .map(identity)
        .ok_or_else(Rejection::forbidden_store)
}

/// The role a membership (`None`: not a member) gives under `STORE_ACCESS`; `None`:
/// the store is refused.
pub fn role_for(store_access: StoreAccess, membership: Option<Role>) -> Option<Role> {
    match store_access {
        StoreAccess::Members => membership,
        StoreAccess::AnyUser => Some(membership.unwrap_or(Role::Editor)),
    }
}

#[cfg(test)]
#[path = "access_tests.rs"]
mod tests;

//! The node-wide registry of open sockets, so that a feed change finds the sockets it
//! affects, and what a change does to one socket ([`effect`], pure).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};

use shared::change_feed::{Change, ChangeRecord};
use shared::Role;
use tokio_util::sync::CancellationToken;

use crate::config::StoreAccess;
use crate::connect::access::role_for;
use crate::identity::{Identity, IdentityKind};
use crate::storage::StoreId;

/// Close codes for revoked access (also in `PROTOCOL.md`).
pub mod close_code {
    /// The socket's session was revoked (logout, refresh-token reuse).
    pub const SESSION_REVOKED: u16 = 4401;
    /// The user lost access to the store (removed, or the instance was deleted).
    pub const ACCESS_REVOKED: u16 = 4403;
}

/// Why the registry closes a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloseReason {
    pub code: u16,
    pub reason: &'static str,
}

pub const SESSION_REVOKED: CloseReason = CloseReason {
    code: close_code::SESSION_REVOKED,
    reason: "session revoked",
};
pub const ACCESS_REVOKED: CloseReason = CloseReason {
    code: close_code::ACCESS_REVOKED,
    reason: "access revoked",
};

/// Shared between a connection and the registry: its live role and its close order.
#[derive(Debug)]
pub struct ConnControl {
    role: AtomicU8,
    closed: CancellationToken,
    reason: OnceLock<CloseReason>,
}

impl ConnControl {
    pub fn new(role: Role) -> Self {
        Self {
            role: AtomicU8::new(encode(role)),
            closed: CancellationToken::new(),
            reason: OnceLock::new(),
        }
    }

    /// The connection's current role on its store.
    pub fn role(&self) -> Role {
        decode(self.role.load(Ordering::Acquire))
    }

    pub fn set_role(&self, role: Role) {
        self.role.store(encode(role), Ordering::Release);
    }

    /// Orders the connection closed with `reason` (the first order wins).
    pub fn close(&self, reason: CloseReason) {
        let _ = self.reason.set(reason);
        self.closed.cancel();
    }

    /// Cancelled once the connection must close.
    pub fn closed(&self) -> &CancellationToken {
        &self.closed
    }

    pub fn close_reason(&self) -> Option<CloseReason> {
        self.reason.get().copied()
    }
}

fn encode(role: Role) -> u8 {
    match role {
        Role::Owner => 0,
        Role::Editor => 1,
        Role::Viewer => 2,
    }
}

fn decode(raw: u8) -> Role {
    match raw {
        0 => Role::Owner,
        1 => Role::Editor,
        _ => Role::Viewer,
    }
}

/// What the registry knows about one open socket.
#[derive(Debug, Clone)]
pub struct Entry {
    pub user_id: Arc<str>,
    pub session_id: Option<Arc<str>>,
    pub kind: IdentityKind,
    pub store: StoreId,
    /// The token's membership version: changes up to it are already in its role.
    pub membership_version: u64,
    pub control: Arc<ConnControl>,
}

impl Entry {
    pub fn new(identity: &Identity, store: StoreId, membership_version: u64) -> Self {
        Self {
            user_id: identity.user_id.clone(),
            session_id: identity.session_id.clone(),
            kind: identity.kind,
            store,
            membership_version,
            control: Arc::new(ConnControl::new(identity.role)),
        }
    }
}

/// What one change does to one socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    None,
    SetRole(Role),
    Close(CloseReason),
}

/// The effect of `record` on the socket described by `entry` (only access-token
/// sockets are affected: bypass sockets belong to no session or membership).
pub fn effect(entry: &Entry, record: &ChangeRecord, store_access: StoreAccess) -> Effect {
    if entry.kind != IdentityKind::Jwt {
        return Effect::None;
    }
    match &record.change {
        Change::SessionRevoked { session_id, .. } => {
            if entry.session_id.as_deref() == Some(session_id.as_str()) {
                Effect::Close(SESSION_REVOKED)
            } else {
                Effect::None
            }
        }
        Change::MembershipChanged {
            user_id,
            instance_id,
            role,
        } => {
            let ours = *entry.user_id == **user_id && entry.store.as_str() == instance_id;
            if !ours || record.seq <= entry.membership_version {
                return Effect::None;
            }
            match role_for(store_access, *role) {
                Some(role) => Effect::SetRole(role),
                None => Effect::Close(ACCESS_REVOKED),
            }
        }
        Change::InstanceDeleted { instance_id } => {
            if entry.store.as_str() == instance_id {
                Effect::Close(ACCESS_REVOKED)
            } else {
                Effect::None
            }
        }
    }
}

/// Every open socket of this node, by connection id.
#[derive(Debug, Default)]
pub struct Registry {
    entries: HashMap<u64, Entry>,
}

impl Registry {
    pub fn insert(&mut self, id: u64, entry: Entry) {
        self.entries.insert(id, entry);
    }

    pub fn remove(&mut self, id: u64) {
        self.entries.remove(&id);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Applies one change to every affected socket; returns how many were closed.
    pub fn apply(&self, record: &ChangeRecord, store_access: StoreAccess) -> usize {
        let mut closed = 0;
        for entry in self.entries.values() {
            match effect(entry, record, store_access) {
                Effect::None => {}
                Effect::SetRole(role) => entry.control.set_role(role),
                Effect::Close(reason) => {
                    entry.control.close(reason);
                    closed += 1;
                }
            }
        }
        closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: IdentityKind, user: &str, sid: &str, store: &str, mv: u64) -> Entry {
        let identity = Identity {
            user_id: user.into(),
            session_id: Some(sid.into()),
            kind,
            role: Role::Owner,
        };
        Entry::new(&identity, StoreId::parse(store).unwrap(), mv)
    }

    fn record(seq: u64, change: Change) -> ChangeRecord {
        ChangeRecord {
            seq,
            at: String::new(),
            change,
        }
    }

    fn member(seq: u64, user: &str, store: &str, role: Option<Role>) -> ChangeRecord {
        record(
            seq,
            Change::MembershipChanged {
                user_id: user.into(),
                instance_id: store.into(),
                role,
            },
        )
    }

    #[test]
    fn effects_per_change() {
        let m = StoreAccess::Members;
        let e = entry(IdentityKind::Jwt, "u", "s", "i", 5);
        let logout = record(
            9,
            Change::SessionRevoked {
                session_id: "s".into(),
                user_id: "u".into(),
            },
        );
        assert_eq!(effect(&e, &logout, m), Effect::Close(SESSION_REVOKED));
        let other_session = record(
            9,
            Change::SessionRevoked {
                session_id: "t".into(),
                user_id: "u".into(),
            },
        );
        assert_eq!(effect(&e, &other_session, m), Effect::None);
        assert_eq!(
            effect(&e, &member(6, "u", "i", None), m),
            Effect::Close(ACCESS_REVOKED)
        );
        assert_eq!(
            effect(&e, &member(6, "u", "i", Some(Role::Viewer)), m),
            Effect::SetRole(Role::Viewer)
        );
        assert_eq!(
            effect(&e, &member(6, "u", "i", None), StoreAccess::AnyUser),
            Effect::SetRole(Role::Editor)
        );
        // Older than the token, another user, another store: nothing.
        assert_eq!(effect(&e, &member(5, "u", "i", None), m), Effect::None);
        assert_eq!(effect(&e, &member(6, "v", "i", None), m), Effect::None);
        assert_eq!(effect(&e, &member(6, "u", "j", None), m), Effect::None);
        let deleted = |store: &str| {
            record(
                7,
                Change::InstanceDeleted {
                    instance_id: store.into(),
                },
            )
        };
        assert_eq!(effect(&e, &deleted("i"), m), Effect::Close(ACCESS_REVOKED));
        assert_eq!(effect(&e, &deleted("j"), m), Effect::None);
        let bypass = entry(IdentityKind::ServerBypass, "u", "s", "i", 0);
        for change in [logout, member(6, "u", "i", None), deleted("i")] {
            assert_eq!(effect(&bypass, &change, m), Effect::None);
        }
    }

    #[test]
    fn registry_applies_to_matching_sockets_only() {
        let mut registry = Registry::default();
        let a = entry(IdentityKind::Jwt, "u", "s", "i", 0);
        let b = entry(IdentityKind::Jwt, "u", "s2", "i", 0);
        let (ca, cb) = (a.control.clone(), b.control.clone());
        registry.insert(1, a);
        registry.insert(2, b);
        assert_eq!(
            registry.apply(
                &member(1, "u", "i", Some(Role::Viewer)),
                StoreAccess::Members
            ),
            0
        );
        assert_eq!((ca.role(), cb.role()), (Role::Viewer, Role::Viewer));
        let logout = record(
            2,
            Change::SessionRevoked {
                session_id: "s".into(),
                user_id: "u".into(),
            },
        );
        assert_eq!(registry.apply(&logout, StoreAccess::Members), 1);
        assert!(ca.closed().is_cancelled() && !cb.closed().is_cancelled());
        assert_eq!(ca.close_reason(), Some(SESSION_REVOKED));
        registry.remove(1);
        assert_eq!(registry.len(), 1);
    }
}

//! What this node has learned from the change feed, as plain data: revoked sessions,
//! membership overrides, deleted instances, and how fresh that knowledge is.
//!
//! Entries are kept for `shared::change_feed::retention` after they arrive: by then
//! every token they could override has expired beyond its grace period.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use shared::change_feed::{Change, ChangeRecord};
use shared::Role;

use crate::connect::access::FeedFacts;

/// The feed's knowledge on this node.
#[derive(Debug, Default)]
pub struct FeedState {
    /// Revoked session id -> when it was learned.
    revoked: HashMap<String, Instant>,
    /// (user, instance) -> (seq, role, learned at).
    memberships: HashMap<(String, String), (u64, Option<Role>, Instant)>,
    /// Deleted instance -> (seq, learned at).
    deleted: HashMap<String, (u64, Instant)>,
    /// The highest `seq` applied.
    pub last_seq: u64,
    /// Caught up with the feed at least once.
    pub synced: bool,
    /// When the last poll succeeded; `None` after a failed one.
    last_ok: Option<Instant>,
}

impl FeedState {
    /// Records one change (changes must be applied in `seq` order).
    pub fn apply(&mut self, record: &ChangeRecord, now: Instant) {
        self.last_seq = self.last_seq.max(record.seq);
        match &record.change {
            Change::SessionRevoked { session_id, .. } => {
                self.revoked.insert(session_id.clone(), now);
            }
            Change::MembershipChanged {
                user_id,
                instance_id,
                role,
            } => {
                self.memberships.insert(
                    (user_id.clone(), instance_id.clone()),
                    (record.seq, *role, now),
                );
            }
            Change::InstanceDeleted { instance_id } => {
                self.deleted.insert(instance_id.clone(), (record.seq, now));
            }
        }
    }

    /// A poll answered (`caught_up`: nothing newer was left on the feed).
    pub fn poll_succeeded(&mut self, caught_up: bool, now: Instant) {
        self.last_ok = Some(now);
        self.synced |= caught_up;
    }

    /// A poll failed: the feed is not live until the next success.
    pub fn poll_failed(&mut self) {
        self.last_ok = None;
    }

    /// Synced once, and the last poll succeeded less than `window` ago.
    pub fn is_live(&self, now: Instant, window: Duration) -> bool {
        self.synced
            && self
                .last_ok
                .is_some_and(|at| now.saturating_duration_since(at) <= window)
    }

    /// What the feed says about this session, user and store.
    pub fn facts(
        &self,
        session_id: Option<&str>,
        user_id: &str,
        store: &str,
        now: Instant,
        window: Duration,
    ) -> FeedFacts {
        FeedFacts {
            live: self.is_live(now, window),
            session_revoked: session_id.is_some_and(|sid| self.revoked.contains_key(sid)),
            membership: self
                .memberships
                .get(&(user_id.to_owned(), store.to_owned()))
                .map(|(seq, role, _)| (*seq, *role)),
            deleted: self.deleted.get(store).map(|(seq, _)| *seq),
        }
    }

    /// Forgets entries learned more than `retention` ago.
    pub fn prune(&mut self, now: Instant, retention: Duration) {
        let fresh = |at: &Instant| now.saturating_duration_since(*at) <= retention;
        self.revoked.retain(|_, at| fresh(at));
        self.memberships.retain(|_, (_, _, at)| fresh(at));
        self.deleted.retain(|_, (_, at)| fresh(at));
    }

    /// Drops everything (the feed restarted its numbering).
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// Number of entries held (for logs and tests).
    pub fn len(&self) -> usize {
        self.revoked.len() + self.memberships.len() + self.deleted.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: u64, change: Change) -> ChangeRecord {
        ChangeRecord {
            seq,
            at: "2026-12-01T00:00:00.000Z".into(),
            change,
        }
    }

    #[test]
    fn facts_reflect_applied_changes() {
        let now = Instant::now();
        let window = Duration::from_secs(60);
        let mut state = FeedState::default();
        assert!(!state.is_live(now, window));
        state.apply(
            &record(
                1,
                Change::SessionRevoked {
                    session_id: "s1".into(),
                    user_id: "u".into(),
                },
            ),
            now,
        );
        for (seq, role) in [(2, Some(Role::Viewer)), (3, None)] {
            state.apply(
                &record(
                    seq,
                    Change::MembershipChanged {
                        user_id: "u".into(),
                        instance_id: "i".into(),
                        role,
                    },
                ),
                now,
            );
        }
        state.apply(
            &record(
                4,
                Change::InstanceDeleted {
                    instance_id: "j".into(),
                },
            ),
            now,
        );
        state.poll_succeeded(true, now);
        assert_eq!(state.last_seq, 4);
        assert_eq!(
            state.facts(Some("s1"), "u", "i", now, window),
            FeedFacts {
                live: true,
                session_revoked: true,
                membership: Some((3, None)),
                deleted: None,
            }
        );
        let other = state.facts(Some("s2"), "u", "j", now, window);
        assert!(!other.session_revoked && other.membership.is_none());
        assert_eq!(other.deleted, Some(4));
        assert!(state
            .facts(None, "v", "i", now, window)
            .membership
            .is_none());
    }

    #[test]
    fn liveness_needs_a_sync_and_a_recent_success() {
        let t0 = Instant::now();
        let window = Duration::from_secs(10);
        let mut state = FeedState::default();
        state.poll_succeeded(false, t0);
        assert!(!state.is_live(t0, window), "not caught up yet");
        state.poll_succeeded(true, t0);
        assert!(state.is_live(t0 + Duration::from_secs(10), window));
        assert!(!state.is_live(t0 + Duration::from_secs(11), window));
        state.poll_failed();
        assert!(!state.is_live(t0, window));
        state.poll_succeeded(false, t0);
        assert!(state.is_live(t0, window), "synced once is enough");
    }

    #[test]
    fn prune_forgets_old_entries() {
        let t0 = Instant::now();
        let mut state = FeedState::default();
        let revoked = |sid: &str| {
            record(
                1,
                Change::SessionRevoked {
                    session_id: sid.into(),
                    user_id: "u".into(),
                },
            )
        };
        state.apply(&revoked("old"), t0);
        state.apply(&revoked("new"), t0 + Duration::from_secs(50));
        state.prune(t0 + Duration::from_secs(100), Duration::from_secs(60));
        assert_eq!(state.len(), 1);
        let w = Duration::from_secs(1);
        let now = t0 + Duration::from_secs(100);
        assert!(!state.facts(Some("old"), "u", "i", now, w).session_revoked);
        assert!(state.facts(Some("new"), "u", "i", now, w).session_revoked);
        state.clear();
        assert!(state.is_empty() && !state.synced);
    }
}

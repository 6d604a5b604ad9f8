//! Revocations reaching this node: a background task long-polls auth-worker's change
//! feed ([`poller`]), the knowledge is kept in a [`state::FeedState`], and every change
//! is applied at once to the open sockets it concerns through the node-wide
//! [`registry::Registry`].
//!
//! Admission and the feed share one lock order (state, then registry): a connect checks
//! the state and registers its socket under the state's read lock, and the poller
//! applies a page to the state and to the registry under its write lock, so no socket
//! can be admitted on old knowledge and miss the change that revokes it.

pub mod poller;
pub mod registry;
pub mod state;

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use shared::change_feed::{Change, ChangeRecord};
use tokio::sync::watch;

pub use registry::{CloseReason, ConnControl};

use crate::config::{FeedConfig, StoreAccess};
use crate::connect::access::{authorize, AccessRules, FeedFacts};
use crate::connect::auth::{Credential, Rejection};
use crate::hub::lock;
use crate::identity::Identity;
use crate::storage::StoreId;
use registry::{Entry, Registry};
use state::FeedState;

/// This node's view of revocations and its open sockets.
pub struct Revocations {
    state: RwLock<FeedState>,
    registry: Mutex<Registry>,
    rules: AccessRules,
    feed: FeedConfig,
    /// How long after its last success the feed still counts as live.
    live_window: Duration,
    /// How long entries are kept.
    retention: Duration,
    synced: watch::Sender<bool>,
}

impl std::fmt::Debug for Revocations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Revocations")
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

impl Revocations {
    pub fn new(rules: AccessRules, feed: FeedConfig, retention: Duration) -> Self {
        Self {
            state: RwLock::new(FeedState::default()),
            registry: Mutex::new(Registry::default()),
            rules,
            // A long poll answers within `wait`; two periods plus slack for the network.
            live_window: feed.wait * 2 + Duration::from_secs(5),
            feed,
            retention,
            synced: watch::channel(false).0,
        }
    }

    pub fn rules(&self) -> AccessRules {
        self.rules
    }

    /// Whether the feed is followed at all (enforced auth and `AUTH_URL` set).
    pub fn follows_feed(&self) -> bool {
        self.rules.require_auth && self.feed.auth_url.is_some()
    }

    /// Right after start, waits (up to `AUTH_FEED_STARTUP_WAIT_SECONDS`) for the first
    /// sync, so a restarted node does not admit a session revoked while it was down.
    pub async fn wait_first_sync(&self) {
        if !self.follows_feed() || *self.synced.borrow() {
            return;
        }
        let mut synced = self.synced.subscribe();
        let _ = tokio::time::timeout(self.feed.startup_wait, synced.wait_for(|s| *s)).await;
    }

    fn facts(&self, state: &FeedState, credential: &Credential, store: &StoreId) -> FeedFacts {
        state.facts(
            credential.session_id.as_deref(),
            &credential.user_id,
            store.as_str(),
            Instant::now(),
            self.live_window,
        )
    }

    /// Decides access for a request that opens no socket (the events endpoint).
    pub fn check(&self, credential: &Credential, store: &StoreId) -> Result<Identity, Rejection> {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        let facts = self.facts(&state, credential, store);
        self.log_suspended(credential, &facts);
        authorize(credential, store.as_str(), self.rules, &facts)
    }

    /// Decides access for a socket and, when admitted, registers it under connection
    /// id `id`; dropping the [`Registration`] unregisters it.
    pub fn admit(
        self: &Arc<Self>,
        credential: &Credential,
        store: &StoreId,
        id: u64,
    ) -> Result<(Identity, Registration), Rejection> {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        let facts = self.facts(&state, credential, store);
        self.log_suspended(credential, &facts);
        let identity = authorize(credential, store.as_str(), self.rules, &facts)?;
        let mv = credential
            .grant
            .as_ref()
            .map_or(0, |grant| grant.membership_version);
        let entry = Entry::new(&identity, store.clone(), mv);
        let control = entry.control.clone();
        lock(&self.registry).insert(id, entry);
        drop(state);
        Ok((
            identity,
            Registration {
                owner: self.clone(),
                id,
                control,
            },
        ))
    }

    /// Applies one page of the feed: state first, then the open sockets. Returns the
    /// stores of deleted instances, whose events the caller deletes.
    pub fn apply_page(&self, changes: &[ChangeRecord], caught_up: bool) -> Vec<StoreId> {
        let now = Instant::now();
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        let registry = lock(&self.registry);
        let mut wiped = Vec::new();
        for record in changes {
            if record.seq <= state.last_seq {
                continue;
            }
            state.apply(record, now);
            if !self.rules.require_auth {
                continue;
            }
            let closed = registry.apply(record, self.rules.store_access);
            tracing::info!(
                seq = record.seq,
                kind = kind(&record.change),
                closed,
                "feed change applied"
            );
            if let Change::InstanceDeleted { instance_id } = &record.change {
                if let Ok(store) = StoreId::parse(instance_id) {
                    wiped.push(store);
                }
            }
        }
        drop(registry);
        state.poll_succeeded(caught_up, now);
        state.prune(now, self.retention);
        let synced = state.synced;
        drop(state);
        if synced {
            self.synced
                .send_if_modified(|s| !std::mem::replace(s, true));
        }
        wiped
    }

    /// The last applied `seq` (where the next poll starts).
    pub fn last_seq(&self) -> u64 {
        self.state
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .last_seq
    }

    /// Marks the feed as not live until the next successful poll.
    pub fn poll_failed(&self) {
        self.state
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .poll_failed();
    }

    /// The feed's numbering went backwards (its database was replaced): start over.
    pub fn restart_feed(&self) {
        self.state
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Whether the feed is live now.
    pub fn is_live(&self) -> bool {
        self.state
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_live(Instant::now(), self.live_window)
    }

    /// Open sockets registered on this node.
    pub fn open_sockets(&self) -> usize {
        lock(&self.registry).len()
    }

    pub fn store_access(&self) -> StoreAccess {
        self.rules.store_access
    }
}

fn kind(change: &Change) -> &'static str {
    match change {
        Change::SessionRevoked { .. } => "session_revoked",
        Change::MembershipChanged { .. } => "membership_changed",
        Change::InstanceDeleted { .. } => "instance_deleted",
    }
}

impl Revocations {
    fn log_suspended(&self, credential: &Credential, facts: &FeedFacts) {
        if self.rules.require_auth
            && !facts.live
            && credential.grant.as_ref().is_some_and(|g| g.expired)
        {
            tracing::warn!(
                user_id = %credential.user_id,
                "refusing an expired access token: the change feed is not live, so the grace period is suspended"
            );
        }
    }
}

/// A socket's place in the registry; dropping it unregisters the socket.
pub struct Registration {
    owner: Arc<Revocations>,
    id: u64,
    control: Arc<ConnControl>,
}

impl Registration {
    /// The socket's live role and close order.
    pub fn control(&self) -> &Arc<ConnControl> {
        &self.control
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        lock(&self.owner.registry).remove(self.id);
    }
}

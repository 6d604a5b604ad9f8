//! Per-store hubs: one [`StoreHub`] per store with connections, created on first use and
//! retired when its last connection leaves and its pushes have committed.
//!
//! Each hub runs one actor task ([`actor`]) that serializes the store's pushes: it
//! validates a batch against the *expected* head (the head after the pushes already
//! handed to storage), hands it to storage without waiting for the previous commit,
//! and answers in push order: commit, then a typed [`Reply`] to the pusher, then one
//! shared [`Committed`] value for every connection of the store. The hub speaks no wire
//! protocol: each connection's protocol encodes replies and broadcasts (a broadcast at
//! most once per protocol, cached in the shared value). Different stores have different
//! actors and proceed in parallel; no lock is held across a socket write (connections
//! receive messages through bounded queues, never blocking the actor).

mod actor;
mod chain;
mod outcome;
mod remote;

pub(crate) use chain::validate_chain;
pub use outcome::{ChainError, Committed, CommittedEvents, PushOutcome, Reply, StorageFailure};

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::{mpsc, OwnedSemaphorePermit};
use tokio_util::sync::CancellationToken;

use crate::storage::{EventLog, NewEvent, StoreId};

/// A message queued for one connection.
#[derive(Debug, Clone)]
pub enum Outbound {
    /// The answer to this connection's own push or reset. Boxed: every connection's
    /// queue holds a block of 32 slots from the start, so the slot size is paid per
    /// socket (a `Reply` inline made each idle socket's queue about 1.5 KiB larger).
    Reply(Box<Reply>),
    /// A committed batch: its `last_seq` and `epoch` let a connection that just pulled
    /// past it skip it (see the connection module).
    Broadcast(Arc<Committed>),
}

/// How the hub reaches one connection.
#[derive(Debug, Clone)]
pub struct ConnHandle {
    pub id: u64,
    pub tx: mpsc::Sender<Outbound>,
    /// Cancelled by the hub when the connection's queue is full (slow consumer).
    pub kick: CancellationToken,
}

impl ConnHandle {
    /// Queues `frame` without waiting; a full queue kicks the connection.
    pub(crate) fn offer(&self, frame: Outbound) {
        match self.tx.try_send(frame) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                if !self.kick.is_cancelled() {
                    tracing::warn!(
                        conn = self.id,
                        "outbound queue full: disconnecting slow client"
                    );
                }
                self.kick.cancel();
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

/// A request to a store's actor.
pub(crate) enum Command {
    Push {
        conn: ConnHandle,
        request_id: Arc<str>,
        batch: Vec<NewEvent>,
        pushed_by: Arc<str>,
        /// Returned when the push is answered: bounds one connection's pipelining.
        permit: OwnedSemaphorePermit,
        /// The backend id the pusher believes in (0.4), checked against the store's.
        backend_id: Option<String>,
    },
    Reset {
        conn: ConnHandle,
        request_id: Arc<str>,
    },
    /// Another node committed events of this store `(from, to]`; `None`: notices were
    /// lost and the store may have moved.
    RemoteCommit(Option<(u64, u64)>),
    /// The store's instance was deleted: delete its events (like a reset, no answer).
    Wipe,
    /// The last connection left: retire if nothing is pending.
    CheckIdle,
}

/// State shared by a hub's handle, its actor and the registry.
pub(crate) struct HubShared {
    pub store: StoreId,
    pub subscribers: Mutex<HashMap<u64, ConnHandle>>,
    /// Incremented by every admin reset (sequence numbers restart).
    pub epoch: AtomicU64,
}

/// The hub of one store, as held by its connections.
pub struct StoreHub {
    shared: Arc<HubShared>,
    commands: mpsc::UnboundedSender<Command>,
}

impl StoreHub {
    pub fn store(&self) -> &StoreId {
        &self.shared.store
    }

    /// The current reset epoch of the store.
    pub fn epoch(&self) -> u64 {
        self.shared.epoch.load(Ordering::Acquire)
    }

    /// Submits a push; `false` when the hub is gone (server shutting down).
    /// `backend_id`: the store's backend id as the pusher knows it, if any.
    pub fn push(
        &self,
        conn: ConnHandle,
        request_id: Arc<str>,
        batch: Vec<NewEvent>,
        pushed_by: Arc<str>,
        permit: OwnedSemaphorePermit,
        backend_id: Option<String>,
    ) -> bool {
        self.commands
            .send(Command::Push {
                conn,
                request_id,
                batch,
                pushed_by,
                permit,
                backend_id,
            })
            .is_ok()
    }

    /// Submits an admin reset (the secret is already checked).
    pub fn reset(&self, conn: ConnHandle, request_id: Arc<str>) -> bool {
        self.commands
            .send(Command::Reset { conn, request_id })
            .is_ok()
    }
}

type Registry = Mutex<HashMap<StoreId, Arc<StoreHub>>>;

/// Limits a hub works with.
#[derive(Debug, Clone, Copy)]
pub struct HubLimits {
    /// Pushes handed to storage ahead of their commit.
    pub pipeline_depth: usize,
}

/// Every live store hub of this server.
#[derive(Clone)]
pub struct Hubs {
    registry: Arc<Registry>,
    log: Arc<dyn EventLog>,
    limits: HubLimits,
}

impl Hubs {
    pub fn new(log: Arc<dyn EventLog>, limits: HubLimits) -> Self {
        Self {
            registry: Arc::new(Mutex::new(HashMap::new())),
            log,
            limits,
        }
    }

    /// Adds a connection to its store's hub, creating the hub on first use.
    pub fn join(&self, store: &StoreId, conn: ConnHandle) -> Arc<StoreHub> {
        let mut registry = lock(&self.registry);
        let hub = registry
            .entry(store.clone())
            .or_insert_with(|| self.spawn_hub(store.clone()))
            .clone();
        lock(&hub.shared.subscribers).insert(conn.id, conn);
        hub
    }

    /// Removes a connection; the hub retires once it is idle.
    pub fn leave(&self, hub: &StoreHub, conn_id: u64) {
        let _registry = lock(&self.registry);
        let mut subscribers = lock(&hub.shared.subscribers);
        subscribers.remove(&conn_id);
        if subscribers.is_empty() {
            let _ = hub.commands.send(Command::CheckIdle);
        }
    }

    /// Hands a commit made by another node to the store's hub, if this node has one
    /// (a store without connections here has nobody to tell).
    pub fn remote_commit(&self, store: &StoreId, from: u64, to: u64) {
        if let Some(hub) = lock(&self.registry).get(store) {
            let _ = hub.commands.send(Command::RemoteCommit(Some((from, to))));
        }
    }

    /// Every hub re-reads its store's head and broadcasts what it missed.
    pub fn resync_all(&self) {
        for hub in lock(&self.registry).values() {
            let _ = hub.commands.send(Command::RemoteCommit(None));
        }
    }

    /// Deletes every event of `store` (its instance was deleted): through its hub when
    /// one is live, so pending pushes commit first and the reset epoch advances;
    /// directly otherwise.
    pub fn wipe(&self, store: &StoreId) {
        let registry = lock(&self.registry);
        if let Some(hub) = registry.get(store) {
            if hub.commands.send(Command::Wipe).is_ok() {
                return;
            }
        }
        drop(registry);
        let log = self.log.clone();
        let store = store.clone();
        tokio::spawn(async move {
            if let Err(error) = log.reset(&store).await {
                tracing::error!(%store, %error, "cannot delete the events of a deleted instance");
            }
        });
    }

    /// Number of live hubs (for tests and metrics).
    pub fn len(&self) -> usize {
        lock(&self.registry).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn spawn_hub(&self, store: StoreId) -> Arc<StoreHub> {
        let shared = Arc::new(HubShared {
            store,
            subscribers: Mutex::new(HashMap::new()),
            epoch: AtomicU64::new(0),
        });
        let (commands, rx) = mpsc::unbounded_channel();
        let actor = actor::StoreActor::new(
            shared.clone(),
            self.log.clone(),
            Arc::downgrade(&self.registry),
            rx,
            self.limits,
        );
        tokio::spawn(actor.run());
        Arc::new(StoreHub { shared, commands })
    }
}

/// Locks a std mutex, recovering from poisoning (no invariant spans a panic here).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Registry handle the actor uses to retire itself.
pub(crate) type RegistryRef = Weak<Registry>;

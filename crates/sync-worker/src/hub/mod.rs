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
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
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
    /// Whether the connection is streaming a pull, and whether broadcasts were dropped
    /// meanwhile ([`pull_state`]).
    pub pull_state: Arc<AtomicU8>,
}

/// [`ConnHandle::pull_state`]: a connection in the middle of a pull does not write its
/// outbound queue, so the queue may fill with broadcasts through no fault of the
/// client. Those broadcasts are dropped instead of kicking it, and the connection
/// resumes the pull from its head once it ends, which delivers them from storage.
pub mod pull_state {
    /// No pull is streaming: a full queue means a slow client.
    pub const IDLE: u8 = 0;
    /// A pull is streaming; no broadcast was dropped.
    pub const PULLING: u8 = 1;
    /// A pull is streaming and broadcasts were dropped: it must be resumed.
    pub const LAGGED: u8 = 2;
}

impl ConnHandle {
    /// A handle for connection `id` whose messages go to `tx`.
    pub fn new(id: u64, tx: mpsc::Sender<Outbound>) -> Self {
        Self {
            id,
            tx,
            kick: CancellationToken::new(),
            pull_state: Arc::new(AtomicU8::new(pull_state::IDLE)),
        }
    }

    /// A pull started streaming.
    pub(crate) fn pull_started(&self) {
        self.pull_state
            .store(pull_state::PULLING, Ordering::Release);
    }

    /// A pull sent its last page: `true` when broadcasts were dropped during it (the
    /// state stays "pulling" and the caller resumes the pull), `false` when none were.
    pub(crate) fn pull_ended(&self) -> bool {
        use pull_state::{IDLE, LAGGED, PULLING};
        match self
            .pull_state
            .compare_exchange(PULLING, IDLE, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) | Err(IDLE) => false,
            Err(_) => {
                // Only the hub sets LAGGED, only from PULLING; back to PULLING for the resume.
                let _ = self.pull_state.compare_exchange(
                    LAGGED,
                    PULLING,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
                true
            }
        }
    }

    /// Marks a dropped broadcast if a pull is streaming; `false` when none is.
    fn lag_if_pulling(&self) -> bool {
        use pull_state::{LAGGED, PULLING};
        match self
            .pull_state
            .compare_exchange(PULLING, LAGGED, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) | Err(LAGGED) => true,
            Err(_) => false,
        }
    }

    /// Queues `frame` without waiting; a full queue kicks the connection, unless the
    /// frame is a broadcast its running pull will cover ([`pull_state`]).
    pub(crate) fn offer(&self, frame: Outbound) {
        match self.tx.try_send(frame) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(frame)) => {
                if matches!(frame, Outbound::Broadcast(_)) && self.lag_if_pulling() {
                    tracing::debug!(
                        conn = self.id,
                        "outbound queue full during a pull: the pull resumes"
                    );
                    return;
                }
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
        /// Returned when the push is answered: bound one connection's pipelining and
        /// the store's queued bytes.
        permit: PushPermits,
        /// The backend id the pusher believes in (0.4), checked against the store's.
        backend_id: Option<String>,
        /// When the push's frame was received.
        received: Instant,
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

/// What a queued push holds until it is answered: its connection's in-flight slot and
/// its bytes in the store's queue.
pub(crate) struct PushPermits {
    _slot: OwnedSemaphorePermit,
    _bytes: OwnedSemaphorePermit,
}

/// Why [`StoreHub::push`] did not queue a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushRefused {
    /// The hub is gone (server shutting down).
    ShuttingDown,
    /// The store already holds `STORE_QUEUE_MAX_BYTES` of pushes.
    QueueFull { limit: usize },
}

impl std::fmt::Display for PushRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ShuttingDown => f.write_str("Store unavailable: the server is shutting down"),
            Self::QueueFull { limit } => write!(
                f,
                "Store busy: its push queue is full ({limit} bytes); retry later"
            ),
        }
    }
}

/// About how many bytes a pushed batch holds in memory.
pub(crate) fn batch_bytes(batch: &[NewEvent]) -> usize {
    const FIXED: usize = 64;
    batch
        .iter()
        .map(|e| {
            FIXED
                + e.name.len()
                + e.args.as_ref().map_or(0, |a| a.get().len())
                + e.client_id.len()
                + e.session_id.len()
        })
        .sum()
}

/// State shared by a hub's handle, its actor and the registry.
pub(crate) struct HubShared {
    pub store: StoreId,
    pub subscribers: Mutex<HashMap<u64, ConnHandle>>,
    /// Incremented by every admin reset (sequence numbers restart).
    pub epoch: AtomicU64,
    /// Bytes of pushes the store may hold between arrival and answer.
    pub queue: Arc<Semaphore>,
    /// The size of `queue`.
    pub queue_bytes: usize,
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

    /// Submits a push, refused when the store's queue has no room for its bytes or the
    /// hub is gone. `backend_id`: the store's backend id as the pusher knows it, if any.
    pub fn push(&self, conn: ConnHandle, push: HubPush) -> Result<(), PushRefused> {
        let HubPush {
            request_id,
            batch,
            pushed_by,
            permit,
            backend_id,
            received,
        } = push;
        let limit = self.shared.queue_bytes;
        let bytes = u32::try_from(batch_bytes(&batch).min(limit)).unwrap_or(u32::MAX);
        let Ok(bytes) = self.shared.queue.clone().try_acquire_many_owned(bytes) else {
            return Err(PushRefused::QueueFull { limit });
        };
        let permit = PushPermits {
            _slot: permit,
            _bytes: bytes,
        };
        self.commands
            .send(Command::Push {
                conn,
                request_id,
                batch,
                pushed_by,
                permit,
                backend_id,
                received,
            })
            .map_err(|_| PushRefused::ShuttingDown)
    }

    /// Submits an admin reset (the secret is already checked).
    pub fn reset(&self, conn: ConnHandle, request_id: Arc<str>) -> bool {
        self.commands
            .send(Command::Reset { conn, request_id })
            .is_ok()
    }
}

/// One push handed to a hub.
pub struct HubPush {
    pub request_id: Arc<str>,
    pub batch: Vec<NewEvent>,
    pub pushed_by: Arc<str>,
    /// Returned when the push is answered: bounds one connection's pipelining.
    pub permit: OwnedSemaphorePermit,
    /// The store's backend id as the pusher knows it (0.4), if any.
    pub backend_id: Option<String>,
    /// When the push's frame was received (the ack's round trip starts here).
    pub received: Instant,
}

type Registry = Mutex<HashMap<StoreId, Arc<StoreHub>>>;

/// Limits a hub works with.
#[derive(Debug, Clone, Copy)]
pub struct HubLimits {
    /// Pushes handed to storage ahead of their commit.
    pub pipeline_depth: usize,
    /// Bytes of pushes one store holds before they are answered.
    pub queue_bytes: usize,
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
            queue: Arc::new(Semaphore::new(self.limits.queue_bytes)),
            queue_bytes: self.limits.queue_bytes,
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

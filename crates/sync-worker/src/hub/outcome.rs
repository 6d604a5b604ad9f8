//! What a store hub tells its connections, protocol-neutral: the typed outcome of a push
//! or reset, and one shared [`Committed`] value per accepted batch, which every protocol
//! encodes at most once for all its connections.

use std::fmt;
use std::sync::{Arc, OnceLock};

use axum::extract::ws::Utf8Bytes;
use chrono::{DateTime, Utc};

use crate::protocol::ProtocolId;
use crate::storage::{NewEvent, StoreId, StoredEvent};

/// Why a pushed batch does not continue the store's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainError {
    /// The first event's parent is not the store's head.
    WrongParent { received: u64, head: u64 },
    /// Event `index` does not name the previous one (`expected_parent`) as its parent,
    /// or its `seq_num` is not greater than its parent.
    Broken {
        index: usize,
        seq_num: u64,
        parent_seq_num: u64,
        expected_parent: u64,
    },
}

impl fmt::Display for ChainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::WrongParent { received, head } => write!(
                f,
                "Invalid parent event number. Received e{received} but expected e{head}"
            ),
            Self::Broken {
                index,
                seq_num,
                parent_seq_num,
                expected_parent,
            } => write!(
                f,
                "Invalid event sequence: event {index} has seqNum e{seq_num} and parentSeqNum \
                 e{parent_seq_num}, expected parentSeqNum e{expected_parent} and a greater seqNum"
            ),
        }
    }
}

/// Which storage step failed a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageFailure {
    /// The store's head could not be read.
    HeadUnavailable,
    /// The append failed.
    NotStored,
    /// The connection failed during the commit: the push may or may not be stored (a
    /// later pull, or the broadcast that follows when it was, tells).
    Unknown,
}

impl StorageFailure {
    /// The error text both protocols send for it.
    pub fn message(self) -> &'static str {
        match self {
            Self::HeadUnavailable => "Internal error: storage unavailable",
            Self::NotStored => "Internal error: the push was not stored",
            Self::Unknown => {
                "Internal error: storage failed during the commit; the push may have been stored"
            }
        }
    }
}

/// How a push ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// Durably stored (or empty); its broadcast follows or precedes in the queue.
    Committed,
    /// The batch's first parent is not the head (also after a storage conflict).
    WrongParent { head: u64, parent: u64 },
    /// The batch is not a valid chain.
    InvalidChain(ChainError),
    /// Storage failed; nothing was stored.
    StorageFailure(StorageFailure),
    /// The push names a backend id that is not the store's (0.4 clients).
    BackendIdMismatch {
        expected: Arc<str>,
        received: String,
    },
}

impl From<ChainError> for PushOutcome {
    fn from(error: ChainError) -> Self {
        match error {
            ChainError::WrongParent { received, head } => Self::WrongParent {
                head,
                parent: received,
            },
            broken => Self::InvalidChain(broken),
        }
    }
}

/// The hub's answer to one request of a connection.
#[derive(Debug, Clone)]
pub enum Reply {
    Push {
        request_id: Arc<str>,
        outcome: PushOutcome,
    },
    /// An admin reset; `done` false when storage failed.
    Reset { request_id: Arc<str>, done: bool },
}

/// The events of one broadcast.
#[derive(Debug)]
pub enum CommittedEvents {
    /// One push accepted on this node: its events share `created_at` and pusher.
    Pushed {
        events: Arc<[NewEvent]>,
        created_at: DateTime<Utc>,
        pushed_by: Arc<str>,
    },
    /// Events committed by another node, read back from storage.
    Stored(Vec<StoredEvent>),
}

/// One committed batch as broadcast to every connection of its store. Shared by all of
/// them (`Arc`); each protocol caches its encoding here, so a broadcast is encoded at
/// most once per protocol whatever the number of connections.
#[derive(Debug)]
pub struct Committed {
    pub store: StoreId,
    pub events: CommittedEvents,
    /// The store's reset epoch the events belong to.
    pub epoch: u64,
    pub first_seq: u64,
    pub last_seq: u64,
    /// The pusher's request id when the push was accepted on this node.
    pub origin: Option<Arc<str>>,
    /// The store's backend id when known (sent by 0.4 with every broadcast).
    pub backend_id: Option<Arc<str>>,
    encoded: [OnceLock<Utf8Bytes>; ProtocolId::COUNT],
}

impl Committed {
    /// A broadcast of `events` (not empty).
    pub fn new(
        store: StoreId,
        events: CommittedEvents,
        epoch: u64,
        origin: Option<Arc<str>>,
        backend_id: Option<Arc<str>>,
    ) -> Self {
        let (first_seq, last_seq) = match &events {
            CommittedEvents::Pushed { events, .. } => (
                events.first().map_or(0, |e| e.seq_num),
                events.last().map_or(0, |e| e.seq_num),
            ),
            CommittedEvents::Stored(events) => (
                events.first().map_or(0, |e| e.seq_num),
                events.last().map_or(0, |e| e.seq_num),
            ),
        };
        Self {
            store,
            events,
            epoch,
            first_seq,
            last_seq,
            origin,
            backend_id,
            encoded: std::array::from_fn(|_| OnceLock::new()),
        }
    }

    /// The encoding of `protocol`, computed by `encode` on first use only.
    pub fn encoded(&self, protocol: ProtocolId, encode: impl FnOnce(&Self) -> String) -> Utf8Bytes {
        self.encoded[protocol as usize]
            .get_or_init(|| encode(self).into())
            .clone()
    }
}

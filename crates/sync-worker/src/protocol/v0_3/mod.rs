//! The LiveStore `sync-cf` 0.3.1 wire protocol: a pure codec (no I/O, no state) and
//! the dispatch of decoded messages over the shared socket loop ([`dispatch`]).
//!
//! [`decode_client_message`] turns one text frame into a [`ClientMessage`] or a
//! [`ProtocolError`] (which keeps the `requestId` when it could be read, so the error can
//! be answered to the right request). [`encode_server_message`] writes a
//! [`ServerMessage`] once; a broadcast's bytes are then shared by every receiver.
//! See `PROTOCOL.md` at the crate root for the shapes.

mod decode;
mod dispatch;
mod encode;

pub(crate) use decode::decode_batch;
pub use decode::decode_client_message;
pub(crate) use dispatch::V03;
pub(crate) use encode::push_json_string;
pub use encode::{encode_broadcast, encode_push_outcome, encode_server_message, iso_timestamp};

use chrono::{DateTime, Utc};

use crate::storage::{NewEvent, StoredEvent};

pub use super::{MAX_ARGS_DEPTH, MAX_SEQ_NUM};

/// The `requestId` used in an Error answering a frame whose own `requestId` could not
/// be read (not JSON, binary, ...).
pub const UNKNOWN_REQUEST_ID: &str = "unknown";

/// `requestId` of broadcasts of pushes accepted by another node (their pusher's id is
/// not known here; clients only use it to tell pull answers from push broadcasts).
pub const REMOTE_REQUEST_ID: &str = "remote";

/// The `requestId` of every Pong (the client's schema pins it to the literal `ping`).
pub const PING_REQUEST_ID: &str = "ping";

/// A message from a client.
#[derive(Debug)]
pub enum ClientMessage {
    /// Events after `cursor` (all when `None`).
    PullReq {
        request_id: String,
        cursor: Option<u64>,
    },
    /// A batch of new events (not yet validated as a chain).
    PushReq {
        request_id: String,
        batch: Vec<NewEvent>,
    },
    Ping,
    AdminResetRoomReq {
        request_id: String,
        admin_secret: String,
    },
    AdminInfoReq {
        request_id: String,
        admin_secret: String,
    },
}

/// A frame that is not a valid client message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ProtocolError {
    /// The frame's `requestId` when it was a readable string.
    pub request_id: Option<String>,
    pub message: String,
}

impl ProtocolError {
    pub(crate) fn new(request_id: Option<&str>, message: impl Into<String>) -> Self {
        Self {
            request_id: request_id.map(str::to_owned),
            message: message.into(),
        }
    }

    /// The request id to answer with: the frame's own or [`UNKNOWN_REQUEST_ID`].
    pub fn reply_request_id(&self) -> &str {
        self.request_id.as_deref().unwrap_or(UNKNOWN_REQUEST_ID)
    }
}

/// Why a `PullRes` is sent: the answer to a pull, or the broadcast of a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullContext {
    Pull,
    Push,
}

impl PullContext {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pull => "pull",
            Self::Push => "push",
        }
    }
}

/// The events of a `PullRes`.
#[derive(Debug, Clone, Copy)]
pub enum PullBatch<'a> {
    /// Events of one push, sharing its `createdAt`, without attribution (the metadata
    /// has no `userId`; kept for callers that do not know the pusher).
    Pushed {
        events: &'a [NewEvent],
        created_at: DateTime<Utc>,
    },
    /// Events of one push by `pushed_by` (what the hub broadcasts).
    PushedBy {
        events: &'a [NewEvent],
        created_at: DateTime<Utc>,
        pushed_by: &'a str,
    },
    /// Events read back from the log, each with its own `createdAt` and `userId`.
    Stored(&'a [StoredEvent]),
}

/// A message to a client.
#[derive(Debug, Clone, Copy)]
pub enum ServerMessage<'a> {
    PullRes {
        request_id: &'a str,
        context: PullContext,
        batch: PullBatch<'a>,
        remaining: u64,
    },
    PushAck {
        request_id: &'a str,
    },
    Error {
        request_id: &'a str,
        message: &'a str,
    },
    Pong,
    AdminResetRoomRes {
        request_id: &'a str,
    },
    AdminInfoRes {
        request_id: &'a str,
        durable_object_id: &'a str,
    },
}

#[cfg(test)]
mod tests;

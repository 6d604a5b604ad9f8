//! The wire protocols a client may speak: LiveStore `sync-cf` 0.3.1 ([`v0_3`]) and
//! 0.4 (Effect RPC over WebSocket, [`v0_4`]). Each
//! protocol owns its decode, encode and dispatch; the store hub and the socket loop are
//! shared and protocol-neutral (see `PROTOCOL.md` at the crate root for the shapes).

pub mod v0_3;
pub mod v0_4;

pub use v0_3::{
    decode_client_message, encode_server_message, iso_timestamp, ClientMessage, ProtocolError,
    PullBatch, PullContext, ServerMessage, PING_REQUEST_ID, UNKNOWN_REQUEST_ID,
};

/// Largest sequence number accepted: JavaScript's `Number.MAX_SAFE_INTEGER`, since the
/// client holds sequence numbers as JS numbers.
pub const MAX_SEQ_NUM: u64 = (1 << 53) - 1;

/// Deepest nesting accepted inside an event's `args` (serde_json's own limit for the
/// rest of a frame is 128).
pub const MAX_ARGS_DEPTH: usize = 64;

/// Which protocol a connection speaks; indexes the per-protocol encodings cached in a
/// shared broadcast ([`crate::hub::Committed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolId {
    V0_3 = 0,
    V0_4 = 1,
}

impl ProtocolId {
    /// Number of protocols.
    pub const COUNT: usize = 2;
}

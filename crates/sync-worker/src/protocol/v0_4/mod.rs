//! The LiveStore `sync-cf` 0.4 wire protocol over WebSocket: Effect RPC envelopes, one
//! JSON object per text frame (`Request`/`Ack`/`Interrupt`/`Ping`/`Eof` from the client;
//! `Chunk`/`Exit`/`Defect`/`Pong` from the server). RPCs: `SyncWsRpc.Pull` (a stream of
//! `PullResponse` chunks, kept open when `live`) and `SyncWsRpc.Push`; the same RPCs over HTTP POST
//! in [`http`]. See `PROTOCOL.md`.

mod decode;
mod dispatch;
mod encode;
pub mod http;

pub use decode::{decode_frame, Call, ClientFrame};
pub(crate) use dispatch::V04;
pub use encode::{
    chunk, defect, exit_die, exit_failure, exit_pong, exit_push_success, exit_stream_success,
    pull_response_committed, pull_response_stored, PONG,
};

/// Event bytes per `PullResponse` page at most (besides the 100-event limit): the 0.4
/// client and reference server cut batches at 900 000 bytes; a page stays below that.
pub const MAX_PAGE_BYTES: usize = 800_000;

/// A typed failure of an RPC, as the 0.4 client decodes it (no other tags exist).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RpcError<'a> {
    ServerAhead {
        minimum_expected: u64,
        provided: u64,
    },
    BackendIdMismatch {
        expected: &'a str,
        received: &'a str,
    },
    Unknown {
        message: &'a str,
    },
}

#[cfg(test)]
mod tests;

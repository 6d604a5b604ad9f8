//! Entry points for the fuzz targets in `fuzz/` at the repository root. Not an API
//! (hidden from the docs; the services never call it): thin wrappers over the real
//! parsers, so a fuzzer reaches exactly the code a socket frame or an upgrade request
//! reaches, without making those parsers' private helpers public.

pub use crate::connect::{ConnectRequest, Rejection};
pub use crate::protocol::MAX_SEQ_NUM;
pub use crate::storage::NewEvent;

/// The 0.3.1 codec: [`v03::decode_client_message`] is what the socket loop calls on
/// every text frame; the encoder writes the answers (and broadcasts) the decoded values
/// end up in.
pub mod v03 {
    pub use crate::protocol::v0_3::{
        decode_client_message, encode_server_message, ClientMessage, ProtocolError, PullBatch,
        PullContext, ServerMessage,
    };
}

/// The 0.4 codec: [`v04::decode_frame`] is what the socket loop calls on every text
/// frame; the encoders write the `Defect` and `Exit` answers that echo its results.
pub mod v04 {
    pub use crate::protocol::v0_4::{
        chunk, decode_frame, defect, exit_die, exit_push_success, Call, ClientFrame,
    };
}

/// What the upgrade route reads from a request's URI.
#[derive(Debug)]
pub struct ConnectParse {
    /// [`crate::connect::parse_connect_query`]: store id and payload, or the 400.
    pub request: Result<ConnectRequest, Rejection>,
    /// [`crate::connect::transport_of`]: the 0.4 `transport`, when there is a `storeId`.
    pub transport: Option<String>,
}

/// Parses `path_and_query` as the upgrade route does; `None` when it is not a URI at
/// all (the HTTP server refuses such a request before any route sees it).
pub fn parse_connect(path_and_query: &str) -> Option<ConnectParse> {
    let uri: http::Uri = path_and_query.parse().ok()?;
    Some(ConnectParse {
        request: crate::connect::parse_connect_query(&uri),
        transport: crate::connect::transport_of(&uri),
    })
}

/// The `decodeURIComponent` applied to a `payload` that is not JSON after query decoding.
pub fn percent_decode(s: &str) -> Option<String> {
    crate::connect::percent_decode(s)
}

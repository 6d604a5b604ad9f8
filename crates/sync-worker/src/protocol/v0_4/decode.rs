//! Decoding 0.4 client frames: the envelope first (a frame that is not one is a
//! `Defect`), then the RPC payload (a payload that does not fit is an `Exit` `Die`).

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::protocol::v0_3::decode_batch;
use crate::protocol::MAX_SEQ_NUM;
use crate::storage::NewEvent;

/// One frame from a 0.4 client.
#[derive(Debug)]
pub enum ClientFrame {
    /// An RPC call with a payload that fits its schema.
    Request {
        id: String,
        call: Call,
    },
    /// An RPC call whose payload does not fit (answered with `Exit` `Die`).
    Invalid {
        id: String,
        reason: String,
    },
    Ack,
    Interrupt {
        request_id: String,
    },
    Ping,
    Eof,
}

/// A decoded RPC call.
#[derive(Debug)]
pub enum Call {
    /// Events after `cursor` (`(backendId, seqNum)`, exclusive); kept open when `live`.
    Pull {
        live: bool,
        cursor: Option<(String, u64)>,
    },
    /// A batch of new events and the backend id the client knows, if any.
    Push {
        batch: Vec<NewEvent>,
        backend_id: Option<String>,
    },
    /// `SyncHttpRpc.Ping` (the HTTP transport's connectivity check).
    Ping,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "_tag")]
    frame: String,
    id: Option<String>,
    tag: Option<String>,
    #[serde(borrow)]
    payload: Option<&'a RawValue>,
    #[serde(rename = "requestId")]
    request_id: Option<String>,
}

/// Effect's `Schema.Option` on the wire.
#[derive(Deserialize)]
#[serde(tag = "_tag")]
enum Opt<T> {
    None,
    Some { value: T },
}

impl<T> Opt<T> {
    fn into_option(self) -> Option<T> {
        match self {
            Self::None => None,
            Self::Some { value } => Some(value),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Cursor {
    backend_id: String,
    event_sequence_number: u64,
}

#[derive(Deserialize)]
struct PullPayload {
    /// Absent in `SyncHttpRpc.Pull` (HTTP pulls are never live).
    #[serde(default)]
    live: bool,
    cursor: Opt<Cursor>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PushPayload<'a> {
    #[serde(borrow)]
    batch: &'a RawValue,
    backend_id: Opt<String>,
}

/// Decodes one text frame; `Err` (a defect text) when it is not a valid envelope.
pub fn decode_frame(text: &str) -> Result<ClientFrame, String> {
    if !text.trim_start().starts_with('{') {
        return Err("Invalid message: expected a JSON object".into());
    }
    let envelope: Envelope<'_> =
        serde_json::from_str(text).map_err(|e| format!("Invalid message: {e}"))?;
    match envelope.frame.as_str() {
        "Ping" => Ok(ClientFrame::Ping),
        "Ack" => Ok(ClientFrame::Ack),
        "Eof" => Ok(ClientFrame::Eof),
        "Interrupt" => envelope
            .request_id
            .map(|request_id| ClientFrame::Interrupt { request_id })
            .ok_or_else(|| "Invalid Interrupt: requestId is required".into()),
        "Request" => {
            let id = envelope
                .id
                .ok_or_else(|| "Invalid Request: id is required".to_owned())?;
            let tag = envelope.tag.unwrap_or_default();
            let payload = envelope.payload.map_or("null", RawValue::get);
            let call = match tag.as_str() {
                "SyncWsRpc.Pull" | "SyncHttpRpc.Pull" => decode_pull(payload),
                "SyncWsRpc.Push" | "SyncHttpRpc.Push" => decode_push(payload),
                "SyncHttpRpc.Ping" => Ok(Call::Ping),
                _ => return Err(format!("Unknown request tag {tag:?}")),
            };
            Ok(match call {
                Ok(call) => ClientFrame::Request { id, call },
                Err(reason) => ClientFrame::Invalid { id, reason },
            })
        }
        other => Err(format!("Unknown message tag {other:?}")),
    }
}

fn decode_pull(payload: &str) -> Result<Call, String> {
    let pull: PullPayload = serde_json::from_str(payload)
        .map_err(|e| format!("Invalid SyncWsRpc.Pull payload: {e}"))?;
    let cursor = pull.cursor.into_option();
    if let Some(cursor) = &cursor {
        if cursor.event_sequence_number > MAX_SEQ_NUM {
            return Err(format!(
                "Invalid SyncWsRpc.Pull payload: eventSequenceNumber above {MAX_SEQ_NUM}"
            ));
        }
    }
    Ok(Call::Pull {
        live: pull.live,
        cursor: cursor.map(|c| (c.backend_id, c.event_sequence_number)),
    })
}

fn decode_push(payload: &str) -> Result<Call, String> {
    let push: PushPayload<'_> = serde_json::from_str(payload)
        .map_err(|e| format!("Invalid SyncWsRpc.Push payload: {e}"))?;
    let batch = decode_batch(push.batch, "SyncWsRpc.Push")?;
    Ok(Call::Push {
        batch,
        backend_id: push.backend_id.into_option(),
    })
}

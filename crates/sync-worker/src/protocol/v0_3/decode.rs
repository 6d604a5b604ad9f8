//! Decoding client frames: a borrowed envelope first (so `requestId` survives most
//! errors), then the fields the tag needs, with strict types.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{ClientMessage, ProtocolError, MAX_ARGS_DEPTH, MAX_SEQ_NUM};
use crate::storage::NewEvent;

/// Every field any client message may carry, unparsed. Unknown keys are ignored.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "_tag", borrow)]
    tag: Option<&'a RawValue>,
    #[serde(rename = "requestId", borrow)]
    request_id: Option<&'a RawValue>,
    /// Present (even `null`) or absent: only an omitted cursor means "from the start".
    #[serde(borrow, default, deserialize_with = "present")]
    cursor: Option<&'a RawValue>,
    #[serde(borrow)]
    batch: Option<&'a RawValue>,
    #[serde(rename = "adminSecret", borrow)]
    admin_secret: Option<&'a RawValue>,
}

/// One pushed event as it arrives; unknown keys are dropped.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventIn {
    name: String,
    #[serde(default)]
    args: Option<Box<RawValue>>,
    seq_num: u64,
    parent_seq_num: u64,
    client_id: String,
    session_id: String,
}

/// Decodes one text frame.
pub fn decode_client_message(text: &str) -> Result<ClientMessage, ProtocolError> {
    // serde would also read a JSON array as a struct's fields in order: refuse it.
    if !text.trim_start().starts_with('{') {
        return Err(ProtocolError::new(
            None,
            "Invalid message: expected a JSON object",
        ));
    }
    let envelope: Envelope<'_> = serde_json::from_str(text).map_err(|e| {
        ProtocolError::new(
            None,
            format!("Invalid message: expected a JSON object ({e})"),
        )
    })?;
    let request_id = match envelope.request_id {
        None => None,
        Some(raw) => Some(string_field(raw).ok_or_else(|| {
            ProtocolError::new(None, "Invalid message: requestId must be a string")
        })?),
    };
    let rid = request_id.as_deref();
    let tag = envelope
        .tag
        .and_then(string_field)
        .ok_or_else(|| ProtocolError::new(rid, "Invalid message: _tag must be a string"))?;

    let require_id = || {
        request_id.clone().ok_or_else(|| {
            ProtocolError::new(None, format!("Invalid {tag}: requestId is required"))
        })
    };
    match tag.as_str() {
        "WSMessage.Ping" => Ok(ClientMessage::Ping),
        "WSMessage.PullReq" => {
            let request_id = require_id()?;
            let cursor = match envelope.cursor {
                None => None,
                Some(raw) => Some(seq_number(raw).ok_or_else(|| {
                    ProtocolError::new(
                        rid,
                        "Invalid WSMessage.PullReq: cursor must be a non-negative integer",
                    )
                })?),
            };
            Ok(ClientMessage::PullReq { request_id, cursor })
        }
        "WSMessage.PushReq" => {
            let request_id = require_id()?;
            let raw = envelope.batch.ok_or_else(|| {
                ProtocolError::new(rid, "Invalid WSMessage.PushReq: batch is required")
            })?;
            let batch =
                decode_batch(raw, "WSMessage.PushReq").map_err(|m| ProtocolError::new(rid, m))?;
            Ok(ClientMessage::PushReq { request_id, batch })
        }
        "WSMessage.AdminResetRoomReq" | "WSMessage.AdminInfoReq" => {
            let request_id = require_id()?;
            let admin_secret = envelope
                .admin_secret
                .and_then(string_field)
                .ok_or_else(|| {
                    ProtocolError::new(rid, format!("Invalid {tag}: adminSecret must be a string"))
                })?;
            Ok(if tag == "WSMessage.AdminInfoReq" {
                ClientMessage::AdminInfoReq {
                    request_id,
                    admin_secret,
                }
            } else {
                ClientMessage::AdminResetRoomReq {
                    request_id,
                    admin_secret,
                }
            })
        }
        _ => Err(ProtocolError::new(
            rid,
            format!("Unsupported message tag {tag:?}"),
        )),
    }
}

/// `Some` for any value present, `null` included (plain `Option` reads `null` as `None`).
fn present<'de, D>(deserializer: D) -> Result<Option<&'de RawValue>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    <&RawValue>::deserialize(deserializer).map(Some)
}

fn string_field(raw: &RawValue) -> Option<String> {
    serde_json::from_str::<String>(raw.get()).ok()
}

/// A JSON integer in `0..=MAX_SEQ_NUM`; strings, fractions and negatives are refused.
fn seq_number(raw: &RawValue) -> Option<u64> {
    serde_json::from_str::<u64>(raw.get())
        .ok()
        .filter(|n| *n <= MAX_SEQ_NUM)
}

/// Decodes a pushed batch (shared by both protocols); errors name `context`.
pub(crate) fn decode_batch(raw: &RawValue, context: &str) -> Result<Vec<NewEvent>, String> {
    if !raw.get().trim_start().starts_with('[') {
        return Err(format!("Invalid {context}: batch must be an array"));
    }
    let events: Vec<EventIn> = serde_json::from_str(raw.get())
        .map_err(|e| format!("Invalid {context}: invalid event in batch ({e})"))?;
    events
        .into_iter()
        .enumerate()
        .map(|(index, e)| {
            if e.seq_num > MAX_SEQ_NUM || e.parent_seq_num > MAX_SEQ_NUM {
                return Err(format!(
                    "Invalid {context}: event {index} has a sequence number above {MAX_SEQ_NUM}"
                ));
            }
            if let Some(args) = &e.args {
                if nesting_depth(args.get()) > MAX_ARGS_DEPTH {
                    return Err(format!(
                        "Invalid {context}: event {index} has args nested deeper than {MAX_ARGS_DEPTH} levels"
                    ));
                }
            }
            Ok(NewEvent {
                seq_num: e.seq_num,
                parent_seq_num: e.parent_seq_num,
                name: e.name,
                args: e.args,
                client_id: e.client_id,
                session_id: e.session_id,
            })
        })
        .collect()
}

/// Deepest array/object nesting of valid JSON text (brackets inside strings ignored).
/// Raw `args` are skipped by serde_json without its recursion limit, and other clients
/// of the store must be able to parse what we store, so the depth is checked here.
fn nesting_depth(json: &str) -> usize {
    let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for b in json.bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

#[cfg(test)]
mod depth_tests {
    #[test]
    fn nesting_depth_ignores_strings() {
        assert_eq!(super::nesting_depth(r#"{"a":[1,{"b":"[[[{"}]}"#), 3);
        assert_eq!(super::nesting_depth(r#""\\\"[""#), 0);
        assert_eq!(super::nesting_depth("5"), 0);
    }
}

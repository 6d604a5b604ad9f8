//! Encoding server messages by hand into one `String`: field order is fixed (events as
//! `name, args, seqNum, parentSeqNum, clientId, sessionId`) and no intermediate
//! `serde_json::Value` is built.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};

use super::{PullBatch, ServerMessage, PING_REQUEST_ID};

/// A time as JavaScript's `Date.prototype.toISOString` writes it (`...T12:00:00.000Z`).
pub fn iso_timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Encodes `message` as one JSON text frame.
pub fn encode_server_message(message: &ServerMessage<'_>) -> String {
    match *message {
        ServerMessage::PullRes {
            request_id,
            context,
            batch,
            remaining,
        } => {
            let mut out = String::with_capacity(128 + batch_len(batch) * 160);
            out.push_str(r#"{"_tag":"WSMessage.PullRes","batch":["#);
            match batch {
                PullBatch::Pushed { events, created_at } => {
                    push_pushed(&mut out, events, created_at, None);
                }
                PullBatch::PushedBy {
                    events,
                    created_at,
                    pushed_by,
                } => push_pushed(&mut out, events, created_at, Some(pushed_by)),
                PullBatch::Stored(events) => {
                    // The events of one push share their `createdAt`: format it once per run.
                    let mut stamp: Option<(DateTime<Utc>, String)> = None;
                    for (i, e) in events.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        if stamp.as_ref().is_none_or(|(at, _)| *at != e.created_at) {
                            stamp = Some((e.created_at, iso_timestamp(e.created_at)));
                        }
                        let created_at = stamp.as_ref().map_or("", |(_, text)| text.as_str());
                        push_item(
                            &mut out,
                            &EventFields::stored(e),
                            created_at,
                            Some(&e.pushed_by),
                        );
                    }
                }
            }
            out.push_str(r#"],"requestId":{"context":""#);
            out.push_str(context.as_str());
            out.push_str(r#"","requestId":"#);
            push_json_string(&mut out, request_id);
            let _ = write!(out, r#"}},"remaining":{remaining}}}"#);
            out
        }
        ServerMessage::PushAck { request_id } => tagged("WSMessage.PushAck", request_id, ""),
        ServerMessage::Error {
            request_id,
            message,
        } => {
            let mut extra = String::from(r#","message":"#);
            push_json_string(&mut extra, message);
            tagged("WSMessage.Error", request_id, &extra)
        }
        ServerMessage::Pong => tagged("WSMessage.Pong", PING_REQUEST_ID, ""),
        ServerMessage::AdminResetRoomRes { request_id } => {
            tagged("WSMessage.AdminResetRoomRes", request_id, "")
        }
        ServerMessage::AdminInfoRes {
            request_id,
            durable_object_id,
        } => {
            let mut extra = String::from(r#","info":{"durableObjectId":"#);
            push_json_string(&mut extra, durable_object_id);
            extra.push('}');
            tagged("WSMessage.AdminInfoRes", request_id, &extra)
        }
    }
}

fn push_pushed(
    out: &mut String,
    events: &[crate::storage::NewEvent],
    created_at: DateTime<Utc>,
    pushed_by: Option<&str>,
) {
    let created_at = iso_timestamp(created_at);
    for (i, e) in events.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_item(out, &EventFields::pushed(e), &created_at, pushed_by);
    }
}

fn batch_len(batch: PullBatch<'_>) -> usize {
    match batch {
        PullBatch::Pushed { events, .. } | PullBatch::PushedBy { events, .. } => events.len(),
        PullBatch::Stored(events) => events.len(),
    }
}

/// `{"_tag":<tag>,"requestId":<id><extra>}`; `extra` is already-encoded JSON members.
fn tagged(tag: &str, request_id: &str, extra: &str) -> String {
    let mut out = String::with_capacity(48 + tag.len() + request_id.len() + extra.len());
    out.push_str(r#"{"_tag":""#);
    out.push_str(tag);
    out.push_str(r#"","requestId":"#);
    push_json_string(&mut out, request_id);
    out.push_str(extra);
    out.push('}');
    out
}

struct EventFields<'a> {
    name: &'a str,
    args: Option<&'a str>,
    seq_num: u64,
    parent_seq_num: u64,
    client_id: &'a str,
    session_id: &'a str,
}

impl<'a> EventFields<'a> {
    fn pushed(e: &'a crate::storage::NewEvent) -> Self {
        Self {
            name: &e.name,
            args: e.args.as_deref().map(|a| a.get()),
            seq_num: e.seq_num,
            parent_seq_num: e.parent_seq_num,
            client_id: &e.client_id,
            session_id: &e.session_id,
        }
    }

    fn stored(e: &'a crate::storage::StoredEvent) -> Self {
        Self {
            name: &e.name,
            args: e.args.as_deref().map(|a| a.get()),
            seq_num: e.seq_num,
            parent_seq_num: e.parent_seq_num,
            client_id: &e.client_id,
            session_id: &e.session_id,
        }
    }
}

/// `{"eventEncoded":{...},"metadata":{"_tag":"Some","value":{"createdAt":...,"userId":...}}}`
/// (`userId`, the verified pusher, only when known).
fn push_item(out: &mut String, e: &EventFields<'_>, created_at: &str, user_id: Option<&str>) {
    out.push_str(r#"{"eventEncoded":{"name":"#);
    push_json_string(out, e.name);
    out.push_str(r#","args":"#);
    // Args are raw JSON validated on the way in; absent args are re-emitted as null.
    out.push_str(e.args.unwrap_or("null"));
    let _ = write!(
        out,
        r#","seqNum":{},"parentSeqNum":{},"clientId":"#,
        e.seq_num, e.parent_seq_num
    );
    push_json_string(out, e.client_id);
    out.push_str(r#","sessionId":"#);
    push_json_string(out, e.session_id);
    out.push_str(r#"},"metadata":{"_tag":"Some","value":{"createdAt":"#);
    push_json_string(out, created_at);
    if let Some(user_id) = user_id {
        out.push_str(r#","userId":"#);
        push_json_string(out, user_id);
    }
    out.push_str("}}}");
}

/// Appends `s` as a JSON string literal.
pub(crate) fn push_json_string(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// The `PullRes` broadcasting `committed` (`requestId`: the pusher's, or
/// [`super::REMOTE_REQUEST_ID`] for another node's commit).
pub fn encode_broadcast(committed: &crate::hub::Committed) -> String {
    use crate::hub::CommittedEvents;
    let request_id = committed
        .origin
        .as_deref()
        .unwrap_or(super::REMOTE_REQUEST_ID);
    let batch = match &committed.events {
        CommittedEvents::Pushed {
            events,
            created_at,
            pushed_by,
        } => PullBatch::PushedBy {
            events,
            created_at: *created_at,
            pushed_by,
        },
        CommittedEvents::Stored(events) => PullBatch::Stored(events),
    };
    encode_server_message(&ServerMessage::PullRes {
        request_id,
        context: super::PullContext::Push,
        batch,
        remaining: 0,
    })
}

/// The `PushAck` or `Error` answering a push.
pub fn encode_push_outcome(request_id: &str, outcome: &crate::hub::PushOutcome) -> String {
    use crate::hub::{ChainError, PushOutcome};
    let message = match outcome {
        PushOutcome::Committed => {
            return encode_server_message(&ServerMessage::PushAck { request_id })
        }
        PushOutcome::WrongParent { head, parent } => ChainError::WrongParent {
            received: *parent,
            head: *head,
        }
        .to_string(),
        PushOutcome::InvalidChain(error) => error.to_string(),
        PushOutcome::StorageFailure(failure) => failure.message().to_owned(),
        // 0.3.1 pushes name no backend id, so this is never their outcome.
        PushOutcome::BackendIdMismatch { .. } => "Backend id mismatch".to_owned(),
    };
    encode_server_message(&ServerMessage::Error {
        request_id,
        message: &message,
    })
}

//! Encoding 0.4 server frames by hand into one `String` (fixed field order, no
//! intermediate `serde_json::Value`).

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;

use super::RpcError;
use crate::hub::{Committed, CommittedEvents};
use crate::protocol::iso_timestamp;
use crate::protocol::v0_3::push_json_string;
use crate::storage::StoredEvent;

/// The answer to a `Ping`.
pub const PONG: &str = r#"{"_tag":"Pong"}"#;

/// `{"_tag":"Chunk","requestId":<id>,"values":[<value>]}`; `value` is encoded JSON.
pub fn chunk(request_id: &str, value: &str) -> String {
    let mut out = String::with_capacity(48 + request_id.len() + value.len());
    out.push_str(r#"{"_tag":"Chunk","requestId":"#);
    push_json_string(&mut out, request_id);
    out.push_str(r#","values":["#);
    out.push_str(value);
    out.push_str("]}");
    out
}

fn exit(request_id: &str, exit: &str) -> String {
    let mut out = String::with_capacity(48 + request_id.len() + exit.len());
    out.push_str(r#"{"_tag":"Exit","requestId":"#);
    push_json_string(&mut out, request_id);
    out.push_str(r#","exit":"#);
    out.push_str(exit);
    out.push('}');
    out
}

/// The end of a finished stream (a pull that is not live).
pub fn exit_stream_success(request_id: &str) -> String {
    exit(request_id, r#"{"_tag":"Success"}"#)
}

/// The success of a `SyncHttpRpc.Ping`.
pub fn exit_pong(request_id: &str) -> String {
    exit(
        request_id,
        r#"{"_tag":"Success","value":{"_tag":"SyncMessage.Pong"}}"#,
    )
}

/// A push's success (`PushAck`, an empty struct).
pub fn exit_push_success(request_id: &str) -> String {
    exit(request_id, r#"{"_tag":"Success","value":{}}"#)
}

/// A typed failure of `request_id`.
pub fn exit_failure(request_id: &str, error: &RpcError<'_>) -> String {
    let mut e = String::from(r#"{"_tag":"Failure","cause":{"_tag":"Fail","error":"#);
    match *error {
        RpcError::ServerAhead {
            minimum_expected,
            provided,
        } => {
            let _ = write!(
                e,
                r#"{{"_tag":"ServerAheadError","minimumExpectedNum":{minimum_expected},"providedNum":{provided}}}"#
            );
        }
        RpcError::BackendIdMismatch { expected, received } => {
            e.push_str(r#"{"_tag":"BackendIdMismatchError","expected":"#);
            push_json_string(&mut e, expected);
            e.push_str(r#","received":"#);
            push_json_string(&mut e, received);
            e.push('}');
        }
        RpcError::Unknown { message } => {
            e.push_str(r#"{"_tag":"UnknownError","cause":{"name":"Error","message":"#);
            push_json_string(&mut e, message);
            e.push_str("}}");
        }
    }
    e.push_str("}}");
    exit(request_id, &e)
}

/// A payload that does not fit the RPC's schema.
pub fn exit_die(request_id: &str, reason: &str) -> String {
    let mut e = String::from(r#"{"_tag":"Failure","cause":{"_tag":"Die","defect":"#);
    push_json_string(&mut e, reason);
    e.push_str("}}");
    exit(request_id, &e)
}

/// A connection-level failure (a frame that is not a valid envelope).
pub fn defect(reason: &str) -> String {
    let mut out = String::from(r#"{"_tag":"Defect","defect":"#);
    push_json_string(&mut out, reason);
    out.push('}');
    out
}

/// One event with its metadata: `{"eventEncoded":{...},"metadata":{"_tag":"Some",...}}`.
#[allow(clippy::too_many_arguments)]
fn push_item(
    out: &mut String,
    name: &str,
    args: Option<&RawValue>,
    seq_num: u64,
    parent_seq_num: u64,
    client_id: &str,
    session_id: &str,
    created_at: &str,
) {
    out.push_str(r#"{"eventEncoded":{"name":"#);
    push_json_string(out, name);
    // Args are raw JSON validated on the way in; absent args stay absent.
    if let Some(args) = args {
        out.push_str(r#","args":"#);
        out.push_str(args.get());
    }
    let _ = write!(
        out,
        r#","seqNum":{seq_num},"parentSeqNum":{parent_seq_num},"clientId":"#
    );
    push_json_string(out, client_id);
    out.push_str(r#","sessionId":"#);
    push_json_string(out, session_id);
    out.push_str(
        r#"},"metadata":{"_tag":"Some","value":{"_tag":"SyncMessage.SyncMetadata","createdAt":"#,
    );
    push_json_string(out, created_at);
    out.push_str("}}}");
}

fn push_tail(out: &mut String, remaining: u64, backend_id: &str) {
    if remaining == 0 {
        out.push_str(r#"],"pageInfo":{"_tag":"NoMore"},"backendId":"#);
    } else {
        let _ = write!(
            out,
            r#"],"pageInfo":{{"_tag":"MoreKnown","remaining":{remaining}}},"backendId":"#
        );
    }
    push_json_string(out, backend_id);
    out.push('}');
}

/// A `PullResponse` of stored events with `remaining` more after them.
pub fn pull_response_stored(events: &[StoredEvent], remaining: u64, backend_id: &str) -> String {
    let mut out = String::with_capacity(96 + events.len() * 200);
    out.push_str(r#"{"batch":["#);
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
            &e.name,
            e.args.as_deref(),
            e.seq_num,
            e.parent_seq_num,
            &e.client_id,
            &e.session_id,
            created_at,
        );
    }
    push_tail(&mut out, remaining, backend_id);
    out
}

/// The `PullResponse` broadcasting `committed` (shared by every 0.4 live pull).
pub fn pull_response_committed(committed: &Committed) -> String {
    let backend_id = committed.backend_id.as_deref().unwrap_or_default();
    match &committed.events {
        CommittedEvents::Stored(events) => pull_response_stored(events, 0, backend_id),
        CommittedEvents::Pushed {
            events, created_at, ..
        } => {
            let created_at = iso_timestamp(*created_at);
            let mut out = String::with_capacity(96 + events.len() * 200);
            out.push_str(r#"{"batch":["#);
            for (i, e) in events.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_item(
                    &mut out,
                    &e.name,
                    e.args.as_deref(),
                    e.seq_num,
                    e.parent_seq_num,
                    &e.client_id,
                    &e.session_id,
                    &created_at,
                );
            }
            push_tail(&mut out, 0, backend_id);
            out
        }
    }
}

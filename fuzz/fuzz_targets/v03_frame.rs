//! The LiveStore 0.3.1 frame decoder on arbitrary text.
//!
//! Properties: decoding never panics; whatever it returns is answered with valid JSON
//! that carries the frame's `requestId` (and, for a push, every event) back unchanged,
//! through the hand-written encoder the server uses for answers and broadcasts.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use sync_worker::fuzzing::v03::{
    decode_client_message, encode_server_message, ClientMessage, PullBatch, PullContext,
    ServerMessage,
};
use sync_worker::fuzzing::{NewEvent, MAX_SEQ_NUM};

fuzz_target!(|data: &[u8]| {
    // The socket loop gives the decoder text frames only (binary frames get an Error).
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match decode_client_message(text) {
        Ok(ClientMessage::PushReq { request_id, batch }) => check_broadcast(&request_id, &batch),
        Ok(
            ClientMessage::PullReq { request_id, .. }
            | ClientMessage::AdminResetRoomReq { request_id, .. }
            | ClientMessage::AdminInfoReq { request_id, .. },
        ) => {
            let ack = parse(&encode_server_message(&ServerMessage::PushAck {
                request_id: &request_id,
            }));
            assert_eq!(ack["requestId"], request_id.as_str());
        }
        Ok(ClientMessage::Ping) => {}
        Err(error) => {
            let answer = parse(&encode_server_message(&ServerMessage::Error {
                request_id: error.reply_request_id(),
                message: &error.message,
            }));
            assert_eq!(answer["requestId"], error.reply_request_id());
            assert_eq!(answer["message"], error.message.as_str());
        }
    }
});

/// The `PullRes` as a client reads it; `args` kept raw (JSON allows numbers such as
/// `1e400` that a `serde_json::Value` refuses, and the server passes args through as
/// text).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PullRes<'a> {
    #[serde(borrow)]
    batch: Vec<Item<'a>>,
    request_id: RequestRef,
    remaining: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestRef {
    context: String,
    request_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Item<'a> {
    #[serde(borrow)]
    event_encoded: Encoded<'a>,
    metadata: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Encoded<'a> {
    name: String,
    #[serde(borrow)]
    args: &'a RawValue,
    seq_num: u64,
    parent_seq_num: u64,
    client_id: String,
    session_id: String,
}

/// The `PullRes` broadcasting an accepted batch holds exactly its events.
fn check_broadcast(request_id: &str, batch: &[NewEvent]) {
    let created_at = chrono::DateTime::from_timestamp(1_767_268_800, 0).expect("a valid time");
    let text = encode_server_message(&ServerMessage::PullRes {
        request_id,
        context: PullContext::Push,
        batch: PullBatch::PushedBy {
            events: batch,
            created_at,
            pushed_by: "fuzz-user",
        },
        remaining: 0,
    });
    let frame: PullRes<'_> =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not a PullRes ({e}): {text}"));
    assert_eq!(frame.request_id.request_id, request_id);
    assert_eq!(frame.request_id.context, "push");
    assert_eq!(frame.remaining, 0);
    assert_eq!(frame.batch.len(), batch.len());
    for (item, event) in frame.batch.iter().zip(batch) {
        assert!(event.seq_num <= MAX_SEQ_NUM && event.parent_seq_num <= MAX_SEQ_NUM);
        let encoded = &item.event_encoded;
        assert_eq!(encoded.name, event.name);
        assert_eq!(encoded.seq_num, event.seq_num);
        assert_eq!(encoded.parent_seq_num, event.parent_seq_num);
        assert_eq!(encoded.client_id, event.client_id);
        assert_eq!(encoded.session_id, event.session_id);
        // Args are re-emitted byte for byte; absent args as null.
        let args = event.args.as_ref().map_or("null", |raw| raw.get());
        assert_eq!(encoded.args.get(), args);
        assert_eq!(item.metadata["value"]["userId"], "fuzz-user");
    }
}

fn parse(json: &str) -> Value {
    serde_json::from_str(json).unwrap_or_else(|e| panic!("not JSON ({e}): {json}"))
}

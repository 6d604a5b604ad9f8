use chrono::TimeZone;
use serde_json::{json, Value};

use super::*;

fn event(seq: u64, args: Option<&str>) -> NewEvent {
    NewEvent {
        seq_num: seq,
        parent_seq_num: seq - 1,
        name: "todoCreated".into(),
        args: args.map(|a| serde_json::value::RawValue::from_string(a.into()).unwrap()),
        client_id: "client-\"1\"".into(),
        session_id: "s1".into(),
    }
}

#[test]
fn decodes_every_client_message() {
    let m = decode_client_message(r#"{"requestId":"r1","_tag":"WSMessage.PullReq"}"#).unwrap();
    assert!(
        matches!(m, ClientMessage::PullReq { ref request_id, cursor: None } if request_id == "r1")
    );
    let m = decode_client_message(r#"{"_tag":"WSMessage.PullReq","requestId":"r","cursor":7}"#)
        .unwrap();
    assert!(matches!(
        m,
        ClientMessage::PullReq {
            cursor: Some(7),
            ..
        }
    ));
    let m = decode_client_message(
        r#"{"_tag":"WSMessage.PushReq","requestId":"p","batch":[{"extra":1,"sessionId":"s","clientId":"c","parentSeqNum":0,"seqNum":1,"name":"x","args":{"a":[1,2]}}]}"#,
    )
    .unwrap();
    let ClientMessage::PushReq { request_id, batch } = m else {
        panic!("not a push")
    };
    assert_eq!(request_id, "p");
    assert_eq!(batch.len(), 1);
    assert_eq!(batch[0].args.as_ref().unwrap().get(), r#"{"a":[1,2]}"#);
    assert!(matches!(
        decode_client_message(r#" { "requestId" : "ping" , "_tag" : "WSMessage.Ping" } "#),
        Ok(ClientMessage::Ping)
    ));
    assert!(matches!(
        decode_client_message(
            r#"{"_tag":"WSMessage.AdminInfoReq","requestId":"a","adminSecret":"s"}"#
        ),
        Ok(ClientMessage::AdminInfoReq { .. })
    ));
    assert!(matches!(
        decode_client_message(
            r#"{"_tag":"WSMessage.AdminResetRoomReq","requestId":"a","adminSecret":"s"}"#
        ),
        Ok(ClientMessage::AdminResetRoomReq { .. })
    ));
}

#[test]
fn malformed_frames_are_errors_that_keep_the_request_id() {
    let ev = r#"{"name":"x","args":1,"seqNum":1,"parentSeqNum":0,"clientId":"c","sessionId":"s"}"#;
    let cases: Vec<(String, Option<&str>)> = vec![
        ("not json".into(), None),
        ("[1,2]".into(), None),
        ("null".into(), None),
        (
            r#"{"_tag":"WSMessage.Nope","requestId":"r"}"#.into(),
            Some("r"),
        ),
        (r#"{"requestId":"r"}"#.into(), Some("r")),
        (r#"{"_tag":5,"requestId":"r"}"#.into(), Some("r")),
        (
            r#"{"_tag":"WSMessage.PushReq","requestId":7,"batch":[]}"#.into(),
            None,
        ),
        (
            r#"{"_tag":"WSMessage.PushReq","requestId":"r"}"#.into(),
            Some("r"),
        ),
        (
            r#"{"_tag":"WSMessage.PushReq","requestId":"r","batch":{}}"#.into(),
            Some("r"),
        ),
        (
            r#"{"_tag":"WSMessage.PushReq","requestId":"r","batch":null}"#.into(),
            Some("r"),
        ),
        (ev.replace("\"seqNum\":1", "\"seqNum\":\"1\""), Some("r")),
        (ev.replace("\"seqNum\":1", "\"seqNum\":-1"), Some("r")),
        (ev.replace("\"seqNum\":1", "\"seqNum\":1.5"), Some("r")),
        (ev.replace("\"seqNum\":1", "\"seqNum\":1e400"), Some("r")),
        (
            ev.replace("\"seqNum\":1", "\"seqNum\":9007199254740992"),
            Some("r"),
        ),
        (ev.replace("\"name\":\"x\",", ""), Some("r")),
        (
            ev.replace("\"clientId\":\"c\"", "\"clientId\":null"),
            Some("r"),
        ),
        (
            r#"{"_tag":"WSMessage.PullReq","requestId":"r","cursor":"3"}"#.into(),
            Some("r"),
        ),
        (
            r#"{"_tag":"WSMessage.PullReq","requestId":"r","cursor":-3}"#.into(),
            Some("r"),
        ),
        // Only an omitted cursor means "from the start" (the client never sends null).
        (
            r#"{"_tag":"WSMessage.PullReq","requestId":"r","cursor":null}"#.into(),
            Some("r"),
        ),
        (r#"{"_tag":"WSMessage.PullReq"}"#.into(), None),
        (
            r#"{"_tag":"WSMessage.AdminInfoReq","requestId":"r"}"#.into(),
            Some("r"),
        ),
        (
            format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)),
            None,
        ),
    ];
    for (i, (frame, rid)) in cases.into_iter().enumerate() {
        let frame = if frame.contains("\"seqNum\"") && !frame.contains("_tag") {
            format!(r#"{{"_tag":"WSMessage.PushReq","requestId":"r","batch":[{frame}]}}"#)
        } else {
            frame
        };
        let Err(err) = decode_client_message(&frame) else {
            panic!("case {i} decoded");
        };
        assert_eq!(err.request_id.as_deref(), rid, "case {i}: {err}");
        assert!(!err.message.is_empty());
    }
}

#[test]
fn deeply_nested_args_are_an_error_not_a_crash() {
    let args = format!("{}{}", "[".repeat(200_000), "]".repeat(200_000));
    let frame = format!(
        r#"{{"_tag":"WSMessage.PushReq","requestId":"r","batch":[{{"name":"x","args":{args},"seqNum":1,"parentSeqNum":0,"clientId":"c","sessionId":"s"}}]}}"#
    );
    match decode_client_message(&frame) {
        Err(err) => assert_eq!(err.request_id.as_deref(), Some("r")),
        Ok(_) => panic!("deeply nested args accepted"),
    }
    let ok_args = format!(
        "{}{}",
        "[".repeat(MAX_ARGS_DEPTH),
        "]".repeat(MAX_ARGS_DEPTH)
    );
    let frame = frame.replace(&args, &ok_args);
    assert!(decode_client_message(&frame).is_ok());
}

#[test]
fn pull_res_has_the_wire_shape_and_key_order() {
    let events = vec![event(1, Some(r#"{"text":"a\"b"}"#)), event(2, None)];
    let at = Utc.with_ymd_and_hms(2024, 5, 6, 7, 8, 9).unwrap();
    let text = encode_server_message(&ServerMessage::PullRes {
        request_id: "req-1",
        context: PullContext::Push,
        batch: PullBatch::Pushed {
            events: &events,
            created_at: at,
        },
        remaining: 0,
    });
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v,
        json!({
            "_tag": "WSMessage.PullRes",
            "batch": [
                {"eventEncoded": {"name": "todoCreated", "args": {"text": "a\"b"}, "seqNum": 1, "parentSeqNum": 0, "clientId": "client-\"1\"", "sessionId": "s1"},
                 "metadata": {"_tag": "Some", "value": {"createdAt": "2024-05-06T07:08:09.000Z"}}},
                {"eventEncoded": {"name": "todoCreated", "args": null, "seqNum": 2, "parentSeqNum": 1, "clientId": "client-\"1\"", "sessionId": "s1"},
                 "metadata": {"_tag": "Some", "value": {"createdAt": "2024-05-06T07:08:09.000Z"}}}
            ],
            "requestId": {"context": "push", "requestId": "req-1"},
            "remaining": 0
        })
    );
    let first = text.find("\"name\"").unwrap();
    let order: Vec<usize> = [
        "\"args\"",
        "\"seqNum\"",
        "\"parentSeqNum\"",
        "\"clientId\"",
        "\"sessionId\"",
    ]
    .iter()
    .map(|k| text[first..].find(k).unwrap())
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
}

#[test]
fn stored_pull_chunk_carries_each_push_created_at() {
    let first = Utc.with_ymd_and_hms(2024, 5, 6, 7, 8, 9).unwrap();
    let second = first + chrono::Duration::milliseconds(1_250);
    let stored: Vec<StoredEvent> = [(1, first), (2, first), (3, second), (4, first)]
        .into_iter()
        .map(|(seq, created_at)| {
            let e = event(seq, Some("[]"));
            StoredEvent {
                seq_num: e.seq_num,
                parent_seq_num: e.parent_seq_num,
                name: e.name,
                args: e.args,
                client_id: e.client_id,
                session_id: e.session_id,
                created_at,
                pushed_by: "user-1".into(),
            }
        })
        .collect();
    let text = encode_server_message(&ServerMessage::PullRes {
        request_id: "r",
        context: PullContext::Pull,
        batch: PullBatch::Stored(&stored),
        remaining: 7,
    });
    let v: Value = serde_json::from_str(&text).unwrap();
    let stamps: Vec<&str> = v["batch"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["metadata"]["value"]["createdAt"].as_str().unwrap())
        .collect();
    assert_eq!(
        stamps,
        [
            "2024-05-06T07:08:09.000Z",
            "2024-05-06T07:08:09.000Z",
            "2024-05-06T07:08:10.250Z",
            "2024-05-06T07:08:09.000Z"
        ]
    );
    assert_eq!(v["requestId"], json!({"context": "pull", "requestId": "r"}));
    assert_eq!(v["remaining"], 7);
    assert!(v["batch"]
        .as_array()
        .unwrap()
        .iter()
        .all(|item| item["metadata"]["value"]["userId"] == "user-1"));
}

#[test]
fn attributed_push_broadcast_carries_the_user_id() {
    let events = vec![event(1, None)];
    let at = Utc.with_ymd_and_hms(2024, 5, 6, 7, 8, 9).unwrap();
    let text = encode_server_message(&ServerMessage::PullRes {
        request_id: "req-1",
        context: PullContext::Push,
        batch: PullBatch::PushedBy {
            events: &events,
            created_at: at,
            pushed_by: "user-\"7\"",
        },
        remaining: 0,
    });
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v["batch"][0]["metadata"],
        json!({"_tag": "Some", "value": {"createdAt": "2024-05-06T07:08:09.000Z", "userId": "user-\"7\""}})
    );
}

#[test]
fn small_messages_encode_exactly() {
    assert_eq!(
        encode_server_message(&ServerMessage::Pong),
        r#"{"_tag":"WSMessage.Pong","requestId":"ping"}"#
    );
    assert_eq!(
        encode_server_message(&ServerMessage::PushAck { request_id: "a" }),
        r#"{"_tag":"WSMessage.PushAck","requestId":"a"}"#
    );
    let err = encode_server_message(&ServerMessage::Error {
        request_id: "x\u{1}",
        message: "line\nbreak",
    });
    let v: Value = serde_json::from_str(&err).unwrap();
    assert_eq!(
        v,
        json!({"_tag":"WSMessage.Error","requestId":"x\u{1}","message":"line\nbreak"})
    );
    let info = encode_server_message(&ServerMessage::AdminInfoRes {
        request_id: "i",
        durable_object_id: "abc",
    });
    assert_eq!(
        info,
        r#"{"_tag":"WSMessage.AdminInfoRes","requestId":"i","info":{"durableObjectId":"abc"}}"#
    );
}

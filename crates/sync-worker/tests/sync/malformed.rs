//! Malformed frames: each is answered with an Error (or, for an oversize frame, the
//! documented close 1009), nothing is stored, and the store keeps serving others.

use futures_util::SinkExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::*;

fn push_with(event: Value) -> String {
    json!({"_tag": "WSMessage.PushReq", "requestId": "r", "batch": [event]}).to_string()
}

fn event_with(key: &str, value: Value) -> Value {
    let mut e = events(0, 1).remove(0);
    e[key] = value;
    e
}

/// `(frame, requestId the Error must carry)`.
fn malformed_frames() -> Vec<(&'static str, String, &'static str)> {
    let nested = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let mut no_name = events(0, 1).remove(0);
    no_name.as_object_mut().unwrap().remove("name");
    vec![
        ("not json", "hello there".into(), "unknown"),
        ("empty text", String::new(), "unknown"),
        ("json array", "[1,2,3]".into(), "unknown"),
        ("json number", "42".into(), "unknown"),
        (
            "unknown tag",
            r#"{"_tag":"WSMessage.Bogus","requestId":"r"}"#.into(),
            "r",
        ),
        ("missing tag", r#"{"requestId":"r","batch":[]}"#.into(), "r"),
        (
            "tag not string",
            r#"{"_tag":["WSMessage.PushReq"],"requestId":"r"}"#.into(),
            "r",
        ),
        (
            "requestId not string",
            r#"{"_tag":"WSMessage.PushReq","requestId":{"a":1},"batch":[]}"#.into(),
            "unknown",
        ),
        (
            "missing batch",
            r#"{"_tag":"WSMessage.PushReq","requestId":"r"}"#.into(),
            "r",
        ),
        (
            "batch object",
            r#"{"_tag":"WSMessage.PushReq","requestId":"r","batch":{"0":1}}"#.into(),
            "r",
        ),
        (
            "batch string",
            r#"{"_tag":"WSMessage.PushReq","requestId":"r","batch":"[]"}"#.into(),
            "r",
        ),
        (
            "string seqNum",
            push_with(event_with("seqNum", json!("1"))),
            "r",
        ),
        (
            "negative seqNum",
            push_with(event_with("seqNum", json!(-1))),
            "r",
        ),
        (
            "fractional seqNum",
            push_with(event_with("seqNum", json!(1.5))),
            "r",
        ),
        (
            "fractional parent",
            push_with(event_with("parentSeqNum", json!(0.5))),
            "r",
        ),
        (
            "seqNum beyond 2^53",
            push_with(event_with("seqNum", json!(9007199254740993u64))),
            "r",
        ),
        ("missing name", push_with(no_name), "r"),
        (
            "clientId number",
            push_with(event_with("clientId", json!(7))),
            "r",
        ),
        (
            "event not object",
            r#"{"_tag":"WSMessage.PushReq","requestId":"r","batch":[1]}"#.into(),
            "r",
        ),
        (
            "cursor string",
            r#"{"_tag":"WSMessage.PullReq","requestId":"r","cursor":"0"}"#.into(),
            "r",
        ),
        (
            "cursor negative",
            r#"{"_tag":"WSMessage.PullReq","requestId":"r","cursor":-5}"#.into(),
            "r",
        ),
        (
            "cursor null",
            r#"{"_tag":"WSMessage.PullReq","requestId":"r","cursor":null}"#.into(),
            "r",
        ),
        (
            "cursor fraction",
            r#"{"_tag":"WSMessage.PullReq","requestId":"r","cursor":2.5}"#.into(),
            "r",
        ),
        (
            "deeply nested field",
            format!(r#"{{"_tag":"WSMessage.PushReq","requestId":"r","x":{nested}}}"#),
            "r",
        ),
        ("deeply nested array", nested.clone(), "unknown"),
        (
            "deeply nested args",
            push_with(event_with(
                "args",
                serde_json::from_str::<Value>("1").unwrap(),
            ))
            .replace(r#""args":1"#, &format!(r#""args":{nested}"#)),
            "r",
        ),
        (
            "1001-event batch",
            json!({"_tag": "WSMessage.PushReq", "requestId": "r", "batch": events(0, 1001)})
                .to_string(),
            "r",
        ),
        (
            "admin without secret",
            r#"{"_tag":"WSMessage.AdminResetRoomReq","requestId":"r"}"#.into(),
            "r",
        ),
        (
            "duplicate key",
            r#"{"_tag":"WSMessage.PullReq","_tag":"WSMessage.PullReq","requestId":"r"}"#.into(),
            "unknown",
        ),
        (
            "truncated json",
            r#"{"_tag":"WSMessage.PushReq","requestId":"r","batch":[{"name""#.into(),
            "unknown",
        ),
    ]
}

#[tokio::test]
async fn malformed_frames_get_errors_and_the_store_keeps_serving() {
    let server = TestServer::spawn(&[]).await;
    let mut bad = server.client("mal").await;
    let mut good = server.client("mal").await;
    good.pull("g0", None).await;
    let frames = malformed_frames();
    assert!(frames.len() >= 20);
    let mut head = 0;
    for (i, (kind, frame, request_id)) in frames.into_iter().enumerate() {
        bad.send_text(&frame).await;
        // `bad` is in the store too: skip the broadcasts of `good`'s pushes.
        let reply = bad.recv_tag("WSMessage.Error").await;
        assert_eq!(reply["_tag"], "WSMessage.Error", "{kind}: {reply}");
        assert_eq!(reply["requestId"], request_id, "{kind}: {reply}");
        assert!(
            reply["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{kind}"
        );
        // The other client of the store is still served, and sees its broadcast.
        let rid = format!("good-{i}");
        good.push_acked(&rid, events(head, 1)).await;
        head += 1;
        let b = good.recv_tag("WSMessage.PullRes").await;
        assert_eq!(b["requestId"]["requestId"], rid);
    }
    // A binary frame gets an Error too, and the bad connection itself stays usable.
    bad.ws
        .send(Message::Binary(vec![1, 2, 3].into()))
        .await
        .unwrap();
    let reply = bad.recv_tag("WSMessage.Error").await;
    assert_eq!(reply["_tag"], "WSMessage.Error");
    assert_eq!(reply["requestId"], "unknown");
    bad.send(json!({"_tag": "WSMessage.Ping", "requestId": "ping"}))
        .await;
    assert_eq!(
        bad.recv_tag("WSMessage.Pong").await,
        json!({"_tag": "WSMessage.Pong", "requestId": "ping"})
    );

    let stored = server.stored("mal").await;
    assert_eq!(
        stored.len() as u64,
        head,
        "only the good client's events are stored"
    );
    assert!(stored
        .iter()
        .all(|e| e.client_id == "client-a" && e.args.is_some()));
    server.stop().await;
}

#[tokio::test]
async fn an_oversize_frame_closes_with_1009_and_others_continue() {
    let server = TestServer::spawn(&[]).await;
    let mut good = server.client("big").await;
    let mut big = server.client("big").await;
    let huge = "x".repeat(2 * 1024 * 1024);
    let frame = json!({"_tag": "WSMessage.PushReq", "requestId": "huge",
                       "batch": [event_with("args", json!(huge))]})
    .to_string();
    // The send may itself fail once the server has closed.
    let _ = big.ws.send(Message::Text(frame.into())).await;
    match big.until_end().await {
        Ended::Closed(Some(close)) => assert_eq!(u16::from(close.code), 1009, "{close:?}"),
        // The server may reset the TCP connection while the client is still sending.
        Ended::Error(_) | Ended::Eof | Ended::Closed(None) => {}
    }
    good.push_acked("after", events(0, 1)).await;
    let stored = server.stored("big").await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].seq_num, 1);
    server.stop().await;
}

#[tokio::test]
async fn ping_in_any_key_order_is_answered() {
    let server = TestServer::spawn(&[]).await;
    let mut client = server.client("ping").await;
    for frame in [
        r#"{"_tag":"WSMessage.Ping","requestId":"ping"}"#,
        r#"{"requestId":"ping","_tag":"WSMessage.Ping"}"#,
        "{ \"requestId\" : \"ping\" ,\n \"_tag\" : \"WSMessage.Ping\" }",
    ] {
        client.send_text(frame).await;
        assert_eq!(
            client.recv().await,
            json!({"_tag": "WSMessage.Pong", "requestId": "ping"})
        );
    }
    server.stop().await;
}

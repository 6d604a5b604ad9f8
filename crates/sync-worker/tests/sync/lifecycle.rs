//! Durability across restarts, admin messages, Ping under load, slow consumers and
//! graceful shutdown.

use std::collections::BTreeSet;

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn acked_events_survive_a_restart_and_the_head_continues() {
    let server = TestServer::spawn(&[]).await;
    let mut client = server.client("durable").await;
    for i in 0..5 {
        client.push_acked(&format!("p{i}"), events(i * 3, 3)).await;
    }
    drop(client);
    let dir = server.stop().await;

    let server = TestServer::spawn_in(dir, &[]).await;
    let mut client = server.client("durable").await;
    assert_eq!(
        all_seqs(&client.pull("r", None).await),
        (1..=15).collect::<Vec<_>>()
    );
    client.push("stale", events(0, 1)).await;
    assert_eq!(
        client.push_outcome("stale").await.unwrap_err(),
        "Invalid parent event number. Received e0 but expected e15"
    );
    client.push_acked("next", events(15, 1)).await;
    assert_eq!(server.stored("durable").await.len(), 16);
    server.stop().await;
}

#[tokio::test]
async fn admin_reset_and_info_need_the_right_secret() {
    let server = TestServer::spawn(&[("ADMIN_SECRET", ADMIN)]).await;
    let mut client = server.client("admin").await;
    client.push_acked("p", events(0, 4)).await;

    for (tag, secret) in [
        ("WSMessage.AdminResetRoomReq", "wrong"),
        ("WSMessage.AdminInfoReq", ""),
        ("WSMessage.AdminResetRoomReq", ""),
    ] {
        client
            .send(json!({"_tag": tag, "requestId": "a1", "adminSecret": secret}))
            .await;
        assert_eq!(
            client.recv_tag("WSMessage.Error").await,
            json!({"_tag": "WSMessage.Error", "requestId": "a1", "message": "Invalid admin secret"})
        );
    }
    assert_eq!(
        server.stored("admin").await.len(),
        4,
        "wrong secret changes nothing"
    );

    client
        .send(json!({"_tag": "WSMessage.AdminInfoReq", "requestId": "i", "adminSecret": ADMIN}))
        .await;
    let info = client.recv_tag("WSMessage.AdminInfoRes").await;
    assert_eq!(info["requestId"], "i");
    let id = info["info"]["durableObjectId"].as_str().unwrap();
    assert_eq!(id.len(), 64);

    client
        .send(
            json!({"_tag": "WSMessage.AdminResetRoomReq", "requestId": "z", "adminSecret": ADMIN}),
        )
        .await;
    assert_eq!(
        client.recv_tag("WSMessage.AdminResetRoomRes").await,
        json!({"_tag": "WSMessage.AdminResetRoomRes", "requestId": "z"})
    );
    assert!(server.stored("admin").await.is_empty());
    // The head is back at 0.
    client.push_acked("again", events(0, 1)).await;
    assert_eq!(server.stored("admin").await.len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn admin_messages_are_refused_when_no_secret_is_configured() {
    // Six wrong secrets on one connection: above the default limit of five.
    let server = TestServer::spawn(&[("ADMIN_MAX_FAILURES", "6")]).await;
    let mut client = server.client("noadmin").await;
    client.push_acked("p", events(0, 2)).await;
    for secret in ["", "anything", ADMIN] {
        for tag in ["WSMessage.AdminResetRoomReq", "WSMessage.AdminInfoReq"] {
            client
                .send(json!({"_tag": tag, "requestId": "x", "adminSecret": secret}))
                .await;
            assert_eq!(
                client.recv_tag("WSMessage.Error").await["message"],
                "Invalid admin secret"
            );
        }
    }
    assert_eq!(server.stored("noadmin").await.len(), 2);
    server.stop().await;
}

#[tokio::test]
async fn ping_is_answered_while_a_big_pull_streams() {
    let server = TestServer::spawn(&[]).await;
    let mut writer = server.client("bigpull").await;
    for i in 0..20 {
        writer.push(&format!("w{i}"), events(i * 1000, 1000)).await;
    }
    for i in 0..20 {
        writer.push_outcome(&format!("w{i}")).await.unwrap();
    }
    let mut reader = server.client("bigpull").await;
    reader
        .send(json!({"_tag": "WSMessage.PullReq", "requestId": "big"}))
        .await;
    reader
        .send(json!({"_tag": "WSMessage.Ping", "requestId": "ping"}))
        .await;
    let (mut pong_at, mut chunks, mut seen) = (None, 0usize, 0usize);
    loop {
        let m = reader.recv().await;
        if m["_tag"] == "WSMessage.Pong" {
            pong_at = Some(chunks);
            continue;
        }
        assert_eq!(m["requestId"]["requestId"], "big", "{}", m["_tag"]);
        chunks += 1;
        seen += m["batch"].as_array().unwrap().len();
        if m["remaining"] == 0 {
            break;
        }
    }
    assert_eq!((chunks, seen), (200, 20_000));
    let pong_at = pong_at.expect("pong before the pull finished");
    assert!(pong_at < chunks, "pong after {pong_at} of {chunks} chunks");
    server.stop().await;
}

#[tokio::test]
async fn a_client_that_never_reads_is_dropped_while_others_get_everything() {
    let server = TestServer::spawn(&[("OUTBOUND_QUEUE_LEN", "4")]).await;
    let mut stalled = server.client("slow").await;
    let mut watcher = server.client("slow").await;
    let mut writer = server.client("slow").await;
    stalled.pull("s", None).await;
    watcher.pull("w", None).await;
    writer.pull("x", None).await;

    let big_args = "y".repeat(2000);
    let pushes = 100u64;
    let watch = tokio::spawn(async move {
        let mut got = Vec::new();
        while got.len() < pushes as usize {
            let m = watcher.recv_tag("WSMessage.PullRes").await;
            got.push(m["requestId"]["requestId"].as_str().unwrap().to_owned());
        }
        got
    });
    for i in 0..pushes {
        let mut batch = events(i * 50, 50);
        for e in &mut batch {
            e["args"] = json!({"blob": big_args});
        }
        // Read our own ack and broadcast so the writer is never the slow one.
        writer.push_acked(&format!("p{i}"), batch).await;
        writer.recv_tag("WSMessage.PullRes").await;
    }
    let got = watch.await.unwrap();
    assert_eq!(
        got,
        (0..pushes).map(|i| format!("p{i}")).collect::<Vec<_>>()
    );

    // The stalled client finds its connection ended once it finally reads.
    match stalled.until_end().await {
        Ended::Closed(Some(close)) => assert_eq!(u16::from(close.code), 1013, "{close:?}"),
        Ended::Closed(None) | Ended::Error(_) | Ended::Eof => {}
    }
    assert_eq!(server.stored("slow").await.len() as u64, pushes * 50);
    server.stop().await;
}

#[tokio::test]
async fn graceful_shutdown_answers_pending_pushes_then_closes_with_1001() {
    let mut server = TestServer::spawn(&[]).await;
    let mut idle = server.client("bye").await;
    let mut client = server.client("bye").await;
    idle.pull("i", None).await;
    for i in 0..10u64 {
        client.push(&format!("p{i}"), events(i * 10, 10)).await;
    }
    client.push_outcome("p0").await.unwrap();
    server.trigger_shutdown();

    let mut acked = BTreeSet::from(["p0".to_owned()]);
    let end = loop {
        match client.next().await {
            Ok(m) if m["_tag"] == "WSMessage.PushAck" => {
                acked.insert(m["requestId"].as_str().unwrap().to_owned());
            }
            Ok(_) => {}
            Err(end) => break end,
        }
    };
    match end {
        Ended::Closed(Some(close)) => assert_eq!(u16::from(close.code), 1001),
        other => panic!("expected close 1001, got {other:?}"),
    }
    match idle.until_end().await {
        Ended::Closed(Some(close)) => assert_eq!(u16::from(close.code), 1001),
        other => panic!("expected close 1001, got {other:?}"),
    }
    server.join().await;
    // Every acked push is stored, and nothing unacked is.
    let stored = read_store(&server.db_url, "bye").await;
    assert_eq!(stored.len(), acked.len() * 10);
    assert!(
        server.connect("bye", None).await.is_err(),
        "no longer accepting"
    );
}

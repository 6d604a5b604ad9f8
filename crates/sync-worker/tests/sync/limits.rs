//! The connection limits over real sockets: node, per-IP and per-user caps refused
//! before the upgrade (and for 0.4 HTTP requests) and released when sockets close; the
//! idle timeout; the message rate; the store queue bound; a long pull that is not
//! kicked for the broadcasts it holds back.

use std::time::Duration;

use serde_json::{json, Value};
use shared::Role;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::feed::FeedServer;
use crate::helpers::*;
use crate::tokens::*;

/// Connects with `request` and expects a refusal: returns its status and JSON body.
async fn refused(request: tungstenite::handshake::client::Request) -> (u16, Value) {
    match tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
        .await
        .expect("connect timed out")
    {
        Err(tungstenite::Error::Http(response)) => {
            let body = serde_json::from_slice(response.body().as_deref().unwrap_or_default())
                .expect("JSON body");
            (response.status().as_u16(), body)
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("upgraded but should be refused"),
    }
}

fn request(url: &str) -> tungstenite::handshake::client::Request {
    url.into_client_request().unwrap()
}

/// Connects until it succeeds within the bound: a closed socket's place is released
/// when the server sees the close, a moment after the client sent it.
async fn connects_again(server: &TestServer, store: &str, payload: Option<&Value>) -> Client {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    loop {
        match server.connect(store, payload).await {
            Ok(client) => return client,
            Err(e) if tokio::time::Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("place not released within 2 s: {e}"),
        }
    }
}

#[tokio::test]
async fn the_node_cap_refuses_with_503_and_is_released_on_close() {
    let server = TestServer::spawn(&[("MAX_CONNECTIONS", "2")]).await;
    let mut a = server.client("s1").await;
    let _b = server.client("s2").await;
    let (status, body) = refused(request(&server.ws_url("s3", None))).await;
    assert_eq!(status, 503);
    assert_eq!(body["code"], "TOO_MANY_CONNECTIONS");
    assert!(body["message"].as_str().unwrap().contains('2'), "{body}");
    // A 0.4 HTTP request is refused the same way while the node is full.
    let url = format!("http://{}/?storeId=s3&transport=http", server.addr);
    let response = reqwest::Client::new()
        .post(&url)
        .body(r#"{"_tag":"Ping"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "TOO_MANY_CONNECTIONS");
    a.ws.close(None).await.unwrap();
    let mut again = connects_again(&server, "s3", None).await;
    again.push_acked("p", events(0, 1)).await;
    server.stop().await;
}

#[tokio::test]
async fn the_per_ip_cap_refuses_with_429_and_trusts_the_proxy_only_when_told() {
    let server = TestServer::spawn(&[("MAX_CONNECTIONS_PER_IP", "2")]).await;
    let a = server.client("s").await;
    let _b = server.client("s").await;
    // Without TRUST_PROXY a forwarded address changes nothing: the peer counts.
    let mut forwarded = request(&server.ws_url("s", None));
    forwarded
        .headers_mut()
        .insert("x-forwarded-for", "203.0.113.7".parse().unwrap());
    let (status, body) = refused(forwarded).await;
    assert_eq!(status, 429);
    assert_eq!(body["code"], "TOO_MANY_CONNECTIONS_PER_IP");
    drop(a);
    connects_again(&server, "s", None).await;
    server.stop().await;

    let server =
        TestServer::spawn(&[("MAX_CONNECTIONS_PER_IP", "1"), ("TRUST_PROXY", "true")]).await;
    let via_proxy = |client_ip: &str| {
        let mut r = request(&server.ws_url("s", None));
        let value = format!("198.51.100.1, {client_ip}");
        r.headers_mut()
            .insert("x-forwarded-for", value.parse().unwrap());
        r
    };
    let (_first, _) = tokio_tungstenite::connect_async(via_proxy("203.0.113.7"))
        .await
        .unwrap();
    let (_other, _) = tokio_tungstenite::connect_async(via_proxy("203.0.113.8"))
        .await
        .unwrap();
    let (status, body) = refused(via_proxy("203.0.113.7")).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("TOO_MANY_CONNECTIONS_PER_IP"))
    );
    server.stop().await;
}

#[tokio::test]
async fn the_per_user_cap_counts_verified_users_only() {
    let feed = FeedServer::start(keys()).await;
    let server = secure_server(&feed, &[("MAX_CONNECTIONS_PER_USER", "2")]).await;
    let alice = with_token(&mint("alice", "s1", &[("st", Role::Editor)], 0, 0));
    let bob = with_token(&mint("bob", "s2", &[("st", Role::Editor)], 0, 0));
    let a1 = server.connect("st", Some(&alice)).await.unwrap();
    let _a2 = server.connect("st", Some(&alice)).await.unwrap();
    let (status, body) = refused(request(&server.ws_url("st", Some(&alice)))).await;
    assert_eq!(status, 429);
    assert_eq!(body["code"], "TOO_MANY_CONNECTIONS_PER_USER");
    // Another user, and the server bypass (many internal clients), are not held back.
    let _b = server.connect("st", Some(&bob)).await.unwrap();
    let bypass = json!({"serverBypass": BYPASS});
    let _s1 = server.connect("st", Some(&bypass)).await.unwrap();
    let _s2 = server.connect("st", Some(&bypass)).await.unwrap();
    let _s3 = server.connect("st", Some(&bypass)).await.unwrap();
    drop(a1);
    let mut again = connects_again(&server, "st", Some(&alice)).await;
    again.push_acked("p", events(0, 1)).await;
    server.stop().await;
}

#[tokio::test]
async fn a_silent_socket_is_closed_with_4408_and_a_pinging_one_stays() {
    let server = TestServer::spawn(&[("IDLE_TIMEOUT_SECONDS", "1")]).await;
    let mut silent = server.client("s").await;
    let mut pinging = server.client("s").await;
    let started = tokio::time::Instant::now();
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        pinging
            .send(json!({"_tag": "WSMessage.Ping", "requestId": "ping"}))
            .await;
        assert_eq!(pinging.recv().await["_tag"], "WSMessage.Pong");
    }
    match silent.until_end().await {
        Ended::Closed(Some(frame)) => {
            assert_eq!(u16::from(frame.code), 4408);
            assert_eq!(frame.reason.as_str(), "no message for 1 s");
        }
        other => panic!("expected a 4408 close, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    // Still open after 2.4 s of pings every 300 ms.
    pinging.push_acked("p", events(0, 1)).await;
    server.stop().await;
}

#[tokio::test]
async fn a_client_over_the_message_rate_is_closed_with_4429() {
    let server =
        TestServer::spawn(&[("MAX_MESSAGES_PER_SECOND", "5"), ("MESSAGE_BURST", "10")]).await;
    let mut steady = server.client("s").await;
    let mut flood = server.client("s").await;
    for _ in 0..40 {
        flood
            .send(json!({"_tag": "WSMessage.Ping", "requestId": "ping"}))
            .await;
    }
    let mut pongs = 0;
    let end = loop {
        match flood.next().await {
            Ok(m) if m["_tag"] == "WSMessage.Pong" => pongs += 1,
            Ok(m) => panic!("unexpected {m}"),
            Err(end) => break end,
        }
    };
    match end {
        Ended::Closed(Some(frame)) => {
            assert_eq!(u16::from(frame.code), 4429);
            assert_eq!(frame.reason.as_str(), "more than 5 messages per second");
        }
        other => panic!("expected a 4429 close, got {other:?}"),
    }
    // The burst was served before the close.
    assert!((10..40).contains(&pongs), "{pongs} pongs");
    // A client within the rate is untouched.
    for _ in 0..3 {
        steady
            .send(json!({"_tag": "WSMessage.Ping", "requestId": "ping"}))
            .await;
        assert_eq!(steady.recv().await["_tag"], "WSMessage.Pong");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    server.stop().await;
}

/// One event whose args carry `bytes` bytes of text.
fn big_event(seq: u64, bytes: usize) -> Value {
    json!({
        "name": "blob",
        "args": {"text": "x".repeat(bytes)},
        "seqNum": seq,
        "parentSeqNum": seq - 1,
        "clientId": "c",
        "sessionId": "s",
    })
}

#[tokio::test]
async fn a_full_store_queue_refuses_pushes_instead_of_growing() {
    // Room for one ~60 KB push at a time.
    let server = TestServer::spawn(&[
        ("MAX_FRAME_BYTES", "65536"),
        ("STORE_QUEUE_MAX_BYTES", "65536"),
    ])
    .await;
    let mut client = server.client("s").await;
    let n = 40;
    for seq in 1..=n {
        client
            .push(&format!("p{seq}"), vec![big_event(seq, 60_000)])
            .await;
    }
    // Refusals are written at once, acks after their commit: collect every answer.
    let (mut acked, mut busy, mut answered) = (0, 0, 0);
    while answered < n {
        let m = client.recv().await;
        match m["_tag"].as_str() {
            Some("WSMessage.PushAck") => acked += 1,
            Some("WSMessage.Error") => {
                let message = m["message"].as_str().unwrap();
                if message.starts_with("Store busy: its push queue is full (65536 bytes)") {
                    busy += 1;
                } else {
                    // A push chained on a refused one has the wrong parent.
                    assert!(message.contains("parent"), "{message}");
                }
            }
            _ => continue,
        }
        answered += 1;
    }
    assert!(busy > 0, "no push was refused ({acked} acked)");
    let stored = server.stored("s").await;
    assert_eq!(
        stored.len(),
        acked,
        "every acked push, and only those, is stored"
    );
    // The queue is empty again once everything is answered.
    let head = stored.len() as u64;
    client
        .push_acked("after", vec![big_event(head + 1, 60_000)])
        .await;
    server.stop().await;
}

#[tokio::test]
async fn a_long_pull_is_resumed_instead_of_kicked_for_the_broadcasts_it_holds_back() {
    // Two queued messages: any broadcast burst during the pull overflows the queue.
    let server = TestServer::spawn(&[("OUTBOUND_QUEUE_LEN", "2")]).await;
    let mut writer = server.client("s").await;
    // 10,000 events of 2 KB: far more than the socket buffers hold unread.
    let total = 10_000;
    for batch in 0..total / 100 {
        let parent = batch * 100;
        let events: Vec<Value> = (1..=100).map(|i| big_event(parent + i, 2000)).collect();
        writer.push_acked(&format!("seed{batch}"), events).await;
    }
    let mut reader = server.client("s").await;
    reader
        .send(json!({"_tag": "WSMessage.PullReq", "requestId": "long"}))
        .await;
    // The reader does not read yet: its pull is stuck mid-way while the store moves.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let extra = 10;
    for i in 1..=extra {
        writer
            .push_acked(&format!("live{i}"), vec![big_event(total + i, 10)])
            .await;
    }
    // What the 0.3.1 client hands on (ws-impl.ts, pull): push-context pages before the
    // first pull page are stashed and merged into the pull's last page.
    let (mut delivered, mut stash, mut pulled) = (Vec::new(), Vec::new(), false);
    while delivered.last() != Some(&(total + extra)) {
        let m = match reader.next().await {
            Ok(m) if m["_tag"] == "WSMessage.PullRes" => m,
            Ok(m) => panic!("unexpected {m}"),
            Err(end) => panic!("reader closed after {} events: {end:?}", delivered.len()),
        };
        let mut batch = seqs(&m);
        if m["requestId"]["context"] == "pull" {
            assert_eq!(m["requestId"]["requestId"], "long");
            pulled = true;
            if !stash.is_empty() && m["remaining"] == 0 {
                let head = batch.last().copied().unwrap_or(0);
                batch.extend(stash.iter().filter(|&&s| s > head));
            }
            delivered.extend(batch);
        } else if pulled {
            delivered.extend(batch);
        } else {
            stash.extend(batch);
        }
    }
    let expected: Vec<u64> = (1..=total + extra).collect();
    assert_eq!(delivered, expected, "every event once, in order");
    // Still connected, and live.
    writer
        .push_acked("last", vec![big_event(total + extra + 1, 10)])
        .await;
    let live = reader.recv_tag("WSMessage.PullRes").await;
    assert_eq!(seqs(&live), vec![total + extra + 1]);
    server.stop().await;
}

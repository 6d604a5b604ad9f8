//! LiveStore 0.4 over HTTP (`makeHttpSync`) over a real socket: ping, push, pull pages,
//! typed failures, per-request authentication, CORS, and a push reaching a WebSocket
//! live pull.

use serde_json::{json, Value};
use shared::Role;

use crate::feed::FeedServer;
use crate::helpers::*;
use crate::tokens::*;

fn url(server: &TestServer, store: &str, payload: Option<&Value>) -> String {
    let mut url = format!("http://{}/sync?storeId={}", server.addr, encode(store));
    if let Some(p) = payload {
        url.push_str("&payload=");
        url.push_str(&encode(&encode(&p.to_string())));
    }
    url.push_str("&transport=http");
    url
}

async fn post(url: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("x-livestore-store-id", "ignored")
        .body(body.to_string())
        .send()
        .await
        .expect("POST");
    let status = response.status().as_u16();
    let body = response.json().await.expect("JSON body");
    (status, body)
}

fn request(id: &str, tag: &str, payload: Value) -> Value {
    json!({"_tag": "Request", "id": id, "tag": tag, "payload": payload, "headers": [], "sampled": true})
}

fn push(id: &str, parent: u64, n: u64, backend: Option<&str>) -> Value {
    let backend = backend.map_or(
        json!({"_tag": "None"}),
        |b| json!({"_tag": "Some", "value": b}),
    );
    request(
        id,
        "SyncHttpRpc.Push",
        json!({"storeId": "s", "batch": events(parent, n), "backendId": backend}),
    )
}

fn pull(id: &str, cursor: Option<(&str, u64)>) -> Value {
    let cursor = cursor.map_or(
        json!({"_tag": "None"}),
        |(b, n)| json!({"_tag": "Some", "value": {"backendId": b, "eventSequenceNumber": n}}),
    );
    request(
        id,
        "SyncHttpRpc.Pull",
        json!({"storeId": "s", "cursor": cursor}),
    )
}

#[tokio::test]
async fn ping_push_pull_and_failures_over_http() {
    let server = TestServer::spawn(&[]).await;
    let u = url(&server, "h04-a", None);
    let (status, body) = post(
        &u,
        request("0", "SyncHttpRpc.Ping", json!({"storeId": "s"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!([{"_tag": "Exit", "requestId": "0", "exit": {"_tag": "Success", "value": {"_tag": "SyncMessage.Pong"}}}])
    );

    let (_, body) = post(&u, pull("1", None)).await;
    assert_eq!(body.as_array().unwrap().len(), 2, "{body}");
    assert_eq!(body[0]["values"][0]["batch"], json!([]));
    assert_eq!(body[0]["values"][0]["pageInfo"], json!({"_tag": "NoMore"}));
    let backend = body[0]["values"][0]["backendId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        body[1],
        json!({"_tag": "Exit", "requestId": "1", "exit": {"_tag": "Success"}})
    );

    // A WebSocket live pull sees the HTTP push.
    let ws_url = format!("ws://{}/?storeId=h04-a&transport=ws", server.addr);
    let mut live = Client::connect_url(&ws_url).await;
    live.send(
        json!({"_tag": "Request", "id": "L", "tag": "SyncWsRpc.Pull", "headers": [],
                     "payload": {"storeId": "h04-a", "live": true, "cursor": {"_tag": "None"}}}),
    )
    .await;
    assert_eq!(live.recv().await["_tag"], "Chunk");

    for (i, parent) in [0u64, 100].into_iter().enumerate() {
        let (_, body) = post(&u, push(&format!("p{i}"), parent, 100, Some(&backend))).await;
        assert_eq!(
            body,
            json!([{"_tag": "Exit", "requestId": format!("p{i}"), "exit": {"_tag": "Success", "value": {}}}])
        );
    }
    let m = live.recv().await;
    assert_eq!(m["requestId"], "L");
    assert_eq!(m["values"][0]["batch"].as_array().unwrap().len(), 100);

    let (_, body) = post(&u, pull("2", Some((&backend, 50)))).await;
    let frames = body.as_array().unwrap();
    assert_eq!(frames.len(), 3, "two chunks then the exit");
    assert_eq!(
        frames[0]["values"][0]["pageInfo"],
        json!({"_tag": "MoreKnown", "remaining": 50})
    );
    assert_eq!(
        frames[1]["values"][0]["pageInfo"],
        json!({"_tag": "NoMore"})
    );
    assert_eq!(
        frames[0]["values"][0]["batch"][0]["eventEncoded"]["seqNum"],
        51
    );
    assert_eq!(frames[2]["exit"]["_tag"], "Success");

    let (_, body) = post(&u, push("x", 7, 1, None)).await;
    assert_eq!(
        body[0]["exit"]["cause"]["error"],
        json!({"_tag": "ServerAheadError", "minimumExpectedNum": 200, "providedNum": 7})
    );
    let (_, body) = post(&u, pull("y", Some(("old", 1)))).await;
    assert_eq!(body.as_array().unwrap().len(), 1);
    assert_eq!(
        body[0]["exit"]["cause"]["error"]["_tag"],
        "BackendIdMismatchError"
    );
    let (_, body) = post(&u, json!({"_tag": "Nope"})).await;
    assert_eq!(body[0]["_tag"], "Defect");
    assert_eq!(server.stored("h04-a").await.len(), 200);
}

#[tokio::test]
async fn every_http_request_is_authenticated_and_cors_allows_the_client_headers() {
    let feed = FeedServer::start(keys()).await;
    let server = secure_server(&feed, &[]).await;
    let store = "inst-h04";
    let (status, body) = post(&url(&server, store, None), push("a", 0, 1, None)).await;
    assert_eq!((status, code(&body)), (401, "TOKEN_MISSING"));
    let viewer = mint("u-hv", "s-hv", &[(store, Role::Viewer)], 0, 0);
    let viewer_url = url(&server, store, Some(&with_token(&viewer)));
    let (status, body) = post(&viewer_url, push("b", 0, 1, None)).await;
    assert_eq!(status, 200);
    assert_eq!(body[0]["exit"]["cause"]["error"]["_tag"], "UnknownError");
    let (status, _) = post(
        &url(&server, "inst-other", Some(&with_token(&viewer))),
        pull("c", None),
    )
    .await;
    assert_eq!(status, 403);
    let editor = mint("u-he", "s-he", &[(store, Role::Editor)], 0, 0);
    let (_, body) = post(
        &url(&server, store, Some(&with_token(&editor))),
        push("d", 0, 1, None),
    )
    .await;
    assert_eq!(body[0]["exit"], json!({"_tag": "Success", "value": {}}));
    assert_eq!(server.stored(store).await.len(), 1);

    let preflight = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, url(&server, store, None))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,x-livestore-store-id",
        )
        .send()
        .await
        .expect("preflight");
    assert!(preflight.status().is_success());
    let allowed = preflight
        .headers()
        .get("access-control-allow-headers")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(allowed.contains("x-livestore-store-id"), "{allowed}");
    assert!(allowed.contains("content-type"), "{allowed}");
}

#[tokio::test]
async fn http_pulls_count_remaining_across_gaps() {
    let server = TestServer::spawn(&[]).await;
    let u = url(&server, "h04-gaps", None);
    // seqNum 100 on an empty store, then 150 more with a jump after every tenth.
    let seqs: Vec<u64> = (0..151u64).map(|i| 100 + i + (i / 10) * 500).collect();
    let mut parent = 0;
    for (i, part) in [&seqs[..1], &seqs[1..]].into_iter().enumerate() {
        let batch = crate::gaps::gapped(parent, part);
        let body = json!({"storeId": "s", "batch": batch, "backendId": {"_tag": "None"}});
        let (_, answer) = post(&u, request(&format!("p{i}"), "SyncHttpRpc.Push", body)).await;
        assert_eq!(
            answer[0]["exit"],
            json!({"_tag": "Success", "value": {}}),
            "{answer}"
        );
        parent = *part.last().unwrap();
    }
    let (_, body) = post(&u, pull("all", None)).await;
    let frames = body.as_array().unwrap();
    assert_eq!(frames.len(), 3, "two pages then the exit: {body}");
    assert_eq!(
        frames[0]["values"][0]["pageInfo"],
        json!({"_tag": "MoreKnown", "remaining": 51})
    );
    assert_eq!(
        frames[1]["values"][0]["pageInfo"],
        json!({"_tag": "NoMore"})
    );
    let pulled: Vec<u64> = frames[..2]
        .iter()
        .flat_map(|f| crate::v0_4::page_seqs(&f["values"][0]))
        .collect();
    assert_eq!(pulled, seqs);
    server.stop().await;
}

/// A client that sends an HTTP pull and never reads the answer does not hold shutdown:
/// the server stops within its grace period (5 s here) plus the close allowance.
#[tokio::test]
async fn shutdown_does_not_wait_forever_for_an_http_client_that_stops_reading() {
    use tokio::io::AsyncWriteExt;

    let mut server = TestServer::spawn(&[("MAX_FRAME_BYTES", "4194304")]).await;
    // About 8 MB of events: far more than the socket buffers below hold.
    let mut seeder = server.client("h04-big").await;
    let pad = "x".repeat(1000);
    for push in 0..8u64 {
        let mut batch = events(push * 1000, 1000);
        for event in &mut batch {
            event["args"]["pad"] = json!(pad);
        }
        seeder.push_acked(&format!("s{push}"), batch).await;
    }
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(server.addr).await.unwrap();
    let body = pull("big", None).to_string();
    let head = format!(
        "POST /?storeId=h04-big&transport=http HTTP/1.1\r\nhost: x\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    // Let the server read the store and start writing the answer nobody reads.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let started = std::time::Instant::now();
    server.trigger_shutdown();
    server.join().await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "stopped after {:?}",
        started.elapsed()
    );
    drop(stream);
}

//! LiveStore 0.4 (Effect RPC over WebSocket) over real sockets: the frames and errors
//! of `PROTOCOL.md`'s 0.4 section, backend ids, store access, and one store shared
//! with a 0.3.1 client.

use serde_json::{json, Value};
use shared::Role;
use tokio_tungstenite::tungstenite;

use crate::feed::FeedServer;
use crate::helpers::*;
use crate::tokens::*;

/// The URL a 0.4 `makeWsSync({url})` client opens: any path, the payload encoded twice.
pub fn url04(server: &TestServer, path: &str, store: &str, payload: Option<&Value>) -> String {
    let mut url = format!("ws://{}{path}?storeId={}", server.addr, encode(store));
    if let Some(p) = payload {
        url.push_str("&payload=");
        url.push_str(&encode(&encode(&p.to_string())));
    }
    url.push_str("&transport=ws");
    url
}

pub async fn client04(server: &TestServer, store: &str) -> Client {
    Client::connect_url(&url04(server, "/", store, None)).await
}

pub fn pull_req(id: &str, live: bool, cursor: Option<(&str, u64)>) -> Value {
    let cursor = match cursor {
        None => json!({"_tag": "None"}),
        Some((backend, seq)) => {
            json!({"_tag": "Some", "value": {"backendId": backend, "eventSequenceNumber": seq}})
        }
    };
    json!({"_tag": "Request", "id": id, "tag": "SyncWsRpc.Pull", "headers": [], "traceId": "t",
           "payload": {"storeId": "ignored", "live": live, "cursor": cursor}})
}

pub fn push_req(id: &str, batch: Vec<Value>, backend: Option<&str>) -> Value {
    let backend = match backend {
        None => json!({"_tag": "None"}),
        Some(b) => json!({"_tag": "Some", "value": b}),
    };
    json!({"_tag": "Request", "id": id, "tag": "SyncWsRpc.Push", "headers": [],
           "payload": {"storeId": "ignored", "batch": batch, "backendId": backend}})
}

/// The next frame about `request_id` (others are skipped).
pub async fn recv_for(client: &mut Client, request_id: &str) -> Value {
    loop {
        let m = client.recv().await;
        if m["requestId"] == request_id {
            return m;
        }
    }
}

/// Every `PullResponse` of a non-live pull, up to and including its `Exit`.
pub async fn pull_all(
    client: &mut Client,
    id: &str,
    cursor: Option<(&str, u64)>,
) -> (Vec<Value>, Value) {
    client.send(pull_req(id, false, cursor)).await;
    let mut pages = Vec::new();
    loop {
        let m = recv_for(client, id).await;
        match m["_tag"].as_str() {
            Some("Chunk") => {
                assert_eq!(m["values"].as_array().unwrap().len(), 1, "{m}");
                pages.push(m["values"][0].clone());
            }
            Some("Exit") => return (pages, m["exit"].clone()),
            _ => panic!("unexpected frame {m}"),
        }
    }
}

pub fn page_seqs(page: &Value) -> Vec<u64> {
    page["batch"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["eventEncoded"]["seqNum"].as_u64().unwrap())
        .collect()
}

pub async fn push_exit(
    client: &mut Client,
    id: &str,
    batch: Vec<Value>,
    backend: Option<&str>,
) -> Value {
    client.send(push_req(id, batch, backend)).await;
    loop {
        let m = recv_for(client, id).await;
        if m["_tag"] == "Exit" {
            return m["exit"].clone();
        }
    }
}

pub fn failure(exit: &Value) -> &Value {
    assert_eq!(exit["_tag"], "Failure", "{exit}");
    assert_eq!(exit["cause"]["_tag"], "Fail", "{exit}");
    &exit["cause"]["error"]
}

pub async fn backend_id_of(client: &mut Client) -> String {
    let (pages, _) = pull_all(client, "bid", None).await;
    pages[0]["backendId"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn ping_empty_pull_pages_cursor_and_exits() {
    let server = TestServer::spawn(&[]).await;
    // Any path: the 0.4 client appends none.
    let mut c = Client::connect_url(&url04(&server, "/sync/app", "s04-a", None)).await;
    c.send(json!({"_tag": "Ping"})).await;
    assert_eq!(c.recv().await, json!({"_tag": "Pong"}));

    let (pages, exit) = pull_all(&mut c, "0", None).await;
    assert_eq!(pages.len(), 1);
    assert_eq!(pages[0]["batch"], json!([]));
    assert_eq!(pages[0]["pageInfo"], json!({"_tag": "NoMore"}));
    let backend = pages[0]["backendId"].as_str().unwrap().to_owned();
    assert_eq!(backend.len(), 21);
    assert_eq!(exit, json!({"_tag": "Success"}));

    for (i, parent) in [0u64, 100, 200].into_iter().enumerate() {
        let n = if parent == 200 { 50 } else { 100 };
        let exit = push_exit(&mut c, &format!("p{i}"), events(parent, n), None).await;
        assert_eq!(exit, json!({"_tag": "Success", "value": {}}));
    }
    let (pages, exit) = pull_all(&mut c, "1", None).await;
    assert_eq!(exit, json!({"_tag": "Success"}));
    let sizes: Vec<usize> = pages.iter().map(|p| page_seqs(p).len()).collect();
    assert_eq!(sizes, [100, 100, 50]);
    assert_eq!(
        pages[0]["pageInfo"],
        json!({"_tag": "MoreKnown", "remaining": 150})
    );
    assert_eq!(
        pages[1]["pageInfo"],
        json!({"_tag": "MoreKnown", "remaining": 50})
    );
    assert_eq!(pages[2]["pageInfo"], json!({"_tag": "NoMore"}));
    assert!(pages.iter().all(|p| p["backendId"] == backend.as_str()));
    let item = &pages[0]["batch"][0];
    assert_eq!(
        item["eventEncoded"]["args"],
        json!({"id": "t1", "text": "buy milk"})
    );
    assert_eq!(item["eventEncoded"]["parentSeqNum"], 0);
    assert_eq!(item["metadata"]["_tag"], "Some");
    assert_eq!(
        item["metadata"]["value"]["_tag"],
        "SyncMessage.SyncMetadata"
    );
    assert!(item["metadata"]["value"]["createdAt"]
        .as_str()
        .unwrap()
        .ends_with('Z'));

    // The cursor is exclusive.
    let (pages, _) = pull_all(&mut c, "2", Some((&backend, 248))).await;
    assert_eq!(
        pages.iter().flat_map(page_seqs).collect::<Vec<_>>(),
        [249, 250]
    );
    let (pages, _) = pull_all(&mut c, "3", Some((&backend, 250))).await;
    assert_eq!(pages.len(), 1);
    assert_eq!(pages[0]["batch"], json!([]));
    assert_eq!(server.stored("s04-a").await.len(), 250);
}

#[tokio::test]
async fn server_ahead_backend_mismatch_and_die() {
    let server = TestServer::spawn(&[]).await;
    let mut c = client04(&server, "s04-b").await;
    let backend = backend_id_of(&mut c).await;
    let exit = push_exit(&mut c, "a", events(0, 2), Some(&backend)).await;
    assert_eq!(exit["_tag"], "Success");

    let exit = push_exit(&mut c, "b", events(5, 1), None).await;
    assert_eq!(
        *failure(&exit),
        json!({"_tag": "ServerAheadError", "minimumExpectedNum": 2, "providedNum": 5})
    );
    let exit = push_exit(&mut c, "c", events(2, 1), Some("someone-else")).await;
    assert_eq!(
        *failure(&exit),
        json!({"_tag": "BackendIdMismatchError", "expected": backend, "received": "someone-else"})
    );
    c.send(pull_req("d", false, Some(("stale", 1)))).await;
    let m = recv_for(&mut c, "d").await;
    assert_eq!(m["_tag"], "Exit", "no chunk before the failure: {m}");
    assert_eq!(
        *failure(&m["exit"]),
        json!({"_tag": "BackendIdMismatchError", "expected": backend, "received": "stale"})
    );
    // A payload that does not fit the schema is a Die of that request only.
    c.send(json!({"_tag": "Request", "id": "e", "tag": "SyncWsRpc.Pull", "payload": {"live": "yes"}, "headers": []}))
        .await;
    let m = recv_for(&mut c, "e").await;
    assert_eq!(m["exit"]["_tag"], "Failure");
    assert_eq!(m["exit"]["cause"]["_tag"], "Die");
    assert_eq!(server.stored("s04-b").await.len(), 2);
}

#[tokio::test]
async fn frames_that_are_not_envelopes_are_defects_and_the_socket_stays_open() {
    let server = TestServer::spawn(&[]).await;
    let mut c = client04(&server, "s04-c").await;
    for bad in [
        "not json",
        "[1]",
        r#"{"_tag":"WSMessage.PullReq","requestId":"x"}"#,
        r#"{"_tag":"Request","id":"1","tag":"SyncWsRpc.Nope","payload":{}}"#,
    ] {
        c.send_text(bad).await;
        let m = c.recv().await;
        assert_eq!(m["_tag"], "Defect", "{bad}: {m}");
        assert!(m["defect"].is_string());
    }
    c.send(json!({"_tag": "Ack", "requestId": "1"})).await;
    c.send(json!({"_tag": "Ping"})).await;
    assert_eq!(c.recv().await, json!({"_tag": "Pong"}), "Ack is ignored");
}

#[tokio::test]
async fn live_pull_gets_own_and_0_3_pushes_until_interrupted() {
    let server = TestServer::spawn(&[]).await;
    let store = "s04-mixed";
    let mut new = client04(&server, store).await;
    let mut old = server.client(store).await;
    // The 0.3.1 client's pull makes it receive broadcasts.
    assert_eq!(all_seqs(&old.pull("o-pull", None).await), Vec::<u64>::new());

    new.send(pull_req("live", true, None)).await;
    let first = recv_for(&mut new, "live").await;
    assert_eq!(first["_tag"], "Chunk");
    assert_eq!(first["values"][0]["pageInfo"], json!({"_tag": "NoMore"}));
    let backend = first["values"][0]["backendId"].as_str().unwrap().to_owned();

    // Its own push comes back on the live pull, besides the push's Exit.
    new.send(push_req("p1", events(0, 2), Some(&backend))).await;
    let mut got_exit = false;
    let mut got_chunk = false;
    while !(got_exit && got_chunk) {
        let m = new.recv().await;
        match (m["_tag"].as_str(), m["requestId"].as_str()) {
            (Some("Exit"), Some("p1")) => got_exit = true,
            (Some("Chunk"), Some("live")) => {
                assert_eq!(page_seqs(&m["values"][0]), [1, 2]);
                assert_eq!(m["values"][0]["backendId"], backend.as_str());
                got_chunk = true;
            }
            _ => panic!("unexpected {m}"),
        }
    }
    // ...and the 0.3.1 client sees it as a push PullRes.
    let m = old.recv_tag("WSMessage.PullRes").await;
    assert_eq!(seqs(&m), [1, 2]);

    // A 0.3.1 push reaches the 0.4 live pull.
    old.push_acked("o1", events(2, 1)).await;
    let m = recv_for(&mut new, "live").await;
    assert_eq!(page_seqs(&m["values"][0]), [3]);
    assert_eq!(m["values"][0]["pageInfo"], json!({"_tag": "NoMore"}));

    // A second 0.4 client pulls everything both wrote.
    let mut other = client04(&server, store).await;
    let (pages, _) = pull_all(&mut other, "all", None).await;
    assert_eq!(
        pages.iter().flat_map(page_seqs).collect::<Vec<_>>(),
        [1, 2, 3]
    );

    // After Interrupt, the live pull gets nothing more.
    new.send(json!({"_tag": "Interrupt", "requestId": "live"}))
        .await;
    new.send(json!({"_tag": "Ping"})).await;
    assert_eq!(new.recv().await, json!({"_tag": "Pong"}));
    old.push_acked("o2", events(3, 1)).await;
    new.send(json!({"_tag": "Ping"})).await;
    assert_eq!(
        new.recv().await,
        json!({"_tag": "Pong"}),
        "no chunk after Interrupt"
    );
}

#[tokio::test]
async fn connect_rules_and_roles_apply_to_0_4_sockets() {
    let feed = FeedServer::start(keys()).await;
    let server = secure_server(&feed, &[]).await;
    let store = "inst-04";
    // No token: refused before the upgrade with the same status and body as 0.3.1.
    match tokio_tungstenite::connect_async(url04(&server, "/", store, None)).await {
        Err(tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 401);
            let body: Value =
                serde_json::from_slice(response.body().as_deref().unwrap_or_default()).unwrap();
            assert_eq!(code(&body), "TOKEN_MISSING");
        }
        other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
    }
    let viewer = mint("u-v", "s-v", &[(store, Role::Viewer)], 0, 0);
    let mut c = Client::connect_url(&url04(&server, "/", store, Some(&with_token(&viewer)))).await;
    let exit = push_exit(&mut c, "v", events(0, 1), None).await;
    let error = failure(&exit);
    assert_eq!(error["_tag"], "UnknownError");
    assert_eq!(
        error["cause"]["message"],
        "Forbidden: viewers cannot push to this store"
    );
    let (pages, exit) = pull_all(&mut c, "p", None).await;
    assert_eq!(pages[0]["batch"], json!([]));
    assert_eq!(exit["_tag"], "Success");
    // A store outside the token's memberships is refused.
    let (status, _) = match tokio_tungstenite::connect_async(url04(
        &server,
        "/",
        "inst-other",
        Some(&with_token(&viewer)),
    ))
    .await
    {
        Err(tungstenite::Error::Http(response)) => (response.status().as_u16(), ()),
        other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
    };
    assert_eq!(status, 403);
}

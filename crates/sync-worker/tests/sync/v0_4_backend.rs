//! LiveStore 0.4 backend ids and page sizes over real sockets: a reset or an instance
//! deletion gives the store a new backend id; pages stay under the client's frame budget.

use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::feed::FeedServer;
use crate::helpers::*;
use crate::tokens::*;
use crate::v0_4::*;

#[tokio::test]
async fn admin_reset_replaces_the_backend_id() {
    let server = TestServer::spawn(&[("ADMIN_SECRET", ADMIN)]).await;
    let store = "s04-reset";
    let mut new = client04(&server, store).await;
    let before = backend_id_of(&mut new).await;
    assert_eq!(
        push_exit(&mut new, "p", events(0, 3), None).await["_tag"],
        "Success"
    );
    let mut old = server.client(store).await;
    old.send(
        json!({"_tag": "WSMessage.AdminResetRoomReq", "requestId": "r", "adminSecret": ADMIN}),
    )
    .await;
    old.recv_tag("WSMessage.AdminResetRoomRes").await;
    // A client ahead of the reset server is told, not stalled.
    new.send(pull_req("q", false, Some((&before, 3)))).await;
    let m = recv_for(&mut new, "q").await;
    let error = failure(&m["exit"]).clone();
    assert_eq!(error["_tag"], "BackendIdMismatchError");
    assert_eq!(error["received"], before.as_str());
    assert_ne!(error["expected"], before.as_str());
    let exit = push_exit(&mut new, "p2", events(3, 1), Some(&before)).await;
    assert_eq!(failure(&exit)["_tag"], "BackendIdMismatchError");
}

#[tokio::test]
async fn instance_deletion_replaces_the_backend_id() {
    let feed = FeedServer::start(keys()).await;
    let server = secure_server(&feed, &[]).await;
    let store = "inst-04-del";
    let internal = json!({"serverBypass": BYPASS});
    let mut c = Client::connect_url(&url04(&server, "/", store, Some(&internal))).await;
    let before = backend_id_of(&mut c).await;
    assert_eq!(
        push_exit(&mut c, "p", events(0, 2), None).await["_tag"],
        "Success"
    );
    feed.push(shared::change_feed::Change::InstanceDeleted {
        instance_id: store.into(),
    });
    assert!(
        eventually(REVOCATION_BOUND, async || server
            .stored(store)
            .await
            .is_empty())
        .await,
        "events of the deleted instance still stored"
    );
    let mut fresh = Client::connect_url(&url04(&server, "/", store, Some(&internal))).await;
    let after = backend_id_of(&mut fresh).await;
    assert_ne!(
        after, before,
        "a deleted instance's store gets a new backend id"
    );
    let exit = push_exit(&mut fresh, "q", events(0, 1), Some(&before)).await;
    assert_eq!(failure(&exit)["_tag"], "BackendIdMismatchError");
}

#[tokio::test]
async fn pages_stay_under_the_frame_budget() {
    let server = TestServer::spawn(&[]).await;
    let mut c = client04(&server, "s04-big").await;
    // 20 events of about 100 kB: 2 MB in 100 events would be one frame without the cap.
    let text = "x".repeat(100_000);
    let batch: Vec<Value> = (1..=20u64)
        .map(|seq| {
            json!({"name": "big", "args": {"text": text}, "seqNum": seq, "parentSeqNum": seq - 1,
                   "clientId": "c", "sessionId": "s"})
        })
        .collect();
    for (i, part) in batch.chunks(5).enumerate() {
        let exit = push_exit(&mut c, &format!("p{i}"), part.to_vec(), None).await;
        assert_eq!(exit["_tag"], "Success", "{exit}");
    }
    c.send(pull_req("big", false, None)).await;
    let mut seqs = Vec::new();
    loop {
        let m = c.ws.next().await.expect("frame").expect("frame");
        let text = m.into_text().expect("text frame");
        assert!(text.len() < 900_000, "frame of {} bytes", text.len());
        let m: Value = serde_json::from_str(text.as_str()).unwrap();
        if m["_tag"] == "Exit" {
            break;
        }
        seqs.extend(page_seqs(&m["values"][0]));
    }
    assert_eq!(seqs, (1..=20).collect::<Vec<u64>>());
}

//! The one chain rule of both protocols over real sockets: gaps in numbering are legal
//! (LiveStore 0.4's own suite pushes `seqNum 100, parentSeqNum 0` into an empty store),
//! broken or non-increasing chains are refused with each protocol's usual error, and
//! pulls count what is left exactly across gaps.

use serde_json::{json, Value};

use crate::helpers::*;
use crate::v0_4::{client04, failure, page_seqs, pull_all, pull_req, push_exit, recv_for};

/// Events with exactly these `seqs`, chained onto `parent` (each the next one's parent).
pub fn gapped(parent: u64, seqs: &[u64]) -> Vec<Value> {
    let mut previous = parent;
    seqs.iter()
        .map(|&seq| {
            let event = json!({
                "name": "todoCreated",
                "args": {"id": format!("t{seq}")},
                "seqNum": seq,
                "parentSeqNum": previous,
                "clientId": "client-a",
                "sessionId": "session-a",
            });
            previous = seq;
            event
        })
        .collect()
}

/// 250 numbers with a jump of 1000 after every seventh, starting at 100.
fn sparse_seqs() -> Vec<u64> {
    (0..250u64).map(|i| 100 + i + (i / 7) * 1000).collect()
}

#[tokio::test]
async fn v0_3_pushes_with_gaps_are_acked_broadcast_and_pulled_back() {
    let server = TestServer::spawn(&[]).await;
    let mut pusher = server.client("gaps-03").await;
    let mut other = server.client("gaps-03").await;
    assert!(all_seqs(&other.pull("p0", None).await).is_empty());

    pusher.push_acked("g1", gapped(0, &[100])).await;
    let broadcast = other.recv_tag("WSMessage.PullRes").await;
    assert_eq!(broadcast["requestId"]["context"], "push");
    assert_eq!(seqs(&broadcast), [100]);
    assert_eq!(broadcast["batch"][0]["eventEncoded"]["parentSeqNum"], 0);

    let mut fresh = server.client("gaps-03").await;
    let chunks = fresh.pull("p1", None).await;
    assert_eq!(all_seqs(&chunks), [100]);
    assert_eq!(chunks[0]["remaining"], 0);

    // The head is the last seqNum: the next push chains on 100, not on a count.
    pusher.push("stale", gapped(1, &[2])).await;
    assert_eq!(
        pusher.push_outcome("stale").await.unwrap_err(),
        "Invalid parent event number. Received e1 but expected e100"
    );
    pusher.push_acked("g2", gapped(100, &[103, 110])).await;
    assert_eq!(all_seqs(&fresh.pull("p2", Some(100)).await), [103, 110]);
    assert_eq!(all_seqs(&fresh.pull("p3", Some(104)).await), [110]);
    assert_eq!(server.stored("gaps-03").await.len(), 3);
    server.stop().await;
}

#[tokio::test]
async fn v0_3_broken_and_non_increasing_chains_are_refused() {
    let server = TestServer::spawn(&[]).await;
    let mut client = server.client("broken-03").await;
    client.push_acked("ok", gapped(0, &[5])).await;
    let batches = [
        gapped(5, &[5]),    // equal to its parent
        gapped(5, &[9, 7]), // decreasing
        gapped(5, &[6, 6]), // repeated
        {
            let mut broken = gapped(5, &[6, 8]);
            broken[1]["parentSeqNum"] = json!(7); // not the previous event
            broken
        },
    ];
    for (i, batch) in batches.into_iter().enumerate() {
        let rid = format!("b{i}");
        client.push(&rid, batch).await;
        let err = client.push_outcome(&rid).await.unwrap_err();
        assert!(
            err.starts_with("Invalid event sequence: event "),
            "{i}: {err}"
        );
    }
    assert_eq!(
        server.stored("broken-03").await.len(),
        1,
        "nothing more stored"
    );
    server.stop().await;
}

#[tokio::test]
async fn v0_3_pull_counts_remaining_across_gaps() {
    let server = TestServer::spawn(&[]).await;
    let mut client = server.client("sparse-03").await;
    let seqs_sent = sparse_seqs();
    let mut parent = 0;
    for (i, part) in seqs_sent.chunks(50).enumerate() {
        client
            .push_acked(&format!("s{i}"), gapped(parent, part))
            .await;
        parent = *part.last().unwrap();
    }
    let mut reader = server.client("sparse-03").await;
    let chunks = reader.pull("all", None).await;
    let remaining: Vec<&Value> = chunks.iter().map(|c| &c["remaining"]).collect();
    assert_eq!(remaining, [&json!(150), &json!(50), &json!(0)]);
    assert_eq!(all_seqs(&chunks), seqs_sent);
    // A cursor inside a gap (between the 119th and the 120th event).
    assert!(seqs_sent[119] > seqs_sent[118] + 100);
    let chunks = reader.pull("part", Some(seqs_sent[118] + 100)).await;
    assert_eq!(chunks[0]["remaining"], 31);
    assert_eq!(all_seqs(&chunks), seqs_sent[119..]);
    server.stop().await;
}

#[tokio::test]
async fn v0_4_pushes_with_gaps_are_accepted_and_pulled_back() {
    let server = TestServer::spawn(&[]).await;
    let mut c = client04(&server, "gaps-04").await;
    // A live pull on another socket, as LiveStore 0.4 clients keep one.
    let mut live = client04(&server, "gaps-04").await;
    live.send(pull_req("L", true, None)).await;
    let first = recv_for(&mut live, "L").await;
    assert_eq!(first["values"][0]["pageInfo"], json!({"_tag": "NoMore"}));
    let backend = first["values"][0]["backendId"].as_str().unwrap().to_owned();

    // LiveStore 0.4's sync-provider suite: seqNum 100 on an empty store.
    let exit = push_exit(&mut c, "1", gapped(0, &[100]), Some(&backend)).await;
    assert_eq!(exit, json!({"_tag": "Success", "value": {}}));
    let chunk = recv_for(&mut live, "L").await;
    assert_eq!(page_seqs(&chunk["values"][0]), [100]);
    assert_eq!(
        chunk["values"][0]["batch"][0]["eventEncoded"]["parentSeqNum"],
        0
    );

    let (pages, exit) = pull_all(&mut c, "2", None).await;
    assert_eq!(pages.len(), 1);
    assert_eq!(page_seqs(&pages[0]), [100]);
    assert_eq!(pages[0]["pageInfo"], json!({"_tag": "NoMore"}));
    assert_eq!(exit, json!({"_tag": "Success"}));

    // A wrong first parent is ServerAheadError with the real head (the last seqNum).
    let exit = push_exit(&mut c, "3", gapped(1, &[2]), None).await;
    assert_eq!(
        failure(&exit),
        &json!({"_tag": "ServerAheadError", "minimumExpectedNum": 100, "providedNum": 1})
    );
    let exit = push_exit(&mut c, "4", gapped(100, &[150, 151]), None).await;
    assert_eq!(exit["_tag"], "Success", "{exit}");
    let (pages, _) = pull_all(&mut c, "5", Some((&backend, 120))).await;
    assert_eq!(page_seqs(&pages[0]), [150, 151]);

    // A 0.3.1 client of the same store sees the same chain.
    let mut old = server.client("gaps-04").await;
    assert_eq!(all_seqs(&old.pull("p", None).await), [100, 150, 151]);
    server.stop().await;
}

#[tokio::test]
async fn v0_4_broken_and_non_increasing_chains_are_unknown_errors() {
    let server = TestServer::spawn(&[]).await;
    let mut c = client04(&server, "broken-04").await;
    let exit = push_exit(&mut c, "0", gapped(0, &[7]), None).await;
    assert_eq!(exit["_tag"], "Success", "{exit}");
    for (i, batch) in [gapped(7, &[7]), gapped(7, &[9, 8]), gapped(7, &[8, 8])]
        .into_iter()
        .enumerate()
    {
        let exit = push_exit(&mut c, &format!("b{i}"), batch, None).await;
        let error = failure(&exit);
        assert_eq!(error["_tag"], "UnknownError", "{exit}");
        let message = error["cause"]["message"].as_str().unwrap();
        assert!(
            message.starts_with("Invalid event sequence: event "),
            "{message}"
        );
    }
    assert_eq!(server.stored("broken-04").await.len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn v0_4_pull_counts_remaining_across_gaps() {
    let server = TestServer::spawn(&[]).await;
    let mut c = client04(&server, "sparse-04").await;
    let seqs_sent = sparse_seqs();
    let mut parent = 0;
    for (i, part) in seqs_sent.chunks(50).enumerate() {
        let exit = push_exit(&mut c, &format!("s{i}"), gapped(parent, part), None).await;
        assert_eq!(exit["_tag"], "Success", "{exit}");
        parent = *part.last().unwrap();
    }
    let (pages, exit) = pull_all(&mut c, "all", None).await;
    let info: Vec<&Value> = pages.iter().map(|p| &p["pageInfo"]).collect();
    assert_eq!(
        info,
        [
            &json!({"_tag": "MoreKnown", "remaining": 150}),
            &json!({"_tag": "MoreKnown", "remaining": 50}),
            &json!({"_tag": "NoMore"}),
        ]
    );
    assert_eq!(exit, json!({"_tag": "Success"}));
    let all: Vec<u64> = pages.iter().flat_map(page_seqs).collect();
    assert_eq!(all, seqs_sent);
    server.stop().await;
}

#[tokio::test]
async fn events_api_pages_across_gaps() {
    let server = TestServer::spawn(&[]).await;
    let mut client = server.client("gaps-api").await;
    client.push_acked("g", gapped(0, &[100, 150, 151])).await;
    let page = |query: &'static str| crate::tokens::events_api(&server, "gaps-api", query, None);
    let (status, body) = page("?after=0&limit=2").await;
    assert_eq!(status, 200, "{body}");
    let seqs_of = |body: &Value| -> Vec<u64> {
        body["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["seqNum"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(seqs_of(&body), [100, 150]);
    assert_eq!(body["head"], 151);
    let (_, body) = page("?after=150&limit=2").await;
    assert_eq!(seqs_of(&body), [151]);
    let (_, body) = page("?after=120").await;
    assert_eq!(seqs_of(&body), [150, 151]);
    let (_, body) = page("?after=151").await;
    assert_eq!(seqs_of(&body), Vec::<u64>::new());
    server.stop().await;
}

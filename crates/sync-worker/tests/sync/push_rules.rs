//! Push validation, races, and parallel stores.

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn wrong_parent_is_refused_with_the_exact_text_and_nothing_stored() {
    let server = TestServer::spawn(&[]).await;
    let mut client = server.client("parents").await;
    client.push_acked("ok", events(0, 2)).await;
    client.push("bad", events(5, 1)).await;
    assert_eq!(
        client.recv_tag("WSMessage.Error").await,
        json!({"_tag": "WSMessage.Error", "requestId": "bad",
               "message": "Invalid parent event number. Received e5 but expected e2"})
    );
    client.push("stale", events(0, 1)).await;
    assert_eq!(
        client.push_outcome("stale").await.unwrap_err(),
        "Invalid parent event number. Received e0 but expected e2"
    );
    assert_eq!(server.stored("parents").await.len(), 2);
    // The connection stays usable and the head is unchanged.
    client.push_acked("next", events(2, 1)).await;
    assert_eq!(server.stored("parents").await.len(), 3);
    server.stop().await;
}

#[tokio::test]
async fn broken_chains_are_refused() {
    let server = TestServer::spawn(&[]).await;
    let mut client = server.client("gaps").await;
    // The third event names 4 as its parent, not the second event (2).
    let mut gap = events(0, 3);
    gap[2]["seqNum"] = json!(5);
    gap[2]["parentSeqNum"] = json!(4);
    let mut skip = events(0, 2);
    skip[0]["seqNum"] = json!(3);
    let mut repeat = events(0, 2);
    repeat[1] = repeat[0].clone();
    for (i, batch) in [gap, skip, repeat].into_iter().enumerate() {
        let rid = format!("g{i}");
        client.push(&rid, batch).await;
        let err = client.push_outcome(&rid).await.unwrap_err();
        assert!(err.starts_with("Invalid event sequence"), "{err}");
    }
    assert!(server.stored("gaps").await.is_empty());
    // An empty batch is acked at once and stores nothing.
    client.push_acked("empty", vec![]).await;
    assert!(server.stored("gaps").await.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn racing_clients_on_one_parent_exactly_one_wins() {
    let server = TestServer::spawn(&[]).await;
    for round in 0..5u64 {
        let store = format!("race-{round}");
        let mut a = server.client(&store).await;
        let mut b = server.client(&store).await;
        a.pull("ra", None).await;
        b.pull("rb", None).await;
        let mut a_batch = events(0, 2);
        a_batch[0]["clientId"] = json!("client-a");
        let mut b_batch = events(0, 1);
        b_batch[0]["clientId"] = json!("client-b");
        a.push("a", a_batch).await;
        b.push("b", b_batch).await;
        let (ra, rb) = tokio::join!(race_outcome(&mut a, "a"), race_outcome(&mut b, "b"));
        // Each side sees the winner's broadcast (the loser rebases on it).
        let winner = match (&ra, &rb) {
            ((Ok(()), wa), (Err(_), wb)) => {
                assert_eq!((wa.as_str(), wb.as_str()), ("a", "a"));
                "a"
            }
            ((Err(_), wa), (Ok(()), wb)) => {
                assert_eq!((wa.as_str(), wb.as_str()), ("b", "b"));
                "b"
            }
            other => panic!("exactly one must win: {other:?}"),
        };
        let winner_len = if winner == "a" { 2 } else { 1 };
        let loser_err = if winner == "a" {
            rb.0.unwrap_err()
        } else {
            ra.0.unwrap_err()
        };
        assert_eq!(
            loser_err,
            format!("Invalid parent event number. Received e0 but expected e{winner_len}")
        );
        let stored = server.stored(&store).await;
        assert_eq!(
            stored.iter().map(|e| e.seq_num).collect::<Vec<_>>(),
            (1..=winner_len).collect::<Vec<_>>()
        );
    }
    server.stop().await;
}

/// The answer to push `request_id`, and the request id of the first push broadcast seen
/// (read until both arrived, in whatever order).
async fn race_outcome(client: &mut Client, request_id: &str) -> (Result<(), String>, String) {
    let (mut outcome, mut broadcast) = (None, None);
    while outcome.is_none() || broadcast.is_none() {
        let m = client.recv().await;
        match m["_tag"].as_str() {
            Some("WSMessage.PushAck") if m["requestId"] == request_id => outcome = Some(Ok(())),
            Some("WSMessage.Error") if m["requestId"] == request_id => {
                outcome = Some(Err(m["message"].as_str().unwrap().to_owned()))
            }
            Some("WSMessage.PullRes") if m["requestId"]["context"] == "push" => {
                broadcast.get_or_insert(m["requestId"]["requestId"].as_str().unwrap().to_owned());
            }
            _ => {}
        }
    }
    (outcome.unwrap(), broadcast.unwrap())
}

/// One pusher: pushes `pushes` batches of 2, re-reading the head after each refusal.
async fn pusher(url: String, id: usize, pushes: usize) -> usize {
    let mut client = Client::connect_url(&url).await;
    let (mut head, mut done, mut refused) = (0u64, 0, 0);
    for round in 0.. {
        if done == pushes {
            break;
        }
        let chunks = client.pull(&format!("pull-{id}-{round}"), Some(head)).await;
        head = all_seqs(&chunks).last().copied().unwrap_or(head);
        let rid = format!("push-{id}-{round}");
        let mut batch = events(head, 2);
        for e in &mut batch {
            e["clientId"] = json!(format!("client-{id}"));
        }
        client.push(&rid, batch).await;
        match client.push_outcome(&rid).await {
            Ok(()) => {
                done += 1;
                head += 2;
            }
            Err(e) => {
                assert!(e.starts_with("Invalid parent event number"), "{e}");
                refused += 1;
            }
        }
    }
    refused
}

#[tokio::test]
async fn fifty_pushers_across_ten_stores_leave_ten_contiguous_chains() {
    let server = TestServer::spawn(&[]).await;
    let mut tasks = Vec::new();
    for id in 0..50 {
        let url = server.ws_url(&format!("parallel-{}", id % 10), None);
        tasks.push(tokio::spawn(pusher(url, id, 4)));
    }
    for task in tasks {
        task.await.expect("pusher panicked");
    }
    for store in 0..10 {
        let stored = server.stored(&format!("parallel-{store}")).await;
        let seqs: Vec<u64> = stored.iter().map(|e| e.seq_num).collect();
        assert_eq!(seqs, (1..=40).collect::<Vec<_>>(), "store {store}");
        assert!(stored.iter().all(|e| e.parent_seq_num + 1 == e.seq_num));
    }
    server.stop().await;
}

#[tokio::test]
async fn a_pipelining_client_gets_answers_in_order() {
    let server = TestServer::spawn(&[]).await;
    let mut client = server.client("pipeline").await;
    for i in 0..20u64 {
        client.push(&format!("p{i}"), events(i * 10, 10)).await;
    }
    let mut acks = Vec::new();
    while acks.len() < 20 {
        let m = client.recv().await;
        match m["_tag"].as_str() {
            Some("WSMessage.PushAck") => acks.push(m["requestId"].as_str().unwrap().to_owned()),
            Some("WSMessage.Error") => panic!("{m}"),
            _ => {}
        }
    }
    assert_eq!(acks, (0..20).map(|i| format!("p{i}")).collect::<Vec<_>>());
    assert_eq!(server.stored("pipeline").await.len(), 200);
    server.stop().await;
}

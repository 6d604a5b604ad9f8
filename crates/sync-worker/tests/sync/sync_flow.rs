//! Two clients on one store: broadcast to everyone, pulls from any cursor, chunking.

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn push_is_acked_then_broadcast_to_every_connection() {
    let server = TestServer::spawn(&[]).await;
    let mut a = server.client("shared").await;
    let mut b = server.client("shared").await;
    // Make sure both are registered before pushing: a pull round-trip each.
    a.pull("ra", None).await;
    b.pull("rb", None).await;

    a.push("push-1", events(0, 2)).await;
    let ack = a.recv().await;
    assert_eq!(
        ack,
        json!({"_tag": "WSMessage.PushAck", "requestId": "push-1"})
    );
    let to_a = a.recv().await;
    let to_b = b.recv().await;
    assert_eq!(to_a, to_b, "one encoding for every receiver");
    assert_eq!(to_a["_tag"], "WSMessage.PullRes");
    assert_eq!(
        to_a["requestId"],
        json!({"context": "push", "requestId": "push-1"})
    );
    assert_eq!(to_a["remaining"], 0);
    assert_eq!(seqs(&to_a), vec![1, 2]);
    let item = &to_a["batch"][0];
    assert_eq!(
        item["eventEncoded"],
        json!({"name": "todoCreated", "args": {"id": "t1", "text": "buy milk"}, "seqNum": 1,
               "parentSeqNum": 0, "clientId": "client-a", "sessionId": "session-a"})
    );
    assert_eq!(item["metadata"]["_tag"], "Some");
    let created = item["metadata"]["value"]["createdAt"].as_str().unwrap();
    assert!(created.ends_with('Z') && created.len() == 24, "{created}");
    assert_eq!(
        to_a["batch"][1]["metadata"], item["metadata"],
        "one createdAt per push"
    );

    // B pulls from no cursor and from a middle cursor.
    b.push_acked("push-2", events(2, 3)).await;
    assert_eq!(all_seqs(&b.pull("all", None).await), vec![1, 2, 3, 4, 5]);
    let middle = b.pull("mid", Some(3)).await;
    assert_eq!(all_seqs(&middle), vec![4, 5]);
    assert_eq!(
        middle[0]["requestId"],
        json!({"context": "pull", "requestId": "mid"})
    );
    let stored = server.stored("shared").await;
    assert_eq!(
        stored.iter().map(|e| e.seq_num).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
    server.stop().await;
}

#[tokio::test]
async fn pull_streams_in_chunks_of_100_with_remaining() {
    let server = TestServer::spawn(&[]).await;
    let mut writer = server.client("long").await;
    writer.push_acked("a", events(0, 100)).await;
    writer.push_acked("b", events(100, 100)).await;
    writer.push_acked("c", events(200, 50)).await;

    let mut reader = server.client("long").await;
    let chunks = reader.pull("full", None).await;
    let sizes: Vec<usize> = chunks
        .iter()
        .map(|c| c["batch"].as_array().unwrap().len())
        .collect();
    let remaining: Vec<u64> = chunks
        .iter()
        .map(|c| c["remaining"].as_u64().unwrap())
        .collect();
    assert_eq!(sizes, vec![100, 100, 50]);
    assert_eq!(remaining, vec![150, 50, 0]);
    assert_eq!(all_seqs(&chunks), (1..=250).collect::<Vec<_>>());
    // Stored events carry their push's createdAt as metadata.
    assert_eq!(chunks[0]["batch"][0]["metadata"]["_tag"], "Some");

    let past_head = reader.pull("past", Some(400)).await;
    assert_eq!(past_head.len(), 1);
    assert_eq!(seqs(&past_head[0]), Vec::<u64>::new());
    server.stop().await;
}

#[tokio::test]
async fn pull_across_several_storage_windows_keeps_chunks_and_remaining_exact() {
    // Storage is read 200 events at a time, so this pull spans three reads, the last one
    // short, with chunk boundaries inside and across windows.
    let server = TestServer::spawn(&[("PULL_READ_WINDOW", "200")]).await;
    let mut writer = server.client("windows").await;
    for (i, parent) in (0..450).step_by(150).enumerate() {
        writer
            .push_acked(&format!("p{i}"), events(parent, 150))
            .await;
    }

    let mut reader = server.client("windows").await;
    let chunks = reader.pull("full", None).await;
    let remaining: Vec<u64> = chunks
        .iter()
        .map(|c| c["remaining"].as_u64().unwrap())
        .collect();
    assert_eq!(remaining, vec![350, 250, 150, 50, 0]);
    assert_eq!(all_seqs(&chunks), (1..=450).collect::<Vec<_>>());

    let from_middle = reader.pull("middle", Some(120)).await;
    let remaining: Vec<u64> = from_middle
        .iter()
        .map(|c| c["remaining"].as_u64().unwrap())
        .collect();
    assert_eq!(remaining, vec![230, 130, 30, 0]);
    assert_eq!(all_seqs(&from_middle), (121..=450).collect::<Vec<_>>());
    server.stop().await;
}

#[tokio::test]
async fn empty_store_answers_one_empty_chunk() {
    let server = TestServer::spawn(&[]).await;
    let mut client = server.client("empty").await;
    let chunks = client.pull("r", None).await;
    assert_eq!(
        chunks,
        vec![json!({"_tag": "WSMessage.PullRes", "batch": [],
                    "requestId": {"context": "pull", "requestId": "r"}, "remaining": 0})]
    );
    server.stop().await;
}

#[tokio::test]
async fn similar_store_ids_never_share_events() {
    let server = TestServer::spawn(&[]).await;
    let mut dash = server.client("a-b").await;
    let mut underscore = server.client("a_b").await;
    dash.pull("x", None).await;
    underscore.pull("y", None).await;
    dash.push_acked("d1", events(0, 3)).await;
    // `a_b` starts its own chain at 0 and never sees `a-b`'s broadcast.
    underscore.push_acked("u1", events(0, 1)).await;
    let next = underscore.recv().await;
    assert_eq!(next["requestId"]["requestId"], "u1", "{next}");
    assert_eq!(all_seqs(&underscore.pull("z", None).await), vec![1]);
    assert_eq!(server.stored("a-b").await.len(), 3);
    assert_eq!(server.stored("a_b").await.len(), 1);
    server.stop().await;
}

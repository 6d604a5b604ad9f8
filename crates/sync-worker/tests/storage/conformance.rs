//! The behaviour every [`EventLog`] backend must show, written once against
//! `&dyn EventLog` and instantiated per backend in `main.rs`.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::value::RawValue;
use sync_worker::storage::{AppendBatch, EventLog, NewEvent, StorageError, StoreId};

pub use crate::gaps::{
    gaps_append_read_and_count, gaps_conflict_on_the_same_parent,
    non_increasing_chains_are_refused, pages_and_remaining_across_gaps,
};
use crate::harness::{append, STEP};
use crate::Backend;

pub fn store(id: &str) -> StoreId {
    StoreId::parse(id).expect("valid store id")
}

pub fn at_millis(millis: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(millis)
        .single()
        .expect("valid time")
}

pub fn event(parent: u64, args: Option<&str>) -> NewEvent {
    NewEvent {
        seq_num: parent + 1,
        parent_seq_num: parent,
        name: format!("todoCreated{}", parent + 1),
        args: args.map(|raw| RawValue::from_string(raw.to_owned()).expect("valid JSON")),
        client_id: "client-1".into(),
        session_id: "session-1".into(),
    }
}

/// `count` contiguous events after `parent`, args `{"n":<seq>}`.
pub fn batch(store_id: &StoreId, parent: u64, count: u64) -> AppendBatch {
    let events: Vec<NewEvent> = (parent..parent + count)
        .map(|p| event(p, Some(&format!("{{\"n\":{}}}", p + 1))))
        .collect();
    AppendBatch {
        store: store_id.clone(),
        events: events.into(),
        created_at: at_millis(1_714_564_800_123),
        pushed_by: Arc::from("user-1"),
    }
}

pub async fn all_events(log: &dyn EventLog, store_id: &StoreId) -> Vec<(u64, u64)> {
    let events = log.read_range(store_id, 0, usize::MAX).await.expect("read");
    events
        .iter()
        .map(|event| (event.seq_num, event.parent_seq_num))
        .collect()
}

pub fn assert_contiguous(chain: &[(u64, u64)], len: u64) {
    assert_eq!(chain.len() as u64, len, "chain length");
    for (index, (seq, parent)) in chain.iter().enumerate() {
        assert_eq!(*seq, index as u64 + 1, "seq at {index}");
        assert_eq!(*parent, index as u64, "parent at {index}");
    }
}

pub async fn round_trip_preserves_every_field_and_args_bytes(backend: &Backend) {
    let log = &*backend.log;
    let s = store("round-trip");
    let raw_args = [
        Some("{ \"text\" : \"caf\\u00e9 ☕\",\"n\":1.50e3 ,\"list\":[1, 2]}"),
        None,
        Some("null"),
        Some("\"just a string\""),
    ];
    let events: Vec<NewEvent> = raw_args
        .iter()
        .enumerate()
        .map(|(index, args)| event(index as u64, *args))
        .collect();
    let pushed = AppendBatch {
        store: s.clone(),
        events: events.into(),
        created_at: at_millis(1_714_564_800_123),
        pushed_by: Arc::from("user-42"),
    };
    append(log, pushed.clone()).await.expect("append");

    let read = log.read_range(&s, 0, 100).await.expect("read");
    assert_eq!(read.len(), raw_args.len());
    for ((stored, sent), raw) in read.iter().zip(pushed.events.iter()).zip(raw_args) {
        assert_eq!(stored.seq_num, sent.seq_num);
        assert_eq!(stored.parent_seq_num, sent.parent_seq_num);
        assert_eq!(stored.name, sent.name);
        assert_eq!(stored.args.as_deref().map(RawValue::get), raw);
        assert_eq!(stored.client_id, "client-1");
        assert_eq!(stored.session_id, "session-1");
        assert_eq!(stored.pushed_by, "user-42");
        assert_eq!(stored.created_at, pushed.created_at);
    }
    assert_eq!(log.head(&s).await.expect("head"), 4);
    assert_eq!(log.head(&store("never-used")).await.expect("head"), 0);
}

pub async fn created_at_is_shared_by_a_batch_and_kept_to_the_millisecond(backend: &Backend) {
    let log = &*backend.log;
    let s = store("created-at");
    let mut first = batch(&s, 0, 3);
    first.created_at = at_millis(1_000_000_000_456) + chrono::Duration::microseconds(789);
    let mut second = batch(&s, 3, 2);
    second.created_at = at_millis(1_000_000_009_000);
    append(log, first).await.expect("first");
    append(log, second).await.expect("second");

    let read = log.read_range(&s, 0, 10).await.expect("read");
    let times: Vec<DateTime<Utc>> = read.iter().map(|event| event.created_at).collect();
    let first_at = at_millis(1_000_000_000_456);
    let second_at = at_millis(1_000_000_009_000);
    assert_eq!(
        times,
        [first_at, first_at, first_at, second_at, second_at],
        "one timestamp per push, truncated to milliseconds"
    );
}

pub async fn read_range_follows_cursor_and_limit(backend: &Backend) {
    let log = &*backend.log;
    let s = store("ranges");
    for parent in (0..250).step_by(50) {
        append(log, batch(&s, parent, 50)).await.expect("append");
    }
    let page = log.read_range(&s, 0, 100).await.expect("read");
    assert_eq!(page.first().map(|e| e.seq_num), Some(1));
    assert_eq!(page.len(), 100);
    let page = log.read_range(&s, 200, 100).await.expect("read");
    let seqs: Vec<u64> = page.iter().map(|e| e.seq_num).collect();
    assert_eq!(seqs, (201..=250).collect::<Vec<_>>());
    let page = log.read_range(&s, 117, 3).await.expect("read");
    let seqs: Vec<u64> = page.iter().map(|e| e.seq_num).collect();
    assert_eq!(seqs, [118, 119, 120]);
    assert_eq!(
        page[0].args.as_deref().map(RawValue::get),
        Some("{\"n\":118}")
    );
    assert!(log.read_range(&s, 250, 100).await.expect("read").is_empty());
    assert!(log
        .read_range(&s, u64::MAX, 100)
        .await
        .expect("read")
        .is_empty());
    assert!(log.read_range(&s, 0, 0).await.expect("read").is_empty());
}

pub async fn wrong_parent_is_a_conflict_and_stores_nothing(backend: &Backend) {
    let log = &*backend.log;
    let s = store("conflict");
    append(log, batch(&s, 0, 5)).await.expect("append");
    for parent in [0, 4, 6, 100] {
        match append(log, batch(&s, parent, 3)).await {
            Err(StorageError::Conflict { head }) => assert_eq!(head, 5),
            other => panic!("parent {parent}: expected a conflict, got {other:?}"),
        }
    }
    assert_contiguous(&all_events(log, &s).await, 5);
    assert_eq!(log.head(&s).await.expect("head"), 5);
}

pub async fn broken_chains_are_refused_and_empty_batches_ack(backend: &Backend) {
    let log = &*backend.log;
    let s = store("broken");
    let mut gap = batch(&s, 0, 3);
    let mut events = gap.events.to_vec();
    events[2].parent_seq_num = 5;
    events[2].seq_num = 6;
    gap.events = events.into();
    assert!(matches!(
        append(log, gap).await,
        Err(StorageError::Corrupt(_))
    ));
    let mut empty = batch(&s, 0, 1);
    empty.events = Vec::new().into();
    append(log, empty).await.expect("empty batch acks");
    assert_eq!(log.head(&s).await.expect("head"), 0);
}

pub async fn racing_appends_on_one_parent_have_exactly_one_winner(backend: &Backend) {
    let log = &*backend.log;
    let s = store("race");
    append(log, batch(&s, 0, 10)).await.expect("seed");
    for round in 0..20u64 {
        let parent = 10 + round * 4;
        let (a, b) = tokio::join!(
            append(log, batch(&s, parent, 4)),
            append(log, batch(&s, parent, 4))
        );
        let wins = [&a, &b].iter().filter(|result| result.is_ok()).count();
        assert_eq!(wins, 1, "round {round}: {a:?} / {b:?}");
        let loser = if a.is_ok() { b } else { a };
        assert!(
            matches!(loser, Err(StorageError::Conflict { head }) if head == parent + 4),
            "round {round}"
        );
    }
    assert_contiguous(&all_events(log, &s).await, 10 + 20 * 4);
}

pub async fn concurrent_writers_across_ten_stores_leave_contiguous_chains(backend: &Backend) {
    let stores: Vec<StoreId> = (0..10).map(|i| store(&format!("store-{i}"))).collect();
    let mut tasks = Vec::new();
    for writer in 0..50usize {
        let log = backend.log.clone();
        let s = stores[writer % stores.len()].clone();
        tasks.push(tokio::spawn(async move {
            let mut committed = 0u64;
            for push in 0..10u64 {
                // Retry on a lost race from the new head, as a client rebases.
                loop {
                    let head = log.head(&s).await.expect("head");
                    match append(&*log, batch(&s, head, 1 + push % 3)).await {
                        Ok(()) => break committed += 1 + push % 3,
                        Err(StorageError::Conflict { .. }) => continue,
                        Err(error) => panic!("append failed: {error}"),
                    }
                }
            }
            committed
        }));
    }
    let mut per_store = vec![0u64; stores.len()];
    for (writer, task) in tasks.into_iter().enumerate() {
        per_store[writer % stores.len()] += task.await.expect("writer task");
    }
    for (s, expected) in stores.iter().zip(per_store) {
        assert_contiguous(&all_events(&*backend.log, s).await, expected);
    }
}

pub async fn pipelined_batches_of_one_store_all_commit_in_order(backend: &Backend) {
    let log = &*backend.log;
    let s = store("pipelined");
    // Parents known in advance, 32 batches in flight at once.
    let appends = (0..32u64).map(|i| log.append(batch(&s, i * 10, 10)));
    let results = tokio::time::timeout(STEP, futures_util::future::join_all(appends))
        .await
        .expect("in time");
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_contiguous(&all_events(log, &s).await, 320);
}

pub async fn similar_store_ids_never_share_events(backend: &Backend) {
    let log = &*backend.log;
    let (dash, underscore) = (store("a-b"), store("a_b"));
    append(log, batch(&dash, 0, 3)).await.expect("a-b");
    append(log, batch(&underscore, 0, 1)).await.expect("a_b");
    assert_eq!(log.head(&dash).await.expect("head"), 3);
    assert_eq!(log.head(&underscore).await.expect("head"), 1);
    assert_eq!(
        log.read_range(&underscore, 0, 10)
            .await
            .expect("read")
            .len(),
        1
    );
    log.reset(&dash).await.expect("reset");
    assert_eq!(log.head(&underscore).await.expect("head"), 1);
    // A LIKE-style wildcard id is just another id.
    assert_eq!(log.head(&store("a%b")).await.expect("head"), 0);
}

pub async fn reset_empties_the_store_and_restarts_its_chain(backend: &Backend) {
    let log = &*backend.log;
    let (s, other) = (store("reset-me"), store("keep-me"));
    append(log, batch(&s, 0, 20)).await.expect("append");
    append(log, batch(&other, 0, 2)).await.expect("append");
    log.reset(&s).await.expect("reset");
    assert_eq!(log.head(&s).await.expect("head"), 0);
    assert!(log.read_range(&s, 0, 100).await.expect("read").is_empty());
    assert!(matches!(
        append(log, batch(&s, 20, 1)).await,
        Err(StorageError::Conflict { head: 0 })
    ));
    append(log, batch(&s, 0, 2))
        .await
        .expect("append after reset");
    assert_contiguous(&all_events(log, &s).await, 2);
    assert_contiguous(&all_events(log, &other).await, 2);
}

pub async fn committed_events_survive_close_and_reopen(backend: &Backend) {
    let s = store("durable");
    let log = backend.open_again().await;
    append(&*log, batch(&s, 0, 40)).await.expect("append");
    log.close().await;
    log.close().await; // idempotent
    assert!(matches!(
        log.append(batch(&s, 40, 1)).await,
        Err(StorageError::Closed)
    ));
    assert!(matches!(log.head(&s).await, Err(StorageError::Closed)));

    let log = backend.open_again().await;
    assert_eq!(log.head(&s).await.expect("head"), 40);
    assert!(matches!(
        append(&*log, batch(&s, 0, 1)).await,
        Err(StorageError::Conflict { head: 40 })
    ));
    append(&*log, batch(&s, 40, 5))
        .await
        .expect("continue the chain");
    assert_contiguous(&all_events(&*log, &s).await, 45);
    log.close().await;
}

/// Two nodes on one database: whatever a node remembers of a store's head, a batch that
/// conflicts with a commit made by the other node is refused with the real head.
pub async fn a_second_node_moving_the_head_is_a_conflict(backend: &Backend) {
    let s = store("two-nodes");
    let (a, b) = (&*backend.log, backend.open_again().await);
    append(a, batch(&s, 0, 1)).await.expect("node a");
    append(&*b, batch(&s, 1, 1)).await.expect("node b");
    assert!(matches!(
        append(a, batch(&s, 1, 3)).await,
        Err(StorageError::Conflict { head: 2 })
    ));
    append(a, batch(&s, 2, 3))
        .await
        .expect("node a on the real head");
    // Racing on one parent from two nodes: exactly one winner.
    for round in 0..10u64 {
        let parent = 5 + round * 2;
        let (x, y) = tokio::join!(
            append(a, batch(&s, parent, 2)),
            append(&*b, batch(&s, parent, 2))
        );
        assert_eq!(
            [&x, &y].iter().filter(|r| r.is_ok()).count(),
            1,
            "round {round}: {x:?} {y:?}"
        );
    }
    assert_contiguous(&all_events(a, &s).await, 25);
    assert_contiguous(&all_events(&*b, &s).await, 25);
    b.close().await;
}

pub async fn move_store_needs_an_empty_target(backend: &Backend) {
    let log = &*backend.log;
    let (from, to, busy) = (store("staging"), store("target"), store("busy"));
    append(log, batch(&from, 0, 30)).await.expect("append");
    append(log, batch(&busy, 0, 2)).await.expect("append");
    assert!(matches!(
        log.move_store(&from, &busy).await,
        Err(StorageError::Conflict { head: 2 })
    ));
    assert_eq!(log.head(&from).await.expect("head"), 30, "nothing moved");
    log.move_store(&from, &to).await.expect("move");
    assert_eq!(log.head(&from).await.expect("head"), 0);
    assert_eq!(log.head(&to).await.expect("head"), 30);
    assert_contiguous(&all_events(log, &to).await, 30);
    append(log, batch(&to, 30, 1))
        .await
        .expect("the moved chain continues");
    append(log, batch(&from, 0, 1))
        .await
        .expect("the source starts over");
}

pub async fn long_ranges_come_back_whole(backend: &Backend) {
    let log = &*backend.log;
    let s = store("long");
    for parent in (0..3000).step_by(500) {
        append(log, batch(&s, parent, 500)).await.expect("append");
    }
    assert_contiguous(&all_events(log, &s).await, 3000);
    let page = log.read_range(&s, 1234, 1500).await.expect("read");
    let seqs: Vec<u64> = page.iter().map(|event| event.seq_num).collect();
    assert_eq!(seqs, (1235..=2734).collect::<Vec<_>>());
    let tail = log.tail(&s, 1234).await.expect("tail");
    assert_eq!((tail.head, tail.events), (3000, 1766));
}

pub async fn backend_id_is_per_store_stable_shared_and_replaced_by_reset(backend: &Backend) {
    let log = &*backend.log;
    let (s, other) = (store("backend-a"), store("backend-b"));
    let id = log.backend_id(&s).await.expect("backend id");
    assert_eq!(id.len(), 21, "{id}");
    assert!(id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    assert_eq!(log.backend_id(&s).await.expect("again"), id);
    assert_ne!(log.backend_id(&other).await.expect("other store"), id);
    // A second node (or a restart) sees the same id.
    let second = backend.open_again().await;
    assert_eq!(second.backend_id(&s).await.expect("second node"), id);
    second.close().await;
    append(log, batch(&s, 0, 2)).await.expect("append");
    log.reset(&s).await.expect("reset");
    let replaced = log.backend_id(&s).await.expect("after reset");
    assert_ne!(replaced, id, "a reset gives the store a new backend id");
    assert_eq!(log.backend_id(&s).await.expect("stable again"), replaced);
}

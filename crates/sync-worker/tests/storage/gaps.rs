//! Conformance for chains with gaps (LiveStore 0.4 allows them: its own suite pushes
//! `seqNum 100, parentSeqNum 0` into an empty store): appends, reads, counts and
//! conflicts across skipped numbers, on every backend.

use std::sync::Arc;

use sync_worker::storage::{AppendBatch, EventLog, NewEvent, StorageError, StoreId, Tail};

use crate::conformance::{all_events, at_millis, store};
use crate::harness::append;
use crate::Backend;

/// A batch chained onto `parent` with exactly these `seqs` (each the next one's parent).
pub fn gapped(store_id: &StoreId, parent: u64, seqs: &[u64]) -> AppendBatch {
    let mut previous = parent;
    let events: Vec<NewEvent> = seqs
        .iter()
        .map(|&seq| {
            let event = NewEvent {
                seq_num: seq,
                parent_seq_num: previous,
                name: format!("e{seq}"),
                args: None,
                client_id: "client-1".into(),
                session_id: "session-1".into(),
            };
            previous = seq;
            event
        })
        .collect();
    AppendBatch {
        store: store_id.clone(),
        events: events.into(),
        created_at: at_millis(1_714_564_800_123),
        pushed_by: Arc::from("user-1"),
    }
}

async fn tail(log: &dyn EventLog, s: &StoreId, after: u64) -> Tail {
    log.tail(s, after).await.expect("tail")
}

async fn seqs_after(log: &dyn EventLog, s: &StoreId, after: u64, limit: usize) -> Vec<u64> {
    let events = log.read_range(s, after, limit).await.expect("read");
    events.iter().map(|event| event.seq_num).collect()
}

pub async fn gaps_append_read_and_count(backend: &Backend) {
    let log = &*backend.log;
    let s = store("gaps");
    assert_eq!(tail(log, &s, 0).await, Tail { head: 0, events: 0 });
    append(log, gapped(&s, 0, &[100]))
        .await
        .expect("seqNum 100 on an empty store");
    assert_eq!(
        log.head(&s).await.expect("head"),
        100,
        "the head is the last seqNum"
    );
    append(log, gapped(&s, 100, &[101, 105, 106]))
        .await
        .expect("gaps inside a batch");
    assert_eq!(
        all_events(log, &s).await,
        [(100, 0), (101, 100), (105, 101), (106, 105)]
    );
    assert_eq!(seqs_after(log, &s, 0, 2).await, [100, 101]);
    assert_eq!(seqs_after(log, &s, 100, 2).await, [101, 105]);
    assert_eq!(seqs_after(log, &s, 102, 10).await, [105, 106]);
    assert!(seqs_after(log, &s, 106, 10).await.is_empty());
    for (after, events) in [
        (0, 4),
        (1, 4),
        (99, 4),
        (100, 3),
        (101, 2),
        (103, 2),
        (105, 1),
    ] {
        assert_eq!(
            tail(log, &s, after).await,
            Tail { head: 106, events },
            "after {after}"
        );
    }
    for after in [106, 107, u64::MAX] {
        assert_eq!(
            tail(log, &s, after).await,
            Tail {
                head: 106,
                events: 0
            }
        );
    }
    // A store without gaps counts the same way.
    let dense = store("dense");
    append(log, gapped(&dense, 0, &[1, 2, 3, 4, 5]))
        .await
        .expect("dense");
    assert_eq!(tail(log, &dense, 2).await, Tail { head: 5, events: 3 });
    assert_eq!(tail(log, &s, 0).await.events, 4, "stores are counted apart");
}

pub async fn pages_and_remaining_across_gaps(backend: &Backend) {
    let log = &*backend.log;
    let s = store("gap-pages");
    // 1000 events: runs of ten numbers, then a jump of 1000, pushed in batches of 100.
    let seqs: Vec<u64> = (0..1000u64).map(|i| 1 + i + (i / 10) * 1000).collect();
    let mut parent = 0;
    for chunk in seqs.chunks(100) {
        append(log, gapped(&s, parent, chunk))
            .await
            .expect("append");
        parent = *chunk.last().expect("non-empty");
    }
    let head = parent;
    assert_eq!(tail(log, &s, 0).await, Tail { head, events: 1000 });
    // Pages of 70 events as a pull reads them: each page is whole and the count of what
    // is left matches what the next pages return.
    let (mut cursor, mut read) = (0, Vec::new());
    loop {
        let page = seqs_after(log, &s, cursor, 70).await;
        let left = tail(log, &s, cursor).await.events;
        assert_eq!(left, 1000 - read.len() as u64, "after {cursor}");
        let Some(&last) = page.last() else { break };
        assert_eq!(page.len() as u64, left.min(70), "page after {cursor}");
        read.extend_from_slice(&page);
        cursor = last;
    }
    assert_eq!(read, seqs);
    // One long read crosses every gap in one call.
    assert_eq!(seqs_after(log, &s, 0, usize::MAX).await, seqs);
    assert_eq!(seqs_after(log, &s, seqs[499], 300).await, seqs[500..800]);
}

pub async fn gaps_conflict_on_the_same_parent(backend: &Backend) {
    let log = &*backend.log;
    let s = store("gap-conflict");
    append(log, gapped(&s, 0, &[100])).await.expect("first");
    for parent in [0, 1, 99, 101] {
        match append(log, gapped(&s, parent, &[parent + 50])).await {
            Err(StorageError::Conflict { head }) => assert_eq!(head, 100, "parent {parent}"),
            other => panic!("parent {parent}: expected a conflict, got {other:?}"),
        }
    }
    for round in 0..10u64 {
        let parent = log.head(&s).await.expect("head");
        let (a, b) = tokio::join!(
            append(log, gapped(&s, parent, &[parent + 1, parent + 9])),
            append(log, gapped(&s, parent, &[parent + 30]))
        );
        assert_eq!(
            [&a, &b].iter().filter(|r| r.is_ok()).count(),
            1,
            "round {round}: {a:?} {b:?}"
        );
        let loser = if a.is_ok() { b } else { a };
        assert!(
            matches!(loser, Err(StorageError::Conflict { .. })),
            "round {round}"
        );
    }
    // Whoever won, the log is one chain: each parent is the event before.
    let chain = all_events(log, &s).await;
    let mut previous = 0;
    for (seq, parent) in &chain {
        assert_eq!(*parent, previous);
        assert!(seq > parent);
        previous = *seq;
    }
    assert_eq!(log.head(&s).await.expect("head"), previous);
    assert_eq!(tail(log, &s, 0).await.events, chain.len() as u64);
}

pub async fn non_increasing_chains_are_refused(backend: &Backend) {
    let log = &*backend.log;
    let s = store("non-increasing");
    for seqs in [&[2u64, 2][..], &[3, 1], &[5, 6, 6]] {
        assert!(
            matches!(
                append(log, gapped(&s, 0, seqs)).await,
                Err(StorageError::Corrupt(_))
            ),
            "{seqs:?}"
        );
    }
    let mut zero = gapped(&s, 0, &[1]);
    let mut events = zero.events.to_vec();
    events[0].seq_num = 0;
    zero.events = events.into();
    assert!(matches!(
        append(log, zero).await,
        Err(StorageError::Corrupt(_))
    ));
    assert_eq!(tail(log, &s, 0).await, Tail { head: 0, events: 0 });
}

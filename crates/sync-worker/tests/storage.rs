//! The SQLite event log against a real database file in a temporary folder.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::value::RawValue;
use sqlx::ConnectOptions;
use sync_worker::storage::sqlite::{SqliteEventLog, SqliteOptions};
use sync_worker::storage::{AppendBatch, EventLog, NewEvent, StorageError, StoreId};
use tempfile::TempDir;

/// Bound on any single awaited storage call, so a hang fails instead of stalling CI.
const STEP: Duration = Duration::from_secs(30);

struct Db {
    dir: TempDir,
    log: SqliteEventLog,
}

impl Db {
    async fn open() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = open_at(&dir).await;
        Self { dir, log }
    }
}

fn url(dir: &TempDir) -> String {
    format!("sqlite://{}/nested/sync.db", dir.path().display())
}

async fn open_at(dir: &TempDir) -> SqliteEventLog {
    SqliteEventLog::open(&url(dir), SqliteOptions::default())
        .await
        .expect("open event log")
}

fn store(id: &str) -> StoreId {
    StoreId::parse(id).expect("valid store id")
}

fn at_millis(millis: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(millis)
        .single()
        .expect("valid time")
}

fn event(parent: u64, args: Option<&str>) -> NewEvent {
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
fn batch(store_id: &StoreId, parent: u64, count: u64) -> AppendBatch {
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

async fn append(log: &SqliteEventLog, batch: AppendBatch) -> Result<(), StorageError> {
    tokio::time::timeout(STEP, log.append(batch))
        .await
        .expect("append finished in time")
}

async fn all_events(log: &SqliteEventLog, store_id: &StoreId) -> Vec<(u64, u64)> {
    let events = log.read_range(store_id, 0, usize::MAX).await.expect("read");
    events
        .iter()
        .map(|event| (event.seq_num, event.parent_seq_num))
        .collect()
}

fn assert_contiguous(chain: &[(u64, u64)], len: u64) {
    assert_eq!(chain.len() as u64, len, "chain length");
    for (index, (seq, parent)) in chain.iter().enumerate() {
        assert_eq!(*seq, index as u64 + 1, "seq at {index}");
        assert_eq!(*parent, index as u64, "parent at {index}");
    }
}

#[tokio::test]
async fn round_trip_preserves_every_field_and_args_bytes() {
    let db = Db::open().await;
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
    append(&db.log, pushed.clone()).await.expect("append");

    let read = db.log.read_range(&s, 0, 100).await.expect("read");
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
    assert_eq!(db.log.head(&s).await.expect("head"), 4);
    assert_eq!(db.log.head(&store("never-used")).await.expect("head"), 0);
}

#[tokio::test]
async fn created_at_is_shared_by_a_batch_and_kept_to_the_millisecond() {
    let db = Db::open().await;
    let s = store("created-at");
    let mut first = batch(&s, 0, 3);
    first.created_at = at_millis(1_000_000_000_456) + chrono::Duration::microseconds(789);
    let mut second = batch(&s, 3, 2);
    second.created_at = at_millis(1_000_000_009_000);
    append(&db.log, first).await.expect("first");
    append(&db.log, second).await.expect("second");

    let read = db.log.read_range(&s, 0, 10).await.expect("read");
    let times: Vec<DateTime<Utc>> = read.iter().map(|event| event.created_at).collect();
    let first_at = at_millis(1_000_000_000_456);
    let second_at = at_millis(1_000_000_009_000);
    assert_eq!(
        times,
        [first_at, first_at, first_at, second_at, second_at],
        "one timestamp per push, truncated to milliseconds"
    );
}

#[tokio::test]
async fn read_range_follows_cursor_and_limit() {
    let db = Db::open().await;
    let s = store("ranges");
    for parent in (0..250).step_by(50) {
        append(&db.log, batch(&s, parent, 50))
            .await
            .expect("append");
    }
    let page = db.log.read_range(&s, 0, 100).await.expect("read");
    assert_eq!(page.first().map(|e| e.seq_num), Some(1));
    assert_eq!(page.len(), 100);
    let page = db.log.read_range(&s, 200, 100).await.expect("read");
    let seqs: Vec<u64> = page.iter().map(|e| e.seq_num).collect();
    assert_eq!(seqs, (201..=250).collect::<Vec<_>>());
    let page = db.log.read_range(&s, 117, 3).await.expect("read");
    let seqs: Vec<u64> = page.iter().map(|e| e.seq_num).collect();
    assert_eq!(seqs, [118, 119, 120]);
    assert_eq!(
        page[0].args.as_deref().map(RawValue::get),
        Some("{\"n\":118}")
    );
    assert!(db
        .log
        .read_range(&s, 250, 100)
        .await
        .expect("read")
        .is_empty());
    assert!(db
        .log
        .read_range(&s, u64::MAX, 100)
        .await
        .expect("read")
        .is_empty());
    assert!(db.log.read_range(&s, 0, 0).await.expect("read").is_empty());
}

#[tokio::test]
async fn wrong_parent_is_a_conflict_and_stores_nothing() {
    let db = Db::open().await;
    let s = store("conflict");
    append(&db.log, batch(&s, 0, 5)).await.expect("append");
    for parent in [0, 4, 6, 100] {
        match append(&db.log, batch(&s, parent, 3)).await {
            Err(StorageError::Conflict { head }) => assert_eq!(head, 5),
            other => panic!("parent {parent}: expected a conflict, got {other:?}"),
        }
    }
    assert_contiguous(&all_events(&db.log, &s).await, 5);
    assert_eq!(db.log.head(&s).await.expect("head"), 5);
}

#[tokio::test]
async fn broken_chains_are_refused_and_empty_batches_ack() {
    let db = Db::open().await;
    let s = store("broken");
    let mut gap = batch(&s, 0, 3);
    let mut events = gap.events.to_vec();
    events[2].parent_seq_num = 5;
    events[2].seq_num = 6;
    gap.events = events.into();
    assert!(matches!(
        append(&db.log, gap).await,
        Err(StorageError::Corrupt(_))
    ));
    let mut empty = batch(&s, 0, 1);
    empty.events = Vec::new().into();
    append(&db.log, empty).await.expect("empty batch acks");
    assert_eq!(db.log.head(&s).await.expect("head"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_appends_on_one_parent_have_exactly_one_winner() {
    let db = Arc::new(Db::open().await);
    let s = store("race");
    append(&db.log, batch(&s, 0, 10)).await.expect("seed");
    for round in 0..20u64 {
        let parent = 10 + round * 4;
        let (a, b) = tokio::join!(
            append(&db.log, batch(&s, parent, 4)),
            append(&db.log, batch(&s, parent, 4))
        );
        let wins = [&a, &b].iter().filter(|result| result.is_ok()).count();
        assert_eq!(wins, 1, "round {round}: {a:?} / {b:?}");
        let loser = if a.is_ok() { b } else { a };
        assert!(
            matches!(loser, Err(StorageError::Conflict { head }) if head == parent + 4),
            "round {round}"
        );
    }
    assert_contiguous(&all_events(&db.log, &s).await, 10 + 20 * 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_across_ten_stores_leave_contiguous_chains() {
    // A head cache smaller than the store count: heads are dropped and reloaded.
    let dir = tempfile::tempdir().expect("temp dir");
    let options = SqliteOptions {
        max_cached_heads: 3,
        ..SqliteOptions::default()
    };
    let log = SqliteEventLog::open(&url(&dir), options)
        .await
        .expect("open");
    let db = Arc::new(Db { dir, log });
    let stores: Vec<StoreId> = (0..10).map(|i| store(&format!("store-{i}"))).collect();
    let mut tasks = Vec::new();
    for writer in 0..50usize {
        let db = db.clone();
        let s = stores[writer % stores.len()].clone();
        tasks.push(tokio::spawn(async move {
            let mut committed = 0u64;
            for push in 0..10u64 {
                // Retry on a lost race from the new head, as a client rebases.
                loop {
                    let head = db.log.head(&s).await.expect("head");
                    match append(&db.log, batch(&s, head, 1 + push % 3)).await {
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
        assert_contiguous(&all_events(&db.log, s).await, expected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_batches_of_one_store_all_commit_in_order() {
    let db = Db::open().await;
    let s = store("pipelined");
    // Parents known in advance, 32 batches in flight at once.
    let appends = (0..32u64).map(|i| db.log.append(batch(&s, i * 10, 10)));
    let results = tokio::time::timeout(STEP, futures_util::future::join_all(appends))
        .await
        .expect("in time");
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_contiguous(&all_events(&db.log, &s).await, 320);
}

#[tokio::test]
async fn similar_store_ids_never_share_events() {
    let db = Db::open().await;
    let (dash, underscore) = (store("a-b"), store("a_b"));
    append(&db.log, batch(&dash, 0, 3)).await.expect("a-b");
    append(&db.log, batch(&underscore, 0, 1))
        .await
        .expect("a_b");
    assert_eq!(db.log.head(&dash).await.expect("head"), 3);
    assert_eq!(db.log.head(&underscore).await.expect("head"), 1);
    assert_eq!(
        db.log
            .read_range(&underscore, 0, 10)
            .await
            .expect("read")
            .len(),
        1
    );
    db.log.reset(&dash).await.expect("reset");
    assert_eq!(db.log.head(&underscore).await.expect("head"), 1);
    // A LIKE-style wildcard id is just another id.
    assert_eq!(db.log.head(&store("a%b")).await.expect("head"), 0);
}

#[tokio::test]
async fn reset_empties_the_store_and_restarts_its_chain() {
    let db = Db::open().await;
    let (s, other) = (store("reset-me"), store("keep-me"));
    append(&db.log, batch(&s, 0, 20)).await.expect("append");
    append(&db.log, batch(&other, 0, 2)).await.expect("append");
    db.log.reset(&s).await.expect("reset");
    assert_eq!(db.log.head(&s).await.expect("head"), 0);
    assert!(db
        .log
        .read_range(&s, 0, 100)
        .await
        .expect("read")
        .is_empty());
    assert!(matches!(
        append(&db.log, batch(&s, 20, 1)).await,
        Err(StorageError::Conflict { head: 0 })
    ));
    append(&db.log, batch(&s, 0, 2))
        .await
        .expect("append after reset");
    assert_contiguous(&all_events(&db.log, &s).await, 2);
    assert_contiguous(&all_events(&db.log, &other).await, 2);
}

#[tokio::test]
async fn committed_events_survive_close_and_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let s = store("durable");
    let log = open_at(&dir).await;
    append(&log, batch(&s, 0, 40)).await.expect("append");
    log.close().await;
    log.close().await; // idempotent
    assert!(matches!(
        log.append(batch(&s, 40, 1)).await,
        Err(StorageError::Closed)
    ));
    assert!(matches!(log.head(&s).await, Err(StorageError::Closed)));

    let log = open_at(&dir).await;
    assert_eq!(log.head(&s).await.expect("head"), 40);
    assert!(matches!(
        append(&log, batch(&s, 0, 1)).await,
        Err(StorageError::Conflict { head: 40 })
    ));
    append(&log, batch(&s, 40, 5))
        .await
        .expect("continue the chain");
    assert_contiguous(&all_events(&log, &s).await, 45);
    log.close().await;
}

/// A second connection to the same file, as another process would open it.
async fn outside_connection(db: &Db) -> sqlx::SqliteConnection {
    sqlx::sqlite::SqliteConnectOptions::new()
        .filename(db.dir.path().join("nested/sync.db"))
        .connect()
        .await
        .expect("second connection")
}

async fn outside_insert(conn: &mut sqlx::SqliteConnection, s: &StoreId, seq: i64) {
    sqlx::query(
        "INSERT INTO events (store_id, seq_num, parent_seq_num, name, args, client_id, \
         session_id, created_at, pushed_by) VALUES (?1, ?2, ?2 - 1, 'x', NULL, 'c', 's', \
         '2024-01-01T00:00:00.000Z', 'elsewhere')",
    )
    .bind(s.as_str())
    .bind(seq)
    .execute(conn)
    .await
    .expect("outside insert");
}

#[tokio::test]
async fn a_write_behind_the_writers_back_becomes_a_conflict() {
    let db = Db::open().await;
    let s = store("two-writers");
    append(&db.log, batch(&s, 0, 1)).await.expect("append");
    // Another process appends seq 2 directly; this writer still caches head 1.
    let mut other = outside_connection(&db).await;
    outside_insert(&mut other, &s, 2).await;
    assert!(matches!(
        append(&db.log, batch(&s, 1, 3)).await,
        Err(StorageError::Conflict { head: 2 })
    ));
    append(&db.log, batch(&s, 2, 3))
        .await
        .expect("append on the real head");
    assert_contiguous(&all_events(&db.log, &s).await, 5);
}

#[tokio::test]
async fn read_range_steps_over_a_gap_left_by_another_writer() {
    let db = Db::open().await;
    let s = store("gap");
    append(&db.log, batch(&s, 0, 3)).await.expect("append");
    let mut other = outside_connection(&db).await;
    outside_insert(&mut other, &s, 10).await;
    outside_insert(&mut other, &s, 2_000).await;
    let seqs = |events: Vec<sync_worker::storage::StoredEvent>| -> Vec<u64> {
        events.iter().map(|event| event.seq_num).collect()
    };
    let read = |after, limit| db.log.read_range(&s, after, limit);
    assert_eq!(
        seqs(read(0, 100).await.expect("read")),
        [1, 2, 3, 10, 2_000]
    );
    assert_eq!(seqs(read(0, 2).await.expect("read")), [1, 2]);
    assert_eq!(seqs(read(2, 2).await.expect("read")), [3, 10]);
    assert_eq!(seqs(read(3, 1).await.expect("read")), [10]);
    assert_eq!(seqs(read(10, 5).await.expect("read")), [2_000]);
    assert!(read(2_000, 5).await.expect("read").is_empty());
}

#[tokio::test]
async fn long_ranges_span_several_read_queries() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = SqliteOptions {
        read_chunk_rows: 7,
        ..SqliteOptions::default()
    };
    let log = SqliteEventLog::open(&url(&dir), options)
        .await
        .expect("open");
    let s = store("long");
    for parent in (0..100).step_by(25) {
        append(&log, batch(&s, parent, 25)).await.expect("append");
    }
    assert_contiguous(&all_events(&log, &s).await, 100);
    let page = log.read_range(&s, 40, 30).await.expect("read");
    let seqs: Vec<u64> = page.iter().map(|event| event.seq_num).collect();
    assert_eq!(seqs, (41..=70).collect::<Vec<_>>());
    log.close().await;
}

#[tokio::test]
async fn invalid_options_and_urls_are_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let zero = SqliteOptions {
        group_max_batches: 0,
        ..SqliteOptions::default()
    };
    assert!(matches!(
        SqliteEventLog::open(&url(&dir), zero).await,
        Err(StorageError::Database(sqlx::Error::Configuration(_)))
    ));
    assert!(matches!(
        SqliteEventLog::open("postgres://localhost/nope", SqliteOptions::default()).await,
        Err(StorageError::Database(sqlx::Error::Configuration(_)))
    ));
}

#[tokio::test]
async fn open_can_run_in_a_spawned_task() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = url(&dir);
    let log =
        tokio::spawn(async move { SqliteEventLog::open(&url, SqliteOptions::default()).await })
            .await
            .expect("task")
            .expect("open");
    let s = store("spawned");
    append(&log, batch(&s, 0, 1)).await.expect("append");
    log.close().await;
}

#[tokio::test]
async fn in_memory_database_works() {
    let log = SqliteEventLog::open("sqlite::memory:", SqliteOptions::default())
        .await
        .expect("open in memory");
    let s = store("memory");
    append(&log, batch(&s, 0, 3)).await.expect("append");
    assert_eq!(log.head(&s).await.expect("head"), 3);
    assert_eq!(log.read_range(&s, 1, 10).await.expect("read").len(), 2);
    log.close().await;
}

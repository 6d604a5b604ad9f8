//! What only the SQLite backend has: its options, in-memory databases, a second process
//! writing to the same file behind the writer's cached heads.

use std::sync::Arc;

use sqlx::ConnectOptions;
use sync_worker::storage::sqlite::{SqliteEventLog, SqliteOptions};
use sync_worker::storage::{EventLog, StorageError, StoreId};
use tempfile::TempDir;

use crate::conformance::{all_events, assert_contiguous, batch, store};
use crate::harness::append;

fn url(dir: &TempDir) -> String {
    format!("sqlite://{}/nested/sync.db", dir.path().display())
}

/// A second connection to the same file, as another process would open it.
async fn outside_connection(dir: &TempDir) -> sqlx::SqliteConnection {
    sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.path().join("nested/sync.db"))
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_with_a_tiny_head_cache_still_leave_contiguous_chains() {
    // A head cache smaller than the store count: heads are dropped and reloaded.
    let dir = tempfile::tempdir().expect("temp dir");
    let options = SqliteOptions {
        max_cached_heads: 3,
        ..SqliteOptions::default()
    };
    let log: Arc<dyn EventLog> = Arc::new(
        SqliteEventLog::open(&url(&dir), options)
            .await
            .expect("open"),
    );
    let stores: Vec<StoreId> = (0..10).map(|i| store(&format!("store-{i}"))).collect();
    let mut tasks = Vec::new();
    for writer in 0..30usize {
        let log = log.clone();
        let s = stores[writer % stores.len()].clone();
        tasks.push(tokio::spawn(async move {
            let mut committed = 0u64;
            for push in 0..10u64 {
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
        assert_contiguous(&all_events(&*log, s).await, expected);
    }
    log.close().await;
}

#[tokio::test]
async fn a_write_behind_the_writers_back_becomes_a_conflict() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = SqliteEventLog::open(&url(&dir), SqliteOptions::default())
        .await
        .expect("open");
    let s = store("two-writers");
    append(&log, batch(&s, 0, 1)).await.expect("append");
    // Another process appends seq 2 directly; this writer still caches head 1.
    let mut other = outside_connection(&dir).await;
    outside_insert(&mut other, &s, 2).await;
    assert!(matches!(
        append(&log, batch(&s, 1, 3)).await,
        Err(StorageError::Conflict { head: 2 })
    ));
    append(&log, batch(&s, 2, 3))
        .await
        .expect("append on the real head");
    assert_contiguous(&all_events(&log, &s).await, 5);
    log.close().await;
}

#[tokio::test]
async fn read_range_steps_over_a_gap_left_by_another_writer() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = SqliteEventLog::open(&url(&dir), SqliteOptions::default())
        .await
        .expect("open");
    let s = store("gap");
    append(&log, batch(&s, 0, 3)).await.expect("append");
    let mut other = outside_connection(&dir).await;
    outside_insert(&mut other, &s, 10).await;
    outside_insert(&mut other, &s, 2_000).await;
    let seqs = |events: Vec<sync_worker::storage::StoredEvent>| -> Vec<u64> {
        events.iter().map(|event| event.seq_num).collect()
    };
    let read = |after, limit| log.read_range(&s, after, limit);
    assert_eq!(
        seqs(read(0, 100).await.expect("read")),
        [1, 2, 3, 10, 2_000]
    );
    assert_eq!(seqs(read(0, 2).await.expect("read")), [1, 2]);
    assert_eq!(seqs(read(2, 2).await.expect("read")), [3, 10]);
    assert_eq!(seqs(read(3, 1).await.expect("read")), [10]);
    assert_eq!(seqs(read(10, 5).await.expect("read")), [2_000]);
    assert!(read(2_000, 5).await.expect("read").is_empty());
    log.close().await;
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
    // The factory names the schemes it knows.
    let unknown = sync_worker::storage::open("mysql://localhost/x", &Default::default()).await;
    assert!(
        matches!(&unknown, Err(StorageError::Database(sqlx::Error::Configuration(m))) if m.to_string().contains("postgres://")),
        "{:?}",
        unknown.err()
    );
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

//! Upgrading a database made before gaps were allowed: a log created with the migrations
//! up to 0002 (SQLite's CHECK `parent_seq_num = seq_num - 1`) keeps every row when the
//! current migrations run, and then accepts gaps.

use std::path::{Path, PathBuf};

use sqlx::ConnectOptions;
use sqlx::Connection as _;
use sync_worker::storage::{EventLog, Tail};

use crate::conformance::{all_events, assert_contiguous, store};
use crate::gaps::gapped;
use crate::harness::{append, ScratchDb};

/// The migrations of `migrations/<dir>` numbered 0001 and 0002 only, in a temporary folder.
fn old_migrations(dir: &str) -> (tempfile::TempDir, PathBuf) {
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../migrations")
        .join(dir);
    let copy = tempfile::tempdir().expect("temp dir");
    for entry in std::fs::read_dir(&source).expect("migrations folder") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.starts_with("0001_") || name.starts_with("0002_") {
            std::fs::copy(&path, copy.path().join(name)).expect("copy migration");
        }
    }
    let path = copy.path().to_owned();
    (copy, path)
}

const INSERT: &str = "INSERT INTO events (store_id, seq_num, parent_seq_num, name, args, \
     client_id, session_id, created_at, pushed_by) VALUES ";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_log_of_the_old_schema_upgrades_and_keeps_its_rows() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("sync.db");
    let (_old, old_dir) = old_migrations("sync");
    {
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&file)
            .create_if_missing(true)
            .connect()
            .await
            .expect("connect");
        sqlx::migrate::Migrator::new(old_dir.as_path())
            .await
            .expect("old migrations")
            .run_direct(&mut conn)
            .await
            .expect("apply 0001 and 0002");
        for seq in 1..=3i64 {
            sqlx::query(&format!(
                "{INSERT}('old', ?1, ?1 - 1, 'e', '{{\"n\":1}}', 'c', 's', \
                 '2024-05-01T12:00:00.123Z', 'user-1')"
            ))
            .bind(seq)
            .execute(&mut conn)
            .await
            .expect("insert under the old schema");
        }
        sqlx::query("INSERT INTO stores (store_id, backend_id) VALUES ('old', 'old-backend-id')")
            .execute(&mut conn)
            .await
            .expect("backend id");
        // The old CHECK is what the upgrade removes.
        let gap = sqlx::query(&format!(
            "{INSERT}('old', 10, 3, 'e', NULL, 'c', 's', '2024-05-01T12:00:00.123Z', 'u')"
        ))
        .execute(&mut conn)
        .await;
        assert!(gap.is_err(), "the old schema refuses gaps");
        conn.close().await.ok();
    }

    let url = format!("sqlite://{}", file.display());
    let log = sync_worker::storage::open(&url, &Default::default())
        .await
        .expect("open and upgrade");
    let s = store("old");
    assert_contiguous(&all_events(&*log, &s).await, 3);
    let events = log.read_range(&s, 0, 10).await.expect("read");
    assert_eq!(events[0].args.as_ref().map(|a| a.get()), Some("{\"n\":1}"));
    assert_eq!(events[2].pushed_by, "user-1");
    assert_eq!(
        log.backend_id(&s).await.expect("backend id"),
        "old-backend-id"
    );
    append(&*log, gapped(&s, 3, &[10, 12]))
        .await
        .expect("gaps after the upgrade");
    assert_eq!(
        log.tail(&s, 0).await.expect("tail"),
        Tail {
            head: 12,
            events: 5
        }
    );
    log.close().await;

    // Same layout as before (the primary key is the table), plus the index of gaps.
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&file)
        .connect()
        .await
        .expect("connect");
    let table: String = sqlx::query_scalar(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'events'",
    )
    .fetch_one(&mut conn)
    .await
    .expect("table");
    assert!(
        table.contains("STRICT") && table.contains("WITHOUT ROWID"),
        "{table}"
    );
    assert!(table.contains("parent_seq_num < seq_num"), "{table}");
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' \
         AND sql IS NOT NULL",
    )
    .fetch_all(&mut conn)
    .await
    .expect("indexes");
    assert_eq!(indexes, ["events_gaps"]);
    conn.close().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_log_of_the_old_schema_upgrades_and_keeps_its_rows() {
    let scratch = ScratchDb::create("sync").await;
    let (_old, old_dir) = old_migrations("sync-postgres");
    {
        let mut conn = sqlx::PgConnection::connect(&scratch.url)
            .await
            .expect("connect");
        sqlx::migrate::Migrator::new(old_dir.as_path())
            .await
            .expect("old migrations")
            .run(&mut conn)
            .await
            .expect("apply 0001 and 0002");
        for seq in 1..=3i64 {
            sqlx::query(
                "INSERT INTO events (store_id, seq_num, parent_seq_num, name, args, client_id, \
                 session_id, created_at_ms, pushed_by) \
                 VALUES ('old', $1, $1 - 1, 'e', NULL, 'c', 's', 1714564800123, 'user-1')",
            )
            .bind(seq)
            .execute(&mut conn)
            .await
            .expect("insert under the old schema");
        }
        sqlx::query("INSERT INTO store_heads (store_id, head) VALUES ('old', 3)")
            .execute(&mut conn)
            .await
            .expect("head");
        conn.close().await.ok();
    }
    let log: std::sync::Arc<dyn EventLog> =
        sync_worker::storage::open(&scratch.url, &Default::default())
            .await
            .expect("open and upgrade");
    let s = store("old");
    assert_contiguous(&all_events(&*log, &s).await, 3);
    append(&*log, gapped(&s, 3, &[10, 12]))
        .await
        .expect("gaps after the upgrade");
    assert_eq!(
        log.tail(&s, 2).await.expect("tail"),
        Tail {
            head: 12,
            events: 3
        }
    );
    log.close().await;
    scratch.drop_now().await;
}

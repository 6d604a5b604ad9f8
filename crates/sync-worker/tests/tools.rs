//! `sync-worker export | import | backup` as an operator runs them: the real binary
//! against real SQLite files.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use serde_json::value::RawValue;
use sync_worker::storage::sqlite::{SqliteEventLog, SqliteOptions};
use sync_worker::storage::{AppendBatch, EventLog, NewEvent, StoreId};

const BIN: &str = env!("CARGO_BIN_EXE_sync-worker");

fn url(dir: &Path, name: &str) -> String {
    format!("sqlite://{}", dir.join(name).display())
}

fn store(id: &str) -> StoreId {
    StoreId::parse(id).unwrap()
}

fn event(seq: u64, args: Option<&str>) -> NewEvent {
    NewEvent {
        seq_num: seq,
        parent_seq_num: seq - 1,
        name: format!("v1.Todo{seq}"),
        args: args.map(|a| RawValue::from_string(a.to_owned()).unwrap()),
        client_id: "client-é".into(),
        session_id: "session\n1".into(),
    }
}

async fn push(log: &SqliteEventLog, id: &str, first: u64, n: u64, millis: i64, user: &str) {
    let events: Vec<NewEvent> = (first..first + n)
        .map(|seq| {
            event(
                seq,
                (seq % 2 == 0).then_some(r#"{"text":"a \"b\"","n":[1,2]}"#),
            )
        })
        .collect();
    log.append(AppendBatch {
        store: store(id),
        events: events.into(),
        created_at: Utc.timestamp_millis_opt(millis).unwrap(),
        pushed_by: Arc::from(user),
    })
    .await
    .unwrap();
}

/// Runs the binary with `args`, feeding `stdin`; returns (success, stdout, stderr).
fn run(args: &[&str], stdin: &[u8]) -> (bool, Vec<u8>, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("DATABASE_URL")
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    (
        out.status.success(),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn count_rows(db: &str) -> (i64, i64) {
    let log = SqliteEventLog::open(db, SqliteOptions::default())
        .await
        .unwrap();
    log.close().await;
    let pool = sqlx::SqlitePool::connect(db).await.unwrap();
    let all: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&pool)
        .await
        .unwrap();
    let staging: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE store_id LIKE char(1) || '%'")
            .fetch_one(&pool)
            .await
            .unwrap();
    pool.close().await;
    (all, staging)
}

#[tokio::test]
async fn export_import_round_trip_keeps_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let source = url(dir.path(), "a.db");
    let log = SqliteEventLog::open(&source, SqliteOptions::default())
        .await
        .unwrap();
    push(&log, "s-1", 1, 3, 1_700_000_000_123, "user-a").await;
    push(&log, "s-1", 4, 2, 1_700_000_001_000, "user-b").await;
    push(&log, "other", 1, 1, 1_700_000_000_000, "user-c").await;
    log.close().await;

    let (ok, exported, err) = run(
        &["export", "--store", "s-1", "--database-url", &source],
        b"",
    );
    assert!(ok, "{err}");
    let text = String::from_utf8(exported.clone()).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(
        lines[1],
        serde_json::json!({"seqNum":2,"parentSeqNum":1,"name":"v1.Todo2",
            "args":{"text":"a \"b\"","n":[1,2]},"clientId":"client-é","sessionId":"session\n1",
            "createdAt":"2023-11-14T22:13:20.123Z","userId":"user-a"})
    );
    assert!(lines[0].get("args").is_none(), "absent args stay absent");
    assert_eq!(lines[4]["userId"], "user-b");

    // Into another database and store, then out again: byte-identical.
    let target = url(dir.path(), "b.db");
    let (ok, _, err) = run(
        &["import", "--store", "copy", "--database-url", &target],
        &exported,
    );
    assert!(ok, "{err}");
    assert!(err.contains("imported 5 events"), "{err}");
    let (ok, again, err) = run(
        &["export", "--store", "copy", "--database-url", &target],
        b"",
    );
    assert!(ok, "{err}");
    assert_eq!(String::from_utf8(again).unwrap(), text);
    let copy = SqliteEventLog::open(&target, SqliteOptions::default())
        .await
        .unwrap();
    let events = copy.read_range(&store("copy"), 0, 100).await.unwrap();
    assert_eq!(events.len(), 5);
    assert_eq!(events[4].pushed_by, "user-b");
    assert_eq!(copy.head(&store("copy")).await.unwrap(), 5);
    copy.close().await;
}

#[tokio::test]
async fn import_is_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = url(dir.path(), "t.db");
    let line = |seq: u64, parent: u64| {
        format!(
            r#"{{"seqNum":{seq},"parentSeqNum":{parent},"name":"e","clientId":"c","sessionId":"s","createdAt":"2024-01-01T00:00:00.000Z","userId":"u"}}"#
        )
    };
    let good: String = (1..=1500).map(|s| line(s, s - 1) + "\n").collect();
    let cases = [
        ("a broken link after 1200 good lines", {
            let mut t: String = (1..=1200).map(|s| line(s, s - 1) + "\n").collect();
            t.push_str(&line(1202, 1201));
            t
        }),
        ("a wrong first parent", line(2, 1)),
        (
            "a seqNum not above its parent",
            format!("{}\n{}", line(3, 0), line(3, 3)),
        ),
        (
            "a decreasing seqNum",
            format!("{}\n{}", line(3, 0), line(2, 3)),
        ),
        (
            "a malformed line",
            format!("{}\n{{\"seqNum\":2", line(1, 0)),
        ),
        (
            "an unknown field",
            line(1, 0).replace("\"name\"", "\"extra\":1,\"name\""),
        ),
        (
            "a bad createdAt",
            line(1, 0).replace("2024-01-01T00:00:00.000Z", "yesterday"),
        ),
    ];
    for (what, file) in cases {
        let (ok, _, err) = run(
            &["import", "--store", "t", "--database-url", &db],
            file.as_bytes(),
        );
        assert!(!ok, "{what}: accepted");
        assert!(err.contains("line "), "{what}: {err}");
        assert_eq!(count_rows(&db).await, (0, 0), "{what}: rows left behind");
    }

    let (ok, _, err) = run(
        &["import", "--store", "t", "--database-url", &db],
        good.as_bytes(),
    );
    assert!(ok, "{err}");
    // A second import into the now non-empty store is a conflict and changes nothing.
    let (ok, _, err) = run(
        &["import", "--store", "t", "--database-url", &db],
        good.as_bytes(),
    );
    assert!(!ok);
    assert!(err.contains("already has events"), "{err}");
    assert_eq!(count_rows(&db).await, (1500, 0));

    // Gaps in numbering follow the chain rule of pushes: imported, and exported back as is.
    let gapped = format!("{}\n{}\n{}\n", line(100, 0), line(105, 100), line(106, 105));
    let (ok, _, err) = run(
        &["import", "--store", "g", "--database-url", &db],
        gapped.as_bytes(),
    );
    assert!(ok, "{err}");
    assert!(err.contains("imported 3 events"), "{err}");
    let (ok, exported, err) = run(&["export", "--store", "g", "--database-url", &db], b"");
    assert!(ok, "{err}");
    assert_eq!(String::from_utf8(exported).unwrap(), gapped);
}

#[tokio::test]
async fn backup_is_an_online_consistent_copy() {
    let dir = tempfile::tempdir().unwrap();
    let db = url(dir.path(), "live.db");
    let log = SqliteEventLog::open(&db, SqliteOptions::default())
        .await
        .unwrap();
    push(&log, "s", 1, 10, 1_700_000_000_000, "u").await;
    // The server keeps the database open (and writing) while the backup runs.
    let backup_dir = dir.path().join("backups/today");
    let (ok, _, err) = run(
        &[
            "backup",
            backup_dir.to_str().unwrap(),
            "--database-url",
            &db,
        ],
        b"",
    );
    assert!(ok, "{err}");
    push(&log, "s", 11, 5, 1_700_000_000_001, "u").await;
    let copy_url = format!("sqlite://{}", backup_dir.join("sync.db").display());
    let copy = SqliteEventLog::open(&copy_url, SqliteOptions::default())
        .await
        .unwrap();
    assert_eq!(copy.head(&store("s")).await.unwrap(), 10);
    assert_eq!(
        copy.read_range(&store("s"), 0, 100).await.unwrap().len(),
        10
    );
    copy.close().await;
    // Never overwrites an existing copy.
    let (ok, _, err) = run(
        &[
            "backup",
            backup_dir.to_str().unwrap(),
            "--database-url",
            &db,
        ],
        b"",
    );
    assert!(!ok);
    assert!(err.contains("already exists"), "{err}");
    log.close().await;
}

/// Peak resident memory (KiB) of the binary running `args` with `stdin` from a file.
fn peak_rss_kib(args: &[&str], stdin: Option<&Path>, stdout: &Path) -> u64 {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .stdout(std::fs::File::create(stdout).unwrap())
        .stderr(Stdio::piped());
    if let Some(input) = stdin {
        command.stdin(std::fs::File::open(input).unwrap());
    }
    let mut child = command.spawn().unwrap();
    let status_path = format!("/proc/{}/status", child.id());
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut peak = 0;
    loop {
        if let Ok(status) = std::fs::read_to_string(&status_path) {
            if let Some(kib) = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                peak = peak.max(kib);
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{args:?} failed");
            return peak;
        }
        assert!(Instant::now() < deadline, "{args:?} took over 5 minutes");
        std::thread::sleep(Duration::from_millis(5));
    }
}

async fn seed(db: &str, id: &str, events: u64) {
    let log = SqliteEventLog::open(db, SqliteOptions::default())
        .await
        .unwrap();
    let mut first = 1;
    while first <= events {
        let n = 1000.min(events - first + 1);
        push(&log, id, first, n, 1_700_000_000_000 + first as i64, "u").await;
        first += n;
    }
    log.close().await;
}

/// A 1,000,000-event store goes out and back in with the memory of a 50,000-event one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_events_round_trip_in_constant_memory() {
    let dir = tempfile::tempdir().unwrap();
    let db = url(dir.path(), "big.db");
    seed(&db, "small", 50_000).await;
    seed(&db, "big", 1_000_000).await;

    let mut peaks = Vec::new();
    for (id, events) in [("small", 50_000u64), ("big", 1_000_000)] {
        let file = dir.path().join(format!("{id}.ndjson"));
        let export = peak_rss_kib(
            &["export", "--store", id, "--database-url", &db],
            None,
            &file,
        );
        let lines =
            std::io::BufRead::lines(std::io::BufReader::new(std::fs::File::open(&file).unwrap()))
                .count() as u64;
        assert_eq!(lines, events);
        let target = format!("{id}-copy");
        let import = peak_rss_kib(
            &["import", "--store", &target, "--database-url", &db],
            Some(&file),
            &dir.path().join("import.out"),
        );
        let log = SqliteEventLog::open(&db, SqliteOptions::default())
            .await
            .unwrap();
        assert_eq!(log.head(&store(&target)).await.unwrap(), events);
        log.close().await;
        peaks.push((export, import));
    }
    let ((small_export, small_import), (big_export, big_import)) = (peaks[0], peaks[1]);
    // 20x the events may not cost more than a few MiB more (allocator and page cache
    // noise), where holding them would cost hundreds of MiB.
    assert!(
        big_export < small_export + 16 * 1024,
        "export peak RSS {small_export} KiB -> {big_export} KiB"
    );
    assert!(
        big_import < small_import + 16 * 1024,
        "import peak RSS {small_import} KiB -> {big_import} KiB"
    );
}

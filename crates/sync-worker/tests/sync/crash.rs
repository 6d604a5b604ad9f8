//! Crash test: the real binary on one SQLite file, killed with `kill -9` twenty times
//! while several stores push the way the real client does (one push in flight, the next
//! after its ack; after a lost socket, reconnect and push the same batch again). After
//! each kill, with the process gone, the file is opened as the next start would open
//! it: every event acknowledged so far is stored at its seqNum and each store is one
//! valid chain. At the end the full check of the fault tests runs (no event stored
//! twice, nothing stored that was never sent).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use sync_worker::storage::{StorageOptions, StoreId};
use tokio::sync::watch;

use crate::kill::{free_port, Process};
use crate::load::{check_store, store_url, AckLog, Pusher};

const KILLS: usize = 20;
const STORES: usize = 4;
/// How long the load runs between the first ack after a start and the next kill.
const RUN_BETWEEN_KILLS: Duration = Duration::from_millis(300);
/// Longest a restarted server may take to acknowledge a push again.
const SERVE_AGAIN_WITHIN: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_kill_9_restarts_lose_no_acknowledged_event() {
    let dir = tempfile::tempdir().expect("tempdir");
    let database_url = format!("sqlite://{}/sync.db", dir.path().display());
    let port = free_port();
    let mut server = Process::spawn_on(&database_url, port, &[]).await;

    let (stop, stopped) = watch::channel(false);
    let mut pushers = Vec::new();
    let mut progress: Vec<(String, AckLog)> = Vec::new();
    for i in 0..STORES {
        let store = format!("crash-{i}");
        let acked = AckLog::default();
        let pusher = Pusher::connect(&store, vec![store_url(server.addr, &store)])
            .await
            .with_progress(Arc::clone(&acked));
        pushers.push(tokio::spawn(pusher.run(stopped.clone())));
        progress.push((store, acked));
    }

    let total_acked = |progress: &[(String, AckLog)]| -> usize {
        progress
            .iter()
            .map(|(_, acked)| acked.lock().expect("acked").len())
            .sum()
    };
    for kill in 1..=KILLS {
        // The (re)started server serves pushes again before it is killed: a bounded wait
        // for the first new ack, then load for a while, so pushes are in flight.
        let before = total_acked(&progress);
        let deadline = tokio::time::Instant::now() + SERVE_AGAIN_WITHIN;
        while total_acked(&progress) <= before {
            assert!(
                tokio::time::Instant::now() < deadline,
                "kill {kill}: no push acknowledged within {SERVE_AGAIN_WITHIN:?} of the start"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(RUN_BETWEEN_KILLS).await;
        server.kill_9().await;
        // The process is gone: every ack a pusher holds now was sent before it died.
        let snapshot: Vec<(String, Vec<(u64, String)>)> = progress
            .iter()
            .map(|(store, acked)| (store.clone(), acked.lock().expect("acked").clone()))
            .collect();
        check_after_crash(&database_url, &snapshot, kill).await;
        server = Process::spawn_on(&database_url, port, &[]).await;
    }
    // Some load after the last restart, so the final check covers a recovered server.
    tokio::time::sleep(RUN_BETWEEN_KILLS).await;
    stop.send_replace(true);
    let mut reports = Vec::new();
    for pusher in pushers {
        reports.push(pusher.await.expect("pusher"));
    }
    server.kill_9().await;

    for report in &reports {
        check_store(&database_url, report).await;
        assert!(
            report.reconnects >= KILLS,
            "{}: reconnected after every kill ({} reconnects)",
            report.store,
            report.reconnects
        );
    }
}

/// Opens the file the killed process left: each store is one chain `1..=head` holding
/// every event in `acked` at its seqNum.
async fn check_after_crash(
    database_url: &str,
    acked: &[(String, Vec<(u64, String)>)],
    kill: usize,
) {
    let log = sync_worker::storage::open(database_url, &StorageOptions::default())
        .await
        .unwrap_or_else(|error| panic!("kill {kill}: the file does not open: {error}"));
    for (store, acked) in acked {
        let events = log
            .read_range(&StoreId::parse(store).expect("store id"), 0, usize::MAX)
            .await
            .expect("read");
        let mut ids = HashMap::new();
        for (i, event) in events.iter().enumerate() {
            assert_eq!(
                (event.seq_num, event.parent_seq_num),
                (i as u64 + 1, i as u64),
                "kill {kill}, {store}: one valid chain"
            );
            let args: serde_json::Value =
                serde_json::from_str(event.args.as_ref().expect("args").get()).expect("args");
            ids.insert(event.seq_num, args["id"].as_str().expect("id").to_owned());
        }
        for (seq, id) in acked {
            assert_eq!(
                ids.get(seq),
                Some(id),
                "kill {kill}, {store}: acknowledged event {id} is not stored at seqNum {seq}"
            );
        }
    }
    log.close().await;
}

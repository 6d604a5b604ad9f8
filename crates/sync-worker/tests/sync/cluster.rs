//! Several sync-worker nodes on one PostgreSQL database: a push accepted by one node
//! reaches the store's sockets on every node, and racing pushes on two nodes leave
//! exactly one winner and one chain.

use std::time::Duration;

use serde_json::json;
use sync_worker::storage::postgres::{PgEventLog, PgOptions};
use sync_worker::storage::{EventLog, StoreId};
use sync_worker::SyncConfig;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::helpers::{encode, events, seqs, Client, WAIT};

use crate::pg_scratch::ScratchDb;

/// One node: `sync_worker::run` on port 0 against the shared database.
pub(crate) struct Node {
    pub(crate) addr: std::net::SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Node {
    async fn start(database_url: &str) -> Self {
        Self::start_with(database_url, &[]).await
    }

    /// A node with `extra` settings on top of the test defaults.
    pub(crate) async fn start_with(database_url: &str, extra: &[(&str, &str)]) -> Self {
        let mut vars = shared::Vars::from_pairs([
            ("DATABASE_URL", database_url),
            ("JWT_SECRET", crate::helpers::JWT_SECRET),
            ("SHUTDOWN_GRACE_SECONDS", "5"),
        ]);
        for (key, value) in extra {
            vars.set(*key, *value);
        }
        let config = SyncConfig::from_vars(&vars).expect("config");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(sync_worker::run(
            config,
            shared::net::service_listener(listener),
            async {
                let _ = stopped.await;
            },
        ));
        Self {
            addr,
            stop: Some(stop),
            task,
        }
    }

    async fn client(&self, store: &str) -> Client {
        let url = format!("ws://{}/websocket?storeId={}", self.addr, encode(store));
        Client::connect_url(&url).await
    }

    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("node stopped in time")
            .expect("node task")
            .expect("node run");
    }
}

/// The next push broadcast (`PullRes` with context `push`) a client receives.
async fn next_broadcast(client: &mut Client) -> Vec<u64> {
    loop {
        let m = client.recv_tag("WSMessage.PullRes").await;
        if m["requestId"]["context"] == "push" {
            return seqs(&m);
        }
    }
}

async fn stored_chain(url: &str, store: &str) -> Vec<(u64, u64)> {
    let log = PgEventLog::open(url, PgOptions::default())
        .await
        .expect("open");
    let events = log
        .read_range(&StoreId::parse(store).unwrap(), 0, usize::MAX)
        .await
        .expect("read");
    log.close().await;
    events
        .iter()
        .map(|e| (e.seq_num, e.parent_seq_num))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_on_one_node_reaches_sockets_on_every_node() {
    let db = ScratchDb::create("sync").await;
    let (one, two) = (Node::start(&db.url).await, Node::start(&db.url).await);
    let mut a = one.client("shared-store").await;
    let mut b = two.client("shared-store").await;
    assert!(b.pull("p0", None).await[0]["batch"]
        .as_array()
        .unwrap()
        .is_empty());

    a.push_acked("a1", events(0, 3)).await;
    assert_eq!(
        tokio::time::timeout(WAIT, next_broadcast(&mut b))
            .await
            .unwrap(),
        [1, 2, 3],
        "node two's socket got node one's push"
    );
    // And back: node two's push, on the head node one committed, reaches node one.
    b.push_acked("b1", events(3, 2)).await;
    assert_eq!(
        next_broadcast(&mut a).await,
        [1, 2, 3],
        "a's own push first"
    );
    assert_eq!(next_broadcast(&mut a).await, [4, 5]);
    // A fresh client of node two pulls the whole chain.
    let mut c = two.client("shared-store").await;
    let chunks = c.pull("p1", None).await;
    assert_eq!(crate::helpers::all_seqs(&chunks), [1, 2, 3, 4, 5]);

    one.stop().await;
    two.stop().await;
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_pushes_on_two_nodes_leave_one_winner_and_one_chain() {
    let db = ScratchDb::create("sync").await;
    let (one, two) = (Node::start(&db.url).await, Node::start(&db.url).await);
    let mut a = one.client("race").await;
    let mut b = two.client("race").await;
    let mut head = 0;
    for round in 0..15u64 {
        let (ida, idb) = (format!("a{round}"), format!("b{round}"));
        // Both push on the same parent at once, each through its own node.
        let send_a = a
            .send(json!({"_tag": "WSMessage.PushReq", "requestId": ida, "batch": events(head, 2)}));
        let send_b = b
            .send(json!({"_tag": "WSMessage.PushReq", "requestId": idb, "batch": events(head, 3)}));
        tokio::join!(send_a, send_b);
        let (ra, rb) = tokio::join!(a.push_outcome(&ida), b.push_outcome(&idb));
        let wins = [&ra, &rb].iter().filter(|r| r.is_ok()).count();
        assert_eq!(wins, 1, "round {round}: {ra:?} {rb:?}");
        let loser = if ra.is_ok() { &rb } else { &ra };
        let message = loser.as_ref().unwrap_err();
        assert!(
            message.starts_with("Invalid parent event number"),
            "round {round}: {message}"
        );
        head += if ra.is_ok() { 2 } else { 3 };
    }
    let chain = stored_chain(&db.url, "race").await;
    assert_eq!(chain.len() as u64, head);
    for (i, (seq, parent)) in chain.iter().enumerate() {
        assert_eq!(
            (*seq, *parent),
            (i as u64 + 1, i as u64),
            "one contiguous chain"
        );
    }
    one.stop().await;
    two.stop().await;
    db.drop_now().await;
}

/// Numbering with gaps (LiveStore 0.4) crosses nodes like any chain: node two's sockets
/// get node one's events, and node two chains on the real head (the last seqNum).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gaps_reach_every_node_and_the_head_is_the_last_seq_num() {
    let db = ScratchDb::create("sync").await;
    let (one, two) = (Node::start(&db.url).await, Node::start(&db.url).await);
    let mut a = one.client("gap-store").await;
    let mut b = two.client("gap-store").await;
    assert!(crate::helpers::all_seqs(&b.pull("p0", None).await).is_empty());

    a.push_acked("a1", crate::gaps::gapped(0, &[100])).await;
    a.push_acked("a2", crate::gaps::gapped(100, &[105, 300]))
        .await;
    for expected in [&[100][..], &[105, 300]] {
        let got = tokio::time::timeout(WAIT, next_broadcast(&mut b)).await;
        assert_eq!(got.expect("broadcast in time"), expected);
    }
    b.push("stale", crate::gaps::gapped(105, &[106])).await;
    assert_eq!(
        b.push_outcome("stale").await.unwrap_err(),
        "Invalid parent event number. Received e105 but expected e300"
    );
    b.push_acked("b1", crate::gaps::gapped(300, &[301])).await;
    assert_eq!(
        stored_chain(&db.url, "gap-store").await,
        [(100, 0), (105, 100), (300, 105), (301, 300)]
    );
    one.stop().await;
    two.stop().await;
    db.drop_now().await;
}

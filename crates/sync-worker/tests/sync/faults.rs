//! PostgreSQL faults under load, on two nodes sharing one scratch database: the database
//! unreachable for 10 s (a proxy between the nodes and the server drops every
//! connection and blackholes new ones; the shared server is never touched), and every
//! session of the scratch database terminated at once, as a server restart does.
//!
//! Pushers (one push in flight each, the next after its ack) use node one; receivers of
//! the same stores use node two. Afterwards: every acknowledged event is stored, each
//! store is one chain without duplicates, receivers saw every event once and in order,
//! sockets stayed open, and pushes are acknowledged again without restarting anything.

use std::time::{Duration, Instant};

use test_support::{FaultProxy, Outage};
use tokio::sync::watch;

use crate::cluster::Node;
use crate::load::{check_received, check_store, receive, store_url, PushReport, Pusher, Received};
use crate::pg_scratch::ScratchDb;

const STORES: usize = 4;
/// Short, so pushes during the outage fail quickly (the default is 5 s).
const NODE_SETTINGS: &[(&str, &str)] = &[("DB_ACQUIRE_TIMEOUT_SECONDS", "1")];

/// `GET /ready` of a node: (status, body).
async fn ready(node: &Node) -> (u16, serde_json::Value) {
    ready_at(node.addr).await
}

/// `GET /ready` of the node at `addr`.
pub(crate) async fn ready_at(addr: std::net::SocketAddr) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .get(format!("http://{addr}/ready"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("ready answered");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

/// Polls `/ready` until it answers `want`; panics after `within`.
async fn wait_ready(node: &Node, want: u16, within: Duration) -> serde_json::Value {
    let deadline = Instant::now() + within;
    loop {
        let (status, body) = ready(node).await;
        if status == want {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "/ready still {status} {body} after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Load running against two nodes.
pub(crate) struct Load {
    stop: watch::Sender<bool>,
    target: watch::Sender<Option<u64>>,
    pushers: Vec<tokio::task::JoinHandle<PushReport>>,
    receivers: Vec<tokio::task::JoinHandle<Received>>,
}

impl Load {
    /// Receivers on `receive_on`, then pushers on `push_on` (the first node; the next
    /// one after a lost socket).
    pub(crate) async fn start(
        tag: &str,
        push_on: &[std::net::SocketAddr],
        receive_on: std::net::SocketAddr,
    ) -> Self {
        let (stop, stopped) = watch::channel(false);
        let (target, targets) = watch::channel(None);
        let stores: Vec<String> = (0..STORES).map(|i| format!("{tag}-{i}")).collect();
        let receivers = stores
            .iter()
            .map(|store| tokio::spawn(receive(store_url(receive_on, store), targets.clone())))
            .collect();
        // Receivers subscribe before the first push.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut pushers = Vec::new();
        for store in &stores {
            let urls = push_on.iter().map(|addr| store_url(*addr, store)).collect();
            let pusher = Pusher::connect(store, urls).await;
            pushers.push(tokio::spawn(pusher.run(stopped.clone())));
        }
        Self {
            stop,
            target,
            pushers,
            receivers,
        }
    }

    /// Stops pushing and checks stores and receivers against `database_url`.
    pub(crate) async fn finish(self, database_url: &str) -> Vec<PushReport> {
        self.stop.send_replace(true);
        let mut reports = Vec::new();
        for pusher in self.pushers {
            reports.push(pusher.await.expect("pusher"));
        }
        let mut heads = Vec::new();
        for report in &reports {
            heads.push(check_store(database_url, report).await);
        }
        // Every receiver waits for the highest head; each stops at its own or 15 s.
        self.target.send_replace(heads.iter().copied().max());
        for ((receiver, report), head) in self.receivers.into_iter().zip(&reports).zip(&heads) {
            let received = receiver.await.expect("receiver");
            check_received(&report.store, &received, *head);
        }
        reports
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_unreachable_for_10_s_under_load() {
    let db = ScratchDb::create("sync").await;
    let (proxy, proxied) = FaultProxy::in_front_of(&db.url).await.expect("proxy");
    let one = Node::start_with(&proxied, NODE_SETTINGS).await;
    let two = Node::start_with(&proxied, NODE_SETTINGS).await;
    wait_ready(&one, 200, Duration::from_secs(10)).await;

    let load = Load::start("outage", &[one.addr], two.addr).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    proxy.cut(Outage::Blackhole);
    let cut = Instant::now();
    let body = wait_ready(&one, 503, Duration::from_secs(5)).await;
    assert_eq!(body["storage"], "unavailable", "{body}");
    assert_eq!(body["status"], "not_ready");
    tokio::time::sleep(Duration::from_secs(10).saturating_sub(cut.elapsed())).await;
    assert_eq!(ready(&two).await.0, 503, "node two is not ready either");
    proxy.restore();
    let restored = Instant::now();

    // Both nodes come back by themselves.
    wait_ready(&one, 200, Duration::from_secs(10)).await;
    wait_ready(&two, 200, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let reports = load.finish(&db.url).await;

    for report in &reports {
        let store = &report.store;
        assert_eq!(report.reconnects, 0, "{store}: sockets stayed open");
        let in_window = |at: &Instant| *at > cut + Duration::from_millis(500) && *at < restored;
        assert!(
            !report.ack_times.iter().any(in_window),
            "{store}: a push was acknowledged while the database was unreachable"
        );
        let errors: Vec<_> = report
            .errors
            .iter()
            .filter(|(_, at)| in_window(at))
            .collect();
        assert!(
            !errors.is_empty(),
            "{store}: pushes in the outage got errors"
        );
        for (message, _) in &errors {
            assert!(message.starts_with("Internal error:"), "{store}: {message}");
        }
        let after = report.ack_times.iter().filter(|at| **at > restored).count();
        assert!(
            after >= 2,
            "{store}: pushes acknowledged again after the outage ({after})"
        );
    }
    one.stop().await;
    two.stop().await;
    drop(proxy);
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_session_terminated_under_load() {
    let db = ScratchDb::create("sync").await;
    let one = Node::start_with(&db.url, NODE_SETTINGS).await;
    let two = Node::start_with(&db.url, NODE_SETTINGS).await;
    wait_ready(&one, 200, Duration::from_secs(10)).await;

    let load = Load::start("terminated", &[one.addr], two.addr).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let ended = db.terminate_connections().await;
    // Each node's listener, at least, and pooled connections.
    assert!(ended >= 2, "terminated {ended} sessions");
    let terminated = Instant::now();
    wait_ready(&one, 200, Duration::from_secs(10)).await;
    wait_ready(&two, 200, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let reports = load.finish(&db.url).await;

    for report in &reports {
        let store = &report.store;
        assert_eq!(report.reconnects, 0, "{store}: sockets stayed open");
        let after = report
            .ack_times
            .iter()
            .filter(|at| **at > terminated)
            .count();
        assert!(
            after >= 2,
            "{store}: pushes acknowledged after the restart ({after})"
        );
    }
    one.stop().await;
    two.stop().await;
    db.drop_now().await;
}

//! A node killed with `kill -9` under load: two real `sync-worker` processes (the built
//! binary) on one scratch PostgreSQL database, pushers on node one, receivers on node
//! two. Node one dies mid-push; its pushers reconnect to node two and carry on. Nothing
//! it acknowledged is lost, each store stays one chain, and node two's sockets receive
//! every event (those committed by node one before it died included) once, in order.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use crate::faults::{ready_at, Load};
use crate::pg_scratch::ScratchDb;

/// A `sync-worker` process serving on `addr`.
pub(crate) struct Process {
    child: Child,
    pub(crate) addr: SocketAddr,
    _dir: tempfile::TempDir,
}

/// A free port, released for a child to bind (the binary takes PORT).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

impl Process {
    pub(crate) async fn spawn(database_url: &str) -> Self {
        Self::spawn_on(database_url, free_port(), &[]).await
    }

    /// The binary on `port` with `env` added to the test's settings, once it is ready.
    pub(crate) async fn spawn_on(database_url: &str, port: u16, env: &[(&str, &str)]) -> Self {
        // An empty working directory: no `.dev.vars` is picked up.
        let dir = tempfile::tempdir().expect("tempdir");
        let child = Command::new(env!("CARGO_BIN_EXE_sync-worker"))
            .current_dir(dir.path())
            .env_clear()
            .envs(env.iter().copied())
            .env("DATABASE_URL", database_url)
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("JWT_SECRET", crate::helpers::JWT_SECRET)
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn sync-worker");
        let process = Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            _dir: dir,
        };
        process.wait_ready().await;
        process
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if tokio::net::TcpStream::connect(self.addr).await.is_ok()
                && ready_at(self.addr).await.0 == 200
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "sync-worker on {} not ready",
                self.addr
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: no shutdown, no flush, no goodbye to its sockets.
    pub(crate) async fn kill_9(&mut self) {
        self.child.start_kill().expect("kill");
        let status = self.child.wait().await.expect("wait");
        assert!(!status.success(), "killed, not exited: {status}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_push_loses_nothing_it_acknowledged() {
    let db = ScratchDb::create("sync").await;
    let mut one = Process::spawn(&db.url).await;
    let mut two = Process::spawn(&db.url).await;

    let load = Load::start("killed", &[one.addr, two.addr], two.addr).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    one.kill_9().await;
    let killed = Instant::now();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let reports = load.finish(&db.url).await;

    for report in &reports {
        let store = &report.store;
        // Each pusher had a push in flight when its socket died (a reconnect only
        // happens while an answer is awaited), then went on through node two.
        assert_eq!(report.reconnects, 1, "{store}: reconnected once");
        let before = report.ack_times.iter().filter(|at| **at < killed).count();
        let after = report.ack_times.iter().filter(|at| **at > killed).count();
        assert!(before >= 2, "{store}: acknowledged by node one ({before})");
        assert!(
            after >= 2,
            "{store}: served by node two after the kill ({after})"
        );
    }
    two.kill_9().await;
    db.drop_now().await;
}

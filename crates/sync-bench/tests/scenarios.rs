//! Every scenario, at toy sizes and in both protocols, against a real sync-worker (in this process, on
//! 127.0.0.1:0, fresh SQLite file, REQUIRE_AUTH=true): the tool must complete, count what
//! it should, and fail with a clear error instead of hanging when auth is wrong.

use clap::Parser;
use sync_bench::cli::Cli;
use sync_bench::report::Report;
use sync_worker::SyncConfig;
use tokio::sync::oneshot;

const SECRET: &str = "sync-bench-test-secret-0123456789abcdef";

struct Server {
    url: String,
    stop: Option<oneshot::Sender<()>>,
    handle: tokio::task::JoinHandle<anyhow::Result<()>>,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = format!("sqlite://{}", dir.path().join("sync.db").display());
        let vars = shared::Vars::from_pairs([
            ("DATABASE_URL", db.as_str()),
            ("JWT_SECRET", SECRET),
            ("REQUIRE_AUTH", "true"),
        ]);
        let config = SyncConfig::from_vars(&vars).expect("config");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(sync_worker::run(
            config,
            shared::net::service_listener(listener),
            async {
                let _ = stopped.await;
            },
        ));
        Self {
            url,
            stop: Some(stop),
            handle,
            _dir: dir,
        }
    }

    async fn run(&self, args: &[&str]) -> anyhow::Result<Report> {
        let pid = std::process::id().to_string();
        let mut argv = vec![
            "sync-bench",
            "--url",
            &self.url,
            "--jwt-secret",
            SECRET,
            "--server-pid",
            &pid,
            "--idle-timeout",
            "10",
        ];
        argv.extend_from_slice(args);
        sync_bench::run_scenario(Cli::try_parse_from(argv)?).await
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), self.handle).await;
    }
}

fn metric(report: &Report, key: &str) -> f64 {
    report
        .metrics
        .iter()
        .find(|m| m.key == key)
        .and_then(|m| m.value)
        .unwrap_or_else(|| panic!("metric {key} missing in {report:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_completes_against_sync_worker() {
    let server = Server::start().await;

    let push = server
        .run(&[
            "push",
            "--batch",
            "10",
            "--in-flight",
            "4",
            "--duration",
            "0.5",
        ])
        .await
        .expect("push");
    assert!(metric(&push, "acked_events") >= 10.0);
    assert_eq!(
        metric(&push, "acked_events") % 10.0,
        0.0,
        "whole batches only"
    );
    assert_eq!(push.scenario, "push");
    assert_eq!(param(&push, "protocol"), "0.3.1", "the default");
    assert_eq!(push.targets.len(), 3, "rate, round trip p50 and p99");

    // The real client's default: one push in flight.
    let one = server
        .run(&["push", "--batch", "5", "--duration", "0.3"])
        .await
        .expect("push, one in flight");
    assert!(one
        .params
        .iter()
        .any(|p| p.name == "in_flight" && p.value == "1"));
    assert!(metric(&one, "ack_p50_ms") > 0.0);

    let pipelined = server
        .run(&["push-pipelined", "--batch", "5", "--duration", "0.3"])
        .await
        .expect("push-pipelined");
    assert_eq!(pipelined.scenario, "push-pipelined");
    assert!(pipelined
        .params
        .iter()
        .any(|p| p.name == "in_flight" && p.value == "8"));
    assert_eq!(pipelined.targets.len(), 1);

    let stores = server
        .run(&[
            "stores",
            "--stores",
            "3",
            "--batch",
            "5",
            "--duration",
            "0.5",
        ])
        .await
        .expect("stores");
    assert!(metric(&stores, "slowest_store_events_per_sec") > 0.0);
    let stores = server
        .run(&[
            "stores-pipelined",
            "--stores",
            "2",
            "--batch",
            "5",
            "--duration",
            "0.3",
        ])
        .await
        .expect("stores-pipelined");
    assert_eq!(stores.scenario, "stores-pipelined");

    // Every writer's events reach each of its store's readers, and only those.
    let clients = server
        .run(&[
            "clients",
            "--stores",
            "3",
            "--readers",
            "2",
            "--duration",
            "0.5",
            "--warmup",
            "0.1",
        ])
        .await
        .expect("clients");
    assert!(metric(&clients, "acked_events") > 0.0);
    assert_eq!(metric(&clients, "delivered_ratio"), 1.0, "{clients:?}");
    assert_eq!(metric(&clients, "readers_failed"), 0.0);
    assert!(metric(&clients, "receive_samples") > 0.0);
    assert!(metric(&clients, "slowest_store_events_per_sec") > 0.0);
    assert!(metric(&clients, "ack_p99_ms") >= metric(&clients, "ack_p50_ms"));
    let paced = server
        .run(&[
            "clients",
            "--stores",
            "2",
            "--readers",
            "1",
            "--rate",
            "20",
            "--duration",
            "0.5",
            "--warmup",
            "0",
        ])
        .await
        .expect("clients, paced");
    // 2 writers x 20 pushes/s x 0.5 s: about 20 pushes, never many more.
    assert!(
        metric(&paced, "pushes_per_sec") <= 2.0 * 20.0 * 1.5,
        "{paced:?}"
    );

    let fanout = server
        .run(&[
            "fanout",
            "--connections",
            "5",
            "--rate",
            "50",
            "--duration",
            "0.5",
            "--warmup",
            "0.1",
        ])
        .await
        .expect("fanout");
    assert_eq!(metric(&fanout, "delivered_ratio"), 1.0, "{fanout:?}");
    assert_eq!(metric(&fanout, "receivers_failed"), 0.0);
    assert!(metric(&fanout, "receive_samples") > 0.0);

    // 250 events: three pull chunks (100, 100, 50), seeded in three pushes.
    let pull = server
        .run(&["pull", "--events", "250", "--seed-batch", "100"])
        .await
        .expect("pull");
    assert_eq!(metric(&pull, "chunks"), 3.0);
    assert!(metric(&pull, "rss_growth_mib") >= 0.0);

    // From two loopback source addresses in turn.
    let conns = server
        .run(&[
            "--source-addrs",
            "127.0.0.1-127.0.0.2",
            "connections",
            "--connections",
            "40",
            "--settle",
            "0.05",
        ])
        .await
        .expect("connections");
    assert_eq!(metric(&conns, "alive"), 40.0);
    metric(&conns, "rss_per_socket_kib");

    server.stop().await;
}

fn param<'a>(report: &'a Report, name: &str) -> &'a str {
    report
        .params
        .iter()
        .find(|p| p.name == name)
        .map(|p| p.value.as_str())
        .unwrap_or_else(|| panic!("param {name} missing in {report:?}"))
}

/// The 0.4 rows of the suite (`--protocol 0.4`): Effect RPC over WebSocket, live pulls
/// for broadcasts, `Exit` acks; each must finish and count what it should.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_0_4_scenario_completes_against_sync_worker() {
    let server = Server::start().await;
    let v04 = |args: &[&'static str]| {
        let mut all = vec!["--protocol", "0.4"];
        all.extend_from_slice(args);
        all
    };

    let push = server
        .run(&v04(&["push", "--batch", "10", "--duration", "0.5"]))
        .await
        .expect("push over 0.4");
    assert_eq!(param(&push, "protocol"), "0.4");
    assert!(metric(&push, "acked_events") >= 10.0, "{push:?}");
    assert_eq!(metric(&push, "acked_events") % 10.0, 0.0, "whole batches");
    assert!(metric(&push, "ack_p50_ms") > 0.0);
    // The writer's own pushes come back through its live pull.
    assert!(metric(&push, "broadcasts_received") >= 1.0, "{push:?}");

    let pipelined = server
        .run(&v04(&[
            "push-pipelined",
            "--batch",
            "5",
            "--duration",
            "0.3",
        ]))
        .await
        .expect("push-pipelined over 0.4");
    assert!(metric(&pipelined, "acked_events") >= 5.0);

    let clients = server
        .run(&v04(&[
            "clients",
            "--stores",
            "3",
            "--readers",
            "2",
            "--duration",
            "0.5",
            "--warmup",
            "0.1",
        ]))
        .await
        .expect("clients over 0.4");
    assert!(metric(&clients, "acked_events") > 0.0);
    assert_eq!(metric(&clients, "delivered_ratio"), 1.0, "{clients:?}");
    assert_eq!(metric(&clients, "readers_failed"), 0.0);
    assert!(metric(&clients, "receive_samples") > 0.0);

    let fanout = server
        .run(&v04(&[
            "fanout",
            "--connections",
            "5",
            "--rate",
            "50",
            "--duration",
            "0.5",
            "--warmup",
            "0.1",
        ]))
        .await
        .expect("fanout over 0.4");
    assert_eq!(metric(&fanout, "delivered_ratio"), 1.0, "{fanout:?}");
    assert_eq!(metric(&fanout, "receivers_failed"), 0.0);
    assert!(metric(&fanout, "receive_samples") > 0.0);

    // 250 events: three pages (100, 100, 50), then the pull's Exit.
    let pull = server
        .run(&v04(&["pull", "--events", "250", "--seed-batch", "100"]))
        .await
        .expect("pull over 0.4");
    assert_eq!(metric(&pull, "chunks"), 3.0);
    assert!(metric(&pull, "events_per_sec") > 0.0);

    let conns = server
        .run(&v04(&[
            "connections",
            "--connections",
            "20",
            "--settle",
            "0.05",
        ]))
        .await
        .expect("connections over 0.4");
    assert_eq!(metric(&conns, "alive"), 20.0);

    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_fails_fast_with_the_servers_reason() {
    let server = Server::start().await;
    let url = server.url.clone();
    for protocol in ["0.3.1", "0.4"] {
        let cli = Cli::try_parse_from([
            "sync-bench",
            "--url",
            &url,
            "--protocol",
            protocol,
            "--jwt-secret",
            "not-the-servers-secret-0123456789abcdef",
            "push",
            "--duration",
            "0.2",
        ])
        .unwrap();
        let err = tokio::time::timeout(
            std::time::Duration::from_secs(20),
            sync_bench::run_scenario(cli),
        )
        .await
        .expect("no hang")
        .expect_err("must be refused");
        let text = format!("{err:#}");
        assert!(text.contains("401"), "{protocol}: {text}");
        assert!(text.contains("TOKEN_INVALID"), "{protocol}: {text}");
    }
    server.stop().await;
}

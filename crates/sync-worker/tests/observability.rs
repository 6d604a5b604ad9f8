//! Metrics and logs of a real server: sockets opened, pushes, pulls and refused
//! connects must move the named `/metrics` series, and the socket's open and close log
//! lines must carry its identity and counts but never its token.
//!
//! A binary of its own: the metrics recorder and the log subscriber are process-wide,
//! so these tests run one at a time ([`serial`]) and, with no other test in the process,
//! assert exact deltas between two scrapes.

#[allow(dead_code)]
#[path = "sync/helpers.rs"]
mod helpers;

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use chrono::Utc;
use helpers::*;
use serde_json::{json, Value};
use shared::process::LogFormat;
use shared::{JwtKeys, Role};
use tokio_tungstenite::tungstenite;

/// One test at a time: they share the process's metrics and log lines.
async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: OnceLock<tokio::sync::Mutex<()>> = OnceLock::new();
    LOCK.get_or_init(|| tokio::sync::Mutex::new(()))
        .lock()
        .await
}

fn token(user: &str, sid: &str, store: &str) -> String {
    let keys = JwtKeys::new(&shared::secret::Secret::new(JWT_SECRET), "auth-worker");
    let mut claims = keys.access_claims(
        user,
        "u@example.com",
        sid,
        Duration::from_secs(900),
        Utc::now(),
    );
    claims.mem = [(store.to_owned(), Role::Owner)].into_iter().collect();
    keys.sign_access_token(&claims).unwrap()
}

/// Every sample of a Prometheus text scrape, keyed by `name{labels}` as written.
async fn scrape(server: &TestServer) -> HashMap<String, f64> {
    let response = reqwest::get(server.http("/metrics")).await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = response.text().await.unwrap();
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("sample line");
            (series.to_owned(), value.parse().expect("sample value"))
        })
        .collect()
}

fn value(samples: &HashMap<String, f64>, series: &str) -> f64 {
    samples.get(series).copied().unwrap_or(0.0)
}

/// How much each series moved between two scrapes.
fn delta(before: &HashMap<String, f64>, after: &HashMap<String, f64>, series: &str) -> f64 {
    value(after, series) - value(before, series)
}

#[tokio::test]
async fn push_pull_and_refusal_move_the_metrics() {
    let _serial = serial().await;
    let server = TestServer::spawn(&[("REQUIRE_AUTH", "true")]).await;
    let store = "metrics-store";
    let payload = json!({ "authToken": token("user-m", "session-m", store) });
    let before = scrape(&server).await;

    let mut pusher = server.connect(store, Some(&payload)).await.unwrap();
    let mut watcher = server.connect(store, Some(&payload)).await.unwrap();
    let open = scrape(&server).await;
    assert_eq!(
        delta(&before, &open, r#"sync_sockets_open{protocol="0.3"}"#),
        2.0
    );

    pusher.push_acked("p1", events(0, 3)).await;
    let broadcast = watcher.recv_tag("WSMessage.PullRes").await;
    assert_eq!(seqs(&broadcast), vec![1, 2, 3]);
    let pulled = watcher.pull("pull-1", None).await;
    assert_eq!(all_seqs(&pulled), vec![1, 2, 3]);

    match server.connect(store, None).await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 401),
        other => panic!("expected a 401 refusal, got {:?}", other.map(|_| ())),
    }
    drop(pusher);
    drop(watcher);

    // The sockets' tasks end shortly after the client side goes away.
    let deadline = tokio::time::Instant::now() + WAIT;
    let after = loop {
        let after = scrape(&server).await;
        if value(&after, r#"sync_sockets_open{protocol="0.3"}"#)
            == value(&before, r#"sync_sockets_open{protocol="0.3"}"#)
        {
            break after;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "sockets stayed open"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let moved = |series: &str| delta(&before, &after, series);
    assert_eq!(
        moved(r#"sync_connects_accepted_total{protocol="0.3"}"#),
        2.0
    );
    assert_eq!(
        moved(r#"sync_connects_refused_total{code="TOKEN_MISSING"}"#),
        1.0
    );
    assert_eq!(moved("sync_pushes_acked_total"), 1.0);
    assert_eq!(moved("sync_events_acked_total"), 3.0);
    assert_eq!(moved("sync_push_commit_seconds_count"), 1.0);
    assert!(moved("sync_push_commit_seconds_sum") > 0.0);
    assert_eq!(moved("sync_push_round_trip_seconds_count"), 1.0);
    assert!(
        moved("sync_push_round_trip_seconds_sum") >= moved("sync_push_commit_seconds_sum"),
        "a round trip includes the commit"
    );
    // The push went out to both sockets of the store (0.3.1 echoes it to the pusher).
    assert_eq!(moved("sync_broadcast_frames_total"), 2.0);
    assert_eq!(moved("sync_pulls_total"), 1.0);
    assert_eq!(moved("sync_events_pulled_total"), 3.0);
    assert_eq!(moved("sync_slow_consumer_disconnects_total"), 0.0);
    assert_eq!(moved(r#"sync_storage_errors_total{op="append"}"#), 0.0);
    server.stop().await;
}

#[tokio::test]
async fn rejected_pushes_are_counted_by_reason() {
    let _serial = serial().await;
    let server = TestServer::spawn(&[]).await;
    let before = scrape(&server).await;
    let mut client = server.client("metrics-rejects").await;
    client.push_acked("ok", events(0, 1)).await;
    client.push("wrong", events(5, 1)).await;
    assert!(client.push_outcome("wrong").await.is_err());
    let after = scrape(&server).await;
    let moved = |series: &str| delta(&before, &after, series);
    assert_eq!(
        moved(r#"sync_pushes_rejected_total{reason="wrong_parent"}"#),
        1.0
    );
    assert_eq!(moved("sync_pushes_acked_total"), 1.0);
    server.stop().await;
}

/// Log lines captured in-process, as the JSON format writes them.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// The JSON lines whose message is `message` and whose span names `store`.
    fn lines(&self, message: &str, store: &str) -> Vec<Value> {
        self.text()
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|line| line["fields"]["message"] == message && line["span"]["store"] == store)
            .collect()
    }
}

/// The process's log lines, JSON, from the first call on.
fn captured() -> &'static Captured {
    static CAPTURED: OnceLock<Captured> = OnceLock::new();
    CAPTURED.get_or_init(|| {
        let captured = Captured::default();
        let writer = captured.clone();
        shared::process::init_tracing_with(LogFormat::Json, move || writer.clone());
        captured
    })
}

#[tokio::test]
async fn socket_open_and_close_lines_carry_identity_and_counts_but_no_token() {
    let _serial = serial().await;
    let logs = captured();
    let server = TestServer::spawn(&[("REQUIRE_AUTH", "true")]).await;
    let store = "logged-store";
    let secret_token = token("user-l", "session-l", store);
    let payload = json!({ "authToken": secret_token });
    let mut client = server.connect(store, Some(&payload)).await.unwrap();
    client.push_acked("p1", events(0, 2)).await;
    // The push's broadcast comes back to the pusher too, after its ack.
    client.recv_tag("WSMessage.PullRes").await;
    client
        .ws
        .close(Some(tungstenite::protocol::CloseFrame {
            code: tungstenite::protocol::frame::coding::CloseCode::Normal,
            reason: "bye".into(),
        }))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while logs.lines("socket closed", store).is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "no close line");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let opened = logs.lines("socket opened", store);
    assert_eq!(opened.len(), 1, "{opened:?}");
    let opened = &opened[0];
    assert_eq!(opened["level"], "INFO");
    assert_eq!(opened["span"]["user"], "user-l");
    assert_eq!(opened["span"]["session"], "session-l");
    assert_eq!(opened["fields"]["protocol"], "0.3");

    let closed = &logs.lines("socket closed", store)[0];
    assert_eq!(closed["level"], "INFO");
    assert_eq!(closed["span"]["user"], "user-l");
    assert_eq!(closed["span"]["session"], "session-l");
    assert_eq!(closed["span"]["conn"], opened["span"]["conn"]);
    let fields = &closed["fields"];
    assert_eq!(fields["protocol"], "0.3");
    assert_eq!(fields["close_code"], 1000);
    assert_eq!(fields["reason"], "client closed");
    assert_eq!(fields["frames_in"], 1, "{fields}");
    assert_eq!(fields["events_in"], 2, "{fields}");
    // The ack and the broadcast of the push to the pusher itself.
    assert_eq!(fields["frames_out"], 2, "{fields}");
    assert_eq!(fields["events_out"], 2, "{fields}");
    assert!(fields["duration_ms"].as_u64().is_some(), "{fields}");

    let everything = logs.text();
    assert!(
        !everything.contains(&secret_token),
        "a token reached the logs"
    );
    // Not even a part of it (the signature is the secret-bearing part).
    let signature = secret_token.rsplit('.').next().unwrap();
    assert!(!everything.contains(signature), "a token reached the logs");
    server.stop().await;
}

#[tokio::test]
async fn server_closes_are_logged_with_their_code() {
    let _serial = serial().await;
    let logs = captured();
    let mut server = TestServer::spawn(&[]).await;
    let store = "shutdown-logged";
    let mut client = server.client(store).await;
    client.push_acked("p1", events(0, 1)).await;
    server.trigger_shutdown();
    assert!(
        matches!(client.until_end().await, Ended::Closed(Some(frame)) if u16::from(frame.code) == 1001)
    );
    server.join().await;
    let closed = logs.lines("socket closed", store);
    assert_eq!(closed.len(), 1, "{closed:?}");
    assert_eq!(closed[0]["fields"]["close_code"], 1001);
    assert_eq!(closed[0]["fields"]["reason"], "server shutting down");
    assert_eq!(closed[0]["span"]["user"], shared::constants::DEV_USER_ID);
}

#[test]
fn an_unknown_log_format_is_refused_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_sync-worker"))
        .current_dir(dir.path())
        .env("LOG_FORMAT", "yaml")
        .env("PORT", "0")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("LOG_FORMAT"), "{stderr}");
    assert!(stderr.contains("expected text or json"), "{stderr}");
}

#[tokio::test]
async fn with_metrics_addr_metrics_move_to_their_own_listener() {
    let _serial = serial().await;
    // `run` leaves METRICS_ADDR to the binary, which serves it with `shared::metrics`.
    let server = TestServer::spawn(&[("METRICS_ADDR", "127.0.0.1:9")]).await;
    let main_port = reqwest::get(server.http("/metrics")).await.unwrap();
    assert_eq!(main_port.status(), 404);
    let listener = shared::net::bind("127.0.0.1:0").await.unwrap();
    let addr = axum::serve::Listener::local_addr(&listener).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let metrics = tokio::spawn(shared::metrics::serve(listener, async {
        let _ = stopped.await;
    }));
    let mut client = server.client("metrics-addr").await;
    client.push_acked("p1", events(0, 1)).await;
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("sync_pushes_acked_total"), "{text}");
    assert!(
        text.contains("# TYPE sync_push_commit_seconds histogram"),
        "{text}"
    );
    let other = reqwest::get(format!("http://{addr}/health")).await.unwrap();
    assert_eq!(
        other.status(),
        404,
        "the metrics listener serves only /metrics"
    );
    let _ = stop.send(());
    metrics.await.unwrap().unwrap();
    server.stop().await;
}

#[tokio::test]
async fn admin_actions_are_logged_and_counted_without_the_secret() {
    let _serial = serial().await;
    let logs = captured();
    let server = TestServer::spawn(&[("ADMIN_SECRET", ADMIN)]).await;
    let store = "admin-logged";
    let before = scrape(&server).await;
    let mut client = server.client(store).await;
    client.push_acked("p1", events(0, 1)).await;
    client
        .send(
            json!({"_tag": "WSMessage.AdminResetRoomReq", "requestId": "r", "adminSecret": ADMIN}),
        )
        .await;
    client.recv_tag("WSMessage.AdminResetRoomRes").await;
    let after = scrape(&server).await;
    assert_eq!(
        delta(
            &before,
            &after,
            r#"sync_admin_actions_total{action="reset"}"#
        ),
        1.0
    );
    let requested = logs.lines("admin action: store reset requested", store);
    assert_eq!(requested.len(), 1, "{requested:?}");
    assert_eq!(requested[0]["level"], "INFO");
    assert_eq!(requested[0]["fields"]["action"], "reset");
    assert_eq!(requested[0]["span"]["user"], shared::constants::DEV_USER_ID);
    assert!(
        !logs.text().contains(ADMIN),
        "the admin secret reached the logs"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_slow_consumer_kick_is_counted_and_logged() {
    let _serial = serial().await;
    let logs = captured();
    let server = TestServer::spawn(&[("OUTBOUND_QUEUE_LEN", "4")]).await;
    let store = "metrics-slow";
    let before = scrape(&server).await;
    let mut stalled = server.client(store).await;
    let mut writer = server.client(store).await;
    stalled.pull("s", None).await;
    let big_args = "y".repeat(2000);
    for i in 0..100u64 {
        let mut batch = events(i * 50, 50);
        for e in &mut batch {
            e["args"] = json!({ "blob": big_args });
        }
        // The writer reads its own ack and broadcast: only `stalled` falls behind.
        writer.push_acked(&format!("p{i}"), batch).await;
        writer.recv_tag("WSMessage.PullRes").await;
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let after = scrape(&server).await;
        if delta(&before, &after, "sync_slow_consumer_disconnects_total") == 1.0 {
            assert_eq!(
                delta(&before, &after, r#"sync_server_closes_total{code="1013"}"#),
                1.0
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no slow-consumer kick counted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    let closed = loop {
        let closed = logs.lines("socket closed", store);
        if let Some(line) = closed
            .into_iter()
            .find(|l| l["fields"]["close_code"] == 1013)
        {
            break line;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no close line for the kick"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        closed["fields"]["reason"],
        "slow consumer: outbound queue full"
    );
    drop(stalled);
    server.stop().await;
}

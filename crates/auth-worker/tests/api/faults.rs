//! PostgreSQL only: the database unreachable for 10 s under load (a proxy between the
//! nodes and the server drops every connection and refuses new ones; the shared server
//! is never touched), and every session of the scratch database terminated at once, as
//! a server restart does. Two nodes behind the proxy take signups and logins meanwhile.
//!
//! Requests in the outage fail with 503 `SERVICE_UNAVAILABLE` (never a success), `/ready`
//! says 503 meanwhile and 200 after, both nodes serve again by themselves, every signup
//! that succeeded can log in, a retried signup is either created or already there (never
//! twice), and cross-node change notices flow again.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use test_support::{FaultProxy, Outage};
use tokio::sync::watch;

use crate::helpers::{json_ok, Db, TestApp, STRONG_PASSWORD};

/// Short, so requests during the outage fail quickly (the default is 5 s).
const NODE_SETTINGS: &[(&str, &str)] = &[("AUTH_DB_ACQUIRE_TIMEOUT_SECONDS", "1")];
const WORKERS: usize = 3;

/// One answered request.
#[derive(Debug, Clone)]
struct Outcome {
    what: &'static str,
    email: String,
    status: StatusCode,
    code: Option<String>,
    retry_after: bool,
    at: Instant,
}

async fn outcome(what: &'static str, email: &str, response: reqwest::Response) -> Outcome {
    let status = response.status();
    let retry_after = response.headers().contains_key("retry-after");
    let body: Value = response.json().await.unwrap_or(Value::Null);
    Outcome {
        what,
        email: email.to_owned(),
        status,
        code: body["error"]["code"].as_str().map(str::to_owned),
        retry_after,
        at: Instant::now(),
    }
}

/// Signs up new accounts and logs them in, alternating between the nodes, until `stop`.
async fn work(
    worker: usize,
    nodes: [Arc<TestApp>; 2],
    stop: watch::Receiver<bool>,
    log: Arc<Mutex<Vec<Outcome>>>,
) {
    let mut n = 0;
    while !*stop.borrow() {
        n += 1;
        let node = &nodes[n % 2];
        let email = format!("w{worker}-{n}@example.com");
        let signed_up = outcome("signup", &email, node.signup(&email, STRONG_PASSWORD).await).await;
        let created = signed_up.status.is_success();
        log.lock().unwrap().push(signed_up);
        if created {
            let other = &nodes[(n + 1) % 2];
            let login = outcome("login", &email, other.login(&email, STRONG_PASSWORD).await).await;
            log.lock().unwrap().push(login);
        } else {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Polls `/ready` until it answers `want`; panics after `within`.
async fn wait_ready(app: &TestApp, want: u16, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let response = app.get("/ready").await;
        let status = response.status().as_u16();
        let body: Value = response.json().await.expect("JSON");
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

/// A change on `a` wakes a long poll on `b` at once (through `LISTEN/NOTIFY`, not the
/// once-a-second re-read); retried until `within`, as the listener may reconnect a
/// little after the pool.
async fn notices_flow(tag: &str, a: &TestApp, b: &TestApp, within: Duration) {
    let deadline = Instant::now() + within;
    for attempt in 0.. {
        let account = a
            .account(&format!("notice-{tag}-{attempt}@example.com"))
            .await;
        let head = b.feed("").await.head;
        let query = format!("after={head}&wait=10");
        let ((_, answered), logged_out) =
            tokio::join!(async { (b.feed(&query).await, Instant::now()) }, async {
                // Just past the poll's first re-read (see the cluster test).
                tokio::time::sleep(Duration::from_millis(1050)).await;
                json_ok(a.logout(&account.refresh).await).await;
                Instant::now()
            });
        if answered.saturating_duration_since(logged_out) < Duration::from_millis(600) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "cross-node notices did not come back within {within:?}"
        );
    }
}

/// Two nodes on `url` under load; `fault` runs meanwhile and returns the window in which
/// nothing may succeed (if any). Then checks what every request got.
async fn under_load<F, Fut>(url: &str, fault: F)
where
    F: FnOnce([Arc<TestApp>; 2]) -> Fut,
    Fut: std::future::Future<Output = Option<(Instant, Instant)>>,
{
    let a = Arc::new(TestApp::spawn_on(url.to_owned(), None, NODE_SETTINGS).await);
    let b = Arc::new(TestApp::spawn_on(url.to_owned(), None, NODE_SETTINGS).await);
    let nodes = [a.clone(), b.clone()];
    let (stop, stopped) = watch::channel(false);
    let log = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| tokio::spawn(work(w, nodes.clone(), stopped.clone(), log.clone())))
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let window = fault(nodes.clone()).await;
    let recovered = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.send_replace(true);
    for worker in workers {
        worker.await.expect("worker");
    }
    let log = log.lock().unwrap().clone();

    for entry in &log {
        let ok = entry.status.is_success();
        if let Some((from, to)) = window {
            assert!(
                !(ok && entry.at > from && entry.at < to),
                "{} {} succeeded while the database was unreachable",
                entry.what,
                entry.email
            );
        }
        if !ok {
            assert_eq!(
                (entry.status, entry.code.as_deref()),
                (StatusCode::SERVICE_UNAVAILABLE, Some("SERVICE_UNAVAILABLE")),
                "{entry:?}"
            );
            assert!(entry.retry_after, "a 503 says when to retry: {entry:?}");
        }
    }
    if let Some((from, to)) = window {
        let failed = log
            .iter()
            .filter(|e| e.at > from && e.at < to && !e.status.is_success())
            .count();
        assert!(
            failed >= WORKERS,
            "requests in the outage failed ({failed})"
        );
    }
    let served_after = log
        .iter()
        .filter(|e| e.at > recovered && e.status.is_success())
        .count();
    assert!(
        served_after >= WORKERS,
        "served again after the fault ({served_after})"
    );

    // Every acknowledged signup is there; every failed one is either there or not, and
    // retrying it creates it once or finds it.
    for entry in log.iter().filter(|e| e.what == "signup") {
        if entry.status.is_success() {
            json_ok(a.login(&entry.email, STRONG_PASSWORD).await).await;
        } else {
            let retried = b.signup(&entry.email, STRONG_PASSWORD).await.status();
            assert!(
                retried == StatusCode::OK || retried == StatusCode::CONFLICT,
                "{}: retry answered {retried}",
                entry.email
            );
            json_ok(a.login(&entry.email, STRONG_PASSWORD).await).await;
        }
    }
    notices_flow("ab", &a, &b, Duration::from_secs(10)).await;
    notices_flow("ba", &b, &a, Duration::from_secs(10)).await;
    drop(nodes);
    for app in [a, b] {
        Arc::into_inner(app).expect("sole owner").stop().await;
    }
}

async fn database_unreachable_for_10_s_under_load(db: Db) {
    let Db::Postgres(scratch) = &db else {
        unreachable!("PostgreSQL only");
    };
    let (proxy, proxied) = FaultProxy::in_front_of(&scratch.url).await.expect("proxy");
    let proxy = Arc::new(proxy);
    let switch = proxy.clone();
    under_load(&proxied, |[a, b]| async move {
        switch.cut(Outage::Refuse);
        let cut = Instant::now();
        let body = wait_ready(&a, 503, Duration::from_secs(5)).await;
        assert_eq!(body["storage"], "unavailable", "{body}");
        assert_eq!(body["status"], "not_ready");
        tokio::time::sleep(Duration::from_secs(10).saturating_sub(cut.elapsed())).await;
        assert_eq!(b.get("/ready").await.status(), 503);
        switch.restore();
        let restored = Instant::now();
        wait_ready(&a, 200, Duration::from_secs(10)).await;
        let body = wait_ready(&b, 200, Duration::from_secs(10)).await;
        assert_eq!(
            body,
            serde_json::json!({"status": "ready", "storage": "ok", "shuttingDown": false})
        );
        Some((cut + Duration::from_millis(500), restored))
    })
    .await;
}

async fn every_session_terminated_under_load(db: Db) {
    let Db::Postgres(scratch) = &db else {
        unreachable!("PostgreSQL only");
    };
    let scratch = scratch.clone();
    under_load(&scratch.url.clone(), |[a, b]| async move {
        let ended = scratch.terminate_connections().await;
        assert!(ended >= 2, "terminated {ended} sessions");
        wait_ready(&a, 200, Duration::from_secs(10)).await;
        wait_ready(&b, 200, Duration::from_secs(10)).await;
        None
    })
    .await;
}

postgres_tests!(
    database_unreachable_for_10_s_under_load,
    every_session_terminated_under_load,
);

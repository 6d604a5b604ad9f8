//! `GET /metrics` of the real service: requests by route template and status, failed
//! logins, rate-limit refusals and the argon2 queue must move with what the test does.
//!
//! A binary of its own: the metrics recorder is process-wide, so these tests run one at
//! a time ([`serial`]) and, with no other test in the process, assert exact deltas.

#[allow(dead_code)]
#[path = "api/backend.rs"]
mod backend;
#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;
pub(crate) use test_support::pg_scratch;

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use helpers::*;

async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: OnceLock<tokio::sync::Mutex<()>> = OnceLock::new();
    LOCK.get_or_init(|| tokio::sync::Mutex::new(()))
        .lock()
        .await
}

/// Every sample of a scrape, keyed by `name{labels}` as written.
async fn scrape(app: &TestApp) -> HashMap<String, f64> {
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("sample line");
            (series.to_owned(), value.parse().expect("sample value"))
        })
        .collect()
}

fn moved(before: &HashMap<String, f64>, after: &HashMap<String, f64>, series: &str) -> f64 {
    after.get(series).copied().unwrap_or(0.0) - before.get(series).copied().unwrap_or(0.0)
}

fn requests(route: &str, method: &str, status: u16) -> String {
    format!(r#"auth_http_requests_total{{route="{route}",method="{method}",status="{status}"}}"#)
}

#[tokio::test]
async fn requests_failed_logins_and_lockouts_move_the_metrics() {
    let _serial = serial().await;
    let app = TestApp::spawn_with(
        &Db::Sqlite,
        &[
            ("AUTH_LOGIN_MAX_FAILURES", "1"),
            ("AUTH_MAX_CONCURRENT_HASHES", "2"),
        ],
    )
    .await;
    let before = scrape(&app).await;

    let account = app.account("metrics@example.com").await;
    let wrong = app.login(&account.email, "Wr0ng!password").await;
    assert_eq!(wrong.status(), 401);
    let locked = app.login(&account.email, STRONG_PASSWORD).await;
    assert_eq!(locked.status(), 429);
    let members = format!("/instances/{}/members", account.home);
    let listed = app.get_as(&members, &account.access).await;
    assert_eq!(listed.status(), 200);
    assert_eq!(app.get("/no/such/route").await.status(), 404);

    let after = scrape(&app).await;
    let delta = |series: &str| moved(&before, &after, series);
    assert_eq!(delta(&requests("/signup", "POST", 200)), 1.0);
    assert_eq!(delta(&requests("/login", "POST", 401)), 1.0);
    assert_eq!(delta(&requests("/login", "POST", 429)), 1.0);
    // The route template, never the raw path with its ids.
    assert_eq!(delta(&requests("/instances/{id}/members", "GET", 200)), 1.0);
    assert_eq!(delta(&requests("unmatched", "GET", 404)), 1.0);
    assert!(
        !after.keys().any(|series| series.contains(&account.home)),
        "a raw path became a label"
    );
    assert_eq!(delta("auth_login_failures_total"), 1.0);
    assert_eq!(delta(r#"auth_rate_limited_total{limit="login"}"#), 1.0);
    // The signup's hash and the failed login's verification (the locked-out attempt is
    // refused before hashing).
    assert_eq!(delta("auth_argon2_seconds_count"), 2.0);
    assert_eq!(after["auth_argon2_queue_depth"], 0.0);
    assert_eq!(after["auth_argon2_in_progress"], 0.0);
    assert!(delta(r#"auth_http_request_duration_seconds_count{route="/login"}"#) >= 2.0);
    app.stop().await;
}

#[tokio::test]
async fn per_ip_refusals_are_counted() {
    let _serial = serial().await;
    let app = TestApp::spawn_with(&Db::Sqlite, &[("AUTH_RATE_LIMIT_PER_MINUTE", "1")]).await;
    let before = scrape(&app).await;
    assert_eq!(app.me("not-a-token").await.status(), 401);
    assert_eq!(app.me("not-a-token").await.status(), 429);
    let after = scrape(&app).await;
    assert_eq!(
        moved(&before, &after, r#"auth_rate_limited_total{limit="ip"}"#),
        1.0
    );
    assert_eq!(moved(&before, &after, &requests("/me", "GET", 429)), 1.0);
    app.stop().await;
}

#[tokio::test]
async fn argon2_queue_depth_shows_waiting_hashes() {
    let _serial = serial().await;
    let app = TestApp::spawn_with(&Db::Sqlite, &[("AUTH_MAX_CONCURRENT_HASHES", "1")]).await;
    // Unknown emails: each login still costs one verification, and none locks out.
    let logins: Vec<_> = (0..8)
        .map(|i| {
            let request = app.client.post(app.url("/login")).json(&serde_json::json!({
                "email": format!("nobody{i}@example.com"),
                "password": "Wr0ng!password",
            }));
            tokio::spawn(async move { request.send().await.expect("login").status() })
        })
        .collect();
    let logins = async {
        let mut statuses = Vec::new();
        for login in logins {
            statuses.push(login.await.expect("login task").as_u16());
        }
        statuses
    };
    let watch = async {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let samples = scrape(&app).await;
            if samples["auth_argon2_queue_depth"] >= 1.0 {
                return true;
            }
            if tokio::time::Instant::now() > deadline {
                return false;
            }
        }
    };
    let (statuses, seen_queue) = tokio::join!(logins, watch);
    assert!(statuses.iter().all(|status| *status == 401), "{statuses:?}");
    assert!(seen_queue, "eight logins on one hashing slot never queued");
    let after = scrape(&app).await;
    assert_eq!(after["auth_argon2_queue_depth"], 0.0);
    app.stop().await;
}

#[tokio::test]
async fn with_metrics_addr_the_api_port_does_not_serve_metrics() {
    let _serial = serial().await;
    // The binary serves METRICS_ADDR itself (shared::metrics::spawn_listener).
    let app = TestApp::spawn_with(&Db::Sqlite, &[("METRICS_ADDR", "127.0.0.1:9")]).await;
    assert_eq!(app.get("/metrics").await.status(), 404);
    app.stop().await;
}

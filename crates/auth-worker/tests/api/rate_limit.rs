//! Per-IP rate limit on the auth endpoints.

use crate::helpers::{assert_error, json_ok, Db, TestApp};

async fn retry_after(response: &reqwest::Response) -> u64 {
    response
        .headers()
        .get("retry-after")
        .expect("Retry-After header")
        .to_str()
        .unwrap()
        .parse()
        .expect("whole seconds")
}

async fn per_ip_limit_trips_at_exactly_the_configured_count(db: Db) {
    let app = TestApp::spawn_with(&db, &[("AUTH_RATE_LIMIT_PER_MINUTE", "5")]).await;
    // Mixed endpoints share the one per-IP budget.
    for i in 0..5 {
        let response = if i % 2 == 0 {
            app.logout("unknown").await
        } else {
            app.get("/me").await
        };
        assert_ne!(response.status(), 429, "request {} of 5 was limited", i + 1);
    }
    let limited = app.logout("unknown").await;
    let wait = retry_after(&limited).await;
    assert!((1..=60).contains(&wait), "{wait}");
    assert_error(limited, 429, "RATE_LIMITED").await;
    assert_error(app.login("a@b.co", "x").await, 429, "RATE_LIMITED").await;
    // Health checks are not auth endpoints and are never limited.
    json_ok(app.get("/health").await).await;
    app.stop().await;
}

async fn per_ip_limit_is_off_in_development_by_default(db: Db) {
    let app = TestApp::spawn(&db).await;
    for _ in 0..30 {
        json_ok(app.logout("unknown").await).await;
    }
    app.stop().await;
}

async fn forwarded_for_picks_the_bucket_only_behind_a_trusted_proxy(db: Db) {
    let send = |app: &TestApp, ip: &'static str| {
        app.client
            .post(app.url("/logout"))
            .header("x-forwarded-for", ip)
            .json(&serde_json::json!({ "refreshToken": "x" }))
            .send()
    };

    let trusted = TestApp::spawn_with(
        &db,
        &[("AUTH_RATE_LIMIT_PER_MINUTE", "2"), ("TRUST_PROXY", "true")],
    )
    .await;
    for _ in 0..2 {
        json_ok(send(&trusted, "198.51.100.1").await.unwrap()).await;
    }
    assert_error(
        send(&trusted, "198.51.100.1").await.unwrap(),
        429,
        "RATE_LIMITED",
    )
    .await;
    json_ok(send(&trusted, "198.51.100.2").await.unwrap()).await;
    trusted.stop().await;

    let untrusted = TestApp::spawn_with(&db, &[("AUTH_RATE_LIMIT_PER_MINUTE", "2")]).await;
    json_ok(send(&untrusted, "198.51.100.1").await.unwrap()).await;
    json_ok(send(&untrusted, "198.51.100.2").await.unwrap()).await;
    // A spoofed header does not buy a fresh budget: all three came from one socket IP.
    assert_error(
        send(&untrusted, "198.51.100.3").await.unwrap(),
        429,
        "RATE_LIMITED",
    )
    .await;
    untrusted.stop().await;
}

backend_tests!(
    per_ip_limit_trips_at_exactly_the_configured_count,
    per_ip_limit_is_off_in_development_by_default,
    forwarded_for_picks_the_bucket_only_behind_a_trusted_proxy,
);

//! CORS preflight and headers, GET /health and GET /ready.

use reqwest::Method;
use serde_json::{json, Value};
use sqlx::Connection as _;

use crate::helpers::{json_ok, Db, TestApp};

async fn preflight_answers_204_with_the_spec_headers(db: Db) {
    let app = TestApp::spawn(&db).await;
    for path in [
        "/signup",
        "/login",
        "/refresh",
        "/logout",
        "/me",
        "/instances",
    ] {
        let response = app
            .client
            .request(Method::OPTIONS, app.url(path))
            .header("origin", "http://localhost:5173")
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type, authorization",
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204, "{path}");
        let headers = response.headers();
        assert_eq!(headers["access-control-allow-origin"], "*");
        assert_eq!(
            headers["access-control-allow-methods"],
            "GET, POST, PATCH, DELETE, OPTIONS"
        );
        assert_eq!(
            headers["access-control-allow-headers"],
            "Content-Type, Authorization"
        );
    }
    // Plain responses (errors included) carry the origin too.
    let response = app
        .client
        .get(app.url("/nope"))
        .header("origin", "http://x.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    app.stop().await;
}

async fn listed_origins_are_echoed_and_others_get_no_allow_origin(db: Db) {
    let app = TestApp::spawn_with(
        &db,
        &[(
            "CORS_ALLOWED_ORIGINS",
            "https://app.example, https://admin.example",
        )],
    )
    .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(Method::OPTIONS, app.url("/login"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
    };
    let allowed = preflight("https://admin.example").await.unwrap();
    assert_eq!(allowed.status(), 204);
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://admin.example"
    );
    assert_eq!(allowed.headers()["vary"], "Origin");

    let refused = preflight("https://evil.example").await.unwrap();
    assert!(refused
        .headers()
        .get("access-control-allow-origin")
        .is_none());
    app.stop().await;
}

async fn health_reports_healthy_with_a_timestamp(db: Db) {
    let app = TestApp::spawn(&db).await;
    let body = json_ok(app.get("/health").await).await;
    assert_eq!(body["status"], "healthy");
    let timestamp = body["timestamp"].as_str().expect("timestamp");
    let parsed = chrono::DateTime::parse_from_rfc3339(timestamp).expect("ISO timestamp");
    let age = chrono::Utc::now().signed_duration_since(parsed);
    assert!(age.num_seconds().abs() < 60, "{timestamp}");
    app.stop().await;
}

/// Deletes the record of the latest applied migration, as if an older database had been
/// restored under this build.
async fn forget_latest_migration(database_url: &str) {
    const FORGET: &str = "DELETE FROM _sqlx_migrations \
        WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)";
    if database_url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(database_url).await.unwrap();
        sqlx::query(FORGET).execute(&mut conn).await.unwrap();
        conn.close().await.ok();
    } else {
        let mut conn = sqlx::PgConnection::connect(database_url).await.unwrap();
        sqlx::query(FORGET).execute(&mut conn).await.unwrap();
        conn.close().await.ok();
    }
}

async fn ready_says_whether_the_database_answers_and_is_migrated(db: Db) {
    let app = TestApp::spawn(&db).await;
    let response = app.get("/ready").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(
        body,
        json!({"status": "ready", "storage": "ok", "shuttingDown": false})
    );
    forget_latest_migration(&app.database_url()).await;
    let response = app.get("/ready").await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(
        body,
        json!({"status": "not_ready", "storage": "not_migrated", "shuttingDown": false})
    );
    // Still alive, all the same.
    assert_eq!(app.get("/health").await.status(), 200);
    app.stop().await;
}

backend_tests!(
    preflight_answers_204_with_the_spec_headers,
    listed_origins_are_echoed_and_others_get_no_allow_origin,
    health_reports_healthy_with_a_timestamp,
    ready_says_whether_the_database_answers_and_is_migrated,
);

//! `/health`, `/ready` and `/config.json`.

use serde_json::Value;

use crate::helpers::TestServer;

async fn get(server: &TestServer, path: &str) -> (u16, Value, Option<String>) {
    let response = reqwest::Client::new()
        .get(server.http(path))
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let cache = response
        .headers()
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, response.json().await.expect("JSON body"), cache)
}

#[tokio::test]
async fn health_and_ready_when_all_is_well() {
    let server = TestServer::spawn(&[]).await;
    let (status, body, _) = get(&server, "/health").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("healthy")));
    assert!(body["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
    let (status, body, _) = get(&server, "/ready").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ready");
    assert_eq!(body["storage"], "ok");
    // REQUIRE_AUTH=false: no feed to follow, which is no reason to be unready.
    assert_eq!(body["changeFeed"], "not_followed");
}

#[tokio::test]
async fn not_ready_while_the_change_feed_cannot_be_read() {
    let server = TestServer::spawn(&[
        ("REQUIRE_AUTH", "true"),
        // Nothing listens on port 1.
        ("AUTH_URL", "http://127.0.0.1:1"),
    ])
    .await;
    let (status, body, _) = get(&server, "/ready").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["storage"], "ok");
    assert_eq!(body["changeFeed"], "not_live");
    // Up, all the same.
    assert_eq!(get(&server, "/health").await.0, 200);
}

#[tokio::test]
async fn config_json_names_the_public_auth_url() {
    let server = TestServer::spawn(&[]).await;
    let (status, body, _) = get(&server, "/config.json").await;
    assert_eq!((status, body["code"].as_str()), (404, Some("NOT_FOUND")));

    // PUBLIC_AUTH_URL wins over AUTH_URL and over a config.json in the static folder.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        r#"{"authUrl":"http://stale"}"#,
    )
    .unwrap();
    let static_dir = dir.path().display().to_string();
    let server = TestServer::spawn(&[
        ("AUTH_URL", "http://10.1.2.3:8788"),
        ("PUBLIC_AUTH_URL", "https://auth.example.com/"),
        ("STATIC_DIR", &static_dir),
    ])
    .await;
    let (status, body, cache) = get(&server, "/config.json").await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        serde_json::json!({"authUrl": "https://auth.example.com"})
    );
    assert_eq!(cache.as_deref(), Some("no-cache"));
    // Without PUBLIC_AUTH_URL, AUTH_URL is what browsers are told.
    let server = TestServer::spawn(&[("AUTH_URL", "http://127.0.0.1:8788")]).await;
    assert_eq!(
        get(&server, "/config.json").await.1["authUrl"],
        "http://127.0.0.1:8788"
    );
}

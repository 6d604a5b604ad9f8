//! Connect: the 14 cells of the decision table, query errors, `GET /`, CORS, static files.

use std::time::Duration;

use chrono::Utc;
use serde_json::{json, Value};
use shared::constants::{DEV_USER_ID, INSECURE_DEV_TOKEN, SERVER_INTERNAL_ID};
use tokio_tungstenite::tungstenite;

use crate::helpers::*;

/// The seven token kinds of the table, as connect payloads (`None`: no payload).
fn token_kinds(server: &TestServer) -> Vec<(&'static str, Option<Value>)> {
    let keys = server.config.common.jwt_keys();
    let sign = |ago_secs: i64| {
        let at = Utc::now() - chrono::Duration::seconds(ago_secs);
        let claims = keys.access_claims(
            "user-42",
            "u@example.com",
            "sess-1",
            Duration::from_secs(900),
            at,
        );
        keys.sign_access_token(&claims).unwrap()
    };
    let foreign = shared::JwtKeys::new(&shared::secret::Secret::new("x".repeat(40)), "auth-worker");
    let forged = foreign
        .sign_access_token(&foreign.access_claims(
            "user-42",
            "u@x",
            "s",
            Duration::from_secs(900),
            Utc::now(),
        ))
        .unwrap();
    vec![
        (
            "valid",
            Some(json!({"instanceId": "i1", "authToken": sign(0)})),
        ),
        (
            "expired_within_grace",
            Some(json!({"authToken": sign(2 * 3600)})),
        ),
        (
            "expired_beyond_grace",
            Some(json!({"authToken": sign(3 * 86400)})),
        ),
        ("insecure", Some(json!({"authToken": INSECURE_DEV_TOKEN}))),
        ("bypass", Some(json!({"serverBypass": BYPASS}))),
        ("none", None),
        ("bad_signature", Some(json!({"authToken": forged}))),
    ]
}

/// Connects, pushes one event, pulls it back, and checks the recorded `pushed_by`.
async fn assert_accepted(server: &TestServer, cell: &str, payload: Option<&Value>, user: &str) {
    let store = format!("cell-{cell}");
    let mut client = server
        .connect(&store, payload)
        .await
        .unwrap_or_else(|e| panic!("cell {cell}: connect refused: {e}"));
    client.push_acked("p1", events(0, 1)).await;
    let chunks = client.pull("r1", None).await;
    assert_eq!(all_seqs(&chunks), vec![1], "cell {cell}");
    let stored = server.stored(&store).await;
    assert_eq!(stored.len(), 1, "cell {cell}");
    assert_eq!(stored[0].pushed_by, user, "cell {cell}: pushed_by");
}

async fn assert_rejected(
    server: &TestServer,
    cell: &str,
    payload: Option<&Value>,
    code: &str,
    message: &str,
) {
    let store = format!("cell-{cell}");
    match server.connect(&store, payload).await {
        Err(tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 401, "cell {cell}");
            let body: Value =
                serde_json::from_slice(response.body().as_deref().unwrap_or_default())
                    .expect("JSON body");
            assert_eq!(
                body,
                json!({"code": code, "message": message}),
                "cell {cell}"
            );
        }
        Err(e) => panic!("cell {cell}: unexpected error {e}"),
        Ok(_) => panic!("cell {cell}: upgraded but should be rejected"),
    }
    assert!(
        server.stored(&store).await.is_empty(),
        "cell {cell}: stored something"
    );
}

#[tokio::test]
async fn decision_table_with_require_auth_false() {
    let server = TestServer::spawn(&[("REQUIRE_AUTH", "false")]).await;
    let expected = [
        ("valid", "user-42"),
        ("expired_within_grace", "user-42"),
        ("expired_beyond_grace", DEV_USER_ID),
        ("insecure", DEV_USER_ID),
        ("bypass", SERVER_INTERNAL_ID),
        ("none", DEV_USER_ID),
        ("bad_signature", DEV_USER_ID),
    ];
    for ((cell, payload), (ecell, user)) in token_kinds(&server).into_iter().zip(expected) {
        assert_eq!(cell, ecell);
        assert_accepted(&server, cell, payload.as_ref(), user).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn decision_table_with_require_auth_true() {
    // The token table alone: any store opens (membership rules are in `access.rs`),
    // and a live feed keeps the grace period on.
    let feed = crate::feed::FeedServer::start(crate::tokens::keys()).await;
    let server = TestServer::spawn(&[
        ("REQUIRE_AUTH", "true"),
        ("STORE_ACCESS", "any-user"),
        ("AUTH_URL", &feed.url),
    ])
    .await;
    let kinds = token_kinds(&server);
    for (cell, payload) in kinds {
        let p = payload.as_ref();
        match cell {
            "valid" | "expired_within_grace" => assert_accepted(&server, cell, p, "user-42").await,
            "bypass" => assert_accepted(&server, cell, p, SERVER_INTERNAL_ID).await,
            "expired_beyond_grace" => {
                assert_rejected(
                    &server,
                    cell,
                    p,
                    "GRACE_PERIOD_EXPIRED",
                    "Token expired beyond grace period",
                )
                .await
            }
            "insecure" => {
                assert_rejected(
                    &server,
                    cell,
                    p,
                    "TOKEN_INVALID",
                    "Legacy token not allowed in production",
                )
                .await
            }
            "none" => {
                assert_rejected(&server, cell, p, "TOKEN_MISSING", "Authentication required").await
            }
            "bad_signature" => {
                assert_rejected(&server, cell, p, "TOKEN_INVALID", "Invalid JWT token").await
            }
            other => panic!("unknown cell {other}"),
        }
    }
    // The rest of the "invalid" row, and a wrong bypass treated as absent.
    for (i, payload) in [
        json!({"authToken": "garbage"}),
        json!({"authToken": "aGVsbG8.d29ybGQ.IQ"}),
        json!({"authToken": "dGhpcyBsb29rcyBsaWtlIGEgcmVmcmVzaCB0b2tlbg"}),
    ]
    .iter()
    .enumerate()
    {
        assert_rejected(
            &server,
            &format!("invalid-{i}"),
            Some(payload),
            "TOKEN_INVALID",
            "Invalid JWT token",
        )
        .await;
    }
    let wrong_bypass = json!({"serverBypass": "nope"});
    assert_rejected(
        &server,
        "wrong-bypass",
        Some(&wrong_bypass),
        "TOKEN_MISSING",
        "Authentication required",
    )
    .await;
    server.stop().await;
}

#[tokio::test]
async fn production_forces_auth_and_real_client_encoding_works() {
    let server = TestServer::spawn(&[
        ("ENVIRONMENT", "production"),
        ("REQUIRE_AUTH", "false"),
        ("CORS_ALLOWED_ORIGINS", "https://app.example"),
    ])
    .await;
    assert_rejected(
        &server,
        "prod-none",
        None,
        "TOKEN_MISSING",
        "Authentication required",
    )
    .await;

    // LiveStore's client encodes the payload twice (encodeURIComponent + URLSearchParams).
    let keys = server.config.common.jwt_keys();
    let mut claims =
        keys.access_claims("user-7", "e@x", "s7", Duration::from_secs(900), Utc::now());
    claims.mem.insert("prod".into(), shared::Role::Editor);
    let payload = json!({"authToken": keys.sign_access_token(&claims).unwrap()}).to_string();
    let url = format!(
        "ws://{}/base/path/websocket?storeId=prod&payload={}",
        server.addr,
        encode(&encode(&payload))
    );
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("double-encoded payload");
    let mut client = Client { ws };
    client.push_acked("p", events(0, 1)).await;
    assert_eq!(server.stored("prod").await[0].pushed_by, "user-7");
    server.stop().await;
}

#[tokio::test]
async fn bad_queries_are_400_without_upgrade() {
    let server = TestServer::spawn(&[]).await;
    for (query, message) in [
        ("", "storeId is required"),
        (
            "?storeId=",
            "storeId must be 1 to 256 characters without control characters",
        ),
        (
            "?storeId=s&payload=%7Bnot-json",
            "payload must be a URI-encoded JSON object",
        ),
    ] {
        let url = format!("ws://{}/websocket{query}", server.addr);
        match tokio_tungstenite::connect_async(url).await {
            Err(tungstenite::Error::Http(response)) => {
                assert_eq!(response.status().as_u16(), 400, "{query}");
                let body: Value =
                    serde_json::from_slice(response.body().as_deref().unwrap()).unwrap();
                assert_eq!(body, json!({"code": "INVALID_REQUEST", "message": message}));
            }
            other => panic!("{query}: expected 400, got {other:?}"),
        }
    }
    let long = "x".repeat(257);
    assert!(server.connect(&long, None).await.is_err());
    server.stop().await;
}

#[tokio::test]
async fn root_cors_and_unknown_paths() {
    let server = TestServer::spawn(&[]).await;
    let http = reqwest::Client::new();
    let root = http.get(server.http("/")).send().await.unwrap();
    assert_eq!(root.status(), 200);
    assert!(root.text().await.unwrap().contains("LiveStore"));

    let preflight = http
        .request(reqwest::Method::OPTIONS, server.http("/websocket"))
        .header("Origin", "http://localhost:5173")
        .header("Access-Control-Request-Method", "GET")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");

    let missing = http.get(server.http("/nope")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    // A plain GET (no upgrade) of the socket path is refused, never a 200.
    let plain = http
        .get(server.http("/websocket?storeId=s"))
        .send()
        .await
        .unwrap();
    assert!(plain.status().is_client_error());
    server.stop().await;
}

#[tokio::test]
async fn static_dir_is_served_beside_the_socket() {
    let web = tempfile::tempdir().unwrap();
    std::fs::write(web.path().join("index.html"), "<html>demo</html>").unwrap();
    std::fs::write(web.path().join("app.js"), "console.log(1)").unwrap();
    let dir = web.path().to_str().unwrap().to_owned();
    let server = TestServer::spawn(&[("STATIC_DIR", &dir)]).await;
    let http = reqwest::Client::new();
    let index = http
        .get(server.http("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(index, "<html>demo</html>");
    let js = http.get(server.http("/app.js")).send().await.unwrap();
    assert_eq!(js.status(), 200);
    let mut client = server.client("static").await;
    client.push_acked("p", events(0, 1)).await;
    server.stop().await;
}

#[tokio::test]
async fn a_static_dir_built_after_start_is_served_from_then_on() {
    let web = tempfile::tempdir().unwrap();
    let dist = web.path().join("dist");
    let server = TestServer::spawn(&[("STATIC_DIR", dist.to_str().unwrap())]).await;
    let http = reqwest::Client::new();
    let get = |path: &'static str| {
        let http = http.clone();
        let url = server.http(path);
        async move {
            let response = http.get(url).send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    // Not built yet: `/` describes the service, files are 404.
    assert_eq!(
        get("/").await,
        (200, sync_worker::routes::DESCRIPTION.to_owned())
    );
    assert_eq!(get("/app.js").await.0, 404);
    std::fs::create_dir(&dist).unwrap();
    std::fs::write(dist.join("index.html"), "<html>built later</html>").unwrap();
    std::fs::write(dist.join("app.js"), "console.log(2)").unwrap();
    assert_eq!(get("/").await, (200, "<html>built later</html>".to_owned()));
    assert_eq!(get("/app.js").await, (200, "console.log(2)".to_owned()));
    server.stop().await;
}

//! Access tokens with memberships, servers wired to a [`FeedServer`], and the checks
//! the access and revocation tests share.

use std::time::Duration;

use chrono::Utc;
use serde_json::{json, Value};
use shared::{JwtKeys, Role};
use tokio_tungstenite::tungstenite;

use crate::feed::FeedServer;
use crate::helpers::*;

/// The bound within which a revocation must reach a live socket.
pub const REVOCATION_BOUND: Duration = Duration::from_secs(2);

pub fn keys() -> JwtKeys {
    JwtKeys::new(&shared::secret::Secret::new(JWT_SECRET), "auth-worker")
}

/// An access token of `user` in session `sid` with the `mem`/`mv` claims, issued
/// `issued_ago` seconds ago with a 900 s lifetime (so > 900 means expired).
pub fn mint(user: &str, sid: &str, mem: &[(&str, Role)], mv: u64, issued_ago: i64) -> String {
    let keys = keys();
    let at = Utc::now() - chrono::Duration::seconds(issued_ago);
    let mut claims = keys.access_claims(user, "u@example.com", sid, Duration::from_secs(900), at);
    claims.mem = mem.iter().map(|(k, r)| ((*k).to_owned(), *r)).collect();
    claims.mv = mv;
    keys.sign_access_token(&claims).unwrap()
}

pub fn with_token(token: &str) -> Value {
    json!({ "authToken": token })
}

/// A `REQUIRE_AUTH=true` server following `feed`, with `extra` settings on top.
pub async fn secure_server(feed: &FeedServer, extra: &[(&str, &str)]) -> TestServer {
    let mut vars = vec![
        ("REQUIRE_AUTH", "true"),
        ("AUTH_URL", feed.url.as_str()),
        ("AUTH_FEED_WAIT_SECONDS", "5"),
        ("AUTH_FEED_RETRY_MAX_SECONDS", "1"),
        ("ADMIN_SECRET", ADMIN),
    ];
    vars.extend_from_slice(extra);
    TestServer::spawn(&vars).await
}

/// Connects, expecting a refusal before the upgrade: `(status, body)`.
pub async fn refused(server: &TestServer, store: &str, payload: &Value) -> (u16, Value) {
    match server.connect(store, Some(payload)).await {
        Err(tungstenite::Error::Http(response)) => {
            let body = serde_json::from_slice(response.body().as_deref().unwrap_or_default())
                .expect("JSON body");
            (response.status().as_u16(), body)
        }
        Err(e) => panic!("unexpected connect error {e}"),
        Ok(_) => panic!("connect to {store} upgraded but should be refused"),
    }
}

/// The code of a refusal body.
pub fn code(body: &Value) -> &str {
    body["code"].as_str().unwrap_or("<none>")
}

/// Waits at most [`REVOCATION_BOUND`] for the server to close `client`; returns the
/// close code and reason.
pub async fn closed_within_bound(client: &mut Client) -> (u16, String) {
    let ended = tokio::time::timeout(REVOCATION_BOUND, client.until_end())
        .await
        .expect("socket not closed within 2 s");
    match ended {
        Ended::Closed(Some(frame)) => (u16::from(frame.code), frame.reason.to_string()),
        other => panic!("expected a close frame, got {other:?}"),
    }
}

/// `GET /stores/{store}/events` with an optional bearer token: `(status, body)`.
pub async fn events_api(
    server: &TestServer,
    store: &str,
    query: &str,
    token: Option<&str>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .get(server.http(&format!("/stores/{}/events{query}", encode(store))));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("events request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON body"))
}

/// Polls `check` every 20 ms until it is true or `within` passes.
pub async fn eventually(within: Duration, mut check: impl AsyncFnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

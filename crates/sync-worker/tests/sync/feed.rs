//! A stand-in for auth-worker's change feed: a real HTTP server (axum on 127.0.0.1:0)
//! serving `ChangePage`s from a list the test appends to, with the long poll and the
//! service-token check of the real endpoint. It can be switched "down" (503) to test
//! outages.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use serde::Deserialize;
use shared::change_feed::{Change, ChangePage, ChangeRecord, CHANGE_FEED_PATH, MAX_PAGE};
use shared::JwtKeys;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

struct Inner {
    keys: JwtKeys,
    changes: Mutex<Vec<ChangeRecord>>,
    notify: Notify,
    down: AtomicBool,
    /// Requests answered with a page.
    polls: AtomicU64,
    /// Requests refused for a missing or bad service token.
    bad_tokens: AtomicU64,
}

pub struct FeedServer {
    pub url: String,
    inner: Arc<Inner>,
    handle: JoinHandle<()>,
}

#[derive(Deserialize)]
struct FeedQuery {
    after: u64,
    limit: Option<usize>,
    wait: Option<u64>,
}

impl FeedServer {
    /// Starts a feed that accepts service tokens signed with `keys`.
    pub async fn start(keys: JwtKeys) -> Self {
        let inner = Arc::new(Inner {
            keys,
            changes: Mutex::new(Vec::new()),
            notify: Notify::new(),
            down: AtomicBool::new(false),
            polls: AtomicU64::new(0),
            bad_tokens: AtomicU64::new(0),
        });
        let app = Router::new()
            .route(CHANGE_FEED_PATH, get(serve))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let handle = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { url, inner, handle }
    }

    /// Appends a change; returns its `seq`.
    pub fn push(&self, change: Change) -> u64 {
        let seq = {
            let mut changes = self.inner.changes.lock().unwrap();
            let seq = changes.len() as u64 + 1;
            changes.push(ChangeRecord {
                seq,
                at: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                change,
            });
            seq
        };
        self.inner.notify.notify_waiters();
        seq
    }

    /// `true`: every request (including waiting long polls) gets 503.
    pub fn set_down(&self, down: bool) {
        self.inner.down.store(down, Ordering::SeqCst);
        self.inner.notify.notify_waiters();
    }

    pub fn polls(&self) -> u64 {
        self.inner.polls.load(Ordering::SeqCst)
    }

    pub fn bad_tokens(&self) -> u64 {
        self.inner.bad_tokens.load(Ordering::SeqCst)
    }
}

impl Drop for FeedServer {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

async fn serve(
    State(inner): State<Arc<Inner>>,
    Query(query): Query<FeedQuery>,
    headers: HeaderMap,
) -> Response {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let valid = token.is_some_and(|t| {
        inner
            .keys
            .verify_service_token_at(t, Utc::now())
            .is_ok_and(|claims| claims.sub == "sync-worker")
    });
    if !valid {
        inner.bad_tokens.fetch_add(1, Ordering::SeqCst);
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let limit = query.limit.unwrap_or(MAX_PAGE).min(MAX_PAGE);
    let deadline =
        tokio::time::Instant::now() + Duration::from_secs(query.wait.unwrap_or(0).min(30));
    loop {
        let notified = inner.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if inner.down.load(Ordering::SeqCst) {
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
        let page = {
            let changes = inner.changes.lock().unwrap();
            ChangePage {
                changes: changes
                    .iter()
                    .filter(|c| c.seq > query.after)
                    .take(limit)
                    .cloned()
                    .collect(),
                head: changes.len() as u64,
            }
        };
        if !page.changes.is_empty() || tokio::time::Instant::now() >= deadline {
            inner.polls.fetch_add(1, Ordering::SeqCst);
            return Json(page).into_response();
        }
        let _ = tokio::time::timeout_at(deadline, notified).await;
    }
}

//! The background task that follows auth-worker's change feed
//! (`GET {AUTH_URL}/internal/changes`, see `shared::change_feed`).
//!
//! Each request carries a fresh service token. The first request after start (and any
//! request right after a full page) asks for no wait, so the node catches up at once;
//! afterwards it long-polls (`AUTH_FEED_WAIT_SECONDS`), so a change reaches the open
//! sockets as soon as auth-worker commits it. Failures are retried with a doubling pause
//! capped at `AUTH_FEED_RETRY_MAX_SECONDS`, and logged once per outage.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use shared::change_feed::{ChangePage, CHANGE_FEED_PATH, MAX_PAGE};
use shared::JwtKeys;
use tokio_util::sync::CancellationToken;

use super::Revocations;
use crate::config::FeedConfig;
use crate::hub::Hubs;

/// Service name in the service token's `sub`.
pub const SERVICE_NAME: &str = "sync-worker";
/// Lifetime of each service token (one per request).
pub const SERVICE_TOKEN_TTL: Duration = Duration::from_secs(60);
/// First pause after a failure.
const FIRST_RETRY: Duration = Duration::from_millis(250);
/// Added to the long-poll wait for the request timeout.
const REQUEST_SLACK: Duration = Duration::from_secs(10);

/// Why one poll failed (logged, never containing the token).
#[derive(Debug, thiserror::Error)]
enum PollError {
    #[error("request failed: {0}")]
    Request(#[from] reqwest::Error),
    #[error("feed answered HTTP {0}")]
    Status(u16),
    #[error("cannot sign a service token")]
    Signing,
}

/// Follows the feed until `shutdown`.
pub async fn run(
    revocations: Arc<Revocations>,
    hubs: Hubs,
    keys: JwtKeys,
    feed: FeedConfig,
    shutdown: CancellationToken,
) {
    let Some(base) = feed.auth_url.clone() else {
        return;
    };
    let client = match reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(feed.wait + REQUEST_SLACK)
        .build()
    {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "cannot build the change-feed HTTP client: revocations are not followed");
            return;
        }
    };
    let url = format!("{base}{CHANGE_FEED_PATH}");
    let mut retry = FIRST_RETRY;
    let mut failing = false;
    let mut wait_next = false;
    loop {
        let after = revocations.last_seq();
        let wait = if wait_next { feed.wait } else { Duration::ZERO };
        let poll = poll(&client, &url, &keys, after, wait);
        let result = tokio::select! {
            () = shutdown.cancelled() => return,
            result = poll => result,
        };
        match result {
            Ok(page) => {
                if failing {
                    tracing::info!("change feed reachable again");
                    failing = false;
                }
                retry = FIRST_RETRY;
                if page.head < after {
                    tracing::warn!(
                        head = page.head,
                        after,
                        "change feed numbering went backwards: reading it again from the start"
                    );
                    revocations.restart_feed();
                    wait_next = false;
                    continue;
                }
                let full = page.changes.len() >= MAX_PAGE;
                let last = page.changes.last().map_or(after, |c| c.seq);
                let caught_up = !full || last >= page.head;
                for store in revocations.apply_page(&page.changes, caught_up) {
                    tracing::warn!(%store, "instance deleted: deleting its store's events");
                    hubs.wipe(&store);
                }
                wait_next = caught_up;
            }
            Err(error) => {
                revocations.poll_failed();
                if !failing {
                    tracing::warn!(
                        %error,
                        "change feed unreachable: the grace period is suspended until it answers again"
                    );
                    failing = true;
                } else {
                    tracing::debug!(%error, "change feed still unreachable");
                }
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(retry) => {}
                }
                retry = (retry * 2).min(feed.retry_max);
                wait_next = false;
            }
        }
    }
}

async fn poll(
    client: &reqwest::Client,
    url: &str,
    keys: &JwtKeys,
    after: u64,
    wait: Duration,
) -> Result<ChangePage, PollError> {
    let token = keys
        .sign_service_token(SERVICE_NAME, SERVICE_TOKEN_TTL, Utc::now())
        .map_err(|_| PollError::Signing)?;
    let response = client
        .get(url)
        .query(&[
            ("after", after.to_string()),
            ("limit", MAX_PAGE.to_string()),
            ("wait", wait.as_secs().to_string()),
        ])
        .bearer_auth(token)
        .send()
        .await?;
    if !response.status().is_success() {
        return Err(PollError::Status(response.status().as_u16()));
    }
    Ok(response.json::<ChangePage>().await?)
}

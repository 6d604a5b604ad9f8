//! `GET /internal/changes?after=<seq>&limit=<n>&wait=<seconds>`: the change feed sync
//! nodes follow (`shared::change_feed`), with `Authorization: Bearer <service token>`.
//!
//! Answers the changes with `seq > after`, ascending, at most `limit` (default and most
//! `MAX_PAGE`; larger values are lowered to it). With none yet, waits up to `wait`
//! seconds (default 0, at most `MAX_WAIT`; larger values are lowered) for one: a local
//! commit wakes the wait at once (on PostgreSQL a commit on another node too, by its
//! notice), and the table is also re-read every second so commits by other auth-worker
//! processes on the same database are seen even without a notice (SQLite has none). Shutdown ends
//! waits early. Access tokens are refused (`INVALID_TOKEN`), like anything that is not a
//! valid, unexpired service token signed with the shared secret.

use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::Json;
use chrono::Utc;
use shared::change_feed::{ChangePage, MAX_PAGE, MAX_WAIT};
use tokio::time::Instant;

use crate::error::ApiError;
use crate::extract::BearerToken;
use crate::startup::AppState;

/// How often a waiting request re-reads the table (commits by other processes).
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// The query of one feed request, after defaults and bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedQuery {
    pub after: u64,
    pub limit: usize,
    pub wait: Duration,
}

impl FeedQuery {
    /// Parses `after`, `limit` and `wait` (unsigned integers; other parameters are
    /// ignored). A non-number or `limit=0` is `INVALID_REQUEST`.
    pub fn parse(query: Option<&str>) -> Result<Self, ApiError> {
        let mut parsed = Self {
            after: 0,
            limit: MAX_PAGE,
            wait: Duration::ZERO,
        };
        for pair in query
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty())
        {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let number = || {
                value.parse::<u64>().map_err(|_| {
                    ApiError::invalid_request(format!(
                        "Query parameter `{key}` must be a non-negative integer"
                    ))
                })
            };
            match key {
                "after" => parsed.after = number()?,
                "limit" => {
                    let limit = number()?;
                    if limit == 0 {
                        return Err(ApiError::invalid_request(
                            "Query parameter `limit` must be at least 1",
                        ));
                    }
                    parsed.limit = usize::try_from(limit).unwrap_or(MAX_PAGE).min(MAX_PAGE);
                }
                "wait" => parsed.wait = Duration::from_secs(number()?).min(MAX_WAIT),
                _ => {}
            }
        }
        Ok(parsed)
    }
}

pub async fn changes(
    State(state): State<AppState>,
    BearerToken(token): BearerToken,
    RawQuery(query): RawQuery,
) -> Result<Json<ChangePage>, ApiError> {
    state
        .jwt
        .verify_service_token_at(&token, Utc::now())
        .map_err(|_| ApiError::InvalidToken)?;
    let query = FeedQuery::parse(query.as_deref())?;
    let deadline = Instant::now() + query.wait;
    let mut head = state.store.subscribe_changes();
    loop {
        // Marked before the read: a commit after it wakes the wait below.
        head.mark_unchanged();
        let page = state.store.changes_after(query.after, query.limit).await?;
        let now = Instant::now();
        if !page.changes.is_empty() || now >= deadline || state.shutdown.is_cancelled() {
            return Ok(Json(page));
        }
        let nap = (deadline - now).min(POLL_INTERVAL);
        tokio::select! {
            woke = head.changed() => {
                if woke.is_err() {
                    // The store is going away; fall back to polling.
                    tokio::time::sleep(nap).await;
                }
            }
            () = tokio::time::sleep(nap) => {}
            () = state.shutdown.cancelled() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_defaults_bounds_and_errors() {
        let default = FeedQuery::parse(None).unwrap();
        assert_eq!(
            default,
            FeedQuery {
                after: 0,
                limit: MAX_PAGE,
                wait: Duration::ZERO
            }
        );
        let q = FeedQuery::parse(Some("after=7&limit=3&wait=2&other=x")).unwrap();
        assert_eq!((q.after, q.limit, q.wait), (7, 3, Duration::from_secs(2)));
        let big = FeedQuery::parse(Some("limit=999999&wait=3600")).unwrap();
        assert_eq!((big.limit, big.wait), (MAX_PAGE, MAX_WAIT));
        for bad in ["after=-1", "after=x", "limit=0", "wait=1.5", "limit="] {
            assert!(FeedQuery::parse(Some(bad)).is_err(), "{bad}");
        }
    }
}

//! `GET /stores/{storeId}/events?after=N&limit=M`: a store's events with their verified
//! authors, for members of the store's instance.
//!
//! `Authorization: Bearer <access token>`, the same access rules and revocations as a
//! socket connect (any role may read; `REQUIRE_AUTH=false`: open). Answers
//! `{"events":[{"seqNum","name","args","clientId","sessionId","createdAt","userId"}],"head"}`
//! with events `seqNum > after` (default 0), ascending, at most `limit` (default
//! [`DEFAULT_LIMIT`], at most [`MAX_LIMIT`]). Errors are `{"code","message"}`: 400
//! `INVALID_REQUEST`, 401 (`TOKEN_MISSING`, `TOKEN_INVALID`, `TOKEN_REVOKED`,
//! `GRACE_PERIOD_EXPIRED`), 403 `STORE_FORBIDDEN`, 500 `INTERNAL_ERROR`.

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use shared::SyncPayload;

use crate::connect::{decide, Rejection};
use crate::protocol::{iso_timestamp, MAX_SEQ_NUM};
use crate::storage::{StoreId, StoredEvent};
use crate::AppState;

/// Events per answer when `limit` is not given.
pub const DEFAULT_LIMIT: usize = 100;
/// Most events one answer holds.
pub const MAX_LIMIT: usize = 1000;

#[derive(Debug, Deserialize)]
struct EventsQuery {
    after: Option<String>,
    limit: Option<String>,
}

/// One event as this endpoint shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct EventView<'a> {
    seq_num: u64,
    name: &'a str,
    args: &'a RawValue,
    client_id: &'a str,
    session_id: &'a str,
    created_at: String,
    user_id: &'a str,
}

impl<'a> EventView<'a> {
    fn new(e: &'a StoredEvent) -> Self {
        Self {
            seq_num: e.seq_num,
            name: &e.name,
            args: e.args.as_deref().unwrap_or(null()),
            client_id: &e.client_id,
            session_id: &e.session_id,
            created_at: iso_timestamp(e.created_at),
            user_id: &e.pushed_by,
        }
    }
}

fn null() -> &'static RawValue {
    static NULL: std::sync::OnceLock<Box<RawValue>> = std::sync::OnceLock::new();
    NULL.get_or_init(|| RawValue::from_string("null".to_owned()).expect("null is JSON"))
}

fn internal() -> Response {
    let body = serde_json::json!({"code": "INTERNAL_ERROR", "message": "Internal error"});
    (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
}

/// Parses `after` and `limit`.
fn parse_query(raw: Option<&str>) -> Result<(u64, usize), Rejection> {
    let query: EventsQuery = serde_urlencoded_query(raw.unwrap_or(""))
        .ok_or_else(|| Rejection::bad_request("Invalid query string"))?;
    let after = match query.after.as_deref() {
        None => 0,
        Some(raw) => raw
            .parse::<u64>()
            .ok()
            .filter(|n| *n <= MAX_SEQ_NUM)
            .ok_or_else(|| Rejection::bad_request("after must be a non-negative integer"))?,
    };
    let limit = match query.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                Rejection::bad_request(format!("limit must be an integer from 1 to {MAX_LIMIT}"))
            })?,
    };
    Ok((after, limit))
}

fn serde_urlencoded_query(raw: &str) -> Option<EventsQuery> {
    let uri: http::Uri = format!("/?{raw}").parse().ok()?;
    axum::extract::Query::<EventsQuery>::try_from_uri(&uri)
        .ok()
        .map(|q| q.0)
}

/// The bearer token of `Authorization`, if any (an empty or non-Bearer header is none).
fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
        .filter(|t| !t.is_empty())
}

/// The handler of `GET /stores/{storeId}/events`.
pub async fn list(
    State(state): State<AppState>,
    Path(raw_store): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let store = match StoreId::parse(&raw_store) {
        Ok(store) => store,
        Err(e) => return Rejection::bad_request(e.to_string()).into_response(),
    };
    let (after, limit) = match parse_query(query.as_deref()) {
        Ok(q) => q,
        Err(rejection) => return rejection.into_response(),
    };
    let payload = bearer(&headers).map(|token| SyncPayload {
        auth_token: Some(token),
        ..SyncPayload::default()
    });
    let credential = match decide(payload.as_ref(), &state.auth, Utc::now()) {
        Ok(credential) => credential,
        Err(rejection) => return rejection.into_response(),
    };
    state.revocations.wait_first_sync().await;
    if let Err(rejection) = state.revocations.check(&credential, &store) {
        tracing::info!(%store, code = rejection.code, "events request refused");
        return rejection.into_response();
    }
    let head = match state.log.head(&store).await {
        Ok(head) => head,
        Err(error) => {
            tracing::error!(%store, %error, "events: cannot read the head");
            return internal();
        }
    };
    let events = if after >= head {
        Vec::new()
    } else {
        match state.log.read_range(&store, after, limit).await {
            Ok(events) => events,
            Err(error) => {
                tracing::error!(%store, %error, "events: cannot read");
                return internal();
            }
        }
    };
    let views: Vec<EventView<'_>> = events.iter().map(EventView::new).collect();
    Json(serde_json::json!({ "events": views, "head": head })).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_defaults_and_bounds() {
        assert_eq!(parse_query(None).unwrap(), (0, DEFAULT_LIMIT));
        assert_eq!(parse_query(Some("after=5&limit=1000")).unwrap(), (5, 1000));
        for bad in ["after=-1", "after=x", "limit=0", "limit=1001", "limit=1.5"] {
            let r = parse_query(Some(bad)).unwrap_err();
            assert_eq!(
                (r.status, r.code),
                (StatusCode::BAD_REQUEST, "INVALID_REQUEST"),
                "{bad}"
            );
        }
    }

    #[test]
    fn bearer_parsing() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(bearer(&h).as_deref(), Some("abc"));
        h.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, "Bearer ".parse().unwrap());
        assert_eq!(bearer(&h), None);
    }
}

//! CORS as the SPEC states it: any `OPTIONS` request is a preflight answered `204` with
//! the allowed origin, methods `GET, POST, PATCH, DELETE, OPTIONS` (the SPEC lists `GET, POST,
//! OPTIONS`; the instance routes add `PATCH` and `DELETE`) and headers
//! `Content-Type, Authorization`; other responses carry the allowed origin.
//!
//! Written out rather than using `tower_http::cors` because that layer answers
//! preflights with `200` and passes an `OPTIONS` without preflight headers to the router.

use axum::extract::{Request, State};
use axum::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_MAX_AGE, ORIGIN, VARY,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use shared::config::CorsOrigins;

use crate::startup::AppState;

pub const ALLOWED_METHODS: &str = "GET, POST, PATCH, DELETE, OPTIONS";
pub const ALLOWED_HEADERS: &str = "Content-Type, Authorization";
/// How long browsers may cache a preflight answer.
pub const PREFLIGHT_MAX_AGE_SECS: u32 = 86_400;

pub async fn cors(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let origins = &state.config.common.cors_allowed_origins;
    let allow_origin = allowed_origin(origins, request.headers());
    let mut response = if request.method() == Method::OPTIONS {
        let mut preflight = StatusCode::NO_CONTENT.into_response();
        let headers = preflight.headers_mut();
        headers.insert(
            ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(ALLOWED_METHODS),
        );
        headers.insert(
            ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(ALLOWED_HEADERS),
        );
        headers.insert(
            ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from(PREFLIGHT_MAX_AGE_SECS),
        );
        preflight
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    if let Some(origin) = allow_origin {
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
    if matches!(origins, CorsOrigins::List(_)) {
        // The answer depends on the request's Origin: caches must key on it.
        headers.append(VARY, HeaderValue::from_static("Origin"));
    }
    response
}

/// `*` for any origin; otherwise the request's origin if it is listed, else nothing.
fn allowed_origin(origins: &CorsOrigins, headers: &HeaderMap) -> Option<HeaderValue> {
    match origins {
        CorsOrigins::Any => Some(HeaderValue::from_static("*")),
        CorsOrigins::List(list) => {
            let origin = headers.get(ORIGIN)?;
            let text = origin.to_str().ok()?.trim_end_matches('/');
            list.iter()
                .any(|allowed| allowed == text)
                .then(|| origin.clone())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_origins_are_echoed_others_get_nothing() {
        let list = CorsOrigins::List(vec!["https://app.example".into()]);
        let mut headers = HeaderMap::new();
        assert_eq!(allowed_origin(&list, &headers), None);
        headers.insert(ORIGIN, "https://evil.example".parse().unwrap());
        assert_eq!(allowed_origin(&list, &headers), None);
        headers.insert(ORIGIN, "https://app.example".parse().unwrap());
        assert_eq!(
            allowed_origin(&list, &headers),
            Some(HeaderValue::from_static("https://app.example"))
        );
        assert_eq!(
            allowed_origin(&CorsOrigins::Any, &HeaderMap::new()),
            Some(HeaderValue::from_static("*"))
        );
    }
}

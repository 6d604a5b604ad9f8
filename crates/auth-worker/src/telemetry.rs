//! Request tracing: every request gets an `x-request-id` (kept if the client sent one,
//! echoed in the response) and a span `request{request_id, method, path}` that all logs
//! of the request, including those from the hashing threads, are recorded in.
//!
//! Only the path is recorded, never the query, headers or body, so tokens and passwords
//! cannot reach the logs through this layer.

use axum::body::Body;
use axum::http::Request;
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tower_http::LatencyUnit;
use tracing::{Level, Span};

/// Header carrying the request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

type MakeSpan = fn(&Request<Body>) -> Span;

/// The trace layer. 5xx bodies are logged once, by `ApiError`, so `on_failure` is off.
pub fn trace_layer(
) -> TraceLayer<SharedClassifier<ServerErrorsAsFailures>, MakeSpan, (), DefaultOnResponse, (), (), ()>
{
    TraceLayer::new_for_http()
        .make_span_with(request_span as MakeSpan)
        .on_request(())
        .on_response(
            DefaultOnResponse::new()
                .level(Level::INFO)
                .latency_unit(LatencyUnit::Micros),
        )
        .on_body_chunk(())
        .on_eos(())
        .on_failure(())
}

fn request_span(request: &Request<Body>) -> Span {
    let request_id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        request_id,
        method = %request.method(),
        path = request.uri().path(),
        user_id = tracing::field::Empty,
    )
}

//! auth-worker's Prometheus series (rendered by `GET /metrics`, see `shared::metrics`):
//! requests by route template and status, failed logins, rate-limit refusals and the
//! argon2 queue. Request volume here is bounded by argon2, so the series are looked up
//! by name on each use rather than cached.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};

/// The `route` label of a request that matched no route (404s, unknown paths): raw
/// paths are never labels, or any client could create series at will.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Installs the process-wide recorder and describes this service's series.
pub fn install() {
    shared::metrics::install();
    describe_counter!(
        "auth_http_requests_total",
        "HTTP requests answered, by route template, method and status"
    );
    describe_histogram!(
        "auth_http_request_duration_seconds",
        Unit::Seconds,
        "Time to answer one HTTP request, by route template"
    );
    describe_counter!(
        "auth_login_failures_total",
        "Logins refused for a wrong email or password"
    );
    describe_counter!(
        "auth_rate_limited_total",
        "Requests refused with 429, by limit (ip, login)"
    );
    describe_gauge!(
        "auth_argon2_queue_depth",
        "Password hashes and verifications waiting for a hashing slot"
    );
    describe_gauge!(
        "auth_argon2_in_progress",
        "Password hashes and verifications running"
    );
    describe_histogram!(
        "auth_argon2_seconds",
        Unit::Seconds,
        "One argon2 hash or verification, queue wait excluded"
    );
    // Present from the start, so a dashboard shows 0 rather than no data.
    metrics::gauge!("auth_argon2_queue_depth").set(0.0);
    metrics::gauge!("auth_argon2_in_progress").set(0.0);
    metrics::counter!("auth_login_failures_total").increment(0);
}

/// Middleware: counts every response by its route template (`/instances/{id}`), method
/// and status, and times it.
pub async fn track(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED_ROUTE.to_owned(), |path| path.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_str().to_owned();
    metrics::histogram!("auth_http_request_duration_seconds", "route" => route.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!(
        "auth_http_requests_total",
        "route" => route,
        "method" => method,
        "status" => status,
    )
    .increment(1);
    response
}

/// A login refused for a wrong email or password.
pub fn login_failed() {
    metrics::counter!("auth_login_failures_total").increment(1);
}

/// A request refused by a rate limit (`limit`: `ip` or `login`).
pub fn rate_limited(limit: &'static str) {
    metrics::counter!("auth_rate_limited_total", "limit" => limit).increment(1);
}

/// Counts one argon2 job through the queue: waiting while it exists, then running
/// after [`Argon2Job::started`]. Dropping it (also on a cancelled request) undoes both.
pub struct Argon2Job {
    running: Option<Instant>,
}

impl Argon2Job {
    /// A job starts waiting for a hashing slot.
    pub fn queued() -> Self {
        metrics::gauge!("auth_argon2_queue_depth").increment(1.0);
        Self { running: None }
    }

    /// The job got its slot and runs.
    pub fn started(&mut self) {
        if self.running.is_none() {
            metrics::gauge!("auth_argon2_queue_depth").decrement(1.0);
            metrics::gauge!("auth_argon2_in_progress").increment(1.0);
            self.running = Some(Instant::now());
        }
    }
}

impl Drop for Argon2Job {
    fn drop(&mut self) {
        match self.running {
            None => metrics::gauge!("auth_argon2_queue_depth").decrement(1.0),
            Some(started) => {
                metrics::gauge!("auth_argon2_in_progress").decrement(1.0);
                metrics::histogram!("auth_argon2_seconds").record(started.elapsed().as_secs_f64());
            }
        }
    }
}

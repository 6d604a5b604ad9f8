//! Prometheus metrics for both services: one process-wide recorder from
//! `metrics-exporter-prometheus`, and the `GET /metrics` handler that renders it.
//!
//! The `metrics` facade has one global recorder per process, so the recorder is
//! installed once ([`handle`], behind a `OnceLock`) and every app of the process renders
//! from the same handle. `dev-stack` (both services in one process) therefore serves the
//! union of both services' series on each `/metrics`; their names never collide (`sync_`
//! and `auth_` prefixes). Tests that spawn several apps in one process see the counters
//! of all of them: they assert on deltas taken around their own actions.
//!
//! Metric handles (`metrics::Counter` and friends) resolved before the recorder exists
//! are no-ops forever, so every service calls [`install`] before resolving its handles.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::net::ServiceListener;

/// The path both services serve metrics on.
pub const METRICS_PATH: &str = "/metrics";

/// Buckets of every `*_seconds` histogram: 100 µs to 10 s, covering an in-memory commit
/// as well as a slow PostgreSQL round trip or an argon2 verification.
const SECONDS_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// How often recorded histogram samples are folded into their buckets. Between scrapes
/// the recorder keeps raw samples, so without this a node nobody scrapes would grow
/// (at 80k pushes a second, one second of samples is under 1 MiB per histogram).
const UPKEEP_INTERVAL: Duration = Duration::from_secs(1);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's Prometheus handle, installing the global recorder on first use.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
            .expect("the bucket list is not empty");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            // Only an embedding program that installed its own recorder gets here; our
            // series then go to that recorder and this handle renders nothing.
            tracing::warn!("a metrics recorder was already installed: /metrics will be empty");
        }
        let upkeep = handle.clone();
        let spawned = std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || loop {
                std::thread::sleep(UPKEEP_INTERVAL);
                upkeep.run_upkeep();
            });
        if let Err(error) = spawned {
            tracing::warn!(%error, "cannot start the metrics upkeep thread");
        }
        handle
    })
}

/// Installs the process-wide recorder (idempotent). Call before resolving handles.
pub fn install() {
    handle();
}

/// The current metrics in the Prometheus text exposition format.
pub fn render() -> String {
    let handle = handle();
    // Fold pending histogram samples in, so a scrape right after an action sees it.
    handle.run_upkeep();
    handle.render()
}

/// `GET /metrics`: [`render`] as `text/plain; version=0.0.4`.
pub async fn endpoint() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        render(),
    )
        .into_response()
}

/// Serves only `GET /metrics` on `listener` (the `METRICS_ADDR` listener) until
/// `shutdown` completes.
pub async fn serve(
    listener: ServiceListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    install();
    let app = Router::new().route(METRICS_PATH, get(endpoint));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Binds `addr` and serves metrics there in the background for the life of the process;
/// the error names the address when it cannot be bound.
pub async fn spawn_listener(addr: std::net::SocketAddr) -> Result<(), String> {
    let listener = crate::net::bind(addr)
        .await
        .map_err(|error| format!("cannot bind METRICS_ADDR {addr}: {error}"))?;
    tracing::info!("metrics on http://{addr}{METRICS_PATH}");
    tokio::spawn(async move {
        if let Err(error) = serve(listener, std::future::pending()).await {
            tracing::error!(%error, "metrics listener failed");
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_recorded_series() {
        super::install();
        let counter = metrics::counter!("shared_metrics_selftest_total", "kind" => "unit");
        counter.increment(3);
        metrics::histogram!("shared_metrics_selftest_seconds").record(0.002);
        let text = super::render();
        assert!(
            text.contains("shared_metrics_selftest_total{kind=\"unit\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("shared_metrics_selftest_seconds_bucket{le=\"0.0025\"} 1"),
            "{text}"
        );
    }
}

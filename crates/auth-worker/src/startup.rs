//! Wiring: the shared application state, the router with its layers, and `run`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::middleware;
use axum::routing::{get, patch, post};
use axum::Router;
use shared::change_feed::CHANGE_FEED_PATH;
use shared::net::ServiceListener;
use shared::JwtKeys;
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

use crate::config::AuthConfig;
use crate::hashing::PasswordHasher;
use crate::login_throttle::{LoginThrottle, ThrottleConfig};
use crate::rate_limit::{self, IpRateLimiter};
use crate::storage::AuthStore;
use crate::{cors, routes, telemetry};

/// How often idle rate-limit entries, long-expired refresh tokens and changes past their
/// retention are dropped.
const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(60);

/// Everything the handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<AuthConfig>,
    pub store: AuthStore,
    pub hasher: PasswordHasher,
    pub jwt: Arc<JwtKeys>,
    /// `None` when the per-IP limit is off.
    pub ip_limiter: Option<Arc<IpRateLimiter>>,
    /// Failed-login counts per (account, client IP) and per account.
    pub login_throttle: Arc<LoginThrottle>,
    /// Cancelled when shutdown starts, so change-feed long polls answer at once instead
    /// of holding the graceful shutdown for up to `MAX_WAIT`.
    pub shutdown: CancellationToken,
}

impl AppState {
    /// Opens and migrates the database and prepares the hasher (one dummy hash).
    pub async fn build(config: AuthConfig) -> anyhow::Result<Self> {
        crate::metrics::install();
        let store = AuthStore::connect_with(&config.database_url, &config.postgres)
            .await?
            .with_limits(config.workspaces);
        let hasher = PasswordHasher::new(config.hashing).await?;
        let limits = config.rate_limits;
        Ok(Self {
            jwt: Arc::new(config.common.jwt_keys()),
            ip_limiter: limits
                .per_ip_per_minute
                .map(|n| Arc::new(IpRateLimiter::per_minute(n))),
            login_throttle: Arc::new(LoginThrottle::new(ThrottleConfig {
                free: limits.login_max_failures.get(),
                window: limits.login_failure_window,
                backoff_max: limits.login_backoff_max,
                delay_max: limits.login_delay_max,
            })),
            config: Arc::new(config),
            store,
            hasher,
            shutdown: CancellationToken::new(),
        })
    }
}

/// The HTTP API. Needs `ConnectInfo<SocketAddr>` for per-IP limits (see [`run`]).
pub fn router(state: AppState) -> Router {
    let auth_routes = Router::new()
        .route("/signup", post(routes::signup))
        .route("/login", post(routes::login))
        .route("/refresh", post(routes::refresh))
        .route("/logout", post(routes::logout))
        .route("/me", get(routes::me))
        .route(
            "/instances",
            get(routes::list_instances).post(routes::create_instance),
        )
        .route(
            "/instances/{id}",
            patch(routes::rename_instance).delete(routes::delete_instance),
        )
        .route(
            "/instances/{id}/members",
            get(routes::list_members).post(routes::add_member),
        )
        .route(
            "/instances/{id}/members/{userId}",
            patch(routes::set_member_role).delete(routes::remove_member),
        )
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            rate_limit::limit_per_ip,
        ));
    // Outside the per-IP limit (a scraper polls it); with METRICS_ADDR set, metrics live
    // on their own listener only.
    let metrics = match state.config.common.metrics_addr {
        None => Router::new().route(
            shared::metrics::METRICS_PATH,
            get(shared::metrics::endpoint),
        ),
        Some(_) => Router::new(),
    };
    Router::new()
        .merge(auth_routes)
        .merge(metrics)
        .route("/health", get(routes::health))
        .route("/ready", get(routes::ready))
        // Service-to-service, outside the per-IP limit: a few sync nodes long-poll it.
        .route(CHANGE_FEED_PATH, get(routes::changes))
        .fallback(routes::not_found)
        // Must follow every `route`: it applies to the routes registered before it.
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(
            ServiceBuilder::new()
                // Outermost: counts every answer, the limiter's 429s and CORS included.
                .layer(middleware::from_fn(crate::metrics::track))
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(telemetry::trace_layer())
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(middleware::from_fn_with_state(state.clone(), cors::cors)),
        )
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` completes, then finishes in-flight
/// requests and closes the database.
pub async fn run(
    config: AuthConfig,
    listener: ServiceListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let state = AppState::build(config).await?;
    let closing = state.shutdown.clone();
    let shutdown = async move {
        shutdown.await;
        closing.cancel();
    };
    let maintenance = tokio::spawn(maintenance(state.clone(), MAINTENANCE_INTERVAL));
    let addr =
        axum::serve::Listener::local_addr(&listener).context("listener has no local address")?;
    tracing::info!("listening on {addr}");
    let served = axum::serve(
        listener,
        router(state.clone()).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    maintenance.abort();
    state.store.close().await;
    tracing::info!("auth-worker stopped");
    served.context("auth-worker server failed")
}

/// Bounds what grows with traffic: limiter entries, stored refresh tokens and the change
/// feed. A token is deleted one refresh-TTL after it expired, so until then it still gets
/// its precise answer (`TOKEN_EXPIRED`, or reuse detection for a rotated one). A change
/// is deleted after `shared::change_feed::retention` (access-token lifetime plus grace
/// period plus a minute): by then every token it could override is refused anyway, so a
/// sync node reading from `after=0` still gets every change that matters.
async fn maintenance(state: AppState, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Some(ip) = &state.ip_limiter {
            ip.prune();
        }
        state.login_throttle.prune();
        let ttl_ms =
            i64::try_from(state.config.common.refresh_token_ttl.as_millis()).unwrap_or(i64::MAX);
        let cutoff = chrono::Utc::now().timestamp_millis().saturating_sub(ttl_ms);
        match state
            .store
            .purge_refresh_tokens_expired_before(cutoff)
            .await
        {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "purged long-expired refresh tokens"),
            Err(e) => tracing::warn!(error = %e, "refresh token purge failed"),
        }
        let common = &state.config.common;
        let retention =
            shared::change_feed::retention(common.access_token_ttl, common.grace_period);
        let cutoff = chrono::Utc::now()
            - chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
        match state.store.purge_changes_before(cutoff).await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "purged changes past their retention"),
            Err(e) => tracing::warn!(error = %e, "change feed purge failed"),
        }
    }
}

//! sync-worker: a LiveStore `sync-cf` 0.3.1 and 0.4 compatible sync server.
//!
//! A WebSocket on any path ending in `/websocket` (`?storeId=...&payload=...`), admitted
//! by the JWT decision table of [`connect::auth`], speaking the protocol of
//! [`protocol`] (see `PROTOCOL.md`), with per-store [`hub`]s in front of a durable
//! [`storage::EventLog`]. Store access follows the token's memberships and the auth
//! change feed ([`connect::access`], [`revocation`]).

pub mod config;
pub mod connect;
pub mod connection;
pub mod events_api;
#[doc(hidden)]
pub mod fuzzing;
pub mod health;
pub mod hub;
pub mod identity;
pub mod limits;
pub mod metrics;
pub mod protocol;
pub mod revocation;
pub mod routes;
pub mod storage;
pub mod tools;

use std::future::{Future, IntoFuture};
use std::ops::Deref;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use shared::net::ServiceListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use config::{SyncConfig, SyncLimits};
pub use routes::router;

use connect::access::AccessRules;
use connect::AuthSettings;
use hub::{HubLimits, Hubs};
use revocation::Revocations;
use storage::EventLog;

/// Shared state of the service; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<AppInner>);

/// What [`AppState`] holds.
pub struct AppInner {
    pub config: SyncConfig,
    pub auth: AuthSettings,
    pub log: Arc<dyn EventLog>,
    pub hubs: Hubs,
    /// Feed knowledge and the registry of open sockets.
    pub revocations: Arc<Revocations>,
    /// Cancelled when the server starts shutting down; every connection watches it.
    pub shutdown: CancellationToken,
    /// Tracks connection tasks so shutdown can wait for them.
    pub tracker: TaskTracker,
    pub next_connection_id: AtomicU64,
    /// Sockets held by the node, per client IP and per user.
    pub caps: Arc<limits::ConnectionCaps>,
}

impl Deref for AppState {
    type Target = AppInner;

    fn deref(&self) -> &AppInner {
        &self.0
    }
}

impl AppState {
    pub fn new(config: SyncConfig, log: Arc<dyn EventLog>) -> Self {
        // The recorder and the hot-path handles exist before the first connection.
        metrics::metrics();
        let hubs = Hubs::new(
            log.clone(),
            HubLimits {
                pipeline_depth: config.limits.store_pipeline_depth,
                queue_bytes: config.limits.connections.store_queue_bytes,
            },
        );
        let revocations = Arc::new(Revocations::new(
            AccessRules {
                require_auth: config.common.require_auth,
                store_access: config.store_access,
            },
            config.feed.clone(),
            shared::change_feed::retention(
                config.common.access_token_ttl,
                config.common.grace_period,
            ),
        ));
        let caps = &config.limits.connections;
        let caps =
            limits::ConnectionCaps::new(caps.max_connections, caps.max_per_ip, caps.max_per_user);
        Self(Arc::new(AppInner {
            caps,
            auth: AuthSettings::from_common(&config.common),
            revocations,
            config,
            log,
            hubs,
            shutdown: CancellationToken::new(),
            tracker: TaskTracker::new(),
            next_connection_id: AtomicU64::new(1),
        }))
    }
}

/// Starts following the change feed when auth is enforced, or says why not.
fn start_feed(state: &AppState) {
    let common = &state.config.common;
    if !common.require_auth {
        return;
    }
    if state.config.store_access == config::StoreAccess::AnyUser {
        tracing::warn!(
            "STORE_ACCESS=any-user: any valid token opens any store; unsafe for multi-tenant data"
        );
    }
    if state.config.feed.auth_url.is_none() {
        tracing::warn!(
            "AUTH_URL is not set: revocations (logout, removal, deletion) do not reach this node, \
             and the grace period is suspended (only unexpired access tokens open sockets)"
        );
        return;
    }
    let task = revocation::poller::run(
        state.revocations.clone(),
        state.hubs.clone(),
        common.jwt_keys(),
        state.config.feed.clone(),
        state.shutdown.clone(),
    );
    state.tracker.spawn(task);
}

/// Opens the event log, serves on `listener` until `shutdown` completes, then: stops
/// accepting, lets in-flight pushes commit and be acknowledged, closes every socket with
/// 1001, and closes the storage.
pub async fn run(
    config: SyncConfig,
    listener: ServiceListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    if !config.common.require_auth {
        tracing::warn!(
            "REQUIRE_AUTH is off: connections without a valid token act as the dev user"
        );
    }
    if let Some(dir) = config.static_dir.as_ref().filter(|dir| !dir.is_dir()) {
        tracing::warn!(
            "STATIC_DIR {} does not exist (yet): its files are served once it does; \
             until then `/` answers the service description",
            dir.display()
        );
    }
    let log = storage::open(&config.database_url, &config.storage).await?;
    let grace = config.limits.shutdown_grace;
    let state = AppState::new(config, log.clone());
    follow_remote_commits(&state);
    let app = router(state.clone());
    start_feed(&state);

    tracing::info!(
        "listening on {}",
        axum::serve::Listener::local_addr(&listener)?
    );
    let stopping = state.shutdown.clone();
    // The peer address feeds the per-IP cap (see `connect::client_ip`).
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let serve = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            stopping.cancel();
        })
        .into_future();
    // Graceful shutdown waits for every HTTP request in progress, including the write of
    // its answer: a client that stops reading a large HTTP pull would hold shutdown
    // forever. Their handlers are tracked like sockets (below); the writes get the grace.
    let served = tokio::select! {
        served = serve => served,
        () = async {
            state.shutdown.cancelled().await;
            tokio::time::sleep(grace + Duration::from_secs(2)).await;
        } => {
            tracing::warn!("some HTTP requests did not finish within the shutdown grace period");
            Ok(())
        }
    };

    state.shutdown.cancel();
    state.tracker.close();
    // Connections finish their pushes within `grace`, then close; allow for the close
    // handshakes on top.
    if tokio::time::timeout(grace + Duration::from_secs(2), state.tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("some connections did not close within the shutdown grace period");
    }
    log.close().await;
    tracing::info!("stopped");
    served?;
    Ok(())
}

/// Hands commits made by other nodes (shared backends only) to this node's hubs.
fn follow_remote_commits(state: &AppState) {
    let Some(mut commits) = state.log.remote_commits() else {
        return;
    };
    let hubs = state.hubs.clone();
    let stop = state.shutdown.clone();
    tokio::spawn(async move {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            let next = tokio::select! {
                () = stop.cancelled() => return,
                next = commits.recv() => next,
            };
            match next {
                Ok(storage::RemoteCommit::Advanced { store, from, to }) => {
                    hubs.remote_commit(&store, from, to);
                }
                Ok(storage::RemoteCommit::Resync) | Err(RecvError::Lagged(_)) => hubs.resync_all(),
                Err(RecvError::Closed) => return,
            }
        }
    });
}

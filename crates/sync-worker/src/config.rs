//! `SyncConfig`: the common settings plus the sync worker's own keys and limits.
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `DATABASE_URL` | `sqlite://data/sync.db` | event log: `sqlite:` file or `postgres://`; created/migrated at start |
//! | `HOST` / `PORT` | `127.0.0.1` / `8787` | bind address |
//! | `STATIC_DIR` | unset | a directory served for non-API paths (a demo web app) |
//! | `MAX_FRAME_BYTES` | `1048576` | largest accepted WebSocket message; larger closes with 1009 |
//! | `MAX_PUSH_BATCH` | `1000` | most events in one `PushReq`; more is answered with an Error |
//! | `OUTBOUND_QUEUE_LEN` | `256` | messages queued per connection before it is dropped as too slow (1013) |
//! | `PULL_READ_WINDOW` | `1000` | events read from storage per query while streaming a pull (cut into 100-event chunks) |
//! | `MAX_PUSHES_IN_FLIGHT` | `64` | unacknowledged pushes one connection may pipeline |
//! | `STORE_PIPELINE_DEPTH` | `64` | validated pushes of one store handed to storage before the first commits |
//! | `WS_BUFFER_BYTES` | `2048` | per-socket read/write buffer (kept small: 10k idle sockets) |
//! | `WRITE_TIMEOUT_SECONDS` | `30` | a socket write that takes longer closes the connection |
//! | `DB_MAX_READERS` | `4` | read-pool connections serving pulls and head lookups |
//! | `DB_WRITER_QUEUE` | `1024` | appends queued for the single writer before pushers wait |
//! | `DB_GROUP_MAX_BATCHES` / `DB_GROUP_MAX_EVENTS` | `256` / `20000` | most pushes / events committed in one group transaction |
//! | `DB_BUSY_TIMEOUT_SECONDS` | `5` | how long SQLite waits for a lock held by another process |
//! | `DB_POOL_SIZE` | `16` | PostgreSQL connections of this node |
//! | `DB_ACQUIRE_TIMEOUT_SECONDS` | `5` | PostgreSQL: how long a query waits for a connection (also bounds connecting while the database is unreachable, and `/ready`'s storage check) |
//! | `SHUTDOWN_GRACE_SECONDS` | `10` | how long shutdown waits for in-flight pushes before closing |
//! | `STORE_ACCESS` | `members` | `members`: a token opens only the stores of its instances; `any-user`: any valid token opens any store (unsafe for multi-tenant data) |
//! | `AUTH_URL` | unset | auth-worker base URL whose change feed carries revocations; unset: grace period suspended |
//! | `AUTH_FEED_WAIT_SECONDS` | `25` | long-poll wait asked of the feed (at most 30) |
//! | `AUTH_FEED_RETRY_MAX_SECONDS` | `10` | longest pause between retries while the feed is unreachable |
//! | `AUTH_FEED_STARTUP_WAIT_SECONDS` | `3` | connects during this long after start wait for the first feed sync |
//! | `ADMIN_MAX_FAILURES` | `5` | wrong admin secrets one connection may send; the next closes it (1008) |
//!
//! The socket caps, idle timeout, message rate and store queue bound are read by
//! [`crate::limits`], which lists their keys.

use std::path::PathBuf;
use std::time::Duration;

use shared::{CommonConfig, ConfigError, Vars};

use crate::limits::ConnectionLimits;
use crate::storage::postgres::PgOptions;
use crate::storage::sqlite::SqliteOptions;
use crate::storage::StorageOptions;

/// Events per `PullRes` chunk: the original server's `PULL_CHUNK_SIZE`.
pub const PULL_CHUNK_SIZE: usize = 100;

/// Environment keys read by the sync worker (besides the common ones).
pub mod env {
    pub const STATIC_DIR: &str = "STATIC_DIR";
    pub const MAX_FRAME_BYTES: &str = "MAX_FRAME_BYTES";
    pub const MAX_PUSH_BATCH: &str = "MAX_PUSH_BATCH";
    pub const OUTBOUND_QUEUE_LEN: &str = "OUTBOUND_QUEUE_LEN";
    pub const PULL_READ_WINDOW: &str = "PULL_READ_WINDOW";
    pub const MAX_PUSHES_IN_FLIGHT: &str = "MAX_PUSHES_IN_FLIGHT";
    pub const STORE_PIPELINE_DEPTH: &str = "STORE_PIPELINE_DEPTH";
    pub const WS_BUFFER_BYTES: &str = "WS_BUFFER_BYTES";
    pub const WRITE_TIMEOUT_SECONDS: &str = "WRITE_TIMEOUT_SECONDS";
    pub const SHUTDOWN_GRACE_SECONDS: &str = "SHUTDOWN_GRACE_SECONDS";
    pub const DB_MAX_READERS: &str = "DB_MAX_READERS";
    pub const DB_WRITER_QUEUE: &str = "DB_WRITER_QUEUE";
    pub const DB_GROUP_MAX_BATCHES: &str = "DB_GROUP_MAX_BATCHES";
    pub const DB_GROUP_MAX_EVENTS: &str = "DB_GROUP_MAX_EVENTS";
    pub const DB_BUSY_TIMEOUT_SECONDS: &str = "DB_BUSY_TIMEOUT_SECONDS";
    pub const DB_POOL_SIZE: &str = "DB_POOL_SIZE";
    pub const DB_ACQUIRE_TIMEOUT_SECONDS: &str = "DB_ACQUIRE_TIMEOUT_SECONDS";
    pub const STORE_ACCESS: &str = "STORE_ACCESS";
    pub const PUBLIC_AUTH_URL: &str = "PUBLIC_AUTH_URL";
    pub const AUTH_URL: &str = "AUTH_URL";
    pub const AUTH_FEED_WAIT_SECONDS: &str = "AUTH_FEED_WAIT_SECONDS";
    pub const AUTH_FEED_RETRY_MAX_SECONDS: &str = "AUTH_FEED_RETRY_MAX_SECONDS";
    pub const AUTH_FEED_STARTUP_WAIT_SECONDS: &str = "AUTH_FEED_STARTUP_WAIT_SECONDS";
    pub const ADMIN_MAX_FAILURES: &str = "ADMIN_MAX_FAILURES";
}

/// `STORE_ACCESS`: who may open which store when `REQUIRE_AUTH=true`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreAccess {
    /// A store id is an instance id; only its members open it (the default).
    Members,
    /// Any valid access token opens any store, as an editor unless its `mem` claim
    /// names the store. For apps that manage store ids themselves; unsafe for
    /// multi-tenant data.
    AnyUser,
}

impl std::str::FromStr for StoreAccess {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "members" => Ok(Self::Members),
            "any-user" => Ok(Self::AnyUser),
            other => Err(format!("expected members or any-user, got {other:?}")),
        }
    }
}

/// How this node follows auth-worker's change feed (revocations, memberships).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedConfig {
    /// auth-worker's base URL (`http://127.0.0.1:8788`), without a trailing slash.
    /// `None`: no feed; the node never counts it as live.
    pub auth_url: Option<String>,
    /// Long-poll wait asked of the feed.
    pub wait: Duration,
    /// Longest pause between retries while the feed is unreachable.
    pub retry_max: Duration,
    /// Connects during this long after start wait for the first sync (never later).
    pub startup_wait: Duration,
}

impl Default for FeedConfig {
    fn default() -> Self {
        Self {
            auth_url: None,
            wait: Duration::from_secs(25),
            retry_max: Duration::from_secs(10),
            startup_wait: Duration::from_secs(3),
        }
    }
}

/// Every limit of the sync worker, each explicit and configurable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncLimits {
    /// Largest WebSocket message (and frame) accepted, in bytes.
    pub max_frame_bytes: usize,
    /// Most events in one push.
    pub max_push_batch: usize,
    /// Outbound messages buffered per connection before it counts as too slow.
    pub outbound_queue: usize,
    /// Events per pull chunk (the protocol's 100; not read from the environment).
    pub pull_chunk: usize,
    /// Events read from storage per query while streaming a pull; two windows at most
    /// are held per pulling connection.
    pub pull_read_window: usize,
    /// Unacknowledged pushes one connection may have in flight.
    pub max_pushes_in_flight: usize,
    /// Pushes of one store handed to storage ahead of their commit.
    pub store_pipeline_depth: usize,
    /// WebSocket read and write buffer size per socket.
    pub ws_buffer_bytes: usize,
    /// A single socket write slower than this closes the connection.
    pub write_timeout: Duration,
    /// Shutdown waits at most this long for in-flight pushes.
    pub shutdown_grace: Duration,
    /// Wrong admin secrets tolerated per connection; the next one closes it (1008).
    pub admin_max_failures: u32,
    /// Socket caps, idle timeout, message rate and store queue bytes
    /// ([`crate::limits`]).
    pub connections: ConnectionLimits,
}

impl Default for SyncLimits {
    fn default() -> Self {
        Self {
            max_frame_bytes: 1024 * 1024,
            max_push_batch: 1000,
            outbound_queue: 256,
            pull_chunk: PULL_CHUNK_SIZE,
            pull_read_window: 1000,
            max_pushes_in_flight: 64,
            store_pipeline_depth: 64,
            // 2 KiB: 10.6 KiB of server memory per idle socket against 12.6 KiB with 4 KiB,
            // and no loss on 100-event pushes (BENCHMARKS.md, connections).
            ws_buffer_bytes: 2048,
            write_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
            admin_max_failures: 5,
            connections: ConnectionLimits::default(),
        }
    }
}

/// The sync worker's configuration.
#[derive(Debug, Clone)]
pub struct SyncConfig {
    pub common: CommonConfig,
    pub database_url: String,
    pub host: String,
    pub port: u16,
    /// Served for non-API paths when set (`/` then serves its `index.html`).
    pub static_dir: Option<PathBuf>,
    pub limits: SyncLimits,
    /// Event-log tuning and limits of each backend (SQLite: read pool, writer queue,
    /// group commit size; PostgreSQL: pool size).
    pub storage: StorageOptions,
    /// Who may open which store (with `REQUIRE_AUTH=true`).
    pub store_access: StoreAccess,
    /// The auth service's URL as browsers reach it, served as `/config.json`
    /// (`PUBLIC_AUTH_URL`, default `AUTH_URL`).
    pub public_auth_url: Option<String>,
    /// The auth change feed this node follows.
    pub feed: FeedConfig,
}

impl SyncConfig {
    pub const DEFAULT_DATABASE_URL: &'static str = "sqlite://data/sync.db";
    pub const DEFAULT_HOST: &'static str = "127.0.0.1";
    pub const DEFAULT_PORT: u16 = 8787;

    /// Reads and validates every key; an invalid value names its key.
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let common = CommonConfig::from_vars(vars)?;
        let defaults = SyncLimits::default();
        let max_frame_bytes = at_least(vars, env::MAX_FRAME_BYTES, defaults.max_frame_bytes, 1024)?;
        let limits = SyncLimits {
            max_frame_bytes,
            max_push_batch: at_least(vars, env::MAX_PUSH_BATCH, defaults.max_push_batch, 1)?,
            outbound_queue: at_least(vars, env::OUTBOUND_QUEUE_LEN, defaults.outbound_queue, 1)?,
            pull_chunk: PULL_CHUNK_SIZE,
            pull_read_window: at_least(
                vars,
                env::PULL_READ_WINDOW,
                defaults.pull_read_window,
                PULL_CHUNK_SIZE,
            )?,
            max_pushes_in_flight: at_least(
                vars,
                env::MAX_PUSHES_IN_FLIGHT,
                defaults.max_pushes_in_flight,
                1,
            )?,
            store_pipeline_depth: at_least(
                vars,
                env::STORE_PIPELINE_DEPTH,
                defaults.store_pipeline_depth,
                1,
            )?,
            ws_buffer_bytes: at_least(vars, env::WS_BUFFER_BYTES, defaults.ws_buffer_bytes, 512)?,
            write_timeout: vars.seconds(env::WRITE_TIMEOUT_SECONDS, defaults.write_timeout)?,
            shutdown_grace: vars.seconds(env::SHUTDOWN_GRACE_SECONDS, defaults.shutdown_grace)?,
            admin_max_failures: u32::try_from(at_least(
                vars,
                env::ADMIN_MAX_FAILURES,
                defaults.admin_max_failures as usize,
                1,
            )?)
            .map_err(|_| ConfigError::new(env::ADMIN_MAX_FAILURES, "too large"))?,
            connections: ConnectionLimits::from_vars(vars, max_frame_bytes)?,
        };
        Ok(Self {
            common,
            database_url: vars
                .get_or(
                    shared::constants::env::DATABASE_URL,
                    Self::DEFAULT_DATABASE_URL,
                )
                .to_owned(),
            host: vars
                .get_or(shared::constants::env::HOST, Self::DEFAULT_HOST)
                .to_owned(),
            port: vars.parse_or(shared::constants::env::PORT, Self::DEFAULT_PORT)?,
            static_dir: vars.get(env::STATIC_DIR).map(PathBuf::from),
            limits,
            storage: storage_options(vars)?,
            store_access: vars.parse_or(env::STORE_ACCESS, StoreAccess::Members)?,
            public_auth_url: vars
                .get(env::PUBLIC_AUTH_URL)
                .or_else(|| vars.get(env::AUTH_URL))
                .map(|url| url.trim_end_matches('/').to_owned()),
            feed: feed_config(vars)?,
        })
    }
}

fn feed_config(vars: &Vars) -> Result<FeedConfig, ConfigError> {
    let defaults = FeedConfig::default();
    let auth_url = match vars.get(env::AUTH_URL) {
        None => None,
        Some(raw) => {
            let url = raw.trim_end_matches('/');
            let rest = url
                .strip_prefix("http://")
                .or_else(|| url.strip_prefix("https://"));
            if rest.is_none_or(|host| host.is_empty() || host.contains(char::is_whitespace)) {
                return Err(ConfigError::new(
                    env::AUTH_URL,
                    format!("{raw:?} is not an http(s) base URL"),
                ));
            }
            Some(url.to_owned())
        }
    };
    let wait = vars.seconds(env::AUTH_FEED_WAIT_SECONDS, defaults.wait)?;
    if wait > shared::change_feed::MAX_WAIT {
        return Err(ConfigError::new(
            env::AUTH_FEED_WAIT_SECONDS,
            format!(
                "must be at most {} (the feed's longest wait)",
                shared::change_feed::MAX_WAIT.as_secs()
            ),
        ));
    }
    Ok(FeedConfig {
        auth_url,
        wait,
        retry_max: vars.seconds(env::AUTH_FEED_RETRY_MAX_SECONDS, defaults.retry_max)?,
        startup_wait: vars.seconds(env::AUTH_FEED_STARTUP_WAIT_SECONDS, defaults.startup_wait)?,
    })
}

fn storage_options(vars: &Vars) -> Result<StorageOptions, ConfigError> {
    let pg_defaults = PgOptions::default();
    let max_connections = vars.parse_or(env::DB_POOL_SIZE, pg_defaults.max_connections)?;
    if max_connections == 0 {
        return Err(ConfigError::new(env::DB_POOL_SIZE, "must be at least 1"));
    }
    Ok(StorageOptions {
        sqlite: sqlite_options(vars)?,
        postgres: PgOptions {
            max_connections,
            acquire_timeout: vars
                .seconds(env::DB_ACQUIRE_TIMEOUT_SECONDS, pg_defaults.acquire_timeout)?,
            ..pg_defaults
        },
    })
}

fn sqlite_options(vars: &Vars) -> Result<SqliteOptions, ConfigError> {
    let defaults = SqliteOptions::default();
    let max_readers = vars.parse_or(env::DB_MAX_READERS, defaults.max_readers)?;
    if max_readers == 0 {
        return Err(ConfigError::new(env::DB_MAX_READERS, "must be at least 1"));
    }
    Ok(SqliteOptions {
        max_readers,
        writer_queue: at_least(vars, env::DB_WRITER_QUEUE, defaults.writer_queue, 1)?,
        group_max_batches: at_least(
            vars,
            env::DB_GROUP_MAX_BATCHES,
            defaults.group_max_batches,
            1,
        )?,
        group_max_events: at_least(vars, env::DB_GROUP_MAX_EVENTS, defaults.group_max_events, 1)?,
        busy_timeout: vars.seconds(env::DB_BUSY_TIMEOUT_SECONDS, defaults.busy_timeout)?,
        ..defaults
    })
}

fn at_least(vars: &Vars, key: &str, default: usize, min: usize) -> Result<usize, ConfigError> {
    let value = vars.parse_or(key, default)?;
    if value < min {
        return Err(ConfigError::new(key, format!("must be at least {min}")));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_with_no_configuration() {
        let cfg = SyncConfig::from_vars(&Vars::default()).unwrap();
        assert_eq!(cfg.database_url, "sqlite://data/sync.db");
        assert_eq!((cfg.host.as_str(), cfg.port), ("127.0.0.1", 8787));
        assert_eq!(cfg.static_dir, None);
        assert_eq!(cfg.limits, SyncLimits::default());
        assert_eq!(cfg.limits.max_frame_bytes, 1 << 20);
        assert_eq!(cfg.limits.pull_chunk, 100);
        assert_eq!(cfg.store_access, StoreAccess::Members);
        assert_eq!(cfg.feed, FeedConfig::default());
        assert_eq!(cfg.limits.admin_max_failures, 5);
    }

    #[test]
    fn access_and_feed_keys() {
        let cfg = SyncConfig::from_vars(&Vars::from_pairs([
            ("STORE_ACCESS", "any-user"),
            ("AUTH_URL", "http://127.0.0.1:8788/"),
            ("AUTH_FEED_WAIT_SECONDS", "2"),
            ("ADMIN_MAX_FAILURES", "3"),
        ]))
        .unwrap();
        assert_eq!(cfg.store_access, StoreAccess::AnyUser);
        assert_eq!(cfg.feed.auth_url.as_deref(), Some("http://127.0.0.1:8788"));
        assert_eq!(cfg.feed.wait, Duration::from_secs(2));
        assert_eq!(cfg.limits.admin_max_failures, 3);
        for (key, value) in [
            ("STORE_ACCESS", "everyone"),
            ("AUTH_URL", "127.0.0.1:8788"),
            ("AUTH_URL", "http://"),
            ("AUTH_FEED_WAIT_SECONDS", "31"),
            ("AUTH_FEED_RETRY_MAX_SECONDS", "0"),
            ("ADMIN_MAX_FAILURES", "-1"),
            ("ADMIN_MAX_FAILURES", "0"),
        ] {
            let err = SyncConfig::from_vars(&Vars::from_pairs([(key, value)])).unwrap_err();
            assert_eq!(err.key, key, "{err}");
        }
    }

    #[test]
    fn limits_are_read_and_checked() {
        let cfg = SyncConfig::from_vars(&Vars::from_pairs([
            ("MAX_FRAME_BYTES", "2048"),
            ("MAX_PUSH_BATCH", "10"),
            ("OUTBOUND_QUEUE_LEN", "4"),
            ("SHUTDOWN_GRACE_SECONDS", "3"),
            ("STATIC_DIR", "web/dist"),
        ]))
        .unwrap();
        assert_eq!(cfg.limits.max_frame_bytes, 2048);
        assert_eq!(cfg.limits.max_push_batch, 10);
        assert_eq!(cfg.limits.outbound_queue, 4);
        assert_eq!(cfg.limits.shutdown_grace, Duration::from_secs(3));
        assert_eq!(cfg.static_dir, Some(PathBuf::from("web/dist")));

        let cfg = SyncConfig::from_vars(&Vars::from_pairs([
            ("DB_MAX_READERS", "2"),
            ("DB_GROUP_MAX_BATCHES", "16"),
        ]))
        .unwrap();
        assert_eq!(cfg.storage.sqlite.max_readers, 2);
        assert_eq!(cfg.storage.sqlite.group_max_batches, 16);
        assert_eq!(
            cfg.storage.sqlite.writer_queue,
            SqliteOptions::default().writer_queue
        );

        for (key, value) in [
            ("MAX_FRAME_BYTES", "10"),
            ("MAX_PUSH_BATCH", "0"),
            ("OUTBOUND_QUEUE_LEN", "many"),
            ("PORT", "99999"),
            ("SHUTDOWN_GRACE_SECONDS", "0"),
            ("DB_MAX_READERS", "0"),
            ("DB_WRITER_QUEUE", "0"),
            ("DB_GROUP_MAX_BATCHES", "none"),
            ("DB_GROUP_MAX_EVENTS", "-1"),
            ("DB_BUSY_TIMEOUT_SECONDS", "0"),
            ("DB_POOL_SIZE", "0"),
            ("DB_ACQUIRE_TIMEOUT_SECONDS", "0"),
            ("PULL_READ_WINDOW", "99"),
        ] {
            let err = SyncConfig::from_vars(&Vars::from_pairs([(key, value)])).unwrap_err();
            assert_eq!(err.key, key, "{err}");
        }
    }
}

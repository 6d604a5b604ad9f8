//! `AuthConfig`: the common settings plus the keys only auth-worker reads.
//!
//! Every limit is explicit and configurable; an unparsable value stops start-up with a
//! [`ConfigError`] naming the key. Argon2 parameters below the OWASP floor the SPEC sets
//! (19 MiB, t=2, p=1) are refused, so no configuration can weaken hashing silently.

use std::num::NonZeroU32;
use std::time::Duration;

use shared::constants::env;
use shared::{CommonConfig, ConfigError, Vars};

use crate::storage::PgOptions;

/// Service-specific environment keys.
pub mod keys {
    /// Requests per minute per client IP on the auth endpoints; `0` turns it off.
    pub const RATE_LIMIT_PER_MINUTE: &str = "AUTH_RATE_LIMIT_PER_MINUTE";
    /// Failed logins per account tolerated within the window below.
    pub const LOGIN_MAX_FAILURES: &str = "AUTH_LOGIN_MAX_FAILURES";
    /// Window of the failed-login counts, in seconds.
    pub const LOGIN_FAILURE_WINDOW_SECONDS: &str = "AUTH_LOGIN_FAILURE_WINDOW_SECONDS";
    /// Longest wait between two tries of one (account, client IP) after its free failures.
    pub const LOGIN_BACKOFF_MAX_SECONDS: &str = "AUTH_LOGIN_BACKOFF_MAX_SECONDS";
    /// Longest wait before an attacked account's password is checked, in milliseconds.
    pub const LOGIN_DELAY_MAX_MS: &str = "AUTH_LOGIN_DELAY_MAX_MS";
    /// Password hashes/verifications allowed to run at once.
    pub const MAX_CONCURRENT_HASHES: &str = "AUTH_MAX_CONCURRENT_HASHES";
    /// Argon2id memory cost in KiB (at least 19456).
    pub const ARGON2_MEMORY_KIB: &str = "AUTH_ARGON2_MEMORY_KIB";
    /// Argon2id iterations (at least 2).
    pub const ARGON2_ITERATIONS: &str = "AUTH_ARGON2_ITERATIONS";
    /// Argon2id lanes (at least 1).
    pub const ARGON2_PARALLELISM: &str = "AUTH_ARGON2_PARALLELISM";
    /// Largest request body accepted, in bytes.
    pub const MAX_BODY_BYTES: &str = "AUTH_MAX_BODY_BYTES";
    /// Most instances one user may be a member of (every membership rides in the token).
    pub const MAX_INSTANCES_PER_USER: &str = "AUTH_MAX_INSTANCES_PER_USER";
    /// Most members plus pending invites one instance may have.
    pub const MAX_MEMBERS_PER_INSTANCE: &str = "AUTH_MAX_MEMBERS_PER_INSTANCE";
    /// PostgreSQL connections of this node (ignored on SQLite).
    pub const DB_POOL_SIZE: &str = "AUTH_DB_POOL_SIZE";
    /// How long a query waits for a PostgreSQL connection (ignored on SQLite).
    pub const DB_ACQUIRE_TIMEOUT_SECONDS: &str = "AUTH_DB_ACQUIRE_TIMEOUT_SECONDS";
}

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/auth.db";
pub const DEFAULT_HOST: &str = "127.0.0.1";
pub const DEFAULT_PORT: u16 = 8788;
/// The original's per-IP limit, applied by default in production only.
pub const DEFAULT_RATE_LIMIT_PER_MINUTE: u32 = 10;
pub const DEFAULT_LOGIN_MAX_FAILURES: u32 = 5;
pub const DEFAULT_LOGIN_FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
pub const DEFAULT_LOGIN_BACKOFF_MAX: Duration = Duration::from_secs(15 * 60);
pub const DEFAULT_LOGIN_DELAY_MAX: Duration = Duration::from_secs(2);
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024;
pub const DEFAULT_MAX_INSTANCES_PER_USER: usize = 100;
/// The highest `AUTH_MAX_INSTANCES_PER_USER` accepted. Every membership is one
/// `"<uuid>":"<role>",` entry (48 bytes, 64 once base64url-encoded) in the access token's
/// `mem` claim, and verifiers refuse tokens over `shared::constants::MAX_TOKEN_BYTES`
/// (8 KiB). With a 254-character email and the other claims, 110 memberships still fit
/// with room to spare (checked by a unit test); 150 would not.
pub const MAX_INSTANCES_PER_USER_CEILING: usize = 110;
pub const DEFAULT_MAX_MEMBERS_PER_INSTANCE: usize = 1000;
pub const DEFAULT_DB_POOL_SIZE: u32 = crate::storage::postgres::DEFAULT_MAX_CONNECTIONS;

/// Bounds on workspaces (instances) and their members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkspaceLimits {
    /// Creating or joining beyond this is refused (`INSTANCE_LIMIT`, or the invite stays
    /// pending until the user has room).
    pub max_instances_per_user: usize,
    /// Members plus pending invites per instance; a further invite is `MEMBER_LIMIT`.
    pub max_members_per_instance: usize,
}

impl Default for WorkspaceLimits {
    fn default() -> Self {
        Self {
            max_instances_per_user: DEFAULT_MAX_INSTANCES_PER_USER,
            max_members_per_instance: DEFAULT_MAX_MEMBERS_PER_INSTANCE,
        }
    }
}

/// Argon2id cost parameters (OWASP: m=19456 KiB, t=2, p=1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Params {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Argon2Params {
    /// The OWASP recommendation the SPEC requires as a minimum.
    pub const OWASP: Self = Self {
        memory_kib: 19_456,
        iterations: 2,
        parallelism: 1,
    };
}

impl Default for Argon2Params {
    fn default() -> Self {
        Self::OWASP
    }
}

/// Password hashing: cost and how many hashes may run at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashingConfig {
    pub params: Argon2Params,
    /// Hashing threads: the bound on concurrent hash/verify jobs (the rest queue).
    pub max_concurrent: usize,
}

/// Request rate limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Per client IP on all auth endpoints; `None` is off.
    pub per_ip_per_minute: Option<NonZeroU32>,
    /// Free failed logins per (account, client IP) and per account within
    /// `login_failure_window`, before the backoff and the delay of
    /// [`crate::login_throttle`] start.
    pub login_max_failures: NonZeroU32,
    pub login_failure_window: Duration,
    /// Longest backoff of one (account, client IP).
    pub login_backoff_max: Duration,
    /// Longest delay before the password of an account under attack is checked.
    pub login_delay_max: Duration,
}

/// Everything auth-worker needs to start.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub common: CommonConfig,
    pub database_url: String,
    pub host: String,
    pub port: u16,
    pub hashing: HashingConfig,
    pub rate_limits: RateLimitConfig,
    /// Largest request body accepted; larger ones get 400 `INVALID_REQUEST`.
    pub max_body_bytes: usize,
    pub workspaces: WorkspaceLimits,
    /// PostgreSQL pool settings (used when `database_url` is `postgres://`).
    pub postgres: PgOptions,
}

impl AuthConfig {
    /// Parses and validates the common keys and auth-worker's own.
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let common = CommonConfig::from_vars(vars)?;

        // Off in development (as in the original) unless set; on in production.
        let per_ip_per_minute = match vars.parse::<u32>(keys::RATE_LIMIT_PER_MINUTE)? {
            Some(n) => NonZeroU32::new(n),
            None if common.is_production() => NonZeroU32::new(DEFAULT_RATE_LIMIT_PER_MINUTE),
            None => None,
        };
        let login_max_failures =
            positive(vars, keys::LOGIN_MAX_FAILURES, DEFAULT_LOGIN_MAX_FAILURES)?;
        let login_failure_window = vars.seconds(
            keys::LOGIN_FAILURE_WINDOW_SECONDS,
            DEFAULT_LOGIN_FAILURE_WINDOW,
        )?;
        let login_backoff_max =
            vars.seconds(keys::LOGIN_BACKOFF_MAX_SECONDS, DEFAULT_LOGIN_BACKOFF_MAX)?;
        let login_delay_max = Duration::from_millis(vars.parse_or(
            keys::LOGIN_DELAY_MAX_MS,
            u64::try_from(DEFAULT_LOGIN_DELAY_MAX.as_millis()).unwrap_or(u64::MAX),
        )?);
        if login_delay_max > Duration::from_secs(30) {
            return Err(ConfigError::new(
                keys::LOGIN_DELAY_MAX_MS,
                "must be at most 30000 (the owner waits this long to log in)",
            ));
        }

        let owasp = Argon2Params::OWASP;
        let params = Argon2Params {
            memory_kib: at_least(
                vars,
                keys::ARGON2_MEMORY_KIB,
                owasp.memory_kib,
                owasp.memory_kib,
            )?,
            iterations: at_least(
                vars,
                keys::ARGON2_ITERATIONS,
                owasp.iterations,
                owasp.iterations,
            )?,
            parallelism: at_least(
                vars,
                keys::ARGON2_PARALLELISM,
                owasp.parallelism,
                owasp.parallelism,
            )?,
        };
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        let max_concurrent = positive(
            vars,
            keys::MAX_CONCURRENT_HASHES,
            u32::try_from(cpus).unwrap_or(1),
        )?;

        let max_body_bytes = vars.parse_or(keys::MAX_BODY_BYTES, DEFAULT_MAX_BODY_BYTES)?;
        if max_body_bytes < 1024 {
            return Err(ConfigError::new(
                keys::MAX_BODY_BYTES,
                "must be at least 1024",
            ));
        }

        let max_instances_per_user =
            vars.parse_or(keys::MAX_INSTANCES_PER_USER, DEFAULT_MAX_INSTANCES_PER_USER)?;
        if !(1..=MAX_INSTANCES_PER_USER_CEILING).contains(&max_instances_per_user) {
            return Err(ConfigError::new(
                keys::MAX_INSTANCES_PER_USER,
                format!(
                    "must be 1 to {MAX_INSTANCES_PER_USER_CEILING} (every membership is carried in the 8 KiB access token)"
                ),
            ));
        }
        let max_members_per_instance = vars.parse_or(
            keys::MAX_MEMBERS_PER_INSTANCE,
            DEFAULT_MAX_MEMBERS_PER_INSTANCE,
        )?;
        if max_members_per_instance == 0 {
            return Err(ConfigError::new(
                keys::MAX_MEMBERS_PER_INSTANCE,
                "must be at least 1",
            ));
        }

        let pool_size = positive(vars, keys::DB_POOL_SIZE, DEFAULT_DB_POOL_SIZE)?;

        Ok(Self {
            postgres: PgOptions {
                max_connections: pool_size.get(),
                acquire_timeout: vars.seconds(
                    keys::DB_ACQUIRE_TIMEOUT_SECONDS,
                    PgOptions::default().acquire_timeout,
                )?,
            },
            database_url: vars
                .get_or(env::DATABASE_URL, DEFAULT_DATABASE_URL)
                .to_owned(),
            host: vars.get_or(env::HOST, DEFAULT_HOST).to_owned(),
            port: vars.parse_or(env::PORT, DEFAULT_PORT)?,
            hashing: HashingConfig {
                params,
                max_concurrent: usize::try_from(max_concurrent.get()).unwrap_or(1),
            },
            rate_limits: RateLimitConfig {
                per_ip_per_minute,
                login_max_failures,
                login_failure_window,
                login_backoff_max,
                login_delay_max,
            },
            max_body_bytes,
            workspaces: WorkspaceLimits {
                max_instances_per_user,
                max_members_per_instance,
            },
            common,
        })
    }
}

fn positive(vars: &Vars, key: &str, default: u32) -> Result<NonZeroU32, ConfigError> {
    let value = vars.parse_or(key, default)?;
    NonZeroU32::new(value).ok_or_else(|| ConfigError::new(key, "must be at least 1"))
}

/// A value that may be raised above the security floor but never lowered below it.
fn at_least(vars: &Vars, key: &str, default: u32, floor: u32) -> Result<u32, ConfigError> {
    let value = vars.parse_or(key, default)?;
    if value < floor {
        return Err(ConfigError::new(
            key,
            format!("must be at least {floor} (OWASP minimum for argon2id)"),
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn development_defaults() {
        let cfg = AuthConfig::from_vars(&Vars::default()).unwrap();
        assert_eq!(cfg.database_url, DEFAULT_DATABASE_URL);
        assert_eq!((cfg.host.as_str(), cfg.port), (DEFAULT_HOST, DEFAULT_PORT));
        assert_eq!(cfg.rate_limits.per_ip_per_minute, None);
        assert_eq!(cfg.rate_limits.login_max_failures.get(), 5);
        assert_eq!(cfg.rate_limits.login_backoff_max, Duration::from_secs(900));
        assert_eq!(cfg.rate_limits.login_delay_max, Duration::from_secs(2));
        assert_eq!(cfg.hashing.params, Argon2Params::OWASP);
        assert!(cfg.hashing.max_concurrent >= 1);
        assert_eq!(cfg.max_body_bytes, 16 * 1024);
        assert_eq!(cfg.workspaces, WorkspaceLimits::default());
        assert_eq!(cfg.workspaces.max_instances_per_user, 100);
        assert_eq!(cfg.postgres, PgOptions::default());
        assert_eq!(cfg.postgres.max_connections, DEFAULT_DB_POOL_SIZE);
    }

    #[test]
    fn the_postgres_pool_size_is_configurable_and_at_least_one() {
        let vars = Vars::from_pairs([(keys::DB_POOL_SIZE, "3")]);
        assert_eq!(
            AuthConfig::from_vars(&vars)
                .unwrap()
                .postgres
                .max_connections,
            3
        );
        for value in ["0", "-1", "many"] {
            let vars = Vars::from_pairs([(keys::DB_POOL_SIZE, value)]);
            let err = AuthConfig::from_vars(&vars).unwrap_err();
            assert!(err.to_string().contains(keys::DB_POOL_SIZE), "{err}");
        }
    }

    #[test]
    fn the_postgres_acquire_timeout_is_configurable_in_whole_seconds() {
        let vars = Vars::from_pairs([(keys::DB_ACQUIRE_TIMEOUT_SECONDS, "2")]);
        assert_eq!(
            AuthConfig::from_vars(&vars)
                .unwrap()
                .postgres
                .acquire_timeout,
            Duration::from_secs(2)
        );
        for value in ["0", "1.5", "soon"] {
            let vars = Vars::from_pairs([(keys::DB_ACQUIRE_TIMEOUT_SECONDS, value)]);
            let err = AuthConfig::from_vars(&vars).unwrap_err();
            assert!(
                err.to_string().contains(keys::DB_ACQUIRE_TIMEOUT_SECONDS),
                "{err}"
            );
        }
    }

    #[test]
    fn the_instance_cap_is_bounded_by_the_token_size() {
        let ok = Vars::from_pairs([(keys::MAX_INSTANCES_PER_USER, "110")]);
        assert_eq!(
            AuthConfig::from_vars(&ok)
                .unwrap()
                .workspaces
                .max_instances_per_user,
            110
        );
        for value in ["0", "111", "150"] {
            let vars = Vars::from_pairs([(keys::MAX_INSTANCES_PER_USER, value)]);
            let err = AuthConfig::from_vars(&vars).unwrap_err();
            assert_eq!(err.key, keys::MAX_INSTANCES_PER_USER, "{value}");
        }
    }

    /// The ceiling's reason: a token with that many memberships, the longest email and
    /// large sequence numbers still passes the verifiers' size limit.
    #[test]
    fn a_token_at_the_instance_cap_fits_the_token_size_limit() {
        let keys =
            shared::JwtKeys::new(&shared::secret::Secret::new("s".repeat(32)), "auth-worker");
        let email = format!("{}@{}.example", "a".repeat(64), "b".repeat(180));
        let mut claims = keys.access_claims(
            &uuid::Uuid::new_v4().to_string(),
            &email,
            &uuid::Uuid::new_v4().to_string(),
            Duration::from_secs(900),
            chrono::Utc::now(),
        );
        for _ in 0..MAX_INSTANCES_PER_USER_CEILING {
            claims
                .mem
                .insert(uuid::Uuid::new_v4().to_string(), shared::Role::Editor);
        }
        claims.mv = u64::MAX;
        let token = keys.sign_access_token(&claims).unwrap();
        assert!(
            token.len() <= shared::constants::MAX_TOKEN_BYTES,
            "{} bytes",
            token.len()
        );
        assert!(keys.verify_access_token(&token).is_ok());
    }

    #[test]
    fn production_turns_the_ip_limit_on_and_zero_turns_it_off() {
        let prod = [
            ("ENVIRONMENT", "production"),
            ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
            ("CORS_ALLOWED_ORIGINS", "https://app.example"),
        ];
        let cfg = AuthConfig::from_vars(&Vars::from_pairs(prod)).unwrap();
        assert_eq!(
            cfg.rate_limits.per_ip_per_minute.map(NonZeroU32::get),
            Some(10)
        );

        let mut vars = Vars::from_pairs(prod);
        vars.set(keys::RATE_LIMIT_PER_MINUTE, "0");
        let cfg = AuthConfig::from_vars(&vars).unwrap();
        assert_eq!(cfg.rate_limits.per_ip_per_minute, None);

        let cfg =
            AuthConfig::from_vars(&Vars::from_pairs([(keys::RATE_LIMIT_PER_MINUTE, "3")])).unwrap();
        assert_eq!(
            cfg.rate_limits.per_ip_per_minute.map(NonZeroU32::get),
            Some(3)
        );
    }

    #[test]
    fn invalid_or_weakening_values_name_the_key() {
        for (key, value) in [
            (env::PORT, "eighty"),
            (env::PORT, "70000"),
            (keys::RATE_LIMIT_PER_MINUTE, "-1"),
            (keys::LOGIN_MAX_FAILURES, "0"),
            (keys::LOGIN_FAILURE_WINDOW_SECONDS, "0"),
            (keys::LOGIN_BACKOFF_MAX_SECONDS, "0"),
            (keys::LOGIN_DELAY_MAX_MS, "30001"),
            (keys::LOGIN_DELAY_MAX_MS, "-5"),
            (keys::MAX_CONCURRENT_HASHES, "0"),
            (keys::ARGON2_MEMORY_KIB, "4096"),
            (keys::ARGON2_ITERATIONS, "1"),
            (keys::ARGON2_PARALLELISM, "0"),
            (keys::MAX_BODY_BYTES, "12"),
            (keys::MAX_INSTANCES_PER_USER, "1000"),
            (keys::MAX_MEMBERS_PER_INSTANCE, "0"),
        ] {
            let err = AuthConfig::from_vars(&Vars::from_pairs([(key, value)])).unwrap_err();
            assert_eq!(err.key, key, "{key}={value}: {err}");
        }
    }
}

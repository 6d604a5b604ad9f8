//! Constants both services agree on. Values match the original TypeScript package.

use std::time::Duration;

/// Default grace period after `exp` during which an access token still opens a sync socket.
pub const DEFAULT_GRACE_PERIOD: Duration = Duration::from_secs(24 * 60 * 60);
/// Default access-token lifetime.
pub const DEFAULT_ACCESS_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);
/// Default refresh-token lifetime.
pub const DEFAULT_REFRESH_TOKEN_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// Default `iss` written into and required from access tokens.
pub const DEFAULT_JWT_ISSUER: &str = "auth-worker";
/// The identity of connections accepted without a usable token in development.
pub const DEV_USER_ID: &str = "dev-user-001";
/// The legacy shared token the original frontend sent before real auth existed.
pub const INSECURE_DEV_TOKEN: &str = "insecure-token-change-me";
/// The identity of connections that present the server bypass token.
pub const SERVER_INTERNAL_ID: &str = "server-internal";
/// `typ` claim of access tokens; anything else is not an access token.
pub const ACCESS_TOKEN_TYPE: &str = "access";
/// `typ` claim of service tokens (sync node to auth-worker's change feed).
pub const SERVICE_TOKEN_TYPE: &str = "service";
/// Minimum length of `JWT_SECRET` and `SERVER_BYPASS_TOKEN` where auth is enforced.
pub const MIN_SECRET_BYTES: usize = 32;
/// The fixed secret used in development when `JWT_SECRET` is unset. Never valid where
/// auth is enforced: start-up refuses a missing secret there.
pub const DEV_JWT_SECRET: &str = "dev-only-jwt-secret-do-not-use-in-production-0000";
/// Longest token the verifier will look at; anything longer is rejected unparsed.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Name of the optional dotenv-style file read from the working directory.
pub const DEV_VARS_FILE: &str = ".dev.vars";

/// Environment variable names (SPEC section 1).
pub mod env {
    pub const ENVIRONMENT: &str = "ENVIRONMENT";
    pub const REQUIRE_AUTH: &str = "REQUIRE_AUTH";
    pub const JWT_SECRET: &str = "JWT_SECRET";
    pub const JWT_ISSUER: &str = "JWT_ISSUER";
    pub const GRACE_PERIOD_SECONDS: &str = "GRACE_PERIOD_SECONDS";
    pub const ACCESS_TOKEN_TTL_SECONDS: &str = "ACCESS_TOKEN_TTL_SECONDS";
    pub const REFRESH_TOKEN_TTL_SECONDS: &str = "REFRESH_TOKEN_TTL_SECONDS";
    pub const SERVER_BYPASS_TOKEN: &str = "SERVER_BYPASS_TOKEN";
    pub const ADMIN_SECRET: &str = "ADMIN_SECRET";
    pub const DATABASE_URL: &str = "DATABASE_URL";
    pub const HOST: &str = "HOST";
    pub const PORT: &str = "PORT";
    pub const CORS_ALLOWED_ORIGINS: &str = "CORS_ALLOWED_ORIGINS";
    pub const TRUST_PROXY: &str = "TRUST_PROXY";
    /// `text` (default) or `json`.
    pub const LOG_FORMAT: &str = "LOG_FORMAT";
    /// A separate `host:port` for `GET /metrics` (unset: on the service's own port).
    pub const METRICS_ADDR: &str = "METRICS_ADDR";
}

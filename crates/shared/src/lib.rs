//! Pieces shared by `auth-worker` and `sync-worker`: typed configuration, access-token
//! signing and verification (HS256 pinned), the sync payload, the auth error codes and
//! the constants both services agree on.

pub mod access;
pub mod change_feed;
pub mod config;
pub mod constants;
pub mod error;
pub mod jwt;
pub mod metrics;
pub mod net;
pub mod payload;
pub mod process;
pub mod secret;

pub use access::{Memberships, Role};
pub use config::{CommonConfig, ConfigError, Environment, Vars};
pub use error::AuthErrorCode;
pub use jwt::{AccessClaims, JwtKeys, ServiceClaims, TokenError, VerifiedToken};
pub use payload::{PayloadError, SyncPayload};

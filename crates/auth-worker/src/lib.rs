//! auth-worker: email + password accounts for the sync stack (SPEC section 3), and the
//! workspaces (instances) and members that decide who may open which store.
//!
//! `POST /signup`, `/login`, `/refresh`, `/logout`, `GET /me`, `GET /health`; the
//! instance and member routes under `/instances`; and the internal change feed
//! (`GET /internal/changes`) sync nodes follow for revocations and membership changes.
//! Passwords are argon2id hashes computed off the runtime; access tokens are HS256 JWTs
//! from `shared` carrying the memberships; refresh tokens are opaque, stored hashed,
//! rotated on every use, and a reused one revokes its whole session. Storage is SQLite or
//! PostgreSQL through sqlx, chosen by the `DATABASE_URL` scheme ([`storage`]); on
//! PostgreSQL several nodes may share one database. The full API is `docs/API.md`.
//!
//! The binary is a thin wrapper over [`run`]; tests and the dev launcher call it with
//! their own listener and shutdown future.

pub mod config;
pub mod cors;
pub mod domain;
pub mod error;
pub mod extract;
pub mod hashing;
pub mod login_throttle;
pub mod metrics;
pub mod rate_limit;
pub mod routes;
pub mod startup;
pub mod storage;
pub mod telemetry;
pub mod tokens;

pub use config::AuthConfig;
pub use error::ApiError;
pub use startup::{router, run, AppState};

//! auth-worker: email + password accounts for the sync stack (SPEC section 3).
//!
//! `POST /signup`, `/login`, `/refresh`, `/logout`, `GET /me`, `GET /health`. Passwords
//! are argon2id hashes computed off the runtime; access tokens are HS256 JWTs from
//! `shared`; refresh tokens are opaque, stored hashed, rotated on every use, and a reused
//! one revokes its whole session. SQLite through sqlx.
//!
//! The binary is a thin wrapper over [`run`]; tests and the dev launcher call it with
//! their own listener and shutdown future.

pub mod config;
pub mod cors;
pub mod domain;
pub mod error;
pub mod extract;
pub mod hashing;
pub mod rate_limit;
pub mod routes;
pub mod startup;
pub mod storage;
pub mod telemetry;
pub mod tokens;

pub use config::AuthConfig;
pub use error::ApiError;
pub use startup::{router, run, AppState};

//! Test support shared by the service crates' integration tests (dev-dependency only).
//!
//! [`FaultProxy`] sits between a service and its PostgreSQL server so a test can make
//! the database unreachable without touching the server, which other tests share;
//! [`pg_scratch::ScratchDb`] is a database of a test's own on that server.

pub mod pg_scratch;
mod proxy;

pub use proxy::{FaultProxy, Outage};

//! Integration tests of the sync worker: real server on port 0, real SQLite file,
//! real WebSocket clients; the auth change feed is a real HTTP server in the test.

mod access;
mod cluster;
mod connect;
mod crash;
mod faults;
mod feed;
mod gaps;
mod health;
mod helpers;
mod kill;
mod lifecycle;
mod limits;
mod load;
mod malformed;
pub(crate) use test_support::pg_scratch;
mod push_rules;
mod revocation;
#[cfg(target_os = "linux")]
mod storm;
mod sync_flow;
mod tokens;
mod v0_4;
mod v0_4_backend;
mod v0_4_http;

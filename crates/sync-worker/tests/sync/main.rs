//! Integration tests of the sync worker: real server on port 0, real SQLite file,
//! real WebSocket clients.

mod cluster;
mod connect;
mod helpers;
mod lifecycle;
mod malformed;
mod push_rules;
mod sync_flow;

//! Black-box tests of auth-worker: each test spawns the real service on 127.0.0.1:0 with
//! its own temporary SQLite file and talks HTTP to it. One binary (see `helpers`).

mod cors_health;
mod feed;
mod helpers;
mod instances;
mod login;
mod members;
mod persistence;
mod rate_limit;
mod signup;
mod storage;
mod tokens;
mod validation;

//! sync-worker: a LiveStore `sync-cf` 0.3.1 compatible sync server.

pub mod storage;

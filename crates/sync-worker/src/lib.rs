//! sync-worker (skeleton).

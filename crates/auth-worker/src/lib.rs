//! auth-worker (skeleton).

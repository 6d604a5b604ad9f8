//! Access-token verification (`shared::JwtKeys::verify_access_token`), the work the sync
//! worker does for every authenticated WebSocket upgrade. Issue 5 target: at most 5 µs.

use std::hint::black_box;

use chrono::Utc;
use criterion::{criterion_group, criterion_main, Criterion};
use shared::constants::{DEFAULT_ACCESS_TOKEN_TTL, DEFAULT_JWT_ISSUER};
use shared::secret::Secret;
use shared::JwtKeys;

fn token_verification(c: &mut Criterion) {
    let keys = JwtKeys::new(
        &Secret::new("bench-secret-bench-secret-bench-secret-0123"),
        DEFAULT_JWT_ISSUER,
    );
    let claims = keys.access_claims(
        "user-0123456789",
        "user@example.com",
        "session-0123456789",
        DEFAULT_ACCESS_TOKEN_TTL,
        Utc::now(),
    );
    let token = keys.sign_access_token(&claims).expect("signing works");
    let other = JwtKeys::new(
        &Secret::new("another-secret-another-secret-another-0123"),
        DEFAULT_JWT_ISSUER,
    );
    let bad = other.sign_access_token(&claims).expect("signing works");
    // Fail loudly if the benchmark would time the wrong path.
    assert!(keys.verify_access_token(&token).is_ok());
    assert!(keys.verify_access_token(&bad).is_err());

    let mut group = c.benchmark_group("token");
    group.bench_function("verify_access_token", |b| {
        b.iter(|| keys.verify_access_token(black_box(&token)))
    });
    group.bench_function("verify_access_token_bad_signature", |b| {
        b.iter(|| keys.verify_access_token(black_box(&bad)))
    });
    group.bench_function("sign_access_token", |b| {
        b.iter(|| keys.sign_access_token(black_box(&claims)))
    });
    group.finish();
}

criterion_group!(benches, token_verification);
criterion_main!(benches);

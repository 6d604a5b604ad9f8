//! Requests per client IP (governor, keyed GCRA), answered 429 `RATE_LIMITED` with
//! `Retry-After`. Failed logins are throttled by [`crate::login_throttle`].

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::ApiError;
use crate::startup::AppState;

/// Requests per minute per client IP, burst equal to the per-minute count: the
/// `n + 1`-th request within a minute is refused.
pub struct IpRateLimiter {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
}

impl IpRateLimiter {
    pub fn per_minute(limit: NonZeroU32) -> Self {
        Self {
            limiter: RateLimiter::keyed(Quota::per_minute(limit)),
            clock: DefaultClock::default(),
        }
    }

    /// Charges one request to `ip`; `Err(wait)` when over the limit.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        self.limiter
            .check_key(&ip)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Forgets IPs whose budget is full again, bounding memory.
    pub fn prune(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

pub use shared::net::client_ip;

/// Middleware on the auth routes: charges the request to the client IP.
pub async fn limit_per_ip(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if let Some(limiter) = &state.ip_limiter {
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| *addr);
        let ip = client_ip(peer, request.headers(), state.config.common.trust_proxy);
        if let Err(retry_after) = limiter.check(ip) {
            tracing::warn!(%ip, "per-IP rate limit exceeded");
            crate::metrics::rate_limited("ip");
            return ApiError::RateLimited { retry_after }.into_response();
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderMap;

    use super::*;

    #[test]
    fn ip_limit_trips_after_exactly_n() {
        let limiter = IpRateLimiter::per_minute(NonZeroU32::new(3).unwrap());
        let ip = IpAddr::from([10, 0, 0, 1]);
        for _ in 0..3 {
            assert!(limiter.check(ip).is_ok());
        }
        let wait = limiter.check(ip).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        assert!(limiter.check(IpAddr::from([10, 0, 0, 2])).is_ok());
    }

    #[test]
    fn forwarded_for_only_behind_a_trusted_proxy() {
        let peer = Some(SocketAddr::from(([127, 0, 0, 1], 5000)));
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "6.6.6.6, 203.0.113.7".parse().unwrap());
        assert_eq!(
            client_ip(peer, &headers, false),
            IpAddr::from([127, 0, 0, 1])
        );
        assert_eq!(
            client_ip(peer, &headers, true),
            IpAddr::from([203, 0, 113, 7])
        );
        headers.insert("x-forwarded-for", "garbage".parse().unwrap());
        assert_eq!(
            client_ip(peer, &headers, true),
            IpAddr::from([127, 0, 0, 1])
        );
    }
}

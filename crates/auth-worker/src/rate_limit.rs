//! Rate limits: requests per client IP (governor, keyed GCRA) and failed logins per
//! account (a sliding window).
//!
//! The per-account limit is not a governor limiter because it must be *checked* before a
//! login is attempted but *charged* only when the attempt fails, and GCRA offers no
//! check-without-charge. Both limits answer 429 `RATE_LIMITED` with `Retry-After`.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
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

/// At most `max_failures` failed logins per account within `window`; further attempts
/// (right password or not) wait until the oldest failure leaves the window. A successful
/// login clears the account's record.
pub struct LoginFailureLimiter {
    max_failures: usize,
    window: Duration,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl LoginFailureLimiter {
    pub fn new(max_failures: NonZeroU32, window: Duration) -> Self {
        Self {
            max_failures: usize::try_from(max_failures.get()).unwrap_or(usize::MAX),
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(wait)` while `account` is locked out.
    pub fn check(&self, account: &str) -> Result<(), Duration> {
        self.check_at(account, Instant::now())
    }

    pub fn record_failure(&self, account: &str) {
        self.record_failure_at(account, Instant::now());
    }

    pub fn clear(&self, account: &str) {
        self.lock().remove(account);
    }

    /// Drops accounts with no failure inside the window.
    pub fn prune(&self) {
        let now = Instant::now();
        let window = self.window;
        self.lock().retain(|_, failures| {
            failures
                .back()
                .is_some_and(|last| now.duration_since(*last) < window)
        });
    }

    fn check_at(&self, account: &str, now: Instant) -> Result<(), Duration> {
        let mut map = self.lock();
        let Some(failures) = map.get_mut(account) else {
            return Ok(());
        };
        self.expire(failures, now);
        if failures.len() < self.max_failures {
            return Ok(());
        }
        let oldest = failures.front().copied().unwrap_or(now);
        Err(self.window.saturating_sub(now.duration_since(oldest)))
    }

    fn record_failure_at(&self, account: &str, now: Instant) {
        let mut map = self.lock();
        let failures = map.entry(account.to_owned()).or_default();
        self.expire(failures, now);
        failures.push_back(now);
        // Only the newest `max_failures` matter for the decision.
        while failures.len() > self.max_failures {
            failures.pop_front();
        }
    }

    fn expire(&self, failures: &mut VecDeque<Instant>, now: Instant) {
        while failures
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            failures.pop_front();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<Instant>>> {
        // A panic while holding the lock cannot leave the map inconsistent.
        self.failures.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The client's IP: the socket peer, or with `trust_proxy` the last (rightmost)
/// `X-Forwarded-For` entry, the one our own proxy appended. Earlier entries are
/// client-supplied and would let anyone pick their own rate-limit bucket.
pub fn client_ip(peer: Option<SocketAddr>, headers: &HeaderMap, trust_proxy: bool) -> IpAddr {
    let from_proxy = trust_proxy
        .then(|| {
            headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .next_back()
                // Only the rightmost entry: an unparsable one is not skipped, since the
                // entries before it are the client's own claims.
                .and_then(|entry| entry.trim().parse::<IpAddr>().ok())
        })
        .flatten();
    from_proxy
        .or_else(|| peer.map(|addr| addr.ip()))
        .unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

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
    fn login_failures_lock_then_expire() {
        let limiter =
            LoginFailureLimiter::new(NonZeroU32::new(2).unwrap(), Duration::from_secs(60));
        let t0 = Instant::now();
        limiter.record_failure_at("a@b.co", t0);
        assert!(limiter.check_at("a@b.co", t0).is_ok());
        limiter.record_failure_at("a@b.co", t0 + Duration::from_secs(10));
        let wait = limiter
            .check_at("a@b.co", t0 + Duration::from_secs(10))
            .unwrap_err();
        assert_eq!(wait, Duration::from_secs(50));
        assert!(limiter.check_at("other@b.co", t0).is_ok());
        assert!(limiter
            .check_at("a@b.co", t0 + Duration::from_secs(60))
            .is_ok());
        limiter.clear("a@b.co");
        assert!(limiter
            .check_at("a@b.co", t0 + Duration::from_secs(10))
            .is_ok());
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

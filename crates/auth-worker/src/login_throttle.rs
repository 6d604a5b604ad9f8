//! Failed-login throttling that slows guessing down without letting anyone lock a user
//! out.
//!
//! Two counts, both of failures within `window` of the newest one, both kept for every
//! normalized email whether or not it has an account (so the answers tell nothing):
//!
//! - **per (account, client IP)**: the first `free` failures cost nothing; after that the
//!   pair must wait `1 s x 2^(failures - free)`, at most `backoff_max`, after its latest
//!   failure before it may try again (429 `RATE_LIMITED` with `Retry-After` meanwhile).
//!   One address guessing one account gets `free` tries, then about one more per
//!   doubling delay: 5 + 10 in the first quarter of an hour, then one every
//!   `backoff_max`. Other addresses, the account's owner among them, are not refused.
//! - **per account, over every address**: past `free` failures each login attempt on the
//!   account, right password included, first waits `100 ms x 2^(failures - free)`, at
//!   most `delay_max`, before the password is checked. An attacker spread over many
//!   addresses pays that wait on every guess; the owner waits at most `delay_max` and
//!   gets in.
//!
//! A successful login forgets its pair's failures (not the account-wide count, which the
//! attacker's failures keep up). Both counts live in this node's memory.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The first step of the per-pair backoff.
const PAIR_BACKOFF_BASE: Duration = Duration::from_secs(1);
/// The first step of the account-wide delay.
const ACCOUNT_DELAY_BASE: Duration = Duration::from_millis(100);

/// Failures of one key: how many, and when the latest was.
#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    last: Instant,
}

/// How the throttle is shaped (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleConfig {
    /// Failures that cost nothing, per pair and per account.
    pub free: u32,
    /// A key's failures are forgotten this long after its latest one.
    pub window: Duration,
    /// Longest wait between two tries of one (account, IP) pair.
    pub backoff_max: Duration,
    /// Longest wait before the password of an account under attack is checked.
    pub delay_max: Duration,
}

/// The node's failed-login counts.
pub struct LoginThrottle {
    config: ThrottleConfig,
    pairs: Mutex<HashMap<(String, IpAddr), Record>>,
    accounts: Mutex<HashMap<String, Record>>,
}

impl LoginThrottle {
    pub fn new(config: ThrottleConfig) -> Self {
        Self {
            config,
            pairs: Mutex::new(HashMap::new()),
            accounts: Mutex::new(HashMap::new()),
        }
    }

    /// Before a login of `account` from `ip`: `Err(retry_after)` while the pair is
    /// backing off, else `Ok(delay)` to wait before the password is checked.
    pub fn check(&self, account: &str, ip: IpAddr) -> Result<Duration, Duration> {
        self.check_at(account, ip, Instant::now())
    }

    /// A failed login of `account` from `ip`.
    pub fn record_failure(&self, account: &str, ip: IpAddr) {
        self.record_failure_at(account, ip, Instant::now());
    }

    /// A successful login: the pair starts afresh.
    pub fn clear(&self, account: &str, ip: IpAddr) {
        lock(&self.pairs).remove(&(account.to_owned(), ip));
    }

    /// Forgets keys whose latest failure left the window, bounding memory.
    pub fn prune(&self) {
        let now = Instant::now();
        let window = self.config.window;
        let fresh = |record: &Record| now.duration_since(record.last) < window;
        lock(&self.pairs).retain(|_, r| fresh(r));
        lock(&self.accounts).retain(|_, r| fresh(r));
    }

    fn check_at(&self, account: &str, ip: IpAddr, now: Instant) -> Result<Duration, Duration> {
        let config = &self.config;
        if let Some(pair) = self.current(&self.pairs, &(account.to_owned(), ip), now) {
            if let Some(backoff) = step(
                pair.failures,
                config.free,
                PAIR_BACKOFF_BASE,
                config.backoff_max,
            ) {
                let wait = (pair.last + backoff).saturating_duration_since(now);
                if !wait.is_zero() {
                    return Err(wait);
                }
            }
        }
        let delay = self
            .current(&self.accounts, &account.to_owned(), now)
            .and_then(|r| {
                step(
                    r.failures,
                    config.free,
                    ACCOUNT_DELAY_BASE,
                    config.delay_max,
                )
            })
            .unwrap_or(Duration::ZERO);
        Ok(delay)
    }

    fn record_failure_at(&self, account: &str, ip: IpAddr, now: Instant) {
        let window = self.config.window;
        bump(
            &mut lock(&self.pairs),
            (account.to_owned(), ip),
            now,
            window,
        );
        bump(&mut lock(&self.accounts), account.to_owned(), now, window);
    }

    /// The record of `key`, unless its latest failure left the window.
    fn current<K: Hash + Eq>(
        &self,
        map: &Mutex<HashMap<K, Record>>,
        key: &K,
        now: Instant,
    ) -> Option<Record> {
        lock(map)
            .get(key)
            .copied()
            .filter(|r| now.duration_since(r.last) < self.config.window)
    }
}

/// `base x 2^(failures - free)` capped at `max`, or `None` within the free failures.
fn step(failures: u32, free: u32, base: Duration, max: Duration) -> Option<Duration> {
    let over = failures.checked_sub(free)?;
    // 2^31 steps of anything exceed every cap; saturate instead of overflowing.
    let factor = 1u32.checked_shl(over).unwrap_or(u32::MAX);
    Some(base.saturating_mul(factor).min(max))
}

fn bump<K: Hash + Eq>(map: &mut HashMap<K, Record>, key: K, now: Instant, window: Duration) {
    let record = map.entry(key).or_insert(Record {
        failures: 0,
        last: now,
    });
    if now.duration_since(record.last) >= window {
        record.failures = 0;
    }
    record.failures = record.failures.saturating_add(1);
    record.last = now;
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave a count inconsistent.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle() -> LoginThrottle {
        LoginThrottle::new(ThrottleConfig {
            free: 2,
            window: Duration::from_secs(900),
            backoff_max: Duration::from_secs(60),
            delay_max: Duration::from_secs(2),
        })
    }

    const A: &str = "a@b.co";
    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn a_pair_backs_off_exponentially_up_to_the_cap() {
        let t = throttle();
        let t0 = Instant::now();
        for _ in 0..2 {
            assert_eq!(t.check_at(A, ip(1), t0), Ok(Duration::ZERO));
            t.record_failure_at(A, ip(1), t0);
        }
        // Two free failures: the third try waits 1 s, then 2 s, 4 s ... up to 60 s.
        let mut now = t0;
        for expected in [1, 2, 4, 8, 16, 32, 60, 60] {
            let wait = Duration::from_secs(expected);
            assert_eq!(t.check_at(A, ip(1), now), Err(wait), "{expected}");
            now += wait;
            assert!(t.check_at(A, ip(1), now).is_ok(), "{expected}");
            t.record_failure_at(A, ip(1), now);
        }
    }

    #[test]
    fn other_addresses_are_slowed_down_never_refused() {
        let t = throttle();
        let t0 = Instant::now();
        for i in 0..20 {
            t.record_failure_at(A, ip(1), t0 + Duration::from_secs(i));
        }
        let now = t0 + Duration::from_secs(20);
        assert!(t.check_at(A, ip(1), now).is_err());
        // The owner elsewhere waits before the password check, at most delay_max.
        assert_eq!(t.check_at(A, ip(2), now), Ok(Duration::from_secs(2)));
        // Another account is untouched, known or not.
        assert_eq!(t.check_at("c@d.co", ip(1), now), Ok(Duration::ZERO));
        // The account-wide delay grows from 100 ms after the free failures.
        let fresh = throttle();
        for (failures, millis) in [(2, 100), (3, 200), (4, 400), (6, 1600), (7, 2000)] {
            let fresh_t = Instant::now();
            while lock(&fresh.accounts).get(A).map_or(0, |r| r.failures) < failures {
                fresh.record_failure_at(A, ip(9), fresh_t);
            }
            assert_eq!(
                fresh.check_at(A, ip(3), fresh_t),
                Ok(Duration::from_millis(millis)),
                "{failures}"
            );
        }
    }

    #[test]
    fn success_clears_the_pair_and_the_window_forgets() {
        let t = throttle();
        let t0 = Instant::now();
        for _ in 0..5 {
            t.record_failure_at(A, ip(1), t0);
        }
        assert!(t.check_at(A, ip(1), t0).is_err());
        t.clear(A, ip(1));
        // The account-wide count stays: the next check is delayed, not refused.
        assert_eq!(t.check_at(A, ip(1), t0), Ok(Duration::from_millis(800)));
        let later = t0 + Duration::from_secs(900);
        assert_eq!(t.check_at(A, ip(1), later), Ok(Duration::ZERO));
        t.record_failure_at(A, ip(1), later);
        assert_eq!(lock(&t.pairs).values().next().unwrap().failures, 1);
    }
}

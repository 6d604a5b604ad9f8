//! Admission and per-socket limits: how many sockets the node, one client IP and one
//! user may hold ([`caps`]), how fast one socket may send ([`rate`]), how long a socket
//! may stay silent, and how many bytes of pushes one store may queue.
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `MAX_CONNECTIONS` | `10000` | sockets (and 0.4 HTTP requests being served) on this node; more is 503 `TOO_MANY_CONNECTIONS` |
//! | `MAX_CONNECTIONS_PER_IP` | `256` | the same per client IP (the peer address, or `X-Forwarded-For` with `TRUST_PROXY=true`); more is 429 `TOO_MANY_CONNECTIONS_PER_IP` |
//! | `MAX_CONNECTIONS_PER_USER` | `64` | the same per verified user (access tokens only); more is 429 `TOO_MANY_CONNECTIONS_PER_USER` |
//! | `IDLE_TIMEOUT_SECONDS` | `90` | a socket that sends nothing for this long is closed with 4408 |
//! | `MAX_MESSAGES_PER_SECOND` / `MESSAGE_BURST` | `5000` / `10000` | token bucket per socket; a socket over it is closed with 4429 |
//! | `STORE_QUEUE_MAX_BYTES` | `33554432` | bytes of pushes one store holds before they are answered; more is refused with the protocol's error |
//!
//! `0` turns a cap, the idle timeout or the message rate off.

pub mod caps;
pub mod rate;

use std::time::Duration;

use shared::{ConfigError, Vars};

pub use caps::{ConnectionCaps, ConnectionSlot};
pub use rate::TokenBucket;

/// Environment keys of these limits.
pub mod env {
    pub const MAX_CONNECTIONS: &str = "MAX_CONNECTIONS";
    pub const MAX_CONNECTIONS_PER_IP: &str = "MAX_CONNECTIONS_PER_IP";
    pub const MAX_CONNECTIONS_PER_USER: &str = "MAX_CONNECTIONS_PER_USER";
    pub const IDLE_TIMEOUT_SECONDS: &str = "IDLE_TIMEOUT_SECONDS";
    pub const MAX_MESSAGES_PER_SECOND: &str = "MAX_MESSAGES_PER_SECOND";
    pub const MESSAGE_BURST: &str = "MESSAGE_BURST";
    pub const STORE_QUEUE_MAX_BYTES: &str = "STORE_QUEUE_MAX_BYTES";
}

/// Close codes of these limits.
pub mod close_code {
    /// No frame from the client for `IDLE_TIMEOUT_SECONDS`.
    pub const IDLE_TIMEOUT: u16 = 4408;
    /// More messages than `MAX_MESSAGES_PER_SECOND` (beyond `MESSAGE_BURST`).
    pub const MESSAGE_RATE: u16 = 4429;
}

/// The admission and per-socket limits (`None` / `0`: off).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Sockets of the whole node.
    pub max_connections: usize,
    /// Sockets per client IP.
    pub max_per_ip: usize,
    /// Sockets per verified user.
    pub max_per_user: usize,
    /// A socket silent for this long is closed. The 0.3.1 client pings every 25 to
    /// 30 s and the 0.4 client every 10 s, so the default leaves three pings of slack.
    pub idle_timeout: Option<Duration>,
    /// Sustained messages per second per socket (`0`: unlimited).
    pub messages_per_second: u32,
    /// Messages a socket may send at once above the sustained rate.
    pub message_burst: u32,
    /// Bytes of pushes one store holds between their arrival and their answer.
    pub store_queue_bytes: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            max_per_ip: 256,
            max_per_user: 64,
            idle_timeout: Some(Duration::from_secs(90)),
            // Each push waits for its ack, so one LiveStore client sends at most about
            // one frame per round trip: 1,500/s at the 0.65 ms loopback round trip
            // measured in BENCHMARKS.md. The default stays well above that, so only a
            // client that floods is cut off.
            messages_per_second: 5000,
            message_burst: 10000,
            store_queue_bytes: 32 * 1024 * 1024,
        }
    }
}

impl ConnectionLimits {
    /// Reads the keys; `max_frame_bytes` is the largest push a store queue must hold.
    pub fn from_vars(vars: &Vars, max_frame_bytes: usize) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let idle = vars.parse_or(
            env::IDLE_TIMEOUT_SECONDS,
            defaults.idle_timeout.map_or(0, |d| d.as_secs()),
        )?;
        let limits = Self {
            max_connections: vars.parse_or(env::MAX_CONNECTIONS, defaults.max_connections)?,
            max_per_ip: vars.parse_or(env::MAX_CONNECTIONS_PER_IP, defaults.max_per_ip)?,
            max_per_user: vars.parse_or(env::MAX_CONNECTIONS_PER_USER, defaults.max_per_user)?,
            idle_timeout: (idle > 0).then(|| Duration::from_secs(idle)),
            messages_per_second: vars
                .parse_or(env::MAX_MESSAGES_PER_SECOND, defaults.messages_per_second)?,
            message_burst: vars.parse_or(env::MESSAGE_BURST, defaults.message_burst)?,
            store_queue_bytes: vars
                .parse_or(env::STORE_QUEUE_MAX_BYTES, defaults.store_queue_bytes)?,
        };
        if limits.messages_per_second > 0 && limits.message_burst == 0 {
            return Err(ConfigError::new(
                env::MESSAGE_BURST,
                "must be at least 1 while MAX_MESSAGES_PER_SECOND is on",
            ));
        }
        if limits.store_queue_bytes < max_frame_bytes {
            return Err(ConfigError::new(
                env::STORE_QUEUE_MAX_BYTES,
                format!("must be at least MAX_FRAME_BYTES ({max_frame_bytes}), or no push fits"),
            ));
        }
        // The hub reserves a push's bytes from a semaphore, whose size is bounded.
        if limits.store_queue_bytes > tokio::sync::Semaphore::MAX_PERMITS {
            return Err(ConfigError::new(env::STORE_QUEUE_MAX_BYTES, "too large"));
        }
        Ok(limits)
    }

    /// A fresh message-rate bucket for one socket, `None` when the rate is off.
    pub fn message_bucket(&self) -> Option<TokenBucket> {
        (self.messages_per_second > 0)
            .then(|| TokenBucket::new(self.messages_per_second, self.message_burst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_zero_turns_off() {
        let limits = ConnectionLimits::from_vars(&Vars::default(), 1 << 20).unwrap();
        assert_eq!(limits, ConnectionLimits::default());
        let off = ConnectionLimits::from_vars(
            &Vars::from_pairs([
                (env::IDLE_TIMEOUT_SECONDS, "0"),
                (env::MAX_MESSAGES_PER_SECOND, "0"),
                (env::MAX_CONNECTIONS, "0"),
            ]),
            1 << 20,
        )
        .unwrap();
        assert_eq!(off.idle_timeout, None);
        assert!(off.message_bucket().is_none());
        assert_eq!(off.max_connections, 0);
    }

    #[test]
    fn bad_values_name_their_key() {
        for (key, value) in [
            (env::MAX_CONNECTIONS, "-1"),
            (env::MAX_CONNECTIONS_PER_IP, "many"),
            (env::IDLE_TIMEOUT_SECONDS, "1.5"),
            (env::MESSAGE_BURST, "0"),
            (env::STORE_QUEUE_MAX_BYTES, "1000"),
        ] {
            let err = ConnectionLimits::from_vars(&Vars::from_pairs([(key, value)]), 1 << 20)
                .unwrap_err();
            assert_eq!(err.key, key, "{err}");
        }
    }
}

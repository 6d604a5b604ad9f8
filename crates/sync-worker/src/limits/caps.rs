//! Socket counts of the node, per client IP and per user, checked before an upgrade.
//! A [`ConnectionSlot`] holds one place in every count and gives it back when dropped,
//! so a socket's place is released however its task ends.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use http::StatusCode;

use crate::connect::Rejection;

/// Refusal codes of the caps.
pub mod code {
    /// The node holds `MAX_CONNECTIONS` sockets (503).
    pub const TOO_MANY_CONNECTIONS: &str = "TOO_MANY_CONNECTIONS";
    /// The client IP holds `MAX_CONNECTIONS_PER_IP` sockets (429).
    pub const TOO_MANY_CONNECTIONS_PER_IP: &str = "TOO_MANY_CONNECTIONS_PER_IP";
    /// The user holds `MAX_CONNECTIONS_PER_USER` sockets (429).
    pub const TOO_MANY_CONNECTIONS_PER_USER: &str = "TOO_MANY_CONNECTIONS_PER_USER";
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
    per_user: HashMap<Arc<str>, usize>,
}

/// The node's socket counts (`0` in a limit: no cap).
pub struct ConnectionCaps {
    max_total: usize,
    max_per_ip: usize,
    max_per_user: usize,
    counts: Mutex<Counts>,
}

impl ConnectionCaps {
    pub fn new(max_total: usize, max_per_ip: usize, max_per_user: usize) -> Arc<Self> {
        Arc::new(Self {
            max_total,
            max_per_ip,
            max_per_user,
            counts: Mutex::new(Counts::default()),
        })
    }

    /// Takes a place for one socket of `ip` (and of `user`, when it is a verified user),
    /// or says which cap is full: the node's first (503), then the IP's and the user's (429).
    pub fn acquire(
        self: &Arc<Self>,
        ip: IpAddr,
        user: Option<Arc<str>>,
    ) -> Result<ConnectionSlot, Rejection> {
        let mut counts = crate::hub::lock(&self.counts);
        let full = |max: usize, count: usize| max != 0 && count >= max;
        if full(self.max_total, counts.total) {
            return Err(refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                code::TOO_MANY_CONNECTIONS,
                format!(
                    "This server holds its maximum of {} connections; retry later",
                    self.max_total
                ),
            ));
        }
        if full(
            self.max_per_ip,
            counts.per_ip.get(&ip).copied().unwrap_or(0),
        ) {
            return Err(refusal(
                StatusCode::TOO_MANY_REQUESTS,
                code::TOO_MANY_CONNECTIONS_PER_IP,
                format!(
                    "Too many connections from this address (limit {})",
                    self.max_per_ip
                ),
            ));
        }
        if let Some(user) = &user {
            if full(
                self.max_per_user,
                counts.per_user.get(user).copied().unwrap_or(0),
            ) {
                return Err(refusal(
                    StatusCode::TOO_MANY_REQUESTS,
                    code::TOO_MANY_CONNECTIONS_PER_USER,
                    format!(
                        "Too many connections for this user (limit {})",
                        self.max_per_user
                    ),
                ));
            }
            *counts.per_user.entry(user.clone()).or_default() += 1;
        }
        counts.total += 1;
        *counts.per_ip.entry(ip).or_default() += 1;
        Ok(ConnectionSlot {
            caps: self.clone(),
            ip,
            user,
        })
    }

    /// Sockets (and HTTP requests) holding a place now.
    pub fn open(&self) -> usize {
        crate::hub::lock(&self.counts).total
    }

    fn release(&self, ip: IpAddr, user: Option<&Arc<str>>) {
        let mut counts = crate::hub::lock(&self.counts);
        counts.total = counts.total.saturating_sub(1);
        decrement(&mut counts.per_ip, &ip);
        if let Some(user) = user {
            decrement(&mut counts.per_user, user);
        }
    }
}

/// Lowers a count, dropping the entry at zero so the maps hold only live clients.
fn decrement<K: std::hash::Hash + Eq>(map: &mut HashMap<K, usize>, key: &K) {
    if let Some(count) = map.get_mut(key) {
        *count -= 1;
        if *count == 0 {
            map.remove(key);
        }
    }
}

fn refusal(status: StatusCode, code: &'static str, message: String) -> Rejection {
    Rejection {
        status,
        code,
        message,
    }
}

/// One socket's place in the counts, released on drop.
pub struct ConnectionSlot {
    caps: Arc<ConnectionCaps>,
    ip: IpAddr,
    user: Option<Arc<str>>,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.caps.release(self.ip, self.user.as_ref());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_refuse_in_order_and_release_on_drop() {
        let caps = ConnectionCaps::new(3, 2, 1);
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let user: Arc<str> = "u1".into();
        let first = caps.acquire(a, Some(user.clone())).unwrap();
        let err = caps.acquire(b, Some(user.clone())).err().unwrap();
        assert_eq!(
            (err.status, err.code),
            (
                StatusCode::TOO_MANY_REQUESTS,
                code::TOO_MANY_CONNECTIONS_PER_USER
            )
        );
        let second = caps.acquire(a, None).unwrap();
        let err = caps.acquire(a, None).err().unwrap();
        assert_eq!(err.code, code::TOO_MANY_CONNECTIONS_PER_IP);
        let third = caps.acquire(b, None).unwrap();
        let err = caps.acquire(b, None).err().unwrap();
        assert_eq!(
            (err.status, err.code),
            (StatusCode::SERVICE_UNAVAILABLE, code::TOO_MANY_CONNECTIONS)
        );
        drop((first, second, third));
        assert_eq!(caps.open(), 0);
        assert!(crate::hub::lock(&caps.counts).per_ip.is_empty());
        assert!(caps.acquire(a, Some(user)).is_ok());
        let unlimited = ConnectionCaps::new(0, 0, 0);
        let held: Vec<_> = (0..100)
            .map(|_| unlimited.acquire(a, None).unwrap())
            .collect();
        assert_eq!(unlimited.open(), held.len());
    }
}

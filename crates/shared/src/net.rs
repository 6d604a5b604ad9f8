//! The one way either service accepts TCP connections: [`ServiceListener`], which sets
//! `TCP_NODELAY` on every accepted socket.
//!
//! Without it, Nagle's algorithm holds back a small frame written right after another
//! (a `PullRes` after a `PushAck`) until the peer's delayed ACK arrives, about 40 ms on
//! Linux: a client that waits for each ack, as LiveStore's does, is capped at ~25 pushes
//! a second. Every `run` entry point takes a `ServiceListener`, never a bare
//! `TcpListener`, so a listener added later cannot forget the option.

use std::io;
use std::net::{IpAddr, SocketAddr};

use axum::serve::{ListenerExt as _, TapIo};
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};

/// A TCP listener whose accepted sockets have `TCP_NODELAY` set.
pub type ServiceListener = TapIo<TcpListener, fn(&mut TcpStream)>;

/// Binds `addr` (port 0 picks a free port) and wraps it in a [`ServiceListener`].
pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<ServiceListener> {
    Ok(service_listener(TcpListener::bind(addr).await?))
}

/// Wraps an already bound listener.
pub fn service_listener(listener: TcpListener) -> ServiceListener {
    listener.tap_io(set_nodelay as fn(&mut TcpStream))
}

fn set_nodelay(stream: &mut TcpStream) {
    if let Err(error) = stream.set_nodelay(true) {
        // The socket still works, only slower; the peer may already be gone.
        tracing::debug!(%error, "cannot set TCP_NODELAY on an accepted socket");
    }
}

/// The client's IP (both services: rate limits, connection caps): the socket peer, or with `trust_proxy` the last (rightmost)
/// `X-Forwarded-For` entry, the one our own proxy appended. Earlier entries are
/// client-supplied and would let anyone pick their own rate-limit bucket.
pub fn client_ip(
    peer: Option<SocketAddr>,
    headers: &axum::http::HeaderMap,
    trust_proxy: bool,
) -> IpAddr {
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

#[cfg(test)]
mod tests {
    use axum::serve::Listener as _;

    #[tokio::test]
    async fn accepted_sockets_have_nodelay() {
        let mut listener = super::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::net::TcpStream::connect(addr).await.unwrap();
        // A fresh socket starts with Nagle on: the option must come from the listener.
        assert!(!client.nodelay().unwrap());
        let (accepted, peer) = listener.accept().await;
        assert_eq!(peer, client.local_addr().unwrap());
        assert!(accepted.nodelay().unwrap());
    }
}

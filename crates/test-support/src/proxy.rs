//! [`FaultProxy`]: a TCP proxy in front of a PostgreSQL server with a switch.
//!
//! While up it forwards every connection both ways. [`FaultProxy::cut`] drops every live
//! connection at once (the service sees its sockets close, as when the server restarts
//! or a link fails) and then, until [`FaultProxy::restore`], treats new connections the
//! [`Outage`] way: refused (the port is closed, as when the server is down) or
//! blackholed (accepted and never answered, as behind a network partition; they are
//! closed when the outage ends). The server itself is never touched.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How new connections fare during an outage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outage {
    /// The proxy's port is closed: connects fail with "connection refused".
    Refuse,
    /// Connects succeed but nothing ever answers: the PostgreSQL handshake hangs.
    Blackhole,
}

/// One period between two switches: every connection task ends when it changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Phase {
    generation: u64,
    outage: Option<Outage>,
}

/// A proxy on `127.0.0.1:<port>` in front of one upstream address.
pub struct FaultProxy {
    addr: SocketAddr,
    phase: watch::Sender<Phase>,
    accept: JoinHandle<()>,
}

impl FaultProxy {
    /// A proxy in front of the server `database_url` names, and the same URL pointing at
    /// the proxy instead (user, database and query kept).
    pub async fn in_front_of(database_url: &str) -> io::Result<(Self, String)> {
        let (prefix, host_port, rest) = split_authority(database_url)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a postgres:// URL"))?;
        let upstream = tokio::net::lookup_host(host_port)
            .await?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "upstream has no address"))?;
        let proxy = Self::start(upstream).await?;
        let url = format!("{prefix}{}{rest}", proxy.addr);
        Ok((proxy, url))
    }

    /// A proxy forwarding to `upstream`.
    pub async fn start(upstream: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (phase, _) = watch::channel(Phase {
            generation: 0,
            outage: None,
        });
        let accept = tokio::spawn(accept_loop(listener, addr, upstream, phase.clone()));
        Ok(Self {
            addr,
            phase,
            accept,
        })
    }

    /// Where the proxy listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Drops every live connection and starts an outage of kind `how`.
    pub fn cut(&self, how: Outage) {
        self.switch(Some(how));
    }

    /// Ends the outage: new connections are forwarded again.
    pub fn restore(&self) {
        self.switch(None);
    }

    fn switch(&self, outage: Option<Outage>) {
        self.phase.send_modify(|phase| {
            phase.generation += 1;
            phase.outage = outage;
        });
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        // Connection tasks end when the phase sender goes away.
        self.accept.abort();
    }
}

/// `scheme://user@` + `host:port` + `/database?query`, with the default port added.
fn split_authority(url: &str) -> Option<(String, String, String)> {
    let (scheme, after) = url.split_once("://")?;
    let end = after.find(['/', '?']).unwrap_or(after.len());
    let (authority, rest) = after.split_at(end);
    let (user, host_port) = match authority.rsplit_once('@') {
        Some((user, host)) => (format!("{user}@"), host),
        None => (String::new(), authority),
    };
    let host_port = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    };
    Some((format!("{scheme}://{user}"), host_port, rest.to_owned()))
}

async fn accept_loop(
    listener: TcpListener,
    addr: SocketAddr,
    upstream: SocketAddr,
    phase: watch::Sender<Phase>,
) {
    let mut listener = Some(listener);
    let mut changes = phase.subscribe();
    loop {
        let now = *changes.borrow_and_update();
        if now.outage == Some(Outage::Refuse) {
            // Close the port until the outage ends, then take it again.
            listener = None;
            if changes.changed().await.is_err() {
                return;
            }
            continue;
        }
        let bound = match listener.take() {
            Some(bound) => bound,
            None => match rebind(addr).await {
                Some(bound) => bound,
                None => return,
            },
        };
        tokio::select! {
            accepted = bound.accept() => {
                if let Ok((client, _)) = accepted {
                    let watch = phase.subscribe();
                    match now.outage {
                        None => { tokio::spawn(forward(client, upstream, watch)); }
                        Some(_) => { tokio::spawn(hold(client, watch)); }
                    }
                }
            }
            changed = changes.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
        listener = Some(bound);
    }
}

/// Binds `addr` again after a refusing outage (the port was ours a moment ago).
async fn rebind(addr: SocketAddr) -> Option<TcpListener> {
    for _ in 0..200 {
        if let Ok(listener) = TcpListener::bind(addr).await {
            return Some(listener);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    None
}

/// Forwards both ways until either side closes or the phase changes (a cut).
async fn forward(mut client: TcpStream, upstream: SocketAddr, mut phase: watch::Receiver<Phase>) {
    phase.borrow_and_update();
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = phase.changed() => {}
    }
    // Both sockets drop here: the service sees its connection end mid-conversation.
}

/// Keeps a blackholed connection open, unanswered, until the outage ends.
async fn hold(client: TcpStream, mut phase: watch::Receiver<Phase>) {
    phase.borrow_and_update();
    let _ = phase.changed().await;
    drop(client);
}

#[cfg(test)]
mod tests {
    use super::split_authority;

    #[test]
    fn urls_keep_everything_but_the_address() {
        assert_eq!(
            split_authority("postgres://root@127.0.0.1:5432/db?sslmode=disable").unwrap(),
            (
                "postgres://root@".to_owned(),
                "127.0.0.1:5432".to_owned(),
                "/db?sslmode=disable".to_owned()
            )
        );
        assert_eq!(
            split_authority("postgresql://localhost/db").unwrap(),
            (
                "postgresql://".to_owned(),
                "localhost:5432".to_owned(),
                "/db".to_owned()
            )
        );
        assert!(split_authority("nonsense").is_none());
    }
}

//! Reconnect storm: 5,000 clients on the real binary; the process is killed with
//! `kill -9` and started again on the same port, and every client reconnects at once,
//! retrying as a real client does (a pause after a failed attempt, then again). All of
//! them get back in and are served (a `Ping` answered), and none is turned away with an
//! HTTP error: the burst waits in the listen queue and is taken as fast as the server
//! completes handshakes, instead of failing.
//!
//! The clients come from 25 loopback addresses (200 each), as a storm comes from many
//! addresses, so the per-IP cap (`MAX_CONNECTIONS_PER_IP`, default 256) stays in force.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;

use crate::kill::{free_port, Process};
use crate::load::store_url;

const CLIENTS: usize = 5_000;
const SOURCE_ADDRESSES: usize = 25;
const STORES: usize = 100;
/// Longest a client keeps trying to get back in.
const RECONNECT_WAIT: Duration = Duration::from_secs(60);
/// A client's pause after a failed attempt.
const RETRY_PAUSE: Duration = Duration::from_millis(250);

type Ws = WebSocketStream<TcpStream>;

/// Attempts that failed below HTTP (connection refused while the server was down, or
/// reset in the listen queue), counted across all clients.
#[derive(Default)]
struct Tally {
    failed: AtomicUsize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_clients_reconnecting_at_once_all_get_back_in() {
    raise_open_file_limit(4 * CLIENTS as u64);
    let dir = tempfile::tempdir().expect("tempdir");
    let database_url = format!("sqlite://{}/sync.db", dir.path().display());
    let port = free_port();
    let mut server = Process::spawn_on(&database_url, port, &[]).await;
    let addr = server.addr;
    let tally = Arc::new(Tally::default());

    // Everyone connects (in waves of 500, as a fleet comes online over time).
    let mut sockets = Vec::with_capacity(CLIENTS);
    for wave in (0..CLIENTS).collect::<Vec<_>>().chunks(500) {
        let opened = futures_util::future::join_all(
            wave.iter()
                .map(|&i| connect_until_served(addr, i, Arc::clone(&tally))),
        )
        .await;
        sockets.extend(opened);
    }
    assert_eq!(sockets.len(), CLIENTS);

    server.kill_9().await;
    let (restarted_tx, restarted) = tokio::sync::watch::channel(false);
    let clients: Vec<_> = sockets
        .into_iter()
        .enumerate()
        .map(|(i, mut ws)| {
            let tally = Arc::clone(&tally);
            let mut restarted = restarted.clone();
            tokio::spawn(async move {
                // The socket dies with the process; the client notices and comes back.
                while let Some(Ok(_)) = ws.next().await {}
                restarted.wait_for(|up| *up).await.expect("restart");
                let back = Instant::now();
                let _ws = connect_until_served(addr, i, tally).await;
                back.elapsed()
            })
        })
        .collect();
    server = Process::spawn_on(&database_url, port, &[]).await;
    restarted_tx.send_replace(true);

    let mut slowest = Duration::ZERO;
    for client in clients {
        slowest = slowest.max(client.await.expect("client"));
    }
    // Every client is back and served; a refusal would have failed its task.
    eprintln!(
        "storm: all {CLIENTS} clients back, the slowest after {slowest:?}; {} attempts failed \
         below HTTP meanwhile",
        tally.failed.load(Ordering::Relaxed)
    );
    server.kill_9().await;
}

/// Connects client `i` from its source address, retrying until the upgrade succeeds and
/// a `Ping` is answered.
async fn connect_until_served(addr: SocketAddr, i: usize, tally: Arc<Tally>) -> Ws {
    let source = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + (i % SOURCE_ADDRESSES) as u8));
    let url = store_url(addr, &format!("storm-{}", i % STORES));
    let deadline = Instant::now() + RECONNECT_WAIT;
    loop {
        match attempt(source, addr, &url).await {
            Ok(ws) => return ws,
            Err(tungstenite::Error::Http(response)) => {
                panic!("client {i} turned away with HTTP {}", response.status());
            }
            Err(error) => {
                tally.failed.fetch_add(1, Ordering::Relaxed);
                assert!(
                    Instant::now() < deadline,
                    "client {i} not back within {RECONNECT_WAIT:?}: {error}"
                );
                tokio::time::sleep(RETRY_PAUSE).await;
            }
        }
    }
}

/// One connect, upgrade and `Ping` round trip.
async fn attempt(source: IpAddr, addr: SocketAddr, url: &str) -> Result<Ws, tungstenite::Error> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source, 0))?;
    let stream = socket.connect(addr).await?;
    let (mut ws, _) = tokio_tungstenite::client_async(url, stream).await?;
    let ping = r#"{"_tag":"WSMessage.Ping","requestId":"ping"}"#;
    ws.send(Message::Text(ping.into())).await?;
    loop {
        match tokio::time::timeout(Duration::from_secs(20), ws.next()).await {
            Ok(Some(Ok(Message::Text(text)))) if text.as_str().contains("WSMessage.Pong") => {
                return Ok(ws)
            }
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(error))) => return Err(error),
            Ok(None) | Err(_) => return Err(tungstenite::Error::ConnectionClosed),
        }
    }
}

/// Raises this process's soft open-file limit towards `want` (children inherit it).
fn raise_open_file_limit(want: u64) {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    let hard = limit.maximum.unwrap_or(u64::MAX);
    let soft = want.min(hard);
    if limit.current.is_some_and(|current| current >= soft) {
        return;
    }
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(soft),
            maximum: limit.maximum,
        },
    )
    .expect("raise the open-file limit");
    assert!(
        soft >= 2 * CLIENTS as u64 + 1024,
        "the open-file hard limit {hard} is too low for {CLIENTS} clients and the server"
    );
}

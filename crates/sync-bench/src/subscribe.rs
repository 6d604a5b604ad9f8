//! Live pulls: in LiveStore 0.4 a socket receives its store's broadcasts only through a
//! live `SyncWsRpc.Pull` (the real client keeps one open, and confirms its own pushes
//! through it). [`subscribe`] opens one and reads its initial pages, so that every later
//! chunk for it is a broadcast; in 0.3.1 every socket of a store receives broadcasts and
//! there is nothing to do.

use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use futures_util::{SinkExt, StreamExt};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;

use crate::conn::Socket;
use crate::wire::{Incoming, StoreWire};

/// The request id of the live pull this tool opens on a socket.
pub const LIVE_PULL_ID: &str = "live";

/// Opens the live pull `socket` needs for broadcasts (if its protocol needs one) and
/// reads its pages up to the last one; returns the store's backend id when the protocol
/// has one.
pub async fn subscribe(
    socket: &mut Socket,
    wire: &StoreWire,
    idle: Duration,
) -> anyhow::Result<Option<String>> {
    if !wire.protocol.broadcasts_need_live_pull() {
        return Ok(None);
    }
    timeout(
        idle,
        socket.send(Message::text(wire.pull(LIVE_PULL_ID, true))),
    )
    .await
    .map_err(|_| anyhow!("sending the live pull blocked for {idle:?}"))?
    .context("sending the live pull")?;
    loop {
        let msg = timeout(idle, socket.next())
            .await
            .map_err(|_| anyhow!("no answer to the live pull within {idle:?}"))?
            .ok_or_else(|| anyhow!("server closed the socket before answering the live pull"))?
            .context("reading the live pull")?;
        let text = match msg {
            Message::Text(text) => text,
            Message::Close(frame) => bail!("server closed the socket: {frame:?}"),
            _ => continue,
        };
        match wire.protocol.parse(text.as_str())? {
            Incoming::Events(page) if page.pull_id.as_deref() == Some(LIVE_PULL_ID) => {
                if page.remaining == 0 {
                    return Ok(page.backend_id.map(|id| id.into_owned()));
                }
            }
            other => other.fail_on_error()?,
        }
    }
}

/// [`subscribe`] for many sockets at once (at most `concurrency` waiting), in order.
pub async fn subscribe_all(
    sockets: &mut [Socket],
    wire: impl Fn(usize) -> StoreWire,
    concurrency: usize,
    idle: Duration,
) -> anyhow::Result<()> {
    let wires: Vec<StoreWire> = (0..sockets.len()).map(wire).collect();
    if !wires.iter().any(|w| w.protocol.broadcasts_need_live_pull()) {
        return Ok(());
    }
    futures_util::stream::iter(sockets.iter_mut().zip(&wires).enumerate())
        .map(|(i, (socket, wire))| async move {
            subscribe(socket, wire, idle)
                .await
                .with_context(|| format!("socket {i}"))
        })
        .buffer_unordered(concurrency.max(1))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(())
}

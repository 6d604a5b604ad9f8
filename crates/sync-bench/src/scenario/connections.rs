//! `connections`: ramp to K idle authenticated sockets with a bounded number of
//! handshakes in progress; handshakes per second, and server RSS per socket
//! ((RSS after − RSS before) / K). Afterwards every socket must still answer a Ping.

use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use futures_util::stream::FuturesUnordered;
use futures_util::{SinkExt, StreamExt};
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::Message;

use super::{add_latency, Ctx, SMALL_READ_BUFFER};
use crate::cli::{secs, ConnectionsArgs};
use crate::conn::{fresh_store_id, Socket};
use crate::report::{Bound, Report};
use crate::rss::read_memory;
use crate::stats::{per_second, LatencyHistogram};
use crate::wire::{Incoming, Protocol};

/// Issue 8 (50,000 sockets; issue 5 asked 16): at most 12 KiB of server RSS per idle socket.
pub const TARGET_KIB_PER_SOCKET: f64 = 12.0;
/// Issue 8 (issue 5 asked 5,000): at least 15,000 handshakes per second.
pub const TARGET_HANDSHAKES_PER_SEC: f64 = 15_000.0;
/// Sockets pinged at once in the liveness check.
const PING_CONCURRENCY: usize = 512;

pub async fn run(ctx: &Ctx, args: &ConnectionsArgs) -> anyhow::Result<Report> {
    if args.connections == 0 || args.sockets_per_store == 0 {
        bail!("--connections and --sockets-per-store must be at least 1");
    }
    // Tokens and URLs are prepared before the clock starts: minting is client work.
    let stores = args.connections.div_ceil(args.sockets_per_store);
    let store_ids: Vec<String> = (0..stores)
        .map(|i| fresh_store_id(&ctx.opts.store_prefix, "conn", i))
        .collect();
    let mut urls = Vec::with_capacity(args.connections);
    for i in 0..args.connections {
        let store = &store_ids[i / args.sockets_per_store];
        let token = ctx.connector.tokens().token(i, store)?;
        urls.push(ctx.connector.url_for(store, token.as_deref()));
    }

    let pid = ctx.opts.server_pid;
    let settle = secs(args.settle);
    tokio::time::sleep(settle).await;
    let before = pid.map(read_memory).transpose()?;

    let started = Instant::now();
    let sockets = ctx
        .connector
        .with_read_buffer(SMALL_READ_BUFFER)
        .connect_many(urls, args.handshake_concurrency)
        .await?;
    let ramp = started.elapsed();
    let mut handshake = LatencyHistogram::new();
    for (_, took) in &sockets {
        handshake.record(*took);
    }

    tokio::time::sleep(settle).await;
    let after = pid.map(read_memory).transpose()?;
    let sockets: Vec<Socket> = sockets.into_iter().map(|(s, _)| s).collect();
    let alive = ping_all(sockets, ctx.opts.protocol, ctx.opts.idle_timeout()).await?;

    let per_socket_kib = match (before, after) {
        (Some(b), Some(a)) => Some((a.rss_kib as f64 - b.rss_kib as f64) / args.connections as f64),
        _ => None,
    };
    let mut report = ctx.report("connections");
    report
        .param("connections", args.connections)
        .param("handshake_concurrency", args.handshake_concurrency)
        .param("sockets_per_store", args.sockets_per_store)
        .param(
            "server_pid",
            pid.map_or("none".to_owned(), |p| p.to_string()),
        );
    report
        .metric(
            "handshakes_per_sec",
            "handshakes/s",
            Some(per_second(args.connections as f64, ramp)),
            "1/s",
        )
        .metric("ramp_s", "ramp time", Some(ramp.as_secs_f64()), "s")
        .metric(
            "rss_per_socket_kib",
            "server RSS per socket",
            per_socket_kib,
            "KiB",
        )
        .metric(
            "rss_before_mib",
            "server RSS before",
            before.map(|b| b.rss_kib as f64 / 1024.0),
            "MiB",
        )
        .metric(
            "rss_after_mib",
            "server RSS with all sockets",
            after.map(|a| a.rss_kib as f64 / 1024.0),
            "MiB",
        )
        .metric(
            "alive",
            "sockets answering Ping",
            Some(alive as f64),
            "sockets",
        );
    add_latency(&mut report, "handshake", "handshake", &handshake.summary());
    if pid.is_none() {
        report.note("no --server-pid: RSS per socket not measured");
    }
    report
        .target(
            "handshakes_per_sec",
            Bound::AtLeast,
            TARGET_HANDSHAKES_PER_SEC,
        )
        .target("rss_per_socket_kib", Bound::AtMost, TARGET_KIB_PER_SOCKET);
    Ok(report)
}

/// Sends a Ping on every socket and waits for its Pong, then closes it. Fails if any
/// socket is dead: an idle socket the server dropped must not count as held.
async fn ping_all(
    sockets: Vec<Socket>,
    protocol: Protocol,
    idle: Duration,
) -> anyhow::Result<usize> {
    let total = sockets.len();
    let mut queue = sockets.into_iter().enumerate();
    let mut running = FuturesUnordered::new();
    let mut alive = 0usize;
    loop {
        while running.len() < PING_CONCURRENCY {
            match queue.next() {
                Some((i, socket)) => running.push(ping_one(i, socket, protocol, idle)),
                None => break,
            }
        }
        match running.next().await {
            Some(result) => {
                result?;
                alive += 1;
            }
            None => break,
        }
    }
    if alive != total {
        bail!("only {alive} of {total} sockets answered Ping");
    }
    Ok(alive)
}

async fn ping_one(
    i: usize,
    mut socket: Socket,
    protocol: Protocol,
    idle: Duration,
) -> anyhow::Result<()> {
    timeout(idle, socket.send(Message::text(protocol.ping())))
        .await
        .map_err(|_| anyhow!("socket {i}: Ping send blocked"))?
        .with_context(|| format!("socket {i}: sending Ping"))?;
    loop {
        let msg = timeout(idle, socket.next())
            .await
            .map_err(|_| anyhow!("socket {i}: no Pong within {idle:?}"))?
            .ok_or_else(|| anyhow!("socket {i}: closed by the server"))?
            .with_context(|| format!("socket {i}: reading Pong"))?;
        if let Message::Text(text) = msg {
            if matches!(protocol.parse(text.as_str())?, Incoming::Pong) {
                break;
            }
        }
    }
    let _ = timeout(Duration::from_secs(1), socket.close(None)).await;
    Ok(())
}

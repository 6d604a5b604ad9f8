//! `pull`: seed a history of N events with big pipelined pushes, then a fresh client
//! replays it with one pull (no cursor, not live) until `remaining` is 0 (0.3.1) or the
//! pull's `Exit` (0.4). Reports events/s and
//! the server's peak RSS growth during the replay (from `/proc/<pid>/status`).

use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use futures_util::{SinkExt, StreamExt};
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::Message;

use super::Ctx;
use crate::cli::PullArgs;
use crate::conn::{fresh_store_id, Socket};
use crate::report::{Bound, Report};
use crate::rss::{read_memory, reset_peak, RssSampler};
use crate::stats::per_second;
use crate::wire::{EventFactory, Incoming, StoreWire};
use crate::writer::{run_writer, StopAt, WriterPlan};

/// Issue 5: at least 500,000 events/s replayed.
pub const TARGET_EVENTS_PER_SEC: f64 = 500_000.0;
/// Issue 5: server RSS growth during the replay at most 50 MiB.
pub const TARGET_RSS_GROWTH_MIB: f64 = 50.0;
/// Lets the server return freed memory and finish background work before measuring.
const SETTLE: Duration = Duration::from_millis(500);

pub async fn run(ctx: &Ctx, args: &PullArgs) -> anyhow::Result<Report> {
    let store = match &args.store {
        Some(id) => id.clone(),
        None => fresh_store_id(&ctx.opts.store_prefix, "pull", 0),
    };
    let seed_rate = if args.skip_seed {
        None
    } else {
        Some(seed(ctx, args, &store).await?)
    };
    eprintln!(
        "sync-bench pull: history of {} events ready in {store}; replaying",
        args.events
    );
    tokio::time::sleep(SETTLE).await;

    let reader = ctx.connector.connect(&store, 1).await?;
    tokio::time::sleep(SETTLE).await;
    let pid = ctx.opts.server_pid;
    let before = pid.map(read_memory).transpose()?;
    let peak_reset = pid.is_some_and(reset_peak);
    let sampler = pid
        .map(|p| RssSampler::start(p, Duration::from_millis(args.rss_interval_ms.max(1))))
        .transpose()?;

    let replay = replay(
        reader,
        &ctx.wire(&store),
        args.events,
        ctx.opts.idle_timeout(),
    )
    .await;
    let sampled = sampler.map(RssSampler::finish).transpose()?;
    let after = pid.map(read_memory).transpose()?;
    let replay = replay?;

    // Peak during the replay: the sampled maximum, or the kernel's high-water mark when
    // it could be reset at the start (it also catches spikes between samples).
    let peak_kib = match (sampled, after) {
        (Some(s), Some(a)) if peak_reset => Some(s.peak_kib.max(a.hwm_kib)),
        (Some(s), _) => Some(s.peak_kib),
        _ => None,
    };
    let growth_mib = match (before, peak_kib) {
        (Some(b), Some(p)) => Some(p.saturating_sub(b.rss_kib) as f64 / 1024.0),
        _ => None,
    };

    let mut report = ctx.report("pull");
    report
        .param("events", args.events)
        .param("seed_batch", args.seed_batch)
        .param("seed_in_flight", args.seed_in_flight)
        .param(
            "server_pid",
            pid.map_or("none".to_owned(), |p| p.to_string()),
        );
    report
        .metric(
            "events_per_sec",
            "replayed events/s",
            Some(per_second(replay.events as f64, replay.elapsed)),
            "events/s",
        )
        .metric(
            "replay_s",
            "replay time",
            Some(replay.elapsed.as_secs_f64()),
            "s",
        )
        .metric(
            "chunks",
            "pull pages (chunks)",
            Some(replay.chunks as f64),
            "frames",
        )
        .metric(
            "first_chunk_ms",
            "time to first chunk",
            Some(replay.first_chunk.as_secs_f64() * 1e3),
            "ms",
        )
        .metric(
            "rss_growth_mib",
            "server RSS growth (peak)",
            growth_mib,
            "MiB",
        )
        .metric(
            "rss_before_mib",
            "server RSS before replay",
            before.map(|b| b.rss_kib as f64 / 1024.0),
            "MiB",
        )
        .metric(
            "rss_peak_mib",
            "server RSS peak during replay",
            peak_kib.map(|p| p as f64 / 1024.0),
            "MiB",
        )
        .metric(
            "seed_events_per_sec",
            "seeding acked events/s",
            seed_rate,
            "events/s",
        );
    if pid.is_none() {
        report.note("no --server-pid: RSS growth not measured");
    } else if let Some(s) = sampled {
        report.note(format!(
            "{} RSS samples every {} ms; peak-RSS counter reset: {}",
            s.samples, args.rss_interval_ms, peak_reset
        ));
    }
    report
        .target("events_per_sec", Bound::AtLeast, TARGET_EVENTS_PER_SEC)
        .target("rss_growth_mib", Bound::AtMost, TARGET_RSS_GROWTH_MIB);
    Ok(report)
}

/// Pushes the history (events 1..=N) into `store`; returns the acked events per second.
async fn seed(ctx: &Ctx, args: &PullArgs, store: &str) -> anyhow::Result<f64> {
    let seeder = ctx.connector.connect(store, 0).await?;
    let plan = WriterPlan::fixed(
        args.seed_batch,
        args.seed_in_flight,
        StopAt::Events(args.events),
        ctx.opts.idle_timeout(),
    );
    let seed = run_writer(
        seeder,
        ctx.wire(store),
        EventFactory::new(ctx.opts.event_pad, 0),
        plan,
        ctx.clock,
    )
    .await
    .context("seeding the history")?;
    if seed.head != args.events {
        bail!("seeded {} events, wanted {}", seed.head, args.events);
    }
    Ok(per_second(seed.acked_events as f64, seed.elapsed))
}

struct Replay {
    events: u64,
    chunks: u64,
    elapsed: Duration,
    first_chunk: Duration,
}

/// Pulls everything and checks it is exactly events 1..=expected, in order.
async fn replay(
    socket: Socket,
    wire: &StoreWire,
    expected: u64,
    idle: Duration,
) -> anyhow::Result<Replay> {
    const PULL_ID: &str = "bench-pull";
    let (mut sink, mut stream) = socket.split();
    let started = Instant::now();
    timeout(idle, sink.send(Message::text(wire.pull(PULL_ID, false))))
        .await
        .map_err(|_| anyhow!("sending the pull blocked"))?
        .context("sending the pull")?;
    let ends_with_exit = wire.protocol.pull_ends_with_exit();
    let mut last_remaining = None;
    let mut next_seq = 1u64;
    let mut chunks = 0u64;
    let mut first_chunk = None;
    loop {
        let msg = timeout(idle, stream.next())
            .await
            .map_err(|_| anyhow!("no pull page for {idle:?} after e{}", next_seq - 1))?
            .ok_or_else(|| anyhow!("server closed the socket mid-replay"))?
            .context("reading a pull page")?;
        let text = match msg {
            Message::Text(text) => text,
            Message::Close(frame) => bail!("server closed the socket mid-replay: {frame:?}"),
            _ => continue,
        };
        match wire.protocol.parse(text.as_str())? {
            Incoming::Events(frame) if frame.pull_id.as_deref() == Some(PULL_ID) => {
                first_chunk.get_or_insert_with(|| started.elapsed());
                chunks += 1;
                for (seq, parent) in frame.batch_seq_nums()? {
                    if seq != next_seq || parent + 1 != seq {
                        bail!("replay out of order: got e{seq} (parent e{parent}), expected e{next_seq}");
                    }
                    next_seq += 1;
                }
                last_remaining = Some(frame.remaining);
                if frame.remaining == 0 && !ends_with_exit {
                    break;
                }
            }
            Incoming::Done { request_id } if request_id == PULL_ID => {
                if last_remaining != Some(0) {
                    bail!("the pull ended after a page with remaining {last_remaining:?}");
                }
                break;
            }
            other => other.fail_on_error()?,
        }
    }
    let elapsed = started.elapsed();
    let _ = timeout(Duration::from_secs(2), sink.close()).await;
    let events = next_seq - 1;
    if events != expected {
        bail!("replay returned {events} events, expected {expected}");
    }
    Ok(Replay {
        events,
        chunks,
        elapsed,
        first_chunk: first_chunk.unwrap_or(elapsed),
    })
}

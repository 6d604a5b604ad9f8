//! `clients`: S stores, each with one writer and R readers, as LiveStore clients behave:
//! the writer keeps one push in flight (the next batch after the `PushAck`) and sends
//! batches of 1 to 50 events (a random size per push), optionally at a user's pace;
//! the readers only receive the broadcasts. Reports total acked events/s, the push round
//! trip, push-to-receive latency at the readers, and the slowest store's rate (fairness).
//!
//! With one push in flight a writer's rate is at most one push per round trip, so the
//! unpaced run (`--rate 0`) measures capacity: by Little's law the round trip there is
//! S / (pushes/s), queueing included. A paced run (`--rate N` pushes/s per writer)
//! measures the latency a given offered load sees.

use std::time::Duration;

use anyhow::{bail, Context};
use rand::Rng;
use tokio::sync::watch;
use tokio::time::Instant;

use super::fanout::receive;
use super::{add_latency, Ctx, SMALL_READ_BUFFER};
use crate::cli::{secs, ClientsArgs};
use crate::conn::{fresh_store_id, Socket};
use crate::report::{Bound, Report};
use crate::stats::{per_second, LatencyHistogram};
use crate::subscribe::subscribe_all;
use crate::wire::EventFactory;
use crate::writer::{run_writer, StopAt, WriterPlan};

/// Issue 8 (S=1,000 x (1 writer + 4 readers)): at least 50,000 acked events/s in total.
pub const TARGET_EVENTS_PER_SEC: f64 = 50_000.0;
/// Issue 8: push round trip p99 at most 25 ms.
pub const TARGET_ACK_P99_MS: f64 = 25.0;
/// Issue 8: push-to-receive p99 at the readers at most 50 ms.
pub const TARGET_RECEIVE_P99_MS: f64 = 50.0;

pub async fn run(ctx: &Ctx, args: &ClientsArgs) -> anyhow::Result<Report> {
    if args.stores == 0 || args.min_batch == 0 || args.max_batch < args.min_batch {
        bail!("need --stores >= 1 and 1 <= --min-batch <= --max-batch");
    }
    if !args.rate.is_finite() || args.rate < 0.0 {
        bail!("--rate must be 0 (unpaced) or positive");
    }
    let stores: Vec<String> = (0..args.stores)
        .map(|i| fresh_store_id(&ctx.opts.store_prefix, "clients", i))
        .collect();
    // Tokens and URLs first: minting is client work, not part of any measurement.
    let mut reader_urls = Vec::with_capacity(args.stores * args.readers);
    let mut writer_urls = Vec::with_capacity(args.stores);
    for (s, store) in stores.iter().enumerate() {
        let first_user = s * (args.readers + 1);
        let token = ctx.connector.tokens().token(first_user, store)?;
        writer_urls.push(ctx.connector.url_for(store, token.as_deref()));
        for r in 0..args.readers {
            let token = ctx.connector.tokens().token(first_user + 1 + r, store)?;
            let i = reader_urls.len();
            reader_urls.push(ctx.connector.receiver_url_for(i, store, token.as_deref()));
        }
    }
    let connect_started = Instant::now();
    let readers = ctx
        .connector
        .with_read_buffer(SMALL_READ_BUFFER)
        .connect_many(reader_urls, args.handshake_concurrency)
        .await
        .context("connecting the readers")?;
    let mut readers: Vec<Socket> = readers.into_iter().map(|(socket, _)| socket).collect();
    // 0.4 readers receive broadcasts through a live pull, opened before anyone pushes.
    subscribe_all(
        &mut readers,
        |i| ctx.wire(&stores[i / args.readers.max(1)]),
        args.handshake_concurrency,
        ctx.opts.idle_timeout(),
    )
    .await
    .context("opening the readers' live pulls")?;
    let writers = ctx
        .connector
        .connect_many(writer_urls, args.handshake_concurrency)
        .await
        .context("connecting the writers")?;
    let connect_took = connect_started.elapsed();

    // Per store: `None` while its writer pushes, then its final head.
    let (heads_tx, heads_rx): (Vec<_>, Vec<_>) = (0..args.stores)
        .map(|_| watch::channel::<Option<u64>>(None))
        .unzip();
    let warmup_ns = ctx.clock.now_ns() + u64::try_from(secs(args.warmup).as_nanos())?;
    let mut reader_tasks = Vec::with_capacity(readers.len());
    for (i, socket) in readers.into_iter().enumerate() {
        let store = i / args.readers.max(1);
        reader_tasks.push(tokio::spawn(receive(
            socket,
            ctx.opts.protocol,
            heads_rx[store].clone(),
            ctx.clock,
            warmup_ns,
            ctx.opts.idle_timeout(),
        )));
    }

    let now = Instant::now();
    let record_from = now + secs(args.warmup);
    let deadline = record_from + secs(args.duration);
    let pace = (args.rate > 0.0).then(|| Duration::from_secs_f64(1.0 / args.rate));
    let mut writer_tasks = Vec::with_capacity(writers.len());
    for (i, (socket, _)) in writers.into_iter().enumerate() {
        // Paced writers start at random points of their interval, as independent users
        // would, instead of all at once.
        let start_delay = pace.map_or(Duration::ZERO, |p| {
            p.mul_f64(rand::thread_rng().gen_range(0.0..1.0))
        });
        let plan = WriterPlan {
            batch: args.min_batch,
            batch_max: args.max_batch,
            in_flight: 1,
            stop: StopAt::Deadline(deadline),
            pace,
            start_delay,
            record_from: Some(record_from),
            idle_timeout: ctx.opts.idle_timeout(),
        };
        let factory = EventFactory::new(ctx.opts.event_pad, i);
        let wire = ctx.wire(&stores[i]);
        writer_tasks.push(tokio::spawn(run_writer(
            socket, wire, factory, plan, ctx.clock,
        )));
    }

    let mut acked = 0u64;
    let mut pushes = 0u64;
    let mut slowest = Duration::ZERO;
    let mut slowest_store_rate = f64::INFINITY;
    let mut ack_latency = LatencyHistogram::new();
    let mut first_error = None;
    for (i, task) in writer_tasks.into_iter().enumerate() {
        let outcome = task.await.context("writer task panicked")?;
        // Readers stop at the final head even when the writer failed: nothing hangs.
        let head = outcome.as_ref().map_or(0, |o| o.head);
        let _ = heads_tx[i].send(Some(head));
        match outcome {
            Ok(o) => {
                acked += o.acked_events;
                pushes += o.pushes;
                slowest = slowest.max(o.elapsed);
                slowest_store_rate =
                    slowest_store_rate.min(per_second(o.acked_events as f64, o.elapsed));
                ack_latency.merge(&o.ack_latency);
            }
            Err(e) => {
                first_error.get_or_insert_with(|| format!("writer of {}: {e:#}", stores[i]));
            }
        }
    }
    if let Some(e) = first_error {
        bail!("{e}");
    }

    let mut receive_latency = LatencyHistogram::new();
    let mut delivered = 0u64;
    let mut readers_failed = 0usize;
    let mut first_reader_error = None;
    for task in reader_tasks {
        match task.await.context("reader task panicked")? {
            Ok(r) => {
                for ns in r.latency_ns {
                    receive_latency.record_ns(ns);
                }
                delivered += r.events;
            }
            Err(e) => {
                readers_failed += 1;
                first_reader_error.get_or_insert_with(|| format!("{e:#}"));
            }
        }
    }
    let expected = acked * args.readers as u64;

    let mut report = ctx.report("clients");
    report
        .param("stores", args.stores)
        .param("readers", args.readers)
        .param("receiver_urls", ctx.connector.receiver_bases().join(","))
        .param("batch", format!("{}-{}", args.min_batch, args.max_batch))
        .param("in_flight", 1)
        .param(
            "rate_per_writer",
            if pace.is_some() {
                args.rate.to_string()
            } else {
                "unpaced".to_owned()
            },
        )
        .param("duration_s", args.duration);
    report
        .metric(
            "acked_events_per_sec",
            "total acked events/s",
            Some(per_second(acked as f64, slowest)),
            "events/s",
        )
        .metric(
            "pushes_per_sec",
            "total acked pushes/s",
            Some(per_second(pushes as f64, slowest)),
            "pushes/s",
        )
        .metric("acked_events", "acked events", Some(acked as f64), "events")
        .metric(
            "slowest_store_events_per_sec",
            "slowest store",
            slowest_store_rate.is_finite().then_some(slowest_store_rate),
            "events/s",
        );
    add_latency(
        &mut report,
        "ack",
        "push round trip",
        &ack_latency.summary(),
    );
    let receive = receive_latency.summary();
    add_latency(
        &mut report,
        "receive",
        "push-to-receive (readers)",
        &receive,
    );
    report
        .metric(
            "receive_samples",
            "reader latency samples",
            Some(receive.samples as f64),
            "events",
        )
        .metric(
            "delivered_ratio",
            "deliveries received / expected",
            Some(if expected > 0 {
                delivered as f64 / expected as f64
            } else {
                0.0
            }),
            "",
        )
        .metric(
            "readers_failed",
            "readers failed",
            Some(readers_failed as f64),
            "sockets",
        )
        .metric(
            "connect_s",
            "time to connect all sockets",
            Some(connect_took.as_secs_f64()),
            "s",
        )
        .metric(
            "elapsed_s",
            "elapsed (slowest writer)",
            Some(slowest.as_secs_f64()),
            "s",
        );
    if let Some(e) = first_reader_error {
        report.note(format!("first reader error: {e}"));
    }
    report
        .target(
            "acked_events_per_sec",
            Bound::AtLeast,
            TARGET_EVENTS_PER_SEC,
        )
        .target("ack_p99_ms", Bound::AtMost, TARGET_ACK_P99_MS)
        .target("receive_p99_ms", Bound::AtMost, TARGET_RECEIVE_P99_MS);
    Ok(report)
}

//! `stores`: S stores with one writer each, one push in flight (`stores-pipelined`: up
//! to 8); total acked events per second and the slowest store's rate.

use anyhow::Context;
use tokio::time::Instant;

use super::{add_latency, Ctx};
use crate::cli::{secs, StoresArgs, PIPELINED_IN_FLIGHT};
use crate::conn::fresh_store_id;
use crate::report::{Bound, Report};
use crate::stats::{per_second, LatencyHistogram};
use crate::wire::EventFactory;
use crate::writer::{run_writer, StopAt, WriterPlan};

/// Issue 5: at least 100,000 acked events/s in total over S=100 pipelined stores.
pub const TARGET_EVENTS_PER_SEC: f64 = 100_000.0;
/// Handshakes in progress at once while opening the writers' sockets.
const CONNECT_CONCURRENCY: usize = 64;

/// Runs `stores` (one push in flight per writer unless `--in-flight` says otherwise) or
/// `stores-pipelined` (8 by default).
pub async fn run(ctx: &Ctx, args: &StoresArgs, pipelined: bool) -> anyhow::Result<Report> {
    let name = if pipelined {
        "stores-pipelined"
    } else {
        "stores"
    };
    let in_flight =
        args.writer
            .in_flight
            .unwrap_or(if pipelined { PIPELINED_IN_FLIGHT } else { 1 });
    let stores: Vec<String> = (0..args.stores)
        .map(|i| fresh_store_id(&ctx.opts.store_prefix, "stores", i))
        .collect();
    let mut urls = Vec::with_capacity(stores.len());
    for (i, store) in stores.iter().enumerate() {
        let token = ctx.connector.tokens().token(i, store)?;
        urls.push(ctx.connector.url_for(store, token.as_deref()));
    }
    let sockets = ctx
        .connector
        .connect_many(urls, CONNECT_CONCURRENCY)
        .await?;

    // Every writer gets the same deadline, fixed once all sockets are open.
    let deadline = Instant::now() + secs(args.writer.duration);
    let mut writers = Vec::with_capacity(sockets.len());
    for (i, (socket, _)) in sockets.into_iter().enumerate() {
        let plan = WriterPlan::fixed(
            args.writer.batch,
            in_flight,
            StopAt::Deadline(deadline),
            ctx.opts.idle_timeout(),
        );
        let factory = EventFactory::new(ctx.opts.event_pad, i);
        let wire = ctx.wire(&stores[i]);
        writers.push(tokio::spawn(run_writer(
            socket, wire, factory, plan, ctx.clock,
        )));
    }

    let mut acked = 0u64;
    let mut pushes = 0u64;
    let mut slowest = std::time::Duration::ZERO;
    let mut latency = LatencyHistogram::new();
    let mut slowest_store_rate = f64::INFINITY;
    for (i, w) in writers.into_iter().enumerate() {
        let out = w
            .await
            .context("writer task panicked")?
            .with_context(|| format!("writer of store {}", stores[i]))?;
        acked += out.acked_events;
        pushes += out.pushes;
        slowest = slowest.max(out.elapsed);
        slowest_store_rate =
            slowest_store_rate.min(per_second(out.acked_events as f64, out.elapsed));
        latency.merge(&out.ack_latency);
    }

    let mut report = ctx.report(name);
    report
        .param("stores", args.stores)
        .param("batch", args.writer.batch)
        .param("in_flight", in_flight)
        .param("duration_s", args.writer.duration);
    report
        .metric(
            "acked_events_per_sec",
            "total acked events/s",
            Some(per_second(acked as f64, slowest)),
            "events/s",
        )
        .metric("acked_events", "acked events", Some(acked as f64), "events")
        .metric("pushes", "acked pushes", Some(pushes as f64), "pushes")
        .metric(
            "slowest_store_events_per_sec",
            "slowest store",
            slowest_store_rate.is_finite().then_some(slowest_store_rate),
            "events/s",
        )
        .metric(
            "elapsed_s",
            "elapsed (slowest writer)",
            Some(slowest.as_secs_f64()),
            "s",
        );
    add_latency(&mut report, "ack", "push round trip", &latency.summary());
    if pipelined {
        report.target(
            "acked_events_per_sec",
            Bound::AtLeast,
            TARGET_EVENTS_PER_SEC,
        );
    }
    Ok(report)
}

//! `push`: one store, one pipelined writer, batches of B events; acked events per second.

use tokio::time::Instant;

use super::{add_latency, Ctx};
use crate::cli::{secs, PushArgs};
use crate::conn::fresh_store_id;
use crate::report::{Bound, Report};
use crate::stats::per_second;
use crate::wire::EventFactory;
use crate::writer::{run_writer, StopAt, WriterPlan};

/// Issue 5: at least 100,000 acked events/s with B=100 on one store.
pub const TARGET_EVENTS_PER_SEC: f64 = 100_000.0;

pub async fn run(ctx: &Ctx, args: &PushArgs) -> anyhow::Result<Report> {
    let store = fresh_store_id(&ctx.opts.store_prefix, "push", 0);
    let socket = ctx.connector.connect(&store, 0).await?;
    let plan = WriterPlan {
        batch: args.writer.batch,
        in_flight: args.writer.in_flight,
        stop: StopAt::Deadline(Instant::now() + secs(args.writer.duration)),
        pace: None,
        idle_timeout: ctx.opts.idle_timeout(),
    };
    let out = run_writer(
        socket,
        EventFactory::new(ctx.opts.event_pad, 0),
        plan,
        ctx.clock,
    )
    .await?;

    let mut report = ctx.report("push");
    report
        .param("batch", args.writer.batch)
        .param("in_flight", args.writer.in_flight)
        .param("duration_s", args.writer.duration)
        .param("store", &store);
    let rate = per_second(out.acked_events as f64, out.elapsed);
    report
        .metric(
            "acked_events_per_sec",
            "acked events/s",
            Some(rate),
            "events/s",
        )
        .metric(
            "pushes_per_sec",
            "acked pushes/s",
            Some(per_second(out.pushes as f64, out.elapsed)),
            "pushes/s",
        )
        .metric(
            "acked_events",
            "acked events",
            Some(out.acked_events as f64),
            "events",
        )
        .metric("elapsed_s", "elapsed", Some(out.elapsed.as_secs_f64()), "s")
        .metric(
            "broadcasts_received",
            "own broadcasts received",
            Some(out.broadcasts as f64),
            "frames",
        );
    add_latency(
        &mut report,
        "ack",
        "push-to-ack",
        &out.ack_latency.summary(),
    );
    report.target(
        "acked_events_per_sec",
        Bound::AtLeast,
        TARGET_EVENTS_PER_SEC,
    );
    Ok(report)
}

//! `push`: one store, one writer, batches of B events, the next push after each ack (as
//! LiveStore's client does); acked events per second and the push round trip.
//! `push-pipelined` is the same with up to 8 pushes outstanding.

use tokio::time::Instant;

use super::{add_latency, Ctx};
use crate::cli::{secs, PushArgs, PIPELINED_IN_FLIGHT};
use crate::conn::fresh_store_id;
use crate::report::{Bound, Report};
use crate::stats::per_second;
use crate::wire::EventFactory;
use crate::writer::{run_writer, StopAt, WriterPlan};

/// Issue 5: at least 100,000 acked events/s with B=100 on one store, pipelined.
pub const TARGET_PIPELINED_EVENTS_PER_SEC: f64 = 100_000.0;
/// Issue 8: at least 50,000 acked events/s with B=100 and one push in flight.
pub const TARGET_EVENTS_PER_SEC: f64 = 50_000.0;
/// Issue 8: push round trip p50 at most 1 ms with one push in flight.
pub const TARGET_ACK_P50_MS: f64 = 1.0;
/// Issue 8: push round trip p99 at most 5 ms with one push in flight.
pub const TARGET_ACK_P99_MS: f64 = 5.0;

/// Runs `push` (`pipelined` false: one push in flight unless `--in-flight` says
/// otherwise) or `push-pipelined` (8 outstanding by default).
pub async fn run(ctx: &Ctx, args: &PushArgs, pipelined: bool) -> anyhow::Result<Report> {
    let name = if pipelined { "push-pipelined" } else { "push" };
    let in_flight =
        args.writer
            .in_flight
            .unwrap_or(if pipelined { PIPELINED_IN_FLIGHT } else { 1 });
    let store = fresh_store_id(&ctx.opts.store_prefix, "push", 0);
    let socket = ctx.connector.connect(&store, 0).await?;
    let plan = WriterPlan::fixed(
        args.writer.batch,
        in_flight,
        StopAt::Deadline(Instant::now() + secs(args.writer.duration)),
        ctx.opts.idle_timeout(),
    );
    let out = run_writer(
        socket,
        ctx.wire(&store),
        EventFactory::new(ctx.opts.event_pad, 0),
        plan,
        ctx.clock,
    )
    .await?;

    let mut report = ctx.report(name);
    report
        .param("batch", args.writer.batch)
        .param("in_flight", in_flight)
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
        "push round trip",
        &out.ack_latency.summary(),
    );
    if pipelined {
        report.target(
            "acked_events_per_sec",
            Bound::AtLeast,
            TARGET_PIPELINED_EVENTS_PER_SEC,
        );
    } else {
        report
            .target(
                "acked_events_per_sec",
                Bound::AtLeast,
                TARGET_EVENTS_PER_SEC,
            )
            .target("ack_p50_ms", Bound::AtMost, TARGET_ACK_P50_MS)
            .target("ack_p99_ms", Bound::AtMost, TARGET_ACK_P99_MS);
    }
    Ok(report)
}

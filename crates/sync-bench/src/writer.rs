//! A writer: the one client that owns a store, so it knows every parent in advance.
//! LiveStore's client keeps one push outstanding and sends the next batch after the
//! `PushAck` (`in_flight` 1, the default of every scenario); the pipelined variants keep
//! up to `in_flight` pushes outstanding. An event counts as acked only when its push's
//! `PushAck` (0.4: its `Exit` success) arrives. The writer also drains the broadcasts
//! the server sends back to it, as a real client must (0.4: through its live pull, opened
//! before the first push, which also tells it the store's backend id).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use futures_util::{SinkExt, StreamExt};
use rand::{Rng, SeedableRng};
use tokio::sync::{Notify, Semaphore};
use tokio::time::{timeout, Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;

use crate::conn::Socket;
use crate::stats::{LatencyHistogram, RunClock};
use crate::subscribe::subscribe;
use crate::wire::{EventFactory, Incoming, StoreWire};

/// When a writer stops sending.
#[derive(Debug, Clone, Copy)]
pub enum StopAt {
    /// Stop starting pushes at this instant (outstanding ones are still awaited).
    Deadline(Instant),
    /// Stop after this many events in total.
    Events(u64),
}

/// How one writer pushes.
#[derive(Debug, Clone)]
pub struct WriterPlan {
    /// Events per push; with `batch_max` above it, each push draws its size uniformly
    /// from `batch..=batch_max` (a real client's batches vary with what the user did).
    pub batch: usize,
    pub batch_max: usize,
    pub in_flight: usize,
    pub stop: StopAt,
    /// Fixed interval between pushes (rate-limited writer); `None` pushes as fast as acks allow.
    pub pace: Option<Duration>,
    /// Wait before the first push (spreads paced writers over their interval).
    pub start_delay: Duration,
    /// Pushes sent before this instant are not recorded in `ack_latency` (warm-up).
    pub record_from: Option<Instant>,
    pub idle_timeout: Duration,
}

impl WriterPlan {
    /// A plan with fixed batches of `batch`, no pacing and no warm-up.
    pub fn fixed(batch: usize, in_flight: usize, stop: StopAt, idle_timeout: Duration) -> Self {
        Self {
            batch,
            batch_max: batch,
            in_flight,
            stop,
            pace: None,
            start_delay: Duration::ZERO,
            record_from: None,
            idle_timeout,
        }
    }

    fn next_batch(&self, rng: &mut impl Rng) -> usize {
        if self.batch_max > self.batch {
            rng.gen_range(self.batch..=self.batch_max)
        } else {
            self.batch
        }
    }
}

/// What one writer achieved.
pub struct WriterOutcome {
    pub acked_events: u64,
    pub pushes: u64,
    /// First send to last ack.
    pub elapsed: Duration,
    /// Send-to-ack time per push.
    pub ack_latency: LatencyHistogram,
    /// Broadcasts received back on the writer's own socket.
    pub broadcasts: u64,
    /// The store's head after the run.
    pub head: u64,
}

struct Sent {
    id: u64,
    at: Instant,
    events: usize,
    record: bool,
}

/// Runs one writer on `socket` to the store of `wire`, starting at head 0 of a fresh store.
pub async fn run_writer(
    mut socket: Socket,
    wire: StoreWire,
    factory: EventFactory,
    plan: WriterPlan,
    clock: RunClock,
) -> anyhow::Result<WriterOutcome> {
    if plan.batch == 0 || plan.in_flight == 0 {
        bail!("batch and in-flight must both be at least 1");
    }
    let backend_id = subscribe(&mut socket, &wire, plan.idle_timeout).await?;
    let (mut sink, mut stream) = socket.split();
    let in_flight = u32::try_from(plan.in_flight).context("in-flight too large")?;
    let window = Semaphore::new(plan.in_flight);
    let outstanding: Mutex<VecDeque<Sent>> = Mutex::new(VecDeque::new());
    let all_acked = Notify::new();
    if !plan.start_delay.is_zero() {
        tokio::time::sleep(plan.start_delay).await;
    }
    let started = Instant::now();

    let sender = async {
        let mut rng = rand::rngs::StdRng::from_entropy();
        let mut head = 0u64;
        let mut pushes = 0u64;
        let mut ticker = plan.pace.map(|p| {
            let mut t = tokio::time::interval(p);
            t.set_missed_tick_behavior(MissedTickBehavior::Delay);
            t
        });
        loop {
            let count = match plan.stop {
                StopAt::Deadline(at) if Instant::now() >= at => break,
                StopAt::Deadline(_) => plan.next_batch(&mut rng),
                StopAt::Events(total) if head >= total => break,
                StopAt::Events(total) => plan
                    .next_batch(&mut rng)
                    .min(usize::try_from(total - head)?),
            };
            if let Some(t) = ticker.as_mut() {
                t.tick().await;
            }
            timeout(plan.idle_timeout, window.acquire())
                .await
                .map_err(|_| anyhow!("no PushAck within {:?}", plan.idle_timeout))??
                .forget();
            let id = pushes;
            let frame = wire.push(
                &factory,
                &format!("p{id}"),
                backend_id.as_deref(),
                head,
                count,
                clock.now_ns(),
            );
            outstanding
                .lock()
                .map_err(|_| anyhow!("poisoned"))?
                .push_back({
                    let at = Instant::now();
                    Sent {
                        id,
                        at,
                        events: count,
                        record: plan.record_from.is_none_or(|from| at >= from),
                    }
                });
            timeout(plan.idle_timeout, sink.send(Message::text(frame)))
                .await
                .map_err(|_| anyhow!("send blocked for {:?}", plan.idle_timeout))?
                .context("sending a push")?;
            head += count as u64;
            pushes += 1;
        }
        timeout(plan.idle_timeout, window.acquire_many(in_flight))
            .await
            .map_err(|_| anyhow!("last PushAcks missing after {:?}", plan.idle_timeout))??
            .forget();
        all_acked.notify_one();
        // The socket is closed only after the receiver has stopped reading: a close
        // racing the last reads would turn the server's hang-up into a read error.
        anyhow::Ok((head, pushes, sink))
    };

    let receiver = async {
        let mut acked_events = 0u64;
        let mut broadcasts = 0u64;
        let mut last_ack = started;
        let mut ack_latency = LatencyHistogram::new();
        loop {
            let next = tokio::select! {
                biased;
                _ = all_acked.notified() => break,
                next = timeout(plan.idle_timeout, stream.next()) => next,
            };
            let msg = next
                .map_err(|_| anyhow!("no frame from the server for {:?}", plan.idle_timeout))?
                .ok_or_else(|| anyhow!("server closed the socket"))?
                .context("reading from the socket")?;
            let text = match msg {
                Message::Text(text) => text,
                Message::Close(frame) => bail!("server closed the socket: {frame:?}"),
                _ => continue,
            };
            match wire.protocol.parse(text.as_str())? {
                Incoming::Done { request_id } => {
                    let sent = take_sent(&outstanding, &request_id)?;
                    last_ack = Instant::now();
                    if sent.record {
                        ack_latency.record(last_ack - sent.at);
                    }
                    acked_events += sent.events as u64;
                    window.add_permits(1);
                }
                Incoming::Events(_) => broadcasts += 1,
                other => other.fail_on_error()?,
            }
        }
        anyhow::Ok((acked_events, broadcasts, last_ack, ack_latency))
    };

    let ((head, pushes, mut sink), (acked_events, broadcasts, last_ack, ack_latency)) =
        tokio::try_join!(sender, receiver)?;
    let _ = timeout(Duration::from_secs(2), sink.close()).await;
    Ok(WriterOutcome {
        acked_events,
        pushes,
        elapsed: last_ack.saturating_duration_since(started),
        ack_latency,
        broadcasts,
        head,
    })
}

/// Removes the push a `PushAck` answers (normally the oldest outstanding one).
fn take_sent(outstanding: &Mutex<VecDeque<Sent>>, request_id: &str) -> anyhow::Result<Sent> {
    let id: u64 = request_id
        .strip_prefix('p')
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| anyhow!("PushAck for an unknown request id {request_id:?}"))?;
    let mut queue = outstanding.lock().map_err(|_| anyhow!("poisoned"))?;
    let pos = queue
        .iter()
        .position(|s| s.id == id)
        .ok_or_else(|| anyhow!("PushAck for push {id}, which is not outstanding"))?;
    queue
        .remove(pos)
        .ok_or_else(|| anyhow!("PushAck for push {id}, which is not outstanding"))
}

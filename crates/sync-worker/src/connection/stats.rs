//! What one socket did: counted for its `socket closed` log line and fed to the node's
//! metrics as it happens. Plain fields on the connection's own task, no atomics: only
//! the node-wide series are shared.

use std::time::Instant;

use crate::hub::{Outbound, PushOutcome, Reply};
use crate::metrics::{self, metrics};
use crate::protocol::ProtocolId;

/// Counters of one socket; creating one counts the socket open, dropping it closed.
pub(crate) struct ConnStats {
    protocol: ProtocolId,
    opened: Instant,
    /// When the frame being handled was received (a push's round trip starts here).
    pub(crate) frame_received: Instant,
    pub(crate) frames_in: u64,
    pub(crate) frames_out: u64,
    pub(crate) events_in: u64,
    pub(crate) events_out: u64,
}

impl ConnStats {
    pub(crate) fn open(protocol: ProtocolId) -> Self {
        let m = metrics();
        m.connects_accepted[protocol as usize].increment(1);
        m.sockets_open[protocol as usize].increment(1.0);
        let now = Instant::now();
        Self {
            protocol,
            opened: now,
            frame_received: now,
            frames_in: 0,
            frames_out: 0,
            events_in: 0,
            events_out: 0,
        }
    }

    /// A frame arrived from the client.
    pub(crate) fn received_frame(&mut self) {
        self.frames_in += 1;
        self.frame_received = Instant::now();
    }

    /// A pull page carrying `events` was written.
    pub(crate) fn sent_pull_page(&mut self, events: usize) {
        let events = events as u64;
        self.events_out += events;
        metrics().events_pulled.increment(events);
    }

    /// A queued message was written (see [`Sent::of`]).
    pub(crate) fn sent_outbound(&mut self, sent: Sent) {
        match sent {
            Sent::Ack { received } => metrics()
                .push_round_trip_seconds
                .record(metrics::seconds(received.elapsed())),
            Sent::Broadcast { events } => {
                self.events_out += events;
                metrics().broadcast_frames.increment(1);
            }
            Sent::Other => {}
        }
    }

    /// Logs the socket's `socket closed` line (in the connection's span, which names
    /// the store, the connection, the user and the session).
    pub(crate) fn log_closed(&self, code: Option<u16>, reason: &str) {
        tracing::info!(
            protocol = metrics::protocol_label(self.protocol),
            duration_ms = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX),
            frames_in = self.frames_in,
            frames_out = self.frames_out,
            events_in = self.events_in,
            events_out = self.events_out,
            close_code = code,
            reason,
            "socket closed"
        );
    }
}

impl Drop for ConnStats {
    fn drop(&mut self) {
        metrics().sockets_open[self.protocol as usize].decrement(1.0);
    }
}

/// What a queued message is, taken before it is encoded.
pub(crate) enum Sent {
    /// The ack of one of this connection's pushes.
    Ack { received: Instant },
    /// A broadcast of `events` events.
    Broadcast { events: u64 },
    /// Any other reply.
    Other,
}

impl Sent {
    pub(crate) fn of(out: &Outbound) -> Self {
        match out {
            Outbound::Reply(reply) => match reply.as_ref() {
                Reply::Push {
                    outcome: PushOutcome::Committed,
                    received,
                    ..
                } => Self::Ack {
                    received: *received,
                },
                _ => Self::Other,
            },
            Outbound::Broadcast(committed) => Self::Broadcast {
                events: committed.last_seq.saturating_sub(committed.first_seq) + 1,
            },
        }
    }
}

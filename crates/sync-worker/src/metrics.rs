//! sync-worker's Prometheus series (rendered by `GET /metrics`, see `shared::metrics`).
//!
//! The hot path (every push, broadcast frame and pull page) uses handles resolved once
//! per process in [`metrics()`]: an increment is one atomic add, with no name or label
//! lookup. Rare events (refusals, storage errors, closes) use the `metrics` macros,
//! which look their series up on each call.

use std::sync::LazyLock;
use std::time::Duration;

use ::metrics::{describe_counter, describe_gauge, describe_histogram, Counter, Gauge, Histogram};

use crate::protocol::ProtocolId;

/// The `protocol` label of a socket.
pub fn protocol_label(protocol: ProtocolId) -> &'static str {
    match protocol {
        ProtocolId::V0_3 => "0.3",
        ProtocolId::V0_4 => "0.4",
    }
}

/// The handles of the hot-path series.
pub struct SyncMetrics {
    /// `sync_sockets_open{protocol}`, indexed by [`ProtocolId`].
    pub sockets_open: [Gauge; ProtocolId::COUNT],
    /// `sync_connects_accepted_total{protocol}`.
    pub connects_accepted: [Counter; ProtocolId::COUNT],
    pub pushes_acked: Counter,
    pub events_acked: Counter,
    pub push_commit_seconds: Histogram,
    pub push_round_trip_seconds: Histogram,
    pub broadcast_frames: Counter,
    pub pulls: Counter,
    pub events_pulled: Counter,
    pub slow_consumer_disconnects: Counter,
}

static METRICS: LazyLock<SyncMetrics> = LazyLock::new(|| {
    shared::metrics::install();
    describe();
    let protocols = [ProtocolId::V0_3, ProtocolId::V0_4].map(protocol_label);
    SyncMetrics {
        sockets_open: protocols.map(|p| ::metrics::gauge!("sync_sockets_open", "protocol" => p)),
        connects_accepted: protocols
            .map(|p| ::metrics::counter!("sync_connects_accepted_total", "protocol" => p)),
        pushes_acked: ::metrics::counter!("sync_pushes_acked_total"),
        events_acked: ::metrics::counter!("sync_events_acked_total"),
        push_commit_seconds: ::metrics::histogram!("sync_push_commit_seconds"),
        push_round_trip_seconds: ::metrics::histogram!("sync_push_round_trip_seconds"),
        broadcast_frames: ::metrics::counter!("sync_broadcast_frames_total"),
        pulls: ::metrics::counter!("sync_pulls_total"),
        events_pulled: ::metrics::counter!("sync_events_pulled_total"),
        slow_consumer_disconnects: ::metrics::counter!("sync_slow_consumer_disconnects_total"),
    }
});

/// The process's sync-worker series (installs the recorder on first use).
pub fn metrics() -> &'static SyncMetrics {
    &METRICS
}

/// A connect refused before the upgrade, by its error code.
pub fn connect_refused(code: &'static str) {
    ::metrics::counter!("sync_connects_refused_total", "code" => code).increment(1);
}

/// A push answered with something other than an ack, by why.
pub fn push_rejected(reason: &'static str) {
    ::metrics::counter!("sync_pushes_rejected_total", "reason" => reason).increment(1);
}

/// A storage operation that failed (`op`: append, head, read, reset, backend_id).
pub fn storage_error(op: &'static str) {
    ::metrics::counter!("sync_storage_errors_total", "op" => op).increment(1);
}

/// A socket closed by the server, by close code.
pub fn socket_closed_by_server(code: u16) {
    ::metrics::counter!("sync_server_closes_total", "code" => code.to_string()).increment(1);
}

/// An admin message that passed the role and secret checks (`action`: reset, info).
pub fn admin_action(action: &'static str) {
    ::metrics::counter!("sync_admin_actions_total", "action" => action).increment(1);
}

/// Seconds as the histograms record them.
pub fn seconds(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

fn describe() {
    describe_gauge!("sync_sockets_open", "Open sync sockets, by protocol");
    describe_counter!(
        "sync_connects_accepted_total",
        "Connects admitted and upgraded, by protocol"
    );
    describe_counter!(
        "sync_connects_refused_total",
        "Connects refused before the upgrade, by error code"
    );
    describe_counter!(
        "sync_pushes_acked_total",
        "Pushes durably committed and acknowledged"
    );
    describe_counter!("sync_events_acked_total", "Events in acknowledged pushes");
    describe_counter!(
        "sync_pushes_rejected_total",
        "Pushes answered with an error, by reason"
    );
    describe_histogram!(
        "sync_push_commit_seconds",
        ::metrics::Unit::Seconds,
        "Storage append of one push, from hand-off to commit"
    );
    describe_histogram!(
        "sync_push_round_trip_seconds",
        ::metrics::Unit::Seconds,
        "One push from its frame received to its ack written to the socket"
    );
    describe_counter!(
        "sync_broadcast_frames_total",
        "Broadcast frames written to sockets"
    );
    describe_counter!("sync_pulls_total", "Pull requests started");
    describe_counter!(
        "sync_events_pulled_total",
        "Events written to sockets in pull pages"
    );
    describe_counter!(
        "sync_slow_consumer_disconnects_total",
        "Sockets closed (1013) because their outbound queue was full"
    );
    describe_counter!(
        "sync_storage_errors_total",
        "Failed storage operations, by operation"
    );
    describe_counter!(
        "sync_server_closes_total",
        "Sockets closed by the server, by close code"
    );
    describe_counter!(
        "sync_admin_actions_total",
        "Admin messages carried out, by action"
    );
}

//! The load scenarios of issues 5 and 8. Each takes the shared [`Ctx`] and its own
//! arguments and returns a [`Report`]; none of them can hang (every wait is bounded).

pub mod clients;
pub mod connections;
pub mod fanout;
pub mod pull;
pub mod push;
pub mod stores;

use crate::cli::GlobalOpts;
use crate::conn::Connector;
use crate::report::Report;
use crate::stats::{LatencySummary, RunClock};
use crate::wire::StoreWire;

/// Initial read buffer of sockets that only receive small frames.
pub const SMALL_READ_BUFFER: usize = 4 * 1024;

/// What every scenario needs: options, a connector and the run clock.
pub struct Ctx {
    pub opts: GlobalOpts,
    pub connector: Connector,
    pub clock: RunClock,
}

impl Ctx {
    pub fn new(opts: GlobalOpts) -> anyhow::Result<Self> {
        let connector = Connector::new(&opts)?;
        Ok(Self {
            opts,
            connector,
            clock: RunClock::new(),
        })
    }

    /// An empty report for `scenario` (or `--label`), with the connection details.
    pub fn report(&self, scenario: &str) -> Report {
        let name = self.opts.label.as_deref().unwrap_or(scenario);
        let mut report = Report::new(name, &self.opts.url, self.connector.tokens().describe());
        report.param("protocol", self.opts.protocol.name());
        report
    }

    /// The frames of `store_id` in this run's protocol.
    pub fn wire(&self, store_id: &str) -> StoreWire {
        StoreWire::new(self.opts.protocol, store_id)
    }
}

/// Adds `p50/p99/max` rows of a latency summary under `key_prefix`.
pub fn add_latency(report: &mut Report, key_prefix: &str, label: &str, s: &LatencySummary) {
    let ms = |v: f64| (s.samples > 0).then_some(v);
    report
        .metric(
            &format!("{key_prefix}_p50_ms"),
            &format!("{label} p50"),
            ms(s.p50_ms),
            "ms",
        )
        .metric(
            &format!("{key_prefix}_p99_ms"),
            &format!("{label} p99"),
            ms(s.p99_ms),
            "ms",
        )
        .metric(
            &format!("{key_prefix}_max_ms"),
            &format!("{label} max"),
            ms(s.max_ms),
            "ms",
        );
}

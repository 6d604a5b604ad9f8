//! Command-line interface: global options shared by every scenario, and one subcommand
//! per scenario of issue 5 (plus `summarize`, which turns result files into a table).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::wire::Protocol;

/// Load generator for LiveStore sync-cf 0.3.1 and 0.4 compatible sync servers.
#[derive(Debug, Parser)]
#[command(name = "sync-bench", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub scenario: Scenario,
}

/// Options every scenario shares: where the server is, how to authenticate, limits.
#[derive(Debug, Args, Clone)]
pub struct GlobalOpts {
    /// Server base URL; with `--protocol 0.3.1`, `/websocket` is appended unless the URL
    /// already ends with it (0.4 clients connect to the URL itself).
    #[arg(
        long,
        global = true,
        default_value = "ws://127.0.0.1:8787",
        env = "SYNC_BENCH_URL"
    )]
    pub url: String,
    /// Wire protocol: LiveStore `sync-cf` 0.3.1 (`WSMessage.*`) or 0.4's WebSocket
    /// transport (Effect RPC, `transport=ws`).
    #[arg(long, global = true, value_enum, default_value = "0.3.1")]
    pub protocol: Protocol,
    /// Where receiving sockets connect instead of `--url` (fanout receivers, clients
    /// readers): one base URL, or several comma-separated, taken in turn. Writers stay on
    /// `--url`, so `--url <node 1> --receiver-url <node 1>,<node 2>` measures
    /// push-to-receive on the writer's node and across nodes, reported per node.
    #[arg(long, global = true, env = "SYNC_BENCH_RECEIVER_URL")]
    pub receiver_url: Option<String>,
    /// HS256 secret used to mint real access tokens (the server's JWT_SECRET).
    /// Without it, sockets send no token, or the legacy dev token with `--dev-token`.
    #[arg(
        long,
        global = true,
        env = "SYNC_BENCH_JWT_SECRET",
        hide_env_values = true
    )]
    pub jwt_secret: Option<String>,
    /// Issuer written into minted tokens (the server's JWT_ISSUER).
    #[arg(long, global = true, default_value = shared::constants::DEFAULT_JWT_ISSUER)]
    pub jwt_issuer: String,
    /// Send the legacy `insecure-token-change-me` token when no `--jwt-secret` is given.
    #[arg(long, global = true)]
    pub dev_token: bool,
    /// Server process id, to sample its RSS from /proc (pull and connections scenarios).
    #[arg(long, global = true)]
    pub server_pid: Option<u32>,
    /// Write the report as JSON to this file (the table still goes to stdout).
    #[arg(long, global = true)]
    pub json: Option<PathBuf>,
    /// Seconds allowed for one TCP connect plus WebSocket handshake.
    #[arg(long, global = true, default_value_t = 10.0)]
    pub connect_timeout: f64,
    /// Seconds a socket may wait for an expected frame before the run fails.
    #[arg(long, global = true, default_value_t = 15.0)]
    pub idle_timeout: f64,
    /// Prefix of the random store ids this run creates.
    #[arg(long, global = true, default_value = "bench")]
    pub store_prefix: String,
    /// Bytes of filler text in each event's args (a realistic event is 100-200 bytes).
    #[arg(long, global = true, default_value_t = 32)]
    pub event_pad: usize,
    /// Tokio worker threads of the load generator (default: number of cores).
    #[arg(long, global = true)]
    pub threads: Option<usize>,
    /// Local addresses to open sockets from, in turn: comma-separated, a range may vary
    /// the last octet (`127.0.0.2-127.0.0.9`). Each address has its own ephemeral ports,
    /// so tens of thousands of sockets to one server port need several.
    #[arg(long, global = true, env = "SYNC_BENCH_SOURCE_ADDRS")]
    pub source_addrs: Option<String>,
    /// Name the report under this label instead of the scenario's own name (to tell
    /// two runs of one scenario apart in a summary, e.g. `fanout-pinned`).
    #[arg(long, global = true)]
    pub label: Option<String>,
}

impl GlobalOpts {
    pub fn connect_timeout(&self) -> Duration {
        secs(self.connect_timeout)
    }

    pub fn idle_timeout(&self) -> Duration {
        secs(self.idle_timeout)
    }
}

/// A duration from a user-given number of seconds; negative or NaN values become zero.
pub fn secs(value: f64) -> Duration {
    Duration::try_from_secs_f64(value).unwrap_or(Duration::ZERO)
}

#[derive(Debug, Subcommand)]
pub enum Scenario {
    /// One store, one writer pushing batches of B events, the next after each ack (as
    /// LiveStore's client does); acked events per second and push round trip.
    Push(PushArgs),
    /// `push` with up to 8 pushes outstanding (no LiveStore client does this).
    PushPipelined(PushArgs),
    /// C receivers on one store, one writer at a fixed rate; push-to-receive latency.
    Fanout(FanoutArgs),
    /// Seed N events, then a fresh client replays them; events/s and server RSS growth.
    Pull(PullArgs),
    /// Ramp to K idle authenticated sockets; handshakes/s and server RSS per socket.
    Connections(ConnectionsArgs),
    /// S stores with one writer each (one push in flight); total acked events per second.
    Stores(StoresArgs),
    /// `stores` with up to 8 pushes outstanding per writer.
    StoresPipelined(StoresArgs),
    /// S stores x (1 writer + R readers), as real clients: one push in flight, batches
    /// of 1-50; acked events/s, push round trip, push-to-receive at the readers, fairness.
    Clients(ClientsArgs),
    /// Merge JSON reports (and criterion estimates) into one markdown table.
    Summarize(SummarizeArgs),
    /// Side-by-side table of the same scenarios against the original and sync-worker.
    Compare(CompareArgs),
    /// Print a free TCP port on 127.0.0.1 (for scripts that start a server to measure).
    FreePort,
}

/// Pushes outstanding in the pipelined variants (`push-pipelined`, `stores-pipelined`).
pub const PIPELINED_IN_FLIGHT: usize = 8;

/// How a writer pushes.
#[derive(Debug, Args, Clone)]
pub struct WriterOpts {
    /// Events per PushReq (B).
    #[arg(long, short = 'b', default_value_t = 100)]
    pub batch: usize,
    /// Pushes allowed outstanding (sent, not yet acked) at once. Default 1, as
    /// LiveStore's client; 8 in the `-pipelined` scenarios.
    #[arg(long)]
    pub in_flight: Option<usize>,
    /// Seconds of measured pushing.
    #[arg(long, short = 'd', default_value_t = 10.0)]
    pub duration: f64,
}

#[derive(Debug, Args, Clone)]
pub struct PushArgs {
    #[command(flatten)]
    pub writer: WriterOpts,
}

#[derive(Debug, Args, Clone)]
pub struct FanoutArgs {
    /// Receiving connections on the store (C); the writer's own socket is extra.
    #[arg(long, short = 'c', default_value_t = 1000)]
    pub connections: usize,
    /// Pushes per second from the writer.
    #[arg(long, default_value_t = 100.0)]
    pub rate: f64,
    /// Events per push.
    #[arg(long, short = 'b', default_value_t = 1)]
    pub batch: usize,
    /// Pushes the writer may have outstanding. At 1 (the real client) a push waits for
    /// the previous ack, so a slow ack lowers the achieved rate (reported).
    #[arg(long, default_value_t = 1)]
    pub in_flight: usize,
    /// Seconds of measured pushing.
    #[arg(long, short = 'd', default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of pushing at the start whose latencies are not recorded.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Handshakes in progress at once while connecting the receivers.
    #[arg(long, default_value_t = 64)]
    pub handshake_concurrency: usize,
}

#[derive(Debug, Args, Clone)]
pub struct ClientsArgs {
    /// Stores (S), each with one writer and R readers.
    #[arg(long, short = 's', default_value_t = 1000)]
    pub stores: usize,
    /// Reading sockets per store (R).
    #[arg(long, short = 'r', default_value_t = 4)]
    pub readers: usize,
    /// Smallest batch a writer sends.
    #[arg(long, default_value_t = 1)]
    pub min_batch: usize,
    /// Largest batch a writer sends (each push draws its size from min..=max).
    #[arg(long, default_value_t = 50)]
    pub max_batch: usize,
    /// Pushes per second per writer (a user's pace); 0 = the next push right after the
    /// ack (each writer as fast as its round trip allows). With one push in flight a
    /// writer cannot exceed 1 / round trip.
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// Seconds of measured pushing.
    #[arg(long, short = 'd', default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of pushing at the start whose latencies are not recorded.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Handshakes in progress at once while connecting.
    #[arg(long, default_value_t = 128)]
    pub handshake_concurrency: usize,
}

#[derive(Debug, Args, Clone)]
pub struct PullArgs {
    /// Events in the seeded history (N).
    #[arg(long, short = 'n', default_value_t = 1_000_000)]
    pub events: u64,
    /// Events per seeding push (the server's default batch limit is 1000).
    #[arg(long, default_value_t = 1000)]
    pub seed_batch: usize,
    /// Seeding pushes outstanding at once (1, as the real client).
    #[arg(long, default_value_t = 1)]
    pub seed_in_flight: usize,
    /// Milliseconds between server RSS samples during the replay.
    #[arg(long, default_value_t = 2)]
    pub rss_interval_ms: u64,
    /// Use this store id instead of a fresh random one (to replay one history repeatedly).
    #[arg(long)]
    pub store: Option<String>,
    /// Do not seed: the store already holds exactly N events (from an earlier run with
    /// the same `--store`). Useful for profiling the replay alone.
    #[arg(long, requires = "store")]
    pub skip_seed: bool,
}

#[derive(Debug, Args, Clone)]
pub struct ConnectionsArgs {
    /// Idle authenticated sockets to open (K).
    #[arg(long, short = 'k', default_value_t = 10_000)]
    pub connections: usize,
    /// Handshakes in progress at once.
    #[arg(long, default_value_t = 128)]
    pub handshake_concurrency: usize,
    /// Sockets sharing one store (stores = K / this, rounded up).
    #[arg(long, default_value_t = 10)]
    pub sockets_per_store: usize,
    /// Seconds to let the server settle before each RSS reading.
    #[arg(long, default_value_t = 1.0)]
    pub settle: f64,
}

#[derive(Debug, Args, Clone)]
pub struct StoresArgs {
    /// Stores, each with its own writer connection (S).
    #[arg(long, short = 's', default_value_t = 100)]
    pub stores: usize,
    #[command(flatten)]
    pub writer: WriterOpts,
}

#[derive(Debug, Args, Clone)]
pub struct SummarizeArgs {
    /// JSON reports written with `--json`.
    pub reports: Vec<PathBuf>,
    /// A criterion output directory (`target/criterion`) whose estimates to include.
    #[arg(long)]
    pub criterion_dir: Option<PathBuf>,
    /// Write the markdown here instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args, Clone)]
pub struct CompareArgs {
    /// Directory of `<scenario>.json` reports measured against the Cloudflare original.
    #[arg(long)]
    pub original: PathBuf,
    /// Directory of the same reports measured against sync-worker.
    #[arg(long)]
    pub ours: PathBuf,
    /// Write the markdown here as well as to stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

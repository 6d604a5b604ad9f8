//! sync-bench: a load generator for LiveStore sync-cf 0.3.1 and 0.4 compatible sync servers.
//!
//! It speaks the wire protocol (SPEC section 5) over real WebSockets, independent of any
//! server's code, so it can be pointed at another implementation by `--url`. Each
//! scenario of issue 5 lives in [`scenario`]; [`report`] prints and serialises results.

pub mod cli;
pub mod compare;
pub mod conn;
pub mod report;
pub mod rss;
pub mod scenario;
pub mod stats;
pub mod subscribe;
pub mod summarize;
pub mod wire;
pub mod writer;

use std::io::Write as _;

use anyhow::Context;

use crate::cli::{Cli, Scenario};
use crate::report::Report;
use crate::scenario::Ctx;

/// File descriptors the load generator asks for (capped by the hard limit): enough for
/// the 50,000-socket connections run.
pub const WANTED_NOFILE: u64 = 1 << 20;

/// Runs one command line: a scenario (printing its table, writing JSON if asked) or
/// `summarize`.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    if let Scenario::Summarize(args) = &cli.scenario {
        let text = summarize::run(args)?;
        if args.out.is_none() {
            std::io::stdout().write_all(text.as_bytes())?;
        }
        return Ok(());
    }
    if let Scenario::Compare(args) = &cli.scenario {
        let text = compare::run(args)?;
        std::io::stdout().write_all(text.as_bytes())?;
        return Ok(());
    }
    if let Scenario::FreePort = &cli.scenario {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).context("binding port 0")?;
        writeln!(std::io::stdout(), "{}", listener.local_addr()?.port())?;
        return Ok(());
    }
    let nofile = raise_nofile_limit();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = cli.global.threads {
        runtime.worker_threads(threads.max(1));
    }
    let runtime = runtime.enable_all().build().context("starting tokio")?;
    let json = cli.global.json.clone();
    let server_pid = cli.global.server_pid;
    let cpu_before = server_pid.and_then(|p| rss::read_cpu_seconds(p).ok());
    let started = std::time::Instant::now();
    let mut report = runtime.block_on(run_scenario(cli))?;
    report.param("client_nofile", nofile);
    // How much of the run's wall time the server got on a CPU: on a shared machine a
    // low share next to high latency means the server waited for a core, not for work.
    let wall = started.elapsed().as_secs_f64();
    let cpu_used = server_pid
        .and_then(|p| rss::read_cpu_seconds(p).ok())
        .zip(cpu_before)
        .map(|(after, before)| after - before);
    report
        .metric("server_cpu_s", "server CPU time (whole run)", cpu_used, "s")
        .metric(
            "server_cpu_share",
            "server CPU / wall time (whole run)",
            cpu_used.map(|c| c / wall.max(1e-9)),
            "cores",
        )
        .metric(
            "load_average_1m",
            "machine load average (1 min, at the end)",
            read_load_average(),
            "",
        );
    std::io::stdout().write_all(report.to_table().as_bytes())?;
    if let Some(path) = json {
        report.write_json(&path)?;
    }
    Ok(())
}

/// Runs the scenario of `cli` on the current tokio runtime and returns its report.
pub async fn run_scenario(cli: Cli) -> anyhow::Result<Report> {
    let ctx = Ctx::new(cli.global)?;
    match &cli.scenario {
        Scenario::Push(a) => scenario::push::run(&ctx, a, false).await,
        Scenario::PushPipelined(a) => scenario::push::run(&ctx, a, true).await,
        Scenario::Clients(a) => scenario::clients::run(&ctx, a).await,
        Scenario::StoresPipelined(a) => scenario::stores::run(&ctx, a, true).await,
        Scenario::Fanout(a) => scenario::fanout::run(&ctx, a).await,
        Scenario::Pull(a) => scenario::pull::run(&ctx, a).await,
        Scenario::Connections(a) => scenario::connections::run(&ctx, a).await,
        Scenario::Stores(a) => scenario::stores::run(&ctx, a, false).await,
        Scenario::Summarize(_) | Scenario::Compare(_) | Scenario::FreePort => {
            unreachable!("handled before the runtime starts")
        }
    }
}

/// The 1-minute load average, from `/proc/loadavg`.
fn read_load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Raises the soft RLIMIT_NOFILE as far as the hard limit allows (many sockets need many
/// descriptors); returns the limit now in force. Raise the hard limit with `ulimit -Hn`.
fn raise_nofile_limit() -> u64 {
    match rlimit::increase_nofile_limit(WANTED_NOFILE) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("sync-bench: could not raise RLIMIT_NOFILE: {e}");
            rlimit::getrlimit(rlimit::Resource::NOFILE)
                .map(|(soft, _)| soft)
                .unwrap_or(0)
        }
    }
}

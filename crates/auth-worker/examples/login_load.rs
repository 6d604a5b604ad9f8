//! Login load against a running auth-worker: are logins bounded by hashing, and does the
//! runtime stay responsive meanwhile?
//!
//! Starts nothing itself. Signs up `--users` accounts (409 = already there, fine), times
//! `--baseline-logins` logins one after another (the argon2 time alone, nothing queued),
//! then runs `--clients` concurrent login loops for `--duration` seconds while one more
//! task polls `GET /health`, and prints login p50/p99, logins per second and /health p99.
//!
//! Issue 8 targets: `/health` p99 at most 5 ms under the load, and login p99 bounded by
//! argon2 alone: at most ceil(clients / hash concurrency) x the serial login p99, +20%
//! for scheduling. `--json` writes the result in sync-bench's report format, so
//! `sync-bench summarize` (and `just bench`) puts it in the results table.
//!
//! ```text
//! cargo run --release -p auth-worker --example login_load -- --url http://127.0.0.1:8788
//! ```
//! The per-IP limit must be off (the development default) for the numbers to mean
//! anything: every request comes from one IP.

// A CLI whose output is its report.
#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use serde_json::json;

#[derive(Parser, Debug)]
#[command(about = "Concurrent-login load test for auth-worker")]
struct Args {
    /// Base URL of the running service.
    #[arg(long)]
    url: String,
    /// Accounts to create and log in as.
    #[arg(long, default_value_t = 16)]
    users: usize,
    /// Concurrent login loops.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Seconds of load.
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// Pause between /health polls, in milliseconds.
    #[arg(long, default_value_t = 10)]
    health_interval_ms: u64,
    /// Logins timed one at a time before the load: the argon2 cost with no queueing.
    #[arg(long, default_value_t = 10)]
    baseline_logins: usize,
    /// The server's AUTH_MAX_CONCURRENT_HASHES (default there: the number of CPUs).
    #[arg(long)]
    hash_concurrency: Option<usize>,
    /// Write the result as a sync-bench JSON report to this file.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

/// Issue 8: `/health` p99 at most 5 ms while the clients log in.
const TARGET_HEALTH_P99_MS: f64 = 5.0;
/// Slack over the pure argon2 queueing bound, for scheduling on a shared machine.
const LOGIN_BOUND_SLACK: f64 = 1.2;

const PASSWORD: &str = "L0ad-test!pass";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let base = args.url.trim_end_matches('/').to_owned();
    let client = reqwest::Client::builder().no_proxy().build()?;
    let run_id = std::process::id();
    let emails: Vec<String> = (0..args.users)
        .map(|i| format!("load-{run_id}-{i}@example.com"))
        .collect();

    let setup = Instant::now();
    for email in &emails {
        let response = client
            .post(format!("{base}/signup"))
            .json(&json!({ "email": email, "password": PASSWORD }))
            .send()
            .await
            .with_context(|| format!("signup at {base}"))?;
        if !(response.status().is_success() || response.status() == 409) {
            bail!(
                "signup failed: {} {}",
                response.status(),
                response.text().await?
            );
        }
    }
    println!(
        "created {} users in {:.1} s",
        emails.len(),
        setup.elapsed().as_secs_f64()
    );

    let mut baseline = Vec::with_capacity(args.baseline_logins);
    for i in 0..args.baseline_logins {
        let sent = Instant::now();
        let response = client
            .post(format!("{base}/login"))
            .json(&json!({ "email": &emails[i % emails.len()], "password": PASSWORD }))
            .send()
            .await
            .context("baseline login")?;
        if !response.status().is_success() {
            bail!("baseline login failed: {}", response.status());
        }
        let _ = response.bytes().await;
        baseline.push(sent.elapsed());
    }
    baseline.sort();
    println!(
        "serial logins (argon2 alone): {}  p50 {}  p99 {}",
        baseline.len(),
        ms(percentile(&baseline, 0.50)),
        ms(percentile(&baseline, 0.99))
    );

    let duration = Duration::from_secs(args.duration);
    let started = Instant::now();
    let deadline = started + duration;
    let mut logins = tokio::task::JoinSet::new();
    for worker in 0..args.clients {
        let (client, base, emails) = (client.clone(), base.clone(), emails.clone());
        logins.spawn(async move {
            let mut latencies = Vec::new();
            let mut failures = 0u64;
            let mut i = worker;
            while Instant::now() < deadline {
                let email = &emails[i % emails.len()];
                i += 1;
                let sent = Instant::now();
                let response = client
                    .post(format!("{base}/login"))
                    .json(&json!({ "email": email, "password": PASSWORD }))
                    .send()
                    .await;
                match response {
                    Ok(r) if r.status().is_success() => {
                        // Read the body: a login is done when its tokens arrived.
                        let _ = r.bytes().await;
                        latencies.push(sent.elapsed());
                    }
                    _ => failures += 1,
                }
            }
            (latencies, failures)
        });
    }
    let health = {
        // Its own client: its own connection, not queued behind logins.
        let client = reqwest::Client::builder().no_proxy().build()?;
        let url = format!("{base}/health");
        let pause = Duration::from_millis(args.health_interval_ms);
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failures = 0u64;
            while Instant::now() < deadline {
                let sent = Instant::now();
                match client.get(&url).send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        latencies.push(sent.elapsed());
                    }
                    _ => failures += 1,
                }
                tokio::time::sleep(pause).await;
            }
            (latencies, failures)
        })
    };

    let mut login_latencies = Vec::new();
    let mut login_failures = 0;
    while let Some(done) = logins.join_next().await {
        let (latencies, failures) = done?;
        login_latencies.extend(latencies);
        login_failures += failures;
    }
    let elapsed = started.elapsed();
    let (mut health_latencies, health_failures) = health.await?;

    login_latencies.sort();
    health_latencies.sort();
    println!(
        "{} clients, {:.1} s: {} logins ({} failed), {:.1} logins/s",
        args.clients,
        elapsed.as_secs_f64(),
        login_latencies.len(),
        login_failures,
        login_latencies.len() as f64 / elapsed.as_secs_f64()
    );
    println!(
        "login latency:  p50 {}  p99 {}  max {}",
        ms(percentile(&login_latencies, 0.50)),
        ms(percentile(&login_latencies, 0.99)),
        ms(login_latencies.last().copied())
    );
    println!(
        "/health during load: {} polls ({} failed)  p50 {}  p99 {}  max {}",
        health_latencies.len(),
        health_failures,
        ms(percentile(&health_latencies, 0.50)),
        ms(percentile(&health_latencies, 0.99)),
        ms(health_latencies.last().copied())
    );

    let hash_concurrency = args
        .hash_concurrency
        .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
        .unwrap_or(1)
        .max(1);
    let serial_p99 = percentile(&baseline, 0.99).map(|d| d.as_secs_f64() * 1e3);
    let login_bound =
        serial_p99.map(|p| p * args.clients.div_ceil(hash_concurrency) as f64 * LOGIN_BOUND_SLACK);
    println!(
        "login p99 bound (ceil({} / {hash_concurrency}) x serial p99 x {LOGIN_BOUND_SLACK}): {}",
        args.clients,
        login_bound.map_or("n/a".to_owned(), |b| format!("{b:.2} ms"))
    );
    if let Some(path) = &args.json {
        let report = json_report(
            &args,
            hash_concurrency,
            elapsed,
            &baseline,
            &login_latencies,
            login_failures,
            &health_latencies,
            health_failures,
            login_bound,
        );
        std::fs::write(path, serde_json::to_string_pretty(&report)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// The result in sync-bench's report format (scenario, params, metrics, targets).
#[allow(clippy::too_many_arguments)]
fn json_report(
    args: &Args,
    hash_concurrency: usize,
    elapsed: Duration,
    baseline: &[Duration],
    logins: &[Duration],
    login_failures: u64,
    health: &[Duration],
    health_failures: u64,
    login_bound: Option<f64>,
) -> serde_json::Value {
    let msv = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1e3);
    let metric = |key: &str, label: &str, value: Option<f64>, unit: &str| json!({ "key": key, "label": label, "value": value, "unit": unit });
    let target = |key: &str, threshold: f64, measured: Option<f64>| {
        json!({
            "metric": key,
            "bound": "AtMost",
            "threshold": threshold,
            "measured": measured,
            "met": measured.map(|m| m <= threshold),
        })
    };
    let health_p99 = msv(percentile(health, 0.99));
    let login_p99 = msv(percentile(logins, 0.99));
    let param = |name: &str, value: String| json!({ "name": name, "value": value });
    json!({
        "scenario": "auth",
        "url": args.url,
        "auth": "password",
        "started_at": chrono::Utc::now().to_rfc3339(),
        "params": [
            param("clients", args.clients.to_string()),
            param("users", args.users.to_string()),
            param("duration_s", args.duration.to_string()),
            param("hash_concurrency", hash_concurrency.to_string()),
        ],
        "metrics": [
            metric("serial_login_p50_ms", "serial login p50 (argon2 alone)", msv(percentile(baseline, 0.50)), "ms"),
            metric("serial_login_p99_ms", "serial login p99 (argon2 alone)", msv(percentile(baseline, 0.99)), "ms"),
            metric("logins_per_sec", "logins/s under load", Some(logins.len() as f64 / elapsed.as_secs_f64()), "1/s"),
            metric("login_p50_ms", "login p50 under load", msv(percentile(logins, 0.50)), "ms"),
            metric("login_p99_ms", "login p99 under load", login_p99, "ms"),
            metric("login_bound_ms", "login p99 bound from argon2 alone", login_bound, "ms"),
            metric("login_failures", "failed logins", Some(login_failures as f64), "requests"),
            metric("health_p50_ms", "/health p50 under load", msv(percentile(health, 0.50)), "ms"),
            metric("health_p99_ms", "/health p99 under load", health_p99, "ms"),
            metric("health_max_ms", "/health max under load", msv(health.last().copied()), "ms"),
            metric("health_failures", "failed /health polls", Some(health_failures as f64), "requests"),
        ],
        "targets": std::iter::once(target("health_p99_ms", TARGET_HEALTH_P99_MS, health_p99))
            .chain(login_bound.map(|b| target("login_p99_ms", b, login_p99)))
            .collect::<Vec<_>>(),
        "notes": [],
    })
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted
        .get(rank.saturating_sub(1).min(sorted.len() - 1))
        .copied()
}

fn ms(d: Option<Duration>) -> String {
    d.map_or_else(
        || "n/a".to_owned(),
        |d| format!("{:.2} ms", d.as_secs_f64() * 1e3),
    )
}

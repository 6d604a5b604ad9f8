//! Login load against a running auth-worker: are logins bounded by hashing, and does the
//! runtime stay responsive meanwhile?
//!
//! Starts nothing itself. Signs up `--users` accounts (409 = already there, fine), then
//! runs `--clients` concurrent login loops for `--duration` seconds while one more task
//! polls `GET /health`, and prints login p50/p99, logins per second and /health p99.
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
}

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
    Ok(())
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

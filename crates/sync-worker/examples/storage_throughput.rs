//! Micro measurement of the SQLite event log, without the network: acked append
//! throughput (pipelined batches per store, several stores at once), then replay
//! throughput of one store through `read_range`.
//!
//! ```text
//! cargo run --release -p sync-worker --example storage_throughput -- --events 200000
//! cargo run --release -p sync-worker --example storage_throughput -- --stores 100 --in-flight 1
//! ```
#![allow(clippy::print_stdout, reason = "a measurement tool prints its report")]

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use chrono::Utc;
use clap::Parser;
use futures_util::{StreamExt, TryStreamExt};
use serde_json::value::RawValue;
use sync_worker::storage::sqlite::{SqliteEventLog, SqliteOptions};
use sync_worker::storage::{AppendBatch, EventLog, NewEvent, StoreId};

#[derive(Parser)]
struct Args {
    /// Events appended in total, split evenly over the stores.
    #[arg(long, default_value_t = 200_000)]
    events: u64,
    /// Events per append.
    #[arg(long, default_value_t = 100)]
    batch: u64,
    /// Appends in flight per store (the parents are known in advance).
    #[arg(long, default_value_t = 16)]
    in_flight: usize,
    /// Stores written at the same time, one writer each.
    #[arg(long, default_value_t = 1)]
    stores: u64,
    /// Events per `read_range` call when replaying the first store.
    #[arg(long, default_value_t = 1000)]
    read_chunk: usize,
    /// Database URL; a fresh temporary file by default.
    #[arg(long)]
    db: Option<String>,
    /// Skip the appends and only replay the first store of an existing `--db`.
    #[arg(long)]
    read_only: bool,
    /// Skip the replay.
    #[arg(long)]
    append_only: bool,
}

fn make_batches(store: &StoreId, events: u64, batch: u64) -> anyhow::Result<Vec<AppendBatch>> {
    let pushed_by: Arc<str> = Arc::from("user-0123456789");
    let mut batches = Vec::new();
    let mut parent = 0;
    while parent < events {
        let count = batch.min(events - parent);
        let events: Vec<NewEvent> = (parent..parent + count)
            .map(|p| {
                let args = format!(r#"{{"id":"todo-{p:016}","text":"buy milk, item {p}"}}"#);
                Ok(NewEvent {
                    seq_num: p + 1,
                    parent_seq_num: p,
                    name: "v1.TodoCreated".into(),
                    args: Some(RawValue::from_string(args)?),
                    client_id: "Yt5QeGp3nKx8LmW2aB9cD".into(),
                    session_id: "s-4f2a".into(),
                })
            })
            .collect::<anyhow::Result<_>>()?;
        batches.push(AppendBatch {
            store: store.clone(),
            events: events.into(),
            created_at: Utc::now(),
            pushed_by: pushed_by.clone(),
        });
        parent += count;
    }
    Ok(batches)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // `RUST_LOG=sync_worker=trace` shows every group commit.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let dir = tempfile::tempdir()?;
    let url = args
        .db
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}/bench.db", dir.path().display()));
    let log = Arc::new(SqliteEventLog::open(&url, SqliteOptions::default()).await?);

    anyhow::ensure!(
        args.stores > 0 && args.batch > 0,
        "--stores and --batch must be at least 1"
    );
    let per_store = args.events / args.stores;
    let stores: Vec<StoreId> = (0..args.stores)
        .map(|i| StoreId::parse(&format!("bench-store-{i}")))
        .collect::<Result<_, _>>()?;
    if !args.read_only {
        append_all(&log, &stores, per_store, &args).await?;
    }
    if !args.append_only {
        replay(&log, &stores[0], args.read_chunk).await?;
    }
    log.close().await;
    Ok(())
}

async fn append_all(
    log: &Arc<SqliteEventLog>,
    stores: &[StoreId],
    per_store: u64,
    args: &Args,
) -> anyhow::Result<()> {
    let work: Vec<Vec<AppendBatch>> = stores
        .iter()
        .map(|store| make_batches(store, per_store, args.batch))
        .collect::<anyhow::Result<_>>()?;

    let started = Instant::now();
    let writers: Vec<_> = work
        .into_iter()
        .map(|batches| {
            let log = log.clone();
            let in_flight = args.in_flight.max(1);
            tokio::spawn(async move {
                futures_util::stream::iter(batches)
                    .map(|batch| log.append(batch))
                    .buffered(in_flight)
                    .try_collect::<Vec<()>>()
                    .await
            })
        })
        .collect();
    for writer in writers {
        writer.await?.context("append")?;
    }
    let elapsed = started.elapsed();
    let total = per_store * args.stores;
    println!(
        "append: {total} events, {} stores, batches of {}, {} in flight per store: {:.3} s, {:.0} events/s",
        args.stores,
        args.batch,
        args.in_flight,
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );
    for store in stores {
        anyhow::ensure!(log.head(store).await? == per_store, "head of {store}");
    }
    Ok(())
}

async fn replay(log: &SqliteEventLog, store: &StoreId, read_chunk: usize) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut cursor = 0;
    let mut read = 0usize;
    loop {
        let events = log.read_range(store, cursor, read_chunk).await?;
        let Some(last) = events.last() else { break };
        cursor = last.seq_num;
        read += events.len();
    }
    let elapsed = started.elapsed();
    println!(
        "read_range: {read} events of one store in chunks of {}: {:.3} s, {:.0} events/s",
        read_chunk,
        elapsed.as_secs_f64(),
        read as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}

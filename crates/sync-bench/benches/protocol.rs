//! The sync-worker's wire codec on 100-event messages: decoding a `PushReq` (every push
//! a server receives) and encoding a `PullRes` (once per broadcast, and once per chunk
//! of a pull). Events are the same shape the load generator pushes.

use std::hint::black_box;

use chrono::Utc;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use serde_json::value::RawValue;
use sync_bench::wire::EventFactory;
use sync_worker::protocol::{
    decode_client_message, encode_server_message, ClientMessage, PullBatch, PullContext,
    ServerMessage,
};
use sync_worker::storage::{NewEvent, StoredEvent};

const EVENTS: usize = 100;

fn events(n: usize) -> Vec<NewEvent> {
    (0..n as u64)
        .map(|i| NewEvent {
            seq_num: i + 1,
            parent_seq_num: i,
            name: "v1.TodoCreated".to_owned(),
            args: Some(
                RawValue::from_string(format!(
                    r#"{{"id":"todo-{i:08}","text":"buy milk and bread and eggs","completed":false}}"#
                ))
                .expect("valid JSON"),
            ),
            client_id: "client-abcdefgh".to_owned(),
            session_id: "session-abcdefgh".to_owned(),
        })
        .collect()
}

fn push_req(c: &mut Criterion) {
    let text = EventFactory::new(32, 0).push_req("abcdefghijklmnopqrstu", 0, EVENTS, 0);
    match decode_client_message(&text) {
        Ok(ClientMessage::PushReq { batch, .. }) => assert_eq!(batch.len(), EVENTS),
        other => panic!("fixture does not decode as a PushReq: {other:?}"),
    }
    let mut group = c.benchmark_group("protocol");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.bench_function(BenchmarkId::new("decode_push_req", EVENTS), |b| {
        b.iter(|| decode_client_message(black_box(&text)))
    });
    group.finish();
}

fn pull_res(c: &mut Criterion) {
    let pushed = events(EVENTS);
    let now = Utc::now();
    let stored: Vec<StoredEvent> = pushed
        .iter()
        .map(|e| StoredEvent {
            seq_num: e.seq_num,
            parent_seq_num: e.parent_seq_num,
            name: e.name.clone(),
            args: e.args.clone(),
            client_id: e.client_id.clone(),
            session_id: e.session_id.clone(),
            created_at: now,
            pushed_by: "bench-user".to_owned(),
        })
        .collect();
    let broadcast = ServerMessage::PullRes {
        request_id: "abcdefghijklmnopqrstu",
        context: PullContext::Push,
        batch: PullBatch::Pushed {
            events: &pushed,
            created_at: now,
        },
        remaining: 0,
    };
    let chunk = ServerMessage::PullRes {
        request_id: "abcdefghijklmnopqrstu",
        context: PullContext::Pull,
        batch: PullBatch::Stored(&stored),
        remaining: 12_345,
    };
    // Both encodings must be valid JSON carrying all events.
    for message in [&broadcast, &chunk] {
        let v: serde_json::Value =
            serde_json::from_str(&encode_server_message(message)).expect("valid JSON");
        assert_eq!(v["batch"].as_array().map(Vec::len), Some(EVENTS));
    }

    let mut group = c.benchmark_group("protocol");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.bench_function(BenchmarkId::new("encode_pull_res_broadcast", EVENTS), |b| {
        b.iter(|| encode_server_message(black_box(&broadcast)))
    });
    group.bench_function(BenchmarkId::new("encode_pull_res_stored", EVENTS), |b| {
        b.iter(|| encode_server_message(black_box(&chunk)))
    });
    group.finish();
}

criterion_group!(benches, push_req, pull_res);
criterion_main!(benches);

//! Load for the fault tests: pushers that behave like the real 0.3.1 client (one push in
//! flight, the next after its ack; after an error, the same batch again; after a
//! wrong-parent answer, a pull to see what won), receivers that record every broadcast,
//! and the checks run on the database afterwards.
//!
//! Every event carries a unique id in its `args`, so the checks can tell which pushes
//! are stored and that no retry stored one twice.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use sync_worker::storage::{StorageOptions, StoreId};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::helpers::encode;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Events per push.
const BATCH: u64 = 2;
/// Longest wait for the answer to one push (a failing database answers within the
/// acquire timeout).
const ANSWER_WAIT: Duration = Duration::from_secs(15);
/// Longest a client keeps trying to (re)connect.
const CONNECT_WAIT: Duration = Duration::from_secs(15);
/// Pause before retrying a push that got an error, as a client backs off.
const RETRY_PAUSE: Duration = Duration::from_millis(200);

/// The WebSocket URL of `store` on the node at `addr`.
pub fn store_url(addr: std::net::SocketAddr, store: &str) -> String {
    format!("ws://{addr}/websocket?storeId={}", encode(store))
}

async fn connect(url: &str) -> Ws {
    let deadline = Instant::now() + CONNECT_WAIT;
    loop {
        match tokio_tungstenite::connect_async(url).await {
            Ok((ws, _)) => return ws,
            Err(error) => {
                assert!(
                    Instant::now() < deadline,
                    "cannot connect to {url}: {error}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Acknowledged events, (seqNum, event id), shared with the test while the load runs.
pub type AckLog = std::sync::Arc<std::sync::Mutex<Vec<(u64, String)>>>;

/// What one pusher saw.
#[derive(Debug, Default)]
pub struct PushReport {
    pub store: String,
    /// Acknowledged events: (seqNum, event id).
    pub acked: Vec<(u64, String)>,
    /// When each ack arrived.
    pub ack_times: Vec<Instant>,
    /// Events whose push got an error but which a later pull showed stored.
    pub stored_unacked: Vec<(u64, String)>,
    /// Error answers (message, when).
    pub errors: Vec<(String, Instant)>,
    /// Every event id ever sent.
    pub sent: Vec<String>,
    /// Times the socket ended and the pusher connected again.
    pub reconnects: usize,
}

enum Answer {
    Acked,
    Refused(String),
    Ended,
}

/// A client pushing to one store until told to stop; on a lost socket it connects to
/// the next URL of `urls` (round robin) and carries on.
pub struct Pusher {
    /// Every acknowledged event, as it is acknowledged, for checks while the load runs.
    progress: Option<AckLog>,
    urls: Vec<String>,
    current: usize,
    ws: Ws,
    head: u64,
    next_event: u64,
    next_request: u64,
    report: PushReport,
}

impl Pusher {
    pub async fn connect(store: &str, urls: Vec<String>) -> Self {
        let ws = connect(&urls[0]).await;
        Self {
            progress: None,
            urls,
            current: 0,
            ws,
            head: 0,
            next_event: 0,
            next_request: 0,
            report: PushReport {
                store: store.to_owned(),
                ..PushReport::default()
            },
        }
    }

    /// Also records every acknowledged event in `progress` as it is acknowledged.
    pub fn with_progress(mut self, progress: AckLog) -> Self {
        self.progress = Some(progress);
        self
    }

    /// Pushes until `stop` turns true, then returns what happened.
    pub async fn run(mut self, stop: watch::Receiver<bool>) -> PushReport {
        let mut pending: Option<Vec<Value>> = None;
        while !*stop.borrow() {
            let batch = pending.take().unwrap_or_else(|| self.new_batch());
            self.next_request += 1;
            let request_id = format!("r{}", self.next_request);
            let frame =
                json!({"_tag": "WSMessage.PushReq", "requestId": request_id, "batch": batch});
            let answer = match self.ws.send(Message::Text(frame.to_string().into())).await {
                Ok(()) => self.answer(&request_id).await,
                Err(_) => Answer::Ended,
            };
            match answer {
                Answer::Acked => {
                    let now = Instant::now();
                    for event in &batch {
                        self.report.acked.push(identity(event));
                        self.report.ack_times.push(now);
                    }
                    if let Some(progress) = &self.progress {
                        progress
                            .lock()
                            .expect("progress")
                            .extend(batch.iter().map(identity));
                    }
                    self.head += batch.len() as u64;
                }
                Answer::Refused(message) if message.starts_with("Invalid parent event number") => {
                    // Only this client pushes to the store: what moved the head must be
                    // this very batch, stored although its answer was an error.
                    let stored = self.pull_after(self.head).await;
                    match stored {
                        Some(stored) => {
                            let ours: Vec<_> = batch.iter().map(identity).collect();
                            assert_eq!(
                                stored, ours,
                                "{}: the head moved past our batch to other events",
                                self.report.store
                            );
                            self.head += stored.len() as u64;
                            self.report.stored_unacked.extend(stored);
                        }
                        None => pending = Some(batch),
                    }
                }
                Answer::Refused(message) => {
                    self.report.errors.push((message, Instant::now()));
                    pending = Some(batch);
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
                Answer::Ended => {
                    pending = Some(batch);
                    self.reconnect().await;
                }
            }
        }
        let _ = self.ws.close(None).await;
        self.report
    }

    fn new_batch(&mut self) -> Vec<Value> {
        (1..=BATCH)
            .map(|i| {
                self.next_event += 1;
                let id = format!("{}-{}", self.report.store, self.next_event);
                self.report.sent.push(id.clone());
                let seq = self.head + i;
                json!({
                    "name": "todoCreated",
                    "args": {"id": id},
                    "seqNum": seq,
                    "parentSeqNum": seq - 1,
                    "clientId": "fault-client",
                    "sessionId": "fault-session",
                })
            })
            .collect()
    }

    async fn reconnect(&mut self) {
        self.current = (self.current + 1) % self.urls.len();
        self.ws = connect(&self.urls[self.current]).await;
        self.report.reconnects += 1;
    }

    /// The answer to `request_id`, skipping broadcasts.
    async fn answer(&mut self, request_id: &str) -> Answer {
        let deadline = tokio::time::Instant::now() + ANSWER_WAIT;
        loop {
            let next = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "{}: push {request_id} unanswered for {ANSWER_WAIT:?}",
                        self.report.store
                    )
                });
            let message: Value = match next {
                Some(Ok(Message::Text(text))) => serde_json::from_str(text.as_str()).unwrap(),
                Some(Ok(Message::Close(_)) | Err(_)) | None => return Answer::Ended,
                Some(Ok(_)) => continue,
            };
            if message["requestId"] != request_id {
                continue;
            }
            match message["_tag"].as_str() {
                Some("WSMessage.PushAck") => return Answer::Acked,
                Some("WSMessage.Error") => {
                    return Answer::Refused(message["message"].as_str().unwrap_or("").to_owned())
                }
                _ => continue,
            }
        }
    }

    /// Every stored event after `cursor`; `None` when the pull failed (it is retried).
    async fn pull_after(&mut self, cursor: u64) -> Option<Vec<(u64, String)>> {
        self.next_request += 1;
        let request_id = format!("p{}", self.next_request);
        let frame = json!({"_tag": "WSMessage.PullReq", "requestId": request_id, "cursor": cursor});
        self.ws
            .send(Message::Text(frame.to_string().into()))
            .await
            .ok()?;
        let mut events = Vec::new();
        loop {
            let next = tokio::time::timeout(ANSWER_WAIT, self.ws.next())
                .await
                .expect("pull answered");
            let message: Value = match next {
                Some(Ok(Message::Text(text))) => serde_json::from_str(text.as_str()).unwrap(),
                Some(Ok(Message::Close(_)) | Err(_)) | None => return None,
                Some(Ok(_)) => continue,
            };
            if message["_tag"] == "WSMessage.Error" && message["requestId"] == request_id {
                return None;
            }
            if message["_tag"] != "WSMessage.PullRes"
                || message["requestId"] != json!({"context": "pull", "requestId": request_id})
            {
                continue;
            }
            for item in message["batch"].as_array().expect("batch") {
                events.push(identity(&item["eventEncoded"]));
            }
            if message["remaining"] == 0 {
                return Some(events);
            }
        }
    }
}

/// (seqNum, id) of an encoded event.
fn identity(event: &Value) -> (u64, String) {
    (
        event["seqNum"].as_u64().expect("seqNum"),
        event["args"]["id"].as_str().expect("id").to_owned(),
    )
}

/// What one receiver saw.
#[derive(Debug)]
pub struct Received {
    /// Sequence numbers of the initial pull, then of every broadcast, in arrival order.
    pub seqs: Vec<u64>,
    /// How the socket ended, if it did.
    pub ended: Option<String>,
}

/// Receives the broadcasts of one store until it has seen `target` (once set) or 15 s
/// after it was set.
pub async fn receive(url: String, mut target: watch::Receiver<Option<u64>>) -> Received {
    let mut ws = connect(&url).await;
    let pull = json!({"_tag": "WSMessage.PullReq", "requestId": "initial"});
    ws.send(Message::Text(pull.to_string().into()))
        .await
        .expect("send pull");
    let mut received = Received {
        seqs: Vec::new(),
        ended: None,
    };
    let mut deadline: Option<tokio::time::Instant> = None;
    loop {
        if let Some(goal) = *target.borrow_and_update() {
            if received.seqs.last().copied().unwrap_or(0) >= goal {
                break;
            }
            let at = *deadline
                .get_or_insert_with(|| tokio::time::Instant::now() + Duration::from_secs(15));
            if tokio::time::Instant::now() >= at {
                break;
            }
        }
        let wake =
            deadline.unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
        let message = tokio::select! {
            next = ws.next() => next,
            _ = target.changed() => continue,
            () = tokio::time::sleep_until(wake) => continue,
        };
        let message: Value = match message {
            Some(Ok(Message::Text(text))) => serde_json::from_str(text.as_str()).unwrap(),
            Some(Ok(Message::Close(frame))) => {
                received.ended = Some(format!("closed: {frame:?}"));
                break;
            }
            Some(Err(error)) => {
                received.ended = Some(format!("error: {error}"));
                break;
            }
            None => {
                received.ended = Some("eof".into());
                break;
            }
            Some(Ok(_)) => continue,
        };
        if message["_tag"] == "WSMessage.PullRes" {
            for item in message["batch"].as_array().expect("batch") {
                received
                    .seqs
                    .push(item["eventEncoded"]["seqNum"].as_u64().expect("seqNum"));
            }
        }
    }
    let _ = ws.close(None).await;
    received
}

/// Checks the store of `report` in the database: one contiguous chain `1..=head`, every
/// acknowledged event stored at its seqNum, no event stored twice, nothing stored that
/// was never sent. Returns the head.
pub async fn check_store(database_url: &str, report: &PushReport) -> u64 {
    let store = &report.store;
    let log = sync_worker::storage::open(database_url, &StorageOptions::default())
        .await
        .expect("open");
    let events = log
        .read_range(&StoreId::parse(store).unwrap(), 0, usize::MAX)
        .await
        .expect("read");
    log.close().await;
    let mut by_id: HashMap<String, u64> = HashMap::new();
    for (i, event) in events.iter().enumerate() {
        assert_eq!(
            (event.seq_num, event.parent_seq_num),
            (i as u64 + 1, i as u64),
            "{store}: one contiguous chain"
        );
        let args: Value = serde_json::from_str(event.args.as_ref().expect("args").get()).unwrap();
        let id = args["id"].as_str().expect("id").to_owned();
        if let Some(first) = by_id.insert(id.clone(), event.seq_num) {
            panic!(
                "{store}: event {id} stored twice (seqNum {first} and {})",
                event.seq_num
            );
        }
    }
    for (seq, id) in report.acked.iter().chain(&report.stored_unacked) {
        assert_eq!(
            by_id.get(id.as_str()),
            Some(seq),
            "{store}: acknowledged event {id} is not stored at seqNum {seq}"
        );
    }
    for id in by_id.keys() {
        assert!(
            report.sent.iter().any(|sent| sent == id),
            "{store}: {id} stored but never sent"
        );
    }
    events.len() as u64
}

/// Asserts a receiver saw exactly `1..=head`, in order, once each.
pub fn check_received(store: &str, received: &Received, head: u64) {
    let expected: Vec<u64> = (1..=head).collect();
    assert!(
        received.seqs == expected,
        "{store}: receiver saw {} events (ended: {:?}), not 1..={head} in order; first gap or \
         repeat after {:?}",
        received.seqs.len(),
        received.ended,
        received
            .seqs
            .iter()
            .zip(&expected)
            .find(|(got, want)| got != want)
            .map(|(got, _)| got)
    );
}

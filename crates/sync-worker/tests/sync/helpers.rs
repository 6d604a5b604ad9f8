//! Test harness: a real server on 127.0.0.1:0 with a fresh SQLite file, and a
//! tokio-tungstenite client with bounded waits.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use sync_worker::storage::sqlite::{SqliteEventLog, SqliteOptions};
use sync_worker::storage::{EventLog, StoreId, StoredEvent};
use sync_worker::SyncConfig;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long any single expected message may take.
pub const WAIT: Duration = Duration::from_secs(10);

pub const JWT_SECRET: &str = "integration-test-secret-0123456789abcdef";
pub const BYPASS: &str = "integration-bypass-token-0123456789abcdef";
pub const ADMIN: &str = "integration-admin-secret";

pub struct TestServer {
    pub addr: std::net::SocketAddr,
    pub db_url: String,
    pub dir: tempfile::TempDir,
    pub config: SyncConfig,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestServer {
    /// A server in a fresh temporary directory with `vars` on top of the test defaults.
    pub async fn spawn(vars: &[(&str, &str)]) -> Self {
        Self::spawn_in(tempfile::tempdir().expect("tempdir"), vars).await
    }

    /// A server on the database inside `dir` (reused across restarts).
    pub async fn spawn_in(dir: tempfile::TempDir, vars: &[(&str, &str)]) -> Self {
        let db_url = format!("sqlite://{}", dir.path().join("sync.db").display());
        let mut all = shared::Vars::from_pairs([
            ("DATABASE_URL", db_url.as_str()),
            ("JWT_SECRET", JWT_SECRET),
            ("SERVER_BYPASS_TOKEN", BYPASS),
            ("SHUTDOWN_GRACE_SECONDS", "5"),
        ]);
        for (k, v) in vars {
            all.set(*k, *v);
        }
        let config = SyncConfig::from_vars(&all).expect("config");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(sync_worker::run(
            config.clone(),
            shared::net::service_listener(listener),
            async {
                let _ = rx.await;
            },
        ));
        let server = Self {
            addr,
            db_url,
            dir,
            config,
            shutdown: Some(tx),
            handle: Some(handle),
        };
        server.wait_ready().await;
        server
    }

    async fn wait_ready(&self) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while TcpStream::connect(self.addr).await.is_err() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "server did not start"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn http(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn ws_url(&self, store: &str, payload: Option<&Value>) -> String {
        let mut url = format!("ws://{}/websocket?storeId={}", self.addr, encode(store));
        if let Some(p) = payload {
            url.push_str("&payload=");
            url.push_str(&encode(&p.to_string()));
        }
        url
    }

    /// A development-mode client of `store` (no payload).
    pub async fn client(&self, store: &str) -> Client {
        self.connect(store, None).await.expect("connect")
    }

    pub async fn connect(
        &self,
        store: &str,
        payload: Option<&Value>,
    ) -> Result<Client, tungstenite::Error> {
        let url = self.ws_url(store, payload);
        let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
            .await
            .expect("connect timed out")?;
        Ok(Client { ws })
    }

    /// Every stored event of `store`, read from the database file.
    pub async fn stored(&self, store: &str) -> Vec<StoredEvent> {
        read_store(&self.db_url, store).await
    }

    /// Stops the server (graceful shutdown) and returns its directory.
    pub async fn stop(mut self) -> tempfile::TempDir {
        self.trigger_shutdown();
        self.join().await;
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.dir, dir)
    }

    pub fn trigger_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    pub async fn join(&mut self) {
        if let Some(handle) = self.handle.take() {
            tokio::time::timeout(Duration::from_secs(30), handle)
                .await
                .expect("server did not stop")
                .expect("server task panicked")
                .expect("server returned an error");
        }
    }
}

pub async fn read_store(db_url: &str, store: &str) -> Vec<StoredEvent> {
    let log = SqliteEventLog::open(db_url, SqliteOptions::default())
        .await
        .expect("open db");
    let events = log
        .read_range(&StoreId::parse(store).unwrap(), 0, usize::MAX)
        .await
        .expect("read");
    log.close().await;
    events
}

/// `encodeURIComponent`-style percent encoding.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `n` events chained on `parent`.
pub fn events(parent: u64, n: u64) -> Vec<Value> {
    (1..=n)
        .map(|i| {
            let seq = parent + i;
            json!({
                "name": "todoCreated",
                "args": {"id": format!("t{seq}"), "text": "buy milk"},
                "seqNum": seq,
                "parentSeqNum": seq - 1,
                "clientId": "client-a",
                "sessionId": "session-a",
            })
        })
        .collect()
}

pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// How a receive ended when it did not yield a text message.
#[derive(Debug)]
pub enum Ended {
    Closed(Option<CloseFrame>),
    Error(String),
    Eof,
}

impl Client {
    pub async fn send(&mut self, value: Value) {
        self.send_text(&value.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws
            .send(Message::Text(text.into()))
            .await
            .expect("send");
    }

    /// The next text message as JSON (protocol ping/pong frames skipped).
    pub async fn recv(&mut self) -> Value {
        match self.next().await {
            Ok(v) => v,
            Err(Ended::Error(e)) => panic!("expected a message, got error {e}"),
            Err(e) => panic!("expected a message, got {e:?}"),
        }
    }

    pub async fn next(&mut self) -> Result<Value, Ended> {
        loop {
            let msg = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("timed out waiting for a message");
            match msg {
                None => return Err(Ended::Eof),
                Some(Err(e)) => return Err(Ended::Error(e.to_string())),
                Some(Ok(Message::Text(t))) => {
                    return Ok(serde_json::from_str(t.as_str()).expect("server sent JSON"))
                }
                Some(Ok(Message::Close(frame))) => return Err(Ended::Closed(frame)),
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Reads until the connection ends; returns how it ended.
    pub async fn until_end(&mut self) -> Ended {
        loop {
            if let Err(end) = self.next().await {
                return end;
            }
        }
    }

    pub async fn push(&mut self, request_id: &str, batch: Vec<Value>) {
        self.send(json!({"_tag": "WSMessage.PushReq", "requestId": request_id, "batch": batch}))
            .await;
    }

    /// Pushes and waits for the ack (skipping broadcasts); panics on an Error.
    pub async fn push_acked(&mut self, request_id: &str, batch: Vec<Value>) {
        self.push(request_id, batch).await;
        loop {
            let m = self.recv().await;
            match m["_tag"].as_str() {
                Some("WSMessage.PushAck") if m["requestId"] == request_id => return,
                Some("WSMessage.Error") => panic!("push {request_id} refused: {m}"),
                _ => continue,
            }
        }
    }

    /// Sends a pull and collects its responses until `remaining` is 0 (other messages
    /// are skipped).
    pub async fn pull(&mut self, request_id: &str, cursor: Option<u64>) -> Vec<Value> {
        let mut req = json!({"_tag": "WSMessage.PullReq", "requestId": request_id});
        if let Some(c) = cursor {
            req["cursor"] = json!(c);
        }
        self.send(req).await;
        let mut chunks = Vec::new();
        loop {
            let m = self.recv().await;
            if m["_tag"] == "WSMessage.PullRes"
                && m["requestId"] == json!({"context": "pull", "requestId": request_id})
            {
                let done = m["remaining"] == 0;
                chunks.push(m);
                if done {
                    return chunks;
                }
            } else if m["_tag"] == "WSMessage.Error" && m["requestId"] == request_id {
                panic!("pull failed: {m}");
            }
        }
    }

    /// The next message with the given tag, skipping others.
    pub async fn recv_tag(&mut self, tag: &str) -> Value {
        loop {
            let m = self.recv().await;
            if m["_tag"] == tag {
                return m;
            }
        }
    }
}

/// Sequence numbers of the events in a `PullRes`.
pub fn seqs(pull_res: &Value) -> Vec<u64> {
    pull_res["batch"]
        .as_array()
        .expect("batch")
        .iter()
        .map(|item| item["eventEncoded"]["seqNum"].as_u64().expect("seqNum"))
        .collect()
}

pub fn all_seqs(chunks: &[Value]) -> Vec<u64> {
    chunks.iter().flat_map(seqs).collect()
}

impl Client {
    pub async fn connect_url(url: &str) -> Client {
        let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
            .await
            .expect("connect timed out")
            .expect("connect");
        Client { ws }
    }

    /// Waits for the answer to push `request_id`: `Ok` on ack, `Err(message)` on Error.
    pub async fn push_outcome(&mut self, request_id: &str) -> Result<(), String> {
        loop {
            let m = self.recv().await;
            if m["requestId"] != request_id {
                continue;
            }
            match m["_tag"].as_str() {
                Some("WSMessage.PushAck") => return Ok(()),
                Some("WSMessage.Error") => return Err(m["message"].as_str().unwrap().to_owned()),
                _ => continue,
            }
        }
    }
}

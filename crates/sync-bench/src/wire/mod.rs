//! The wire protocols this client speaks, one module each: LiveStore 0.3.1's
//! `WSMessage.*` frames ([`v0_3`]) and 0.4's Effect-RPC envelopes over WebSocket
//! ([`v0_4`]). Both are written against the published protocol, not the server's code, so
//! the tool can drive any compatible implementation. Scenarios see only [`StoreWire`]
//! (frames to send) and [`Incoming`] (what a server frame means), whatever the protocol.
//!
//! Reading is lazy: a frame is first split into its kind, request id and raw batch, and a
//! scenario parses the batch only as far as it needs (count, seqNums, or timestamps), so
//! the generator spends as little CPU as possible next to the server on a shared machine.

pub mod v0_3;
pub mod v0_4;

use std::borrow::Cow;
use std::fmt::Write as _;

use anyhow::{anyhow, bail, Context};
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::value::RawValue;

/// Which protocol a run speaks (`--protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Protocol {
    /// LiveStore `sync-cf` 0.3.1: `<url>/websocket?storeId&payload`, `WSMessage.*` frames;
    /// the server broadcasts every push to every socket of the store.
    #[default]
    #[value(name = "0.3.1")]
    V0_3,
    /// LiveStore `sync-cf` 0.4 (`makeWsSync`): `<url>?storeId&payload&transport=ws`,
    /// Effect-RPC `Request`/`Chunk`/`Exit`; broadcasts reach sockets with a live pull.
    #[value(name = "0.4")]
    V0_4,
}

impl Protocol {
    /// The name `--protocol` takes, as reports show it.
    pub fn name(self) -> &'static str {
        match self {
            Self::V0_3 => "0.3.1",
            Self::V0_4 => "0.4",
        }
    }

    /// The socket URL for a base `ws://host:port[/path]`, without its query.
    pub fn endpoint(self, base: &str) -> anyhow::Result<String> {
        let trimmed = base.trim_end_matches('/');
        if !(trimmed.starts_with("ws://") || trimmed.starts_with("wss://")) {
            bail!("--url must start with ws:// (got {base:?})");
        }
        if trimmed.starts_with("wss://") {
            bail!("wss:// is not supported: this tool speaks plain TCP to a local server");
        }
        Ok(match self {
            Self::V0_3 => v0_3::endpoint(trimmed),
            Self::V0_4 => v0_4::endpoint(trimmed),
        })
    }

    /// What follows the `storeId` and `payload` parameters of a connect URL.
    pub fn extra_query(self) -> &'static str {
        match self {
            Self::V0_3 => "",
            Self::V0_4 => v0_4::EXTRA_QUERY,
        }
    }

    /// Whether a socket must open a live pull to receive the store's broadcasts (0.4);
    /// in 0.3.1 every socket of a store receives them.
    pub fn broadcasts_need_live_pull(self) -> bool {
        matches!(self, Self::V0_4)
    }

    /// Whether a pull that is not live ends with a frame of its own (0.4 `Exit`) rather
    /// than with its page of `remaining` 0 (0.3.1).
    pub fn pull_ends_with_exit(self) -> bool {
        matches!(self, Self::V0_4)
    }

    /// A ping frame.
    pub fn ping(self) -> String {
        match self {
            Self::V0_3 => v0_3::ping(),
            Self::V0_4 => v0_4::PING.to_owned(),
        }
    }

    /// What a server frame means.
    pub fn parse(self, text: &str) -> anyhow::Result<Incoming<'_>> {
        match self {
            Self::V0_3 => v0_3::parse(text),
            Self::V0_4 => v0_4::parse(text),
        }
    }
}

/// One store's frames in one protocol: what a socket on that store sends.
#[derive(Debug, Clone)]
pub struct StoreWire {
    pub protocol: Protocol,
    pub store_id: String,
}

impl StoreWire {
    pub fn new(protocol: Protocol, store_id: &str) -> Self {
        Self {
            protocol,
            store_id: store_id.to_owned(),
        }
    }

    /// A push of `count` events chained onto `parent` (the store's head before it);
    /// `backend_id` is the store's as a 0.4 client learnt it from its pull (0.3.1 has none).
    pub fn push(
        &self,
        factory: &EventFactory,
        request_id: &str,
        backend_id: Option<&str>,
        parent: u64,
        count: usize,
        sent_ns: u64,
    ) -> String {
        let mut batch = String::with_capacity(count * (120 + factory.pad.len()));
        factory.write_batch(&mut batch, parent, count, sent_ns);
        match self.protocol {
            Protocol::V0_3 => v0_3::push_req(request_id, &batch),
            Protocol::V0_4 => v0_4::push(request_id, &self.store_id, backend_id, &batch),
        }
    }

    /// A pull of everything from the start; `live` keeps it open for broadcasts (0.4;
    /// 0.3.1 has no live pulls and ignores it).
    pub fn pull(&self, request_id: &str, live: bool) -> String {
        match self.protocol {
            Protocol::V0_3 => v0_3::pull_req(request_id, None),
            Protocol::V0_4 => v0_4::pull(request_id, &self.store_id, live),
        }
    }
}

/// Builds the events this tool pushes: `{"t": <ns on the run clock>, "pad": "..."}` args,
/// so a receiver can compute push-to-receive latency from the event alone.
#[derive(Debug, Clone)]
pub struct EventFactory {
    pad: String,
    client_id: String,
    session_id: String,
}

impl EventFactory {
    pub fn new(pad_bytes: usize, writer: usize) -> Self {
        Self {
            pad: "x".repeat(pad_bytes),
            client_id: format!("bench-client-{writer}"),
            session_id: format!("bench-session-{writer}"),
        }
    }

    /// A 0.3.1 `PushReq` of `count` events chained onto `parent`.
    pub fn push_req(&self, request_id: &str, parent: u64, count: usize, sent_ns: u64) -> String {
        StoreWire::new(Protocol::V0_3, "").push(self, request_id, None, parent, count, sent_ns)
    }

    /// The JSON array of `count` events numbered `parent + 1..`, each the parent of the next.
    fn write_batch(&self, out: &mut String, parent: u64, count: usize, sent_ns: u64) {
        out.push('[');
        for i in 0..count as u64 {
            if i > 0 {
                out.push(',');
            }
            let seq = parent + i + 1;
            let _ = write!(
                out,
                r#"{{"name":"v1.BenchEvent","args":{{"t":{sent_ns},"pad":"{}"}},"seqNum":{seq},"parentSeqNum":{},"clientId":"{}","sessionId":"{}"}}"#,
                self.pad,
                seq - 1,
                self.client_id,
                self.session_id
            );
        }
        out.push(']');
    }
}

/// What a server frame means, whatever the protocol.
#[derive(Debug)]
pub enum Incoming<'a> {
    /// A request finished successfully: a push was acknowledged (0.3.1 `PushAck`, 0.4
    /// `Exit` success), or a stream ended (0.4 `Exit` of a pull that is not live).
    Done {
        request_id: Cow<'a, str>,
    },
    /// Events: a page of a pull or a broadcast.
    Events(Events<'a>),
    /// The server refused a request or the frame before (0.3.1 `Error`, 0.4 `Exit`
    /// failure or `Defect`).
    Failed {
        request_id: Option<String>,
        message: String,
    },
    Pong,
    /// Anything else (ignored).
    Other,
}

impl Incoming<'_> {
    /// Fails with the server's message if this is a refusal.
    pub fn fail_on_error(&self) -> anyhow::Result<()> {
        if let Self::Failed {
            request_id,
            message,
        } = self
        {
            bail!(
                "server error for request {}: {message}",
                request_id.as_deref().unwrap_or("?")
            );
        }
        Ok(())
    }
}

/// A batch of events from the server, split only as far as routing needs.
#[derive(Debug)]
pub struct Events<'a> {
    /// The pull this page answers (0.4: every chunk, live ones included); `None` for a
    /// 0.3.1 broadcast (context `push`).
    pub pull_id: Option<Cow<'a, str>>,
    /// Events still to come after this page (0 on a broadcast and on the last page).
    pub remaining: u64,
    /// The store's backend id (0.4 only).
    pub backend_id: Option<Cow<'a, str>>,
    batch: &'a RawValue,
}

impl<'a> Events<'a> {
    /// Number of events in the batch.
    pub fn batch_len(&self) -> anyhow::Result<usize> {
        let items: Vec<IgnoredAny> =
            serde_json::from_str(self.batch.get()).context("batch is not an array")?;
        Ok(items.len())
    }

    /// `(seqNum, parentSeqNum)` of every event, for checking a replay is complete and ordered.
    pub fn batch_seq_nums(&self) -> anyhow::Result<Vec<(u64, u64)>> {
        self.probe_batch()?
            .into_iter()
            .map(|e| Ok((e.seq_num()?, e.parent_seq_num()?)))
            .collect()
    }

    /// `(seqNum, t)` of every event: `t` is the send time this tool embeds in its args.
    pub fn batch_timestamps(&self) -> anyhow::Result<Vec<(u64, Option<u64>)>> {
        self.probe_batch()?
            .into_iter()
            .map(|e| Ok((e.seq_num()?, e.sent_ns())))
            .collect()
    }

    fn probe_batch(&self) -> anyhow::Result<Vec<ItemProbe>> {
        serde_json::from_str(self.batch.get()).context("batch items unreadable")
    }
}

/// One batch item. Both protocols wrap each event as
/// `{"eventEncoded": Event, "metadata": Option}`; a bare event is accepted too, so the
/// tool also reads servers that send events unwrapped.
#[derive(Deserialize)]
struct ItemProbe {
    #[serde(default, rename = "eventEncoded")]
    event_encoded: Option<EventProbe>,
    // The bare form's fields, listed here rather than `#[serde(flatten)]`ed, which would
    // buffer every item.
    #[serde(default, rename = "seqNum")]
    seq_num: Option<u64>,
    #[serde(default, rename = "parentSeqNum")]
    parent_seq_num: Option<u64>,
    #[serde(default)]
    args: Option<TimeArgs>,
}

#[derive(Deserialize)]
struct EventProbe {
    #[serde(default, rename = "seqNum")]
    seq_num: Option<u64>,
    #[serde(default, rename = "parentSeqNum")]
    parent_seq_num: Option<u64>,
    #[serde(default)]
    args: Option<TimeArgs>,
}

impl ItemProbe {
    fn seq_num(&self) -> anyhow::Result<u64> {
        match &self.event_encoded {
            Some(e) => e.seq_num,
            None => self.seq_num,
        }
        .ok_or_else(|| anyhow!("batch event without seqNum"))
    }

    fn parent_seq_num(&self) -> anyhow::Result<u64> {
        match &self.event_encoded {
            Some(e) => e.parent_seq_num,
            None => self.parent_seq_num,
        }
        .ok_or_else(|| anyhow!("batch event without parentSeqNum"))
    }

    fn sent_ns(&self) -> Option<u64> {
        match &self.event_encoded {
            Some(e) => e.args.as_ref(),
            None => self.args.as_ref(),
        }
        .and_then(|a| a.t)
    }
}

#[derive(Deserialize)]
struct TimeArgs {
    #[serde(default)]
    t: Option<u64>,
}

/// The first `max` characters of `text` (for error messages).
fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

/// A frame that could not be read, shown shortened.
fn unreadable(text: &str) -> String {
    format!("unreadable server frame: {}", truncate(text, 200))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushes_are_chains_in_both_protocols() {
        let f = EventFactory::new(3, 7);
        for protocol in [Protocol::V0_3, Protocol::V0_4] {
            let text = StoreWire::new(protocol, "s1").push(&f, "r1", Some("b"), 41, 3, 99);
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            let batch = match protocol {
                Protocol::V0_3 => &v["batch"],
                Protocol::V0_4 => &v["payload"]["batch"],
            };
            let batch = batch.as_array().unwrap();
            assert_eq!(batch.len(), 3);
            assert_eq!(batch[0]["parentSeqNum"], 41);
            assert_eq!(batch[0]["seqNum"], 42);
            assert_eq!(batch[1]["parentSeqNum"], 42);
            assert_eq!(batch[2]["seqNum"], 44);
            assert_eq!(batch[2]["args"]["t"], 99);
            assert_eq!(batch[1]["clientId"], "bench-client-7");
        }
    }

    #[test]
    fn endpoints_per_protocol() {
        let v3 = Protocol::V0_3;
        assert_eq!(
            v3.endpoint("ws://127.0.0.1:8787").unwrap(),
            "ws://127.0.0.1:8787/websocket"
        );
        assert_eq!(
            v3.endpoint("ws://h:1/websocket/").unwrap(),
            "ws://h:1/websocket"
        );
        assert!(v3.endpoint("http://h:1").is_err());
        let v4 = Protocol::V0_4;
        assert_eq!(v4.endpoint("ws://h:1/").unwrap(), "ws://h:1/");
        assert_eq!(v4.endpoint("ws://h:1/sync").unwrap(), "ws://h:1/sync");
        assert!(v4.endpoint("wss://h:1").is_err());
        assert_eq!(v4.extra_query(), "&transport=ws");
    }
}

//! The LiveStore 0.3.1 wire protocol as this client needs it (SPEC section 5): building
//! `PushReq`/`PullReq`/`Ping` frames and reading server frames. Written against the spec,
//! not the server's code, so the tool can drive any compatible implementation.
//!
//! Reading is lazy: a frame is first split into its tag, request id and raw batch, and a
//! scenario parses the batch only as far as it needs (count, seqNums, or timestamps), so
//! the generator spends as little CPU as possible next to the server on a shared machine.

use std::borrow::Cow;
use std::fmt::Write as _;

use anyhow::{anyhow, bail, Context};
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::value::RawValue;

pub const TAG_PUSH_REQ: &str = "WSMessage.PushReq";
pub const TAG_PULL_REQ: &str = "WSMessage.PullReq";
pub const TAG_PULL_RES: &str = "WSMessage.PullRes";
pub const TAG_PUSH_ACK: &str = "WSMessage.PushAck";
pub const TAG_ERROR: &str = "WSMessage.Error";
pub const TAG_PONG: &str = "WSMessage.Pong";
pub const TAG_PING: &str = "WSMessage.Ping";

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

    /// A `PushReq` of `count` events chained onto `parent` (the store's head before it).
    pub fn push_req(&self, request_id: &str, parent: u64, count: usize, sent_ns: u64) -> String {
        let mut out = String::with_capacity(64 + count * (120 + self.pad.len()));
        let _ = write!(
            out,
            r#"{{"_tag":"{TAG_PUSH_REQ}","requestId":"{request_id}","batch":["#
        );
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
        out.push_str("]}");
        out
    }
}

/// `PullReq` for everything after `cursor` (everything when `None`).
pub fn pull_req(request_id: &str, cursor: Option<u64>) -> String {
    match cursor {
        Some(c) => {
            format!(r#"{{"_tag":"{TAG_PULL_REQ}","requestId":"{request_id}","cursor":{c}}}"#)
        }
        None => format!(r#"{{"_tag":"{TAG_PULL_REQ}","requestId":"{request_id}"}}"#),
    }
}

pub fn ping() -> String {
    format!(r#"{{"_tag":"{TAG_PING}","requestId":"ping"}}"#)
}

/// The request id of a `PullRes`: which request (or push, for broadcasts) it answers.
#[derive(Debug, Deserialize)]
pub struct PullResId<'a> {
    #[serde(borrow)]
    pub context: Cow<'a, str>,
    #[serde(borrow, rename = "requestId")]
    pub request_id: Cow<'a, str>,
}

/// A server frame, split only as far as routing needs.
#[derive(Debug, Deserialize)]
pub struct Frame<'a> {
    #[serde(borrow, rename = "_tag")]
    pub tag: Cow<'a, str>,
    #[serde(borrow, rename = "requestId", default)]
    pub request_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub batch: Option<&'a RawValue>,
    #[serde(default)]
    pub remaining: Option<u64>,
    #[serde(default)]
    pub message: Option<String>,
}

impl<'a> Frame<'a> {
    pub fn parse(text: &'a str) -> anyhow::Result<Self> {
        serde_json::from_str(text)
            .with_context(|| format!("unreadable server frame: {}", truncate(text, 200)))
    }

    /// The request id of a `PushAck`/`Error`/`Pong` (a plain string).
    pub fn plain_request_id(&self) -> Option<Cow<'a, str>> {
        self.request_id
            .and_then(|raw| serde_json::from_str::<Cow<'a, str>>(raw.get()).ok())
    }

    /// The `{context, requestId}` of a `PullRes`.
    pub fn pull_res_id(&self) -> anyhow::Result<PullResId<'a>> {
        let raw = self
            .request_id
            .ok_or_else(|| anyhow!("PullRes without requestId"))?;
        serde_json::from_str(raw.get()).context("PullRes requestId is not {context, requestId}")
    }

    /// Fails with the server's message if this is a `WSMessage.Error`.
    pub fn fail_on_error(&self) -> anyhow::Result<()> {
        if self.tag == TAG_ERROR {
            bail!(
                "server error for request {}: {}",
                self.request_id.map(|r| r.get()).unwrap_or("?"),
                self.message.as_deref().unwrap_or("(no message)")
            );
        }
        Ok(())
    }

    fn batch_raw(&self) -> anyhow::Result<&'a str> {
        Ok(self
            .batch
            .ok_or_else(|| anyhow!("{} without batch", self.tag))?
            .get())
    }

    /// Number of events in the batch.
    pub fn batch_len(&self) -> anyhow::Result<usize> {
        let items: Vec<IgnoredAny> =
            serde_json::from_str(self.batch_raw()?).context("batch is not an array")?;
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
        serde_json::from_str(self.batch_raw()?).context("batch items unreadable")
    }
}

/// One `PullRes` batch item. LiveStore 0.3.1 wraps each event as
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

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_req_is_a_contiguous_chain() {
        let f = EventFactory::new(3, 7);
        let text = f.push_req("r1", 41, 3, 99);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["_tag"], TAG_PUSH_REQ);
        assert_eq!(v["requestId"], "r1");
        let batch = v["batch"].as_array().unwrap();
        assert_eq!(batch.len(), 3);
        assert_eq!(batch[0]["parentSeqNum"], 41);
        assert_eq!(batch[0]["seqNum"], 42);
        assert_eq!(batch[2]["seqNum"], 44);
        assert_eq!(batch[2]["args"]["t"], 99);
        assert_eq!(batch[1]["clientId"], "bench-client-7");
    }

    #[test]
    fn reads_pull_res_broadcast() {
        let text = r#"{"_tag":"WSMessage.PullRes","batch":[{"name":"v1.BenchEvent","args":{"t":5,"pad":""},"seqNum":1,"parentSeqNum":0,"clientId":"c","sessionId":"s","metadata":{"_tag":"Some","value":{"createdAt":"x"}}},{"name":"n","args":null,"seqNum":2,"parentSeqNum":1,"clientId":"c","sessionId":"s"}],"requestId":{"context":"push","requestId":"p1"},"remaining":0}"#;
        let frame = Frame::parse(text).unwrap();
        assert_eq!(frame.tag, TAG_PULL_RES);
        let id = frame.pull_res_id().unwrap();
        assert_eq!(
            (id.context.as_ref(), id.request_id.as_ref()),
            ("push", "p1")
        );
        assert_eq!(frame.remaining, Some(0));
        assert_eq!(frame.batch_len().unwrap(), 2);
        assert_eq!(frame.batch_seq_nums().unwrap(), vec![(1, 0), (2, 1)]);
        assert_eq!(
            frame.batch_timestamps().unwrap(),
            vec![(1, Some(5)), (2, None)]
        );
    }

    #[test]
    fn reads_wrapped_events() {
        let text = r#"{"_tag":"WSMessage.PullRes","batch":[{"eventEncoded":{"name":"v1.BenchEvent","args":{"t":7,"pad":""},"seqNum":3,"parentSeqNum":2,"clientId":"c","sessionId":"s"},"metadata":{"_tag":"Some","value":{"createdAt":"x"}}}],"requestId":{"context":"pull","requestId":"r"},"remaining":5}"#;
        let frame = Frame::parse(text).unwrap();
        assert_eq!(frame.batch_len().unwrap(), 1);
        assert_eq!(frame.batch_seq_nums().unwrap(), vec![(3, 2)]);
        assert_eq!(frame.batch_timestamps().unwrap(), vec![(3, Some(7))]);
        assert_eq!(frame.remaining, Some(5));
    }

    #[test]
    fn reads_ack_and_error() {
        let ack = Frame::parse(r#"{"_tag":"WSMessage.PushAck","requestId":"p9"}"#).unwrap();
        assert_eq!(ack.plain_request_id().as_deref(), Some("p9"));
        assert!(ack.fail_on_error().is_ok());
        let err = Frame::parse(
            r#"{"_tag":"WSMessage.Error","requestId":"p3","message":"Invalid parent event number. Received e1 but expected e2"}"#,
        )
        .unwrap();
        let msg = err.fail_on_error().unwrap_err().to_string();
        assert!(msg.contains("expected e2"), "{msg}");
    }
}

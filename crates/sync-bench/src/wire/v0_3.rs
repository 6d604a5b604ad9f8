//! LiveStore 0.3.1's frames (SPEC section 5): `PushReq`/`PullReq`/`Ping` to send, and
//! `PullRes`/`PushAck`/`Error`/`Pong` read into [`Incoming`].

use std::borrow::Cow;

use anyhow::{anyhow, Context};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{unreadable, Events, Incoming};

pub const TAG_PUSH_REQ: &str = "WSMessage.PushReq";
pub const TAG_PULL_REQ: &str = "WSMessage.PullReq";
pub const TAG_PULL_RES: &str = "WSMessage.PullRes";
pub const TAG_PUSH_ACK: &str = "WSMessage.PushAck";
pub const TAG_ERROR: &str = "WSMessage.Error";
pub const TAG_PONG: &str = "WSMessage.Pong";
pub const TAG_PING: &str = "WSMessage.Ping";

/// `<base>/websocket` (any path ending in `/websocket` is the 0.3.1 endpoint).
pub(super) fn endpoint(base: &str) -> String {
    if base.ends_with("/websocket") {
        base.to_owned()
    } else {
        format!("{base}/websocket")
    }
}

/// A `PushReq` around an encoded `batch` array.
pub(super) fn push_req(request_id: &str, batch: &str) -> String {
    let mut out = String::with_capacity(64 + batch.len());
    out.push_str(r#"{"_tag":""#);
    out.push_str(TAG_PUSH_REQ);
    out.push_str(r#"","requestId":""#);
    out.push_str(request_id);
    out.push_str(r#"","batch":"#);
    out.push_str(batch);
    out.push('}');
    out
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
struct PullResId<'a> {
    #[serde(borrow)]
    context: Cow<'a, str>,
    #[serde(borrow, rename = "requestId")]
    request_id: Cow<'a, str>,
}

/// A server frame, split only as far as routing needs.
#[derive(Debug, Deserialize)]
struct Frame<'a> {
    #[serde(borrow, rename = "_tag")]
    tag: Cow<'a, str>,
    #[serde(borrow, rename = "requestId", default)]
    request_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    batch: Option<&'a RawValue>,
    #[serde(default)]
    remaining: Option<u64>,
    #[serde(default)]
    message: Option<String>,
}

impl<'a> Frame<'a> {
    /// The request id of a `PushAck`/`Error`/`Pong` (a plain string).
    fn plain_request_id(&self) -> Option<Cow<'a, str>> {
        self.request_id
            .and_then(|raw| serde_json::from_str::<Cow<'a, str>>(raw.get()).ok())
    }
}

/// Reads one server frame.
pub(super) fn parse(text: &str) -> anyhow::Result<Incoming<'_>> {
    let frame: Frame<'_> = serde_json::from_str(text).with_context(|| unreadable(text))?;
    Ok(match frame.tag.as_ref() {
        TAG_PUSH_ACK => Incoming::Done {
            request_id: frame.plain_request_id().unwrap_or_default(),
        },
        TAG_PULL_RES => {
            let raw = frame
                .request_id
                .ok_or_else(|| anyhow!("PullRes without requestId"))?;
            let id: PullResId<'_> = serde_json::from_str(raw.get())
                .context("PullRes requestId is not {context, requestId}")?;
            Incoming::Events(Events {
                pull_id: (id.context == "pull").then_some(id.request_id),
                remaining: frame
                    .remaining
                    .ok_or_else(|| anyhow!("PullRes without remaining"))?,
                backend_id: None,
                batch: frame
                    .batch
                    .ok_or_else(|| anyhow!("PullRes without batch"))?,
            })
        }
        TAG_ERROR => Incoming::Failed {
            request_id: frame.request_id.map(|r| r.get().to_owned()),
            message: frame.message.unwrap_or_else(|| "(no message)".to_owned()),
        },
        TAG_PONG => Incoming::Pong,
        _ => Incoming::Other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(incoming: Incoming<'_>) -> Events<'_> {
        match incoming {
            Incoming::Events(events) => events,
            other => panic!("not events: {other:?}"),
        }
    }

    #[test]
    fn push_req_is_a_tagged_chain() {
        let text = super::super::EventFactory::new(3, 7).push_req("r1", 41, 2, 99);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["_tag"], TAG_PUSH_REQ);
        assert_eq!(v["requestId"], "r1");
        assert_eq!(v["batch"][1]["seqNum"], 43);
    }

    #[test]
    fn reads_pull_res_broadcast() {
        let text = r#"{"_tag":"WSMessage.PullRes","batch":[{"name":"v1.BenchEvent","args":{"t":5,"pad":""},"seqNum":1,"parentSeqNum":0,"clientId":"c","sessionId":"s","metadata":{"_tag":"Some","value":{"createdAt":"x"}}},{"name":"n","args":null,"seqNum":2,"parentSeqNum":1,"clientId":"c","sessionId":"s"}],"requestId":{"context":"push","requestId":"p1"},"remaining":0}"#;
        let frame = events(parse(text).unwrap());
        assert!(frame.pull_id.is_none(), "a broadcast");
        assert_eq!(frame.remaining, 0);
        assert_eq!(frame.batch_len().unwrap(), 2);
        assert_eq!(frame.batch_seq_nums().unwrap(), vec![(1, 0), (2, 1)]);
        assert_eq!(
            frame.batch_timestamps().unwrap(),
            vec![(1, Some(5)), (2, None)]
        );
    }

    #[test]
    fn reads_wrapped_pull_pages() {
        let text = r#"{"_tag":"WSMessage.PullRes","batch":[{"eventEncoded":{"name":"v1.BenchEvent","args":{"t":7,"pad":""},"seqNum":3,"parentSeqNum":2,"clientId":"c","sessionId":"s"},"metadata":{"_tag":"Some","value":{"createdAt":"x"}}}],"requestId":{"context":"pull","requestId":"r"},"remaining":5}"#;
        let frame = events(parse(text).unwrap());
        assert_eq!(frame.pull_id.as_deref(), Some("r"));
        assert_eq!(frame.batch_len().unwrap(), 1);
        assert_eq!(frame.batch_seq_nums().unwrap(), vec![(3, 2)]);
        assert_eq!(frame.batch_timestamps().unwrap(), vec![(3, Some(7))]);
        assert_eq!(frame.remaining, 5);
    }

    #[test]
    fn reads_ack_error_and_pong() {
        let ack = parse(r#"{"_tag":"WSMessage.PushAck","requestId":"p9"}"#).unwrap();
        assert!(matches!(&ack, Incoming::Done { request_id } if request_id == "p9"));
        assert!(ack.fail_on_error().is_ok());
        let err = parse(
            r#"{"_tag":"WSMessage.Error","requestId":"p3","message":"Invalid parent event number. Received e1 but expected e2"}"#,
        )
        .unwrap();
        let msg = err.fail_on_error().unwrap_err().to_string();
        assert!(msg.contains("expected e2"), "{msg}");
        assert!(matches!(
            parse(r#"{"_tag":"WSMessage.Pong","requestId":"ping"}"#).unwrap(),
            Incoming::Pong
        ));
        assert!(parse("nope").is_err());
    }
}

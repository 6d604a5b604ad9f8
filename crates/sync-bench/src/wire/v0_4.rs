//! LiveStore 0.4's WebSocket transport (`makeWsSync`): Effect-RPC envelopes, one JSON
//! object per text frame. The client sends `Request`s (`SyncWsRpc.Pull`, `SyncWsRpc.Push`)
//! and `Ping`; the server answers with `Chunk`s of one `PullResponse` each
//! (`{batch, pageInfo: MoreKnown{remaining} | NoMore, backendId}`), an `Exit` per finished
//! request (success, or a failure with `ServerAheadError`, `BackendIdMismatchError` or
//! `UnknownError`), `Defect` for a frame it cannot read, and `Pong`. Pushes reach other
//! sockets only through their live pulls. This client sends no `Ack`s (flow control the
//! server may ignore).

use std::borrow::Cow;

use anyhow::{bail, Context};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{truncate, unreadable, Events, Incoming};

/// The query parameter that selects the WebSocket transport.
pub(super) const EXTRA_QUERY: &str = "&transport=ws";

/// A ping (answered `{"_tag":"Pong"}`).
pub(super) const PING: &str = r#"{"_tag":"Ping"}"#;

/// The 0.4 client connects to the base URL itself (any path); a bare host gets `/`.
pub(super) fn endpoint(base: &str) -> String {
    let after_scheme = base.split_once("://").map_or(base, |(_, rest)| rest);
    if after_scheme.contains('/') {
        base.to_owned()
    } else {
        format!("{base}/")
    }
}

/// `{"_tag":"Request","id","tag","payload":{"storeId",<fields>},"headers":[]}`.
fn request(id: &str, tag: &str, store_id: &str, fields: &str) -> String {
    let store = serde_json::to_string(store_id).unwrap_or_else(|_| "\"\"".to_owned());
    let id = serde_json::to_string(id).unwrap_or_else(|_| "\"\"".to_owned());
    let mut out = String::with_capacity(96 + store.len() + fields.len());
    out.push_str(r#"{"_tag":"Request","id":"#);
    out.push_str(&id);
    out.push_str(r#","tag":""#);
    out.push_str(tag);
    out.push_str(r#"","payload":{"storeId":"#);
    out.push_str(&store);
    out.push(',');
    out.push_str(fields);
    out.push_str(r#"},"headers":[]}"#);
    out
}

/// A `SyncWsRpc.Push` of an encoded `batch` array.
pub(super) fn push(
    request_id: &str,
    store_id: &str,
    backend_id: Option<&str>,
    batch: &str,
) -> String {
    let backend = match backend_id {
        Some(id) => format!(
            r#"{{"_tag":"Some","value":{}}}"#,
            serde_json::to_string(id).unwrap_or_default()
        ),
        None => r#"{"_tag":"None"}"#.to_owned(),
    };
    let mut fields = String::with_capacity(32 + batch.len() + backend.len());
    fields.push_str(r#""batch":"#);
    fields.push_str(batch);
    fields.push_str(r#","backendId":"#);
    fields.push_str(&backend);
    request(request_id, "SyncWsRpc.Push", store_id, &fields)
}

/// A `SyncWsRpc.Pull` from the start (no cursor), kept open for broadcasts when `live`.
pub(super) fn pull(request_id: &str, store_id: &str, live: bool) -> String {
    let fields = format!(r#""cursor":{{"_tag":"None"}},"live":{live}"#);
    request(request_id, "SyncWsRpc.Pull", store_id, &fields)
}

#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(borrow, rename = "_tag")]
    tag: Cow<'a, str>,
    #[serde(borrow, rename = "requestId", default)]
    request_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    values: Option<Vec<PullResponse<'a>>>,
    #[serde(borrow, default)]
    exit: Option<ExitProbe<'a>>,
    #[serde(borrow, default)]
    defect: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct PullResponse<'a> {
    #[serde(borrow)]
    batch: &'a RawValue,
    #[serde(rename = "pageInfo")]
    page_info: PageInfo,
    #[serde(borrow, rename = "backendId", default)]
    backend_id: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(tag = "_tag")]
enum PageInfo {
    MoreKnown { remaining: u64 },
    NoMore,
}

#[derive(Deserialize)]
struct ExitProbe<'a> {
    #[serde(borrow, rename = "_tag")]
    tag: Cow<'a, str>,
    #[serde(borrow, default)]
    cause: Option<&'a RawValue>,
}

/// Reads one server frame.
pub(super) fn parse(text: &str) -> anyhow::Result<Incoming<'_>> {
    let frame: Frame<'_> = serde_json::from_str(text).with_context(|| unreadable(text))?;
    Ok(match frame.tag.as_ref() {
        "Chunk" => {
            let mut values = frame.values.unwrap_or_default();
            if values.len() != 1 {
                bail!("Chunk with {} PullResponses, expected one", values.len());
            }
            let page = values.remove(0);
            Incoming::Events(Events {
                pull_id: Some(frame.request_id.unwrap_or_default()),
                remaining: match page.page_info {
                    PageInfo::MoreKnown { remaining } => remaining,
                    PageInfo::NoMore => 0,
                },
                backend_id: page.backend_id,
                batch: page.batch,
            })
        }
        "Exit" => {
            let exit = frame.exit.context("Exit without exit")?;
            let request_id = frame.request_id.unwrap_or_default();
            if exit.tag == "Success" {
                Incoming::Done { request_id }
            } else {
                Incoming::Failed {
                    request_id: Some(request_id.into_owned()),
                    message: exit.cause.map_or_else(
                        || format!("Exit {}", exit.tag),
                        |cause| truncate(cause.get(), 500).to_owned(),
                    ),
                }
            }
        }
        "Defect" => Incoming::Failed {
            request_id: None,
            message: frame
                .defect
                .map_or("Defect", |d| truncate(d.get(), 500))
                .to_owned(),
        },
        "Pong" => Incoming::Pong,
        _ => Incoming::Other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_effect_rpc_envelopes() {
        let pull: serde_json::Value = serde_json::from_str(&pull("7", "s\"1", true)).unwrap();
        assert_eq!(pull["_tag"], "Request");
        assert_eq!(pull["id"], "7");
        assert_eq!(pull["tag"], "SyncWsRpc.Pull");
        assert_eq!(pull["payload"]["storeId"], "s\"1");
        assert_eq!(pull["payload"]["live"], true);
        assert_eq!(pull["payload"]["cursor"]["_tag"], "None");
        let text = push("p1", "s", Some("b-1"), r#"[{"seqNum":1}]"#);
        let push: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(push["tag"], "SyncWsRpc.Push");
        assert_eq!(push["payload"]["batch"][0]["seqNum"], 1);
        assert_eq!(
            push["payload"]["backendId"],
            serde_json::json!({"_tag":"Some","value":"b-1"})
        );
        let none = super::push("p2", "s", None, "[]");
        assert!(none.contains(r#""backendId":{"_tag":"None"}"#), "{none}");
    }

    #[test]
    fn reads_chunks_exits_defects_and_pong() {
        let more = r#"{"_tag":"Chunk","requestId":"3","values":[{"batch":[{"eventEncoded":{"name":"n","args":{"t":9},"seqNum":100,"parentSeqNum":0,"clientId":"c","sessionId":"s"},"metadata":{"_tag":"None"}}],"pageInfo":{"_tag":"MoreKnown","remaining":4},"backendId":"bk"}]}"#;
        let Incoming::Events(page) = parse(more).unwrap() else {
            panic!("a chunk is events");
        };
        assert_eq!(page.pull_id.as_deref(), Some("3"));
        assert_eq!(page.remaining, 4);
        assert_eq!(page.backend_id.as_deref(), Some("bk"));
        assert_eq!(page.batch_seq_nums().unwrap(), vec![(100, 0)]);
        assert_eq!(page.batch_timestamps().unwrap(), vec![(100, Some(9))]);
        let last = r#"{"_tag":"Chunk","requestId":"3","values":[{"batch":[],"pageInfo":{"_tag":"NoMore"},"backendId":"bk"}]}"#;
        let Incoming::Events(page) = parse(last).unwrap() else {
            panic!("a chunk is events");
        };
        assert_eq!((page.remaining, page.batch_len().unwrap()), (0, 0));

        let ok = parse(r#"{"_tag":"Exit","requestId":"p1","exit":{"_tag":"Success","value":{}}}"#);
        assert!(matches!(ok.unwrap(), Incoming::Done { request_id } if request_id == "p1"));
        let ahead = parse(
            r#"{"_tag":"Exit","requestId":"p2","exit":{"_tag":"Failure","cause":{"_tag":"Fail","error":{"_tag":"ServerAheadError","minimumExpectedNum":5,"providedNum":3}}}}"#,
        )
        .unwrap();
        let text = ahead.fail_on_error().unwrap_err().to_string();
        assert!(
            text.contains("ServerAheadError") && text.contains("p2"),
            "{text}"
        );
        let defect = parse(r#"{"_tag":"Defect","defect":"Invalid message"}"#).unwrap();
        assert!(defect.fail_on_error().is_err());
        assert!(matches!(
            parse(r#"{"_tag":"Pong"}"#).unwrap(),
            Incoming::Pong
        ));
        assert!(parse(r#"{"_tag":"Chunk","requestId":"1","values":[]}"#).is_err());
    }

    #[test]
    fn bare_hosts_get_a_path() {
        assert_eq!(endpoint("ws://h:1"), "ws://h:1/");
        assert_eq!(endpoint("ws://h:1/x"), "ws://h:1/x");
    }
}

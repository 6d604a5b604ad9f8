use serde_json::{json, Value};

use super::*;

fn parse(text: &str) -> Value {
    serde_json::from_str(text).expect("valid JSON")
}

#[test]
fn decodes_requests_and_control_frames() {
    let pull = r#"{"_tag":"Request","id":"3","tag":"SyncWsRpc.Pull","payload":{"storeId":"s","live":true,"cursor":{"_tag":"Some","value":{"backendId":"b","eventSequenceNumber":7}}},"headers":[],"traceId":"t"}"#;
    let ClientFrame::Request {
        id,
        call: Call::Pull { live, cursor },
    } = decode_frame(pull).unwrap()
    else {
        panic!("not a pull")
    };
    assert_eq!((id.as_str(), live), ("3", true));
    assert_eq!(cursor, Some(("b".to_owned(), 7)));
    let push = r#"{"_tag":"Request","id":"4","tag":"SyncWsRpc.Push","payload":{"storeId":"s","batch":[{"name":"x","seqNum":1,"parentSeqNum":0,"clientId":"c","sessionId":"s"}],"backendId":{"_tag":"None"}},"headers":[]}"#;
    let ClientFrame::Request {
        call: Call::Push { batch, backend_id },
        ..
    } = decode_frame(push).unwrap()
    else {
        panic!("not a push")
    };
    assert_eq!((batch.len(), backend_id), (1, None));
    assert!(matches!(
        decode_frame(r#"{"_tag":"Ping"}"#),
        Ok(ClientFrame::Ping)
    ));
    assert!(matches!(
        decode_frame(r#"{"_tag":"Ack","requestId":"1"}"#),
        Ok(ClientFrame::Ack)
    ));
    assert!(matches!(
        decode_frame(r#"{"_tag":"Interrupt","requestId":"1"}"#),
        Ok(ClientFrame::Interrupt { .. })
    ));
    let invalid = r#"{"_tag":"Request","id":"5","tag":"SyncWsRpc.Pull","payload":{"live":"yes"}}"#;
    assert!(matches!(
        decode_frame(invalid),
        Ok(ClientFrame::Invalid { .. })
    ));
    for bad in [
        "nope",
        "[]",
        r#"{"_tag":"Bogus"}"#,
        r#"{"_tag":"Request","id":"1","tag":"X"}"#,
    ] {
        assert!(decode_frame(bad).is_err(), "{bad}");
    }
}

#[test]
fn encodes_exits_and_errors_as_the_client_decodes_them() {
    assert_eq!(
        parse(&exit_stream_success("1")),
        json!({"_tag":"Exit","requestId":"1","exit":{"_tag":"Success"}})
    );
    assert_eq!(
        parse(&exit_push_success("2")),
        json!({"_tag":"Exit","requestId":"2","exit":{"_tag":"Success","value":{}}})
    );
    let ahead = RpcError::ServerAhead {
        minimum_expected: 2,
        provided: 6,
    };
    assert_eq!(
        parse(&exit_failure("3", &ahead))["exit"]["cause"],
        json!({"_tag":"Fail","error":{"_tag":"ServerAheadError","minimumExpectedNum":2,"providedNum":6}})
    );
    let unknown = RpcError::Unknown {
        message: "read-only \"token\"",
    };
    assert_eq!(
        parse(&exit_failure("4", &unknown))["exit"]["cause"]["error"],
        json!({"_tag":"UnknownError","cause":{"name":"Error","message":"read-only \"token\""}})
    );
    assert_eq!(parse(&defect("bad"))["_tag"], "Defect");
    assert_eq!(parse(PONG), json!({"_tag":"Pong"}));
    let page = parse(&chunk("9", &pull_response_stored(&[], 0, "bid")));
    assert_eq!(
        page,
        json!({"_tag":"Chunk","requestId":"9","values":[{"batch":[],"pageInfo":{"_tag":"NoMore"},"backendId":"bid"}]})
    );
    let more = parse(&pull_response_stored(&[], 5, "bid"));
    assert_eq!(more["pageInfo"], json!({"_tag":"MoreKnown","remaining":5}));
}

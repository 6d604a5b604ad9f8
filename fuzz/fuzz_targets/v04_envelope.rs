//! The LiveStore 0.4 Effect-RPC envelope decoder on arbitrary text.
//!
//! Properties: decoding never panics; a decoded call respects the protocol's bounds;
//! the `Defect`, `Exit` and `Chunk` answers echoing its results are valid JSON carrying
//! the ids and texts back unchanged.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use sync_worker::fuzzing::v04::{
    chunk, decode_frame, defect, exit_die, exit_push_success, Call, ClientFrame,
};
use sync_worker::fuzzing::MAX_SEQ_NUM;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match decode_frame(text) {
        Err(reason) => {
            let answer = parse(&defect(&reason));
            assert_eq!(answer["_tag"], "Defect");
            assert_eq!(answer["defect"], reason.as_str());
        }
        Ok(ClientFrame::Invalid { id, reason }) => {
            let answer = parse(&exit_die(&id, &reason));
            assert_eq!(answer["requestId"], id.as_str());
            assert_eq!(answer["exit"]["cause"]["defect"], reason.as_str());
        }
        Ok(ClientFrame::Request { id, call }) => {
            match call {
                Call::Pull { cursor, .. } => {
                    if let Some((_, seq)) = cursor {
                        assert!(seq <= MAX_SEQ_NUM);
                    }
                }
                Call::Push { batch, .. } => {
                    for event in &batch {
                        assert!(event.seq_num <= MAX_SEQ_NUM);
                        assert!(event.parent_seq_num <= MAX_SEQ_NUM);
                    }
                }
                Call::Ping => {}
            }
            let answer = parse(&exit_push_success(&id));
            assert_eq!(answer["requestId"], id.as_str());
        }
        Ok(ClientFrame::Interrupt { request_id }) => {
            let answer = parse(&chunk(&request_id, "{}"));
            assert_eq!(answer["requestId"], request_id.as_str());
        }
        Ok(ClientFrame::Ack | ClientFrame::Ping | ClientFrame::Eof) => {}
    }
});

fn parse(json: &str) -> Value {
    serde_json::from_str(json).unwrap_or_else(|e| panic!("not JSON ({e}): {json}"))
}

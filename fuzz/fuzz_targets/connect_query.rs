//! The connect query and payload parser on arbitrary text.
//!
//! Properties: parsing any request URI never panics, and an accepted store id obeys the
//! documented rules; `decodeURIComponent` undoes `encodeURIComponent`; and a query built
//! the way the real client builds it (the text as `storeId` and as the payload's
//! `authToken`, the payload encoded twice) gives both back unchanged, or a 400 exactly
//! when the text is not a valid store id.

#![no_main]

use libfuzzer_sys::fuzz_target;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sync_worker::fuzzing::{parse_connect, percent_decode};

/// What JavaScript's `encodeURIComponent` leaves as is (besides ASCII alphanumerics).
const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// What `URLSearchParams` leaves as is; it writes a space as `+`.
const FORM: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'*');

/// `StoreId::parse`'s rule, as documented in PROTOCOL.md.
fn valid_store_id(s: &str) -> bool {
    let chars = s.chars().count();
    (1..=256).contains(&chars) && !s.chars().any(char::is_control)
}

fn form(s: &str) -> String {
    s.split(' ')
        .map(|part| utf8_percent_encode(part, FORM).to_string())
        .collect::<Vec<_>>()
        .join("+")
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };

    // 1. Whatever a client puts in the query.
    for uri in [format!("/websocket?{text}"), format!("/?{text}")] {
        if let Some(parsed) = parse_connect(&uri) {
            if let Ok(request) = &parsed.request {
                assert!(valid_store_id(request.store.as_str()));
            }
        }
    }

    // 2. decodeURIComponent(encodeURIComponent(text)) == text.
    let component = utf8_percent_encode(text, URI_COMPONENT).to_string();
    assert_eq!(percent_decode(&component).as_deref(), Some(text));

    // 3. The real client's query: encodeURIComponent(JSON), then URLSearchParams.
    let payload = serde_json::json!({ "authToken": text }).to_string();
    let payload = utf8_percent_encode(&payload, URI_COMPONENT).to_string();
    let uri = format!(
        "/websocket?storeId={}&payload={}&transport=ws",
        form(text),
        form(&payload)
    );
    let Some(parsed) = parse_connect(&uri) else {
        // Only the URI length limit (64 KiB) refuses a fully encoded query.
        assert!(uri.len() > 60_000, "encoded query refused: {uri}");
        return;
    };
    match parsed.request {
        Ok(request) => {
            assert!(valid_store_id(text), "accepted store id {text:?}");
            assert_eq!(request.store.as_str(), text);
            let payload = request.payload.expect("the payload is present");
            assert_eq!(payload.auth_token.as_deref(), Some(text));
            assert_eq!(parsed.transport.as_deref(), Some("ws"));
        }
        Err(rejection) => {
            assert!(!valid_store_id(text), "refused {text:?}: {rejection:?}");
            assert_eq!(rejection.code, "INVALID_REQUEST");
        }
    }
});

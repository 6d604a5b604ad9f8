//! Bad requests: every failure is a JSON error with a code, never axum's plain text.

use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::helpers::{assert_error, Db, TestApp, STRONG_PASSWORD};

const JSON: Option<&str> = Some("application/json");

async fn malformed_json_is_an_invalid_request(db: Db) {
    let app = TestApp::spawn(&db).await;
    for body in [
        &b"{\"email\": \"a@b.co\", "[..],
        b"not json",
        b"",
        b"{\"email\":\"a@b.co\"}}",
    ] {
        for path in ["/signup", "/login", "/refresh", "/logout"] {
            let message = assert_error(
                app.post_raw(path, JSON, body.to_vec()).await,
                400,
                "INVALID_REQUEST",
            )
            .await;
            assert!(message.contains("JSON"), "{message}");
        }
    }
    app.stop().await;
}

async fn non_object_json_is_an_invalid_request(db: Db) {
    let app = TestApp::spawn(&db).await;
    for body in [
        json!(["a@b.co", STRONG_PASSWORD]),
        json!("a@b.co"),
        json!(42),
        json!(null),
    ] {
        assert_error(
            app.post_json("/signup", &body).await,
            400,
            "INVALID_REQUEST",
        )
        .await;
    }
    app.stop().await;
}

async fn missing_fields_are_named(db: Db) {
    let app = TestApp::spawn(&db).await;
    for (path, body, field) in [
        ("/signup", json!({ "password": STRONG_PASSWORD }), "email"),
        ("/signup", json!({ "email": "a@b.co" }), "password"),
        (
            "/login",
            json!({ "email": "a@b.co", "password": null }),
            "password",
        ),
        ("/refresh", json!({}), "refreshToken"),
        ("/logout", json!({ "refresh_token": "x" }), "refreshToken"),
    ] {
        let message = assert_error(app.post_json(path, &body).await, 400, "INVALID_REQUEST").await;
        assert!(
            message.contains(&format!("`{field}`")),
            "{path} {body}: {message}"
        );
    }
    app.stop().await;
}

async fn wrong_types_are_named(db: Db) {
    let app = TestApp::spawn(&db).await;
    for (path, body, field) in [
        (
            "/signup",
            json!({ "email": 42, "password": STRONG_PASSWORD }),
            "email",
        ),
        (
            "/signup",
            json!({ "email": "a@b.co", "password": ["x"] }),
            "password",
        ),
        (
            "/login",
            json!({ "email": "a@b.co", "password": 12345678 }),
            "password",
        ),
        (
            "/refresh",
            json!({ "refreshToken": { "t": 1 } }),
            "refreshToken",
        ),
        ("/logout", json!({ "refreshToken": true }), "refreshToken"),
    ] {
        let message = assert_error(app.post_json(path, &body).await, 400, "INVALID_REQUEST").await;
        assert!(
            message.contains(&format!("`{field}` must be a string")),
            "{path} {body}: {message}"
        );
    }
    app.stop().await;
}

async fn a_17_kib_body_is_an_invalid_request_not_413(db: Db) {
    let app = TestApp::spawn(&db).await;
    let padding = "x".repeat(17 * 1024);
    let body =
        json!({ "email": "big@example.com", "password": STRONG_PASSWORD, "padding": padding });
    for path in ["/signup", "/login", "/refresh", "/logout"] {
        let message = assert_error(app.post_json(path, &body).await, 400, "INVALID_REQUEST").await;
        assert!(message.contains("16384"), "{message}");
    }
    // Exactly at the limit is still read (and here fails only on the password rules).
    let mut at_limit =
        serde_json::to_vec(&json!({ "email": "edge@example.com", "password": "", "p": "" }))
            .unwrap();
    let fill = 16 * 1024 - at_limit.len();
    at_limit = serde_json::to_vec(
        &json!({ "email": "edge@example.com", "password": "", "p": "y".repeat(fill) }),
    )
    .unwrap();
    assert_eq!(at_limit.len(), 16 * 1024);
    assert_error(
        app.post_raw("/signup", JSON, at_limit).await,
        400,
        "WEAK_PASSWORD",
    )
    .await;
    app.stop().await;
}

async fn an_oversized_chunked_body_without_content_length_is_refused_too(db: Db) {
    let app = TestApp::spawn(&db).await;
    let addr = app.address.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /signup HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = format!("400\r\n{}\r\n", "z".repeat(0x400));
    for _ in 0..17 {
        // The server may answer and close before reading everything: that is fine.
        if stream.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut raw = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut raw),
    )
    .await;
    assert!(read.is_ok(), "no response within 10 s");
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(text.contains("\"code\":\"INVALID_REQUEST\""), "{text}");
    app.stop().await;
}

async fn wrong_or_missing_content_type_is_an_invalid_request(db: Db) {
    let app = TestApp::spawn(&db).await;
    let body =
        serde_json::to_vec(&json!({ "email": "a@b.co", "password": STRONG_PASSWORD })).unwrap();
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let message = assert_error(
            app.post_raw("/signup", content_type, body.clone()).await,
            400,
            "INVALID_REQUEST",
        )
        .await;
        assert!(message.contains("Content-Type"), "{message}");
    }
    // Parameters such as charset are fine.
    let ok = app
        .post_raw("/signup", Some("application/json; charset=utf-8"), body)
        .await;
    assert_eq!(ok.status(), 200);
    app.stop().await;
}

async fn wrong_method_is_405_with_a_code(db: Db) {
    let app = TestApp::spawn(&db).await;
    for path in ["/signup", "/login", "/refresh", "/logout"] {
        assert_error(app.get(path).await, 405, "METHOD_NOT_ALLOWED").await;
    }
    let put = app.client.put(app.url("/health")).send().await.unwrap();
    assert_error(put, 405, "METHOD_NOT_ALLOWED").await;
    let delete = app.client.delete(app.url("/me")).send().await.unwrap();
    assert_error(delete, 405, "METHOD_NOT_ALLOWED").await;
    app.stop().await;
}

async fn unknown_path_is_404_with_a_code(db: Db) {
    let app = TestApp::spawn(&db).await;
    assert_error(app.get("/nope").await, 404, "NOT_FOUND").await;
    assert_error(
        app.post_json("/signup/extra", &json!({})).await,
        404,
        "NOT_FOUND",
    )
    .await;
    assert_error(app.get("/").await, 404, "NOT_FOUND").await;
    app.stop().await;
}

async fn every_response_carries_a_request_id(db: Db) {
    let app = TestApp::spawn(&db).await;
    let generated = app.get("/nope").await;
    let id = generated
        .headers()
        .get("x-request-id")
        .expect("x-request-id")
        .to_str()
        .unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    let echoed = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "trace-me-123");
    app.stop().await;
}

backend_tests!(
    malformed_json_is_an_invalid_request,
    non_object_json_is_an_invalid_request,
    missing_fields_are_named,
    wrong_types_are_named,
    a_17_kib_body_is_an_invalid_request_not_413,
    an_oversized_chunked_body_without_content_length_is_refused_too,
    wrong_or_missing_content_type_is_an_invalid_request,
    wrong_method_is_405_with_a_code,
    unknown_path_is_404_with_a_code,
    every_response_carries_a_request_id,
);

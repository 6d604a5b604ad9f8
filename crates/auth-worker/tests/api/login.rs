//! POST /login: claims of the issued token, identical failures, the per-account limit.

use std::collections::HashSet;

use shared::constants::ACCESS_TOKEN_TYPE;

use crate::helpers::{assert_error, json_ok, str_field, Db, TestApp, STRONG_PASSWORD};

async fn login_token_verifies_with_shared_and_carries_every_claim(db: Db) {
    let app = TestApp::spawn(&db).await;
    let signup = app.signed_up("claims@example.com").await;
    let user_id = str_field(&signup, "/user/id").to_owned();

    let login = json_ok(app.login(" Claims@Example.com ", STRONG_PASSWORD).await).await;

    assert_eq!(str_field(&login, "/user/id"), user_id);
    assert_eq!(login["user"]["instances"], signup["user"]["instances"]);
    let token = str_field(&login, "/accessToken");
    let verified = app
        .jwt
        .verify_access_token(token)
        .expect("verifies with shared");
    assert!(!verified.is_expired());
    let claims = verified.claims;
    assert_eq!(claims.sub, user_id);
    assert_eq!(claims.user_id, user_id);
    assert_eq!(claims.email, "claims@example.com");
    assert_eq!(claims.typ, ACCESS_TOKEN_TYPE);
    assert_eq!(claims.iss, "auth-worker");
    assert_eq!(
        claims.exp - claims.iat,
        900,
        "default ACCESS_TOKEN_TTL_SECONDS"
    );
    assert!(uuid::Uuid::parse_str(&claims.jti).is_ok(), "{}", claims.jti);
    assert!(uuid::Uuid::parse_str(&claims.sid).is_ok(), "{}", claims.sid);

    // Each login is its own session, and every token its own jti.
    let signup_claims = app
        .jwt
        .verify_access_token(str_field(&signup, "/accessToken"))
        .unwrap()
        .claims;
    assert_ne!(signup_claims.sid, claims.sid);
    assert_ne!(signup_claims.jti, claims.jti);
    // The raw payload has exactly the SPEC's claims, spelled as the frontend reads them,
    // plus the memberships (`mem`) and their version (`mv`).
    let payload = token.split('.').nth(1).expect("payload segment");
    let payload = base64_url_decode(payload);
    let payload: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    let keys: HashSet<&str> = payload
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let expected: HashSet<&str> = [
        "sub", "userId", "email", "iat", "exp", "iss", "jti", "sid", "typ", "mem", "mv",
    ]
    .into();
    assert_eq!(keys, expected);
    // The memberships: the default instance, as owner.
    let default_instance = str_field(&signup, "/user/instances/0/id");
    assert_eq!(
        payload["mem"],
        serde_json::json!({ default_instance: "owner" })
    );
    assert!(payload["mv"].is_u64(), "{payload}");
    app.stop().await;
}

fn base64_url_decode(segment: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(segment)
        .expect("base64url")
}

async fn unknown_email_and_wrong_password_get_byte_identical_bodies(db: Db) {
    let app = TestApp::spawn(&db).await;
    app.signed_up("known@example.com").await;

    let wrong_password = app.login("known@example.com", "Wr0ng!password").await;
    let unknown_email = app.login("nobody@example.com", STRONG_PASSWORD).await;

    assert_eq!(wrong_password.status(), 401);
    assert_eq!(unknown_email.status(), 401);
    let a = wrong_password.bytes().await.unwrap();
    let b = unknown_email.bytes().await.unwrap();
    assert_eq!(a, b, "bodies differ: {a:?} vs {b:?}");
    let body: serde_json::Value = serde_json::from_slice(&a).unwrap();
    assert_eq!(body["error"]["code"], "INVALID_CREDENTIALS");
    app.stop().await;
}

async fn failed_logins_lock_the_account_even_for_the_right_password(db: Db) {
    let app = TestApp::spawn_with(&db, &[("AUTH_LOGIN_MAX_FAILURES", "3")]).await;
    app.signed_up("victim@example.com").await;
    app.signed_up("bystander@example.com").await;

    for _ in 0..3 {
        let response = app.login("victim@example.com", "Wr0ng!password").await;
        assert_error(response, 401, "INVALID_CREDENTIALS").await;
    }
    // Locked: the right password (in another case) waits too.
    let response = app.login("VICTIM@example.com", STRONG_PASSWORD).await;
    let retry_after: u64 = response
        .headers()
        .get("retry-after")
        .expect("Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .expect("whole seconds");
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    assert_error(response, 429, "RATE_LIMITED").await;
    // Other accounts are unaffected; unknown emails are limited the same way.
    json_ok(app.login("bystander@example.com", STRONG_PASSWORD).await).await;
    for _ in 0..3 {
        assert_error(
            app.login("ghost@example.com", "Wr0ng!password").await,
            401,
            "INVALID_CREDENTIALS",
        )
        .await;
    }
    assert_error(
        app.login("ghost@example.com", "Wr0ng!password").await,
        429,
        "RATE_LIMITED",
    )
    .await;
    app.stop().await;
}

async fn a_successful_login_clears_earlier_failures(db: Db) {
    let app = TestApp::spawn_with(&db, &[("AUTH_LOGIN_MAX_FAILURES", "2")]).await;
    app.signed_up("forgetful@example.com").await;
    assert_error(
        app.login("forgetful@example.com", "Wr0ng!pass").await,
        401,
        "INVALID_CREDENTIALS",
    )
    .await;
    json_ok(app.login("forgetful@example.com", STRONG_PASSWORD).await).await;
    assert_error(
        app.login("forgetful@example.com", "Wr0ng!pass").await,
        401,
        "INVALID_CREDENTIALS",
    )
    .await;
    json_ok(app.login("forgetful@example.com", STRONG_PASSWORD).await).await;
    app.stop().await;
}

backend_tests!(
    login_token_verifies_with_shared_and_carries_every_claim,
    unknown_email_and_wrong_password_get_byte_identical_bodies,
    failed_logins_lock_the_account_even_for_the_right_password,
    a_successful_login_clears_earlier_failures,
);

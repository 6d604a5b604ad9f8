//! POST /login: claims of the issued token, identical failures, the failed-login
//! throttle (per-address backoff, account slowdown, no lockout).

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

/// `POST /login` as seen from client address `ip` (behind the trusted proxy).
async fn login_from(app: &TestApp, ip: &str, email: &str, password: &str) -> reqwest::Response {
    app.client
        .post(app.url("/login"))
        .header("x-forwarded-for", ip)
        .json(&serde_json::json!({ "email": email, "password": password }))
        .send()
        .await
        .expect("request")
}

fn retry_after(response: &reqwest::Response) -> u64 {
    response
        .headers()
        .get("retry-after")
        .expect("Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .expect("whole seconds")
}

const ATTACKER: &str = "203.0.113.66";
const OWNER: &str = "198.51.100.5";

async fn failed_logins_back_off_the_address_but_never_lock_the_owner_out(db: Db) {
    let app = TestApp::spawn_with(
        &db,
        &[
            ("AUTH_LOGIN_MAX_FAILURES", "3"),
            ("AUTH_LOGIN_DELAY_MAX_MS", "300"),
            ("TRUST_PROXY", "true"),
        ],
    )
    .await;
    app.signed_up("victim@example.com").await;

    for _ in 0..3 {
        let response = login_from(&app, ATTACKER, "victim@example.com", "Wr0ng!password").await;
        assert_error(response, 401, "INVALID_CREDENTIALS").await;
    }
    // The attacking address backs off (1 s after its third failure), even with the
    // right password.
    let refused = login_from(&app, ATTACKER, "VICTIM@example.com", STRONG_PASSWORD).await;
    assert_eq!(retry_after(&refused), 1);
    assert_error(refused, 429, "RATE_LIMITED").await;
    // The owner, elsewhere, gets in: slowed down (100 ms after three failures), not refused.
    let started = std::time::Instant::now();
    json_ok(login_from(&app, OWNER, "victim@example.com", STRONG_PASSWORD).await).await;
    assert!(started.elapsed() >= std::time::Duration::from_millis(100));
    // Once its backoff has passed the attacker may guess again, and then waits twice as long.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let response = login_from(&app, ATTACKER, "victim@example.com", "Wr0ng!password").await;
    assert_error(response, 401, "INVALID_CREDENTIALS").await;
    let refused = login_from(&app, ATTACKER, "victim@example.com", "Wr0ng!password").await;
    assert_eq!(retry_after(&refused), 2);
    let known = refused.bytes().await.unwrap();

    // An unknown email behaves the same, byte for byte: nothing tells it has no account.
    for _ in 0..3 {
        let response = login_from(&app, ATTACKER, "ghost@example.com", "Wr0ng!password").await;
        assert_error(response, 401, "INVALID_CREDENTIALS").await;
    }
    let refused = login_from(&app, ATTACKER, "ghost@example.com", "Wr0ng!password").await;
    assert_eq!(retry_after(&refused), 1);
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.bytes().await.unwrap(), known);
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
    failed_logins_back_off_the_address_but_never_lock_the_owner_out,
    a_successful_login_clears_earlier_failures,
);

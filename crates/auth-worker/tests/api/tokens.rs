//! Refresh rotation and reuse detection, logout, expiry, and GET /me.

use std::time::Duration;

use chrono::Utc;
use serde_json::json;

use crate::helpers::{assert_error, json_ok, str_field, Db, TestApp};

async fn signup_login_refresh_logout_end_to_end(db: Db) {
    let app = TestApp::spawn(&db).await;
    let signup = app.signed_up("flow@example.com").await;
    let login = json_ok(
        app.login("flow@example.com", crate::helpers::STRONG_PASSWORD)
            .await,
    )
    .await;
    let refresh_token = str_field(&login, "/refreshToken");

    let refreshed = json_ok(app.refresh(refresh_token).await).await;
    assert_eq!(refreshed["success"], json!(true));
    assert_eq!(refreshed["user"], login["user"]);
    let new_refresh = str_field(&refreshed, "/refreshToken");
    assert_ne!(new_refresh, refresh_token);
    let new_access = str_field(&refreshed, "/accessToken");
    let sid = |token: &str| app.jwt.verify_access_token(token).unwrap().claims.sid;
    assert_eq!(
        sid(new_access),
        sid(str_field(&login, "/accessToken")),
        "same session"
    );
    json_ok(app.me(new_access).await).await;

    let logout = json_ok(app.logout(new_refresh).await).await;
    assert_eq!(logout, json!({ "success": true }));
    assert_error(app.refresh(new_refresh).await, 401, "INVALID_TOKEN").await;
    // The signup session is a different session and still works.
    json_ok(app.refresh(str_field(&signup, "/refreshToken")).await).await;
    app.stop().await;
}

async fn reusing_a_rotated_refresh_token_fails_and_kills_its_successor(db: Db) {
    let app = TestApp::spawn(&db).await;
    let signup = app.signed_up("reuse@example.com").await;
    let first = str_field(&signup, "/refreshToken").to_owned();
    let rotated = json_ok(app.refresh(&first).await).await;
    let second = str_field(&rotated, "/refreshToken").to_owned();
    let second_access = str_field(&rotated, "/accessToken").to_owned();

    assert_error(app.refresh(&first).await, 401, "INVALID_TOKEN").await;

    assert_error(app.refresh(&second).await, 401, "INVALID_TOKEN").await;
    // The whole session is revoked: its access tokens no longer pass /me either.
    assert_error(app.me(&second_access).await, 401, "INVALID_TOKEN").await;
    app.stop().await;
}

async fn refresh_after_logout_fails_and_logout_is_idempotent(db: Db) {
    let app = TestApp::spawn(&db).await;
    let signup = app.signed_up("bye@example.com").await;
    let refresh = str_field(&signup, "/refreshToken");
    let access = str_field(&signup, "/accessToken");
    json_ok(app.me(access).await).await;

    for _ in 0..2 {
        assert_eq!(
            json_ok(app.logout(refresh).await).await,
            json!({ "success": true })
        );
    }
    assert_error(app.refresh(refresh).await, 401, "INVALID_TOKEN").await;
    assert_error(app.me(access).await, 401, "INVALID_TOKEN").await;
    // Unknown and absurd tokens: still success, nothing revealed.
    for token in ["never-issued", "", &"x".repeat(500)] {
        assert_eq!(
            json_ok(app.logout(token).await).await,
            json!({ "success": true })
        );
    }
    app.stop().await;
}

async fn expired_refresh_token_gets_token_expired(db: Db) {
    let app = TestApp::spawn_with(&db, &[("REFRESH_TOKEN_TTL_SECONDS", "1")]).await;
    let signup = app.signed_up("expire@example.com").await;
    let refresh = str_field(&signup, "/refreshToken");

    // The token was issued with a 1 s lifetime; wait just past it (bounded, no polling).
    tokio::time::sleep(Duration::from_millis(1_100)).await;

    assert_error(app.refresh(refresh).await, 401, "TOKEN_EXPIRED").await;
    app.stop().await;
}

async fn unknown_or_malformed_refresh_tokens_are_invalid(db: Db) {
    let app = TestApp::spawn(&db).await;
    let signup = app.signed_up("bad-refresh@example.com").await;
    let access = str_field(&signup, "/accessToken");
    // An access token is never a refresh token.
    for token in ["", "garbage", access, &"A".repeat(43), &"x".repeat(10_000)] {
        assert_error(app.refresh(token).await, 401, "INVALID_TOKEN").await;
    }
    app.stop().await;
}

async fn me_returns_the_user_for_a_live_access_token(db: Db) {
    let app = TestApp::spawn(&db).await;
    let signup = app.signed_up("me@example.com").await;
    let me = json_ok(app.me(str_field(&signup, "/accessToken")).await).await;
    assert_eq!(me, json!({ "success": true, "user": signup["user"] }));
    app.stop().await;
}

async fn me_rejects_refresh_tokens_and_bad_or_missing_bearers(db: Db) {
    let app = TestApp::spawn(&db).await;
    let signup = app.signed_up("me-bad@example.com").await;
    let refresh = str_field(&signup, "/refreshToken");
    assert_error(app.me(refresh).await, 401, "INVALID_TOKEN").await;
    assert_error(app.me("not.a.jwt").await, 401, "INVALID_TOKEN").await;

    // Signed with another secret.
    let other = shared::JwtKeys::new(
        &shared::secret::Secret::new("another-secret-0123456789abcdef"),
        "auth-worker",
    );
    let claims = app
        .jwt
        .verify_access_token(str_field(&signup, "/accessToken"))
        .unwrap()
        .claims;
    let forged = other.sign_access_token(&claims).unwrap();
    assert_error(app.me(&forged).await, 401, "INVALID_TOKEN").await;

    // No header says so, with its own code; a header that is not a Bearer token is invalid.
    let no_header = app.get("/me").await;
    assert_error(no_header, 401, "TOKEN_MISSING").await;
    let empty_bearer = app
        .client
        .get(app.url("/me"))
        .header("authorization", "Bearer ")
        .send()
        .await
        .unwrap();
    assert_error(empty_bearer, 401, "INVALID_TOKEN").await;
    let basic = app
        .client
        .get(app.url("/me"))
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    assert_error(basic, 401, "INVALID_TOKEN").await;
    app.stop().await;
}

async fn me_rejects_an_expired_access_token_without_grace(db: Db) {
    let app = TestApp::spawn(&db).await;
    let signup = app.signed_up("me-expired@example.com").await;
    let live = app
        .jwt
        .verify_access_token(str_field(&signup, "/accessToken"))
        .unwrap()
        .claims;
    // Same user and (live) session, but expired one second ago: well within the sync
    // worker's grace period, which /me does not apply.
    let issued = Utc::now() - chrono::Duration::seconds(901);
    let claims = app.jwt.access_claims(
        &live.sub,
        &live.email,
        &live.sid,
        Duration::from_secs(900),
        issued,
    );
    let expired = app.jwt.sign_access_token(&claims).unwrap();

    assert_error(app.me(&expired).await, 401, "TOKEN_EXPIRED").await;
    app.stop().await;
}

async fn access_tokens_of_an_unused_session_still_work_after_other_logouts(db: Db) {
    let app = TestApp::spawn(&db).await;
    let signup = app.signed_up("two-devices@example.com").await;
    let laptop = json_ok(
        app.login("two-devices@example.com", crate::helpers::STRONG_PASSWORD)
            .await,
    )
    .await;
    json_ok(app.logout(str_field(&laptop, "/refreshToken")).await).await;
    assert_error(
        app.me(str_field(&laptop, "/accessToken")).await,
        401,
        "INVALID_TOKEN",
    )
    .await;
    json_ok(app.me(str_field(&signup, "/accessToken")).await).await;
    app.stop().await;
}

backend_tests!(
    signup_login_refresh_logout_end_to_end,
    reusing_a_rotated_refresh_token_fails_and_kills_its_successor,
    refresh_after_logout_fails_and_logout_is_idempotent,
    expired_refresh_token_gets_token_expired,
    unknown_or_malformed_refresh_tokens_are_invalid,
    me_returns_the_user_for_a_live_access_token,
    me_rejects_refresh_tokens_and_bad_or_missing_bearers,
    me_rejects_an_expired_access_token_without_grace,
    access_tokens_of_an_unused_session_still_work_after_other_logouts,
);

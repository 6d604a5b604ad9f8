//! POST /signup: the success shape, email uniqueness and the password policy.

use serde_json::json;

use crate::helpers::{assert_error, json_ok, str_field, Db, TestApp, STRONG_PASSWORD};

async fn signup_returns_user_default_instance_and_tokens(db: Db) {
    // Real OWASP parameters: the production hashing path end to end.
    let app = TestApp::spawn(&db).await;

    let body = json_ok(app.signup("  New.User@Example.com ", STRONG_PASSWORD).await).await;

    assert_eq!(body["success"], json!(true));
    assert_eq!(str_field(&body, "/user/email"), "new.user@example.com");
    let user_id = str_field(&body, "/user/id");
    assert!(uuid::Uuid::parse_str(user_id).is_ok(), "{user_id}");
    let instances = body["user"]["instances"].as_array().expect("instances");
    assert_eq!(instances.len(), 1);
    let instance = &instances[0];
    assert_eq!(instance["name"], json!("Personal Workspace"));
    assert_eq!(instance["isDefault"], json!(true));
    assert_eq!(instance["role"], json!("owner"));
    for key in ["id", "createdAt", "lastAccessedAt"] {
        assert!(instance[key].is_string(), "{key} in {instance}");
    }
    let created = str_field(instance, "/createdAt");
    assert!(
        chrono::DateTime::parse_from_rfc3339(created).is_ok(),
        "{created}"
    );
    assert!(created.ends_with('Z'));

    let access = str_field(&body, "/accessToken");
    let claims = app
        .jwt
        .verify_access_token(access)
        .expect("valid access token")
        .claims;
    assert_eq!(claims.sub, user_id);
    let refresh = str_field(&body, "/refreshToken");
    assert_eq!(
        refresh.len(),
        43,
        "256 bits, URL-safe base64 without padding"
    );
    assert!(refresh
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));

    // The new user can use both tokens right away.
    json_ok(app.me(access).await).await;
    json_ok(app.refresh(refresh).await).await;
    app.stop().await;
}

async fn duplicate_signup_conflicts_whatever_the_case_or_surrounding_spaces(db: Db) {
    let app = TestApp::spawn(&db).await;
    app.signed_up("dup@example.com").await;

    for variant in [
        "dup@example.com",
        "DUP@Example.COM",
        "  dup@example.com\t",
        " Dup@EXAMPLE.com ",
    ] {
        let response = app.signup(variant, "Another!Pass9").await;
        assert_error(response, 409, "EMAIL_ALREADY_EXISTS").await;
    }
    app.stop().await;
}

async fn concurrent_duplicate_signups_create_one_user(db: Db) {
    let app = TestApp::spawn(&db).await;
    let mut attempts = tokio::task::JoinSet::new();
    for i in 0..6 {
        let (client, url) = (app.client.clone(), app.url("/signup"));
        let email = if i % 2 == 0 {
            "race@example.com"
        } else {
            "RACE@example.com "
        };
        attempts.spawn(async move {
            client
                .post(url)
                .json(&json!({ "email": email, "password": STRONG_PASSWORD }))
                .send()
                .await
                .expect("request")
        });
    }
    let mut created = 0;
    while let Some(response) = attempts.join_next().await {
        let response = response.expect("task");
        if response.status() == 200 {
            created += 1;
        } else {
            assert_error(response, 409, "EMAIL_ALREADY_EXISTS").await;
        }
    }
    assert_eq!(created, 1);
    app.stop().await;
}

async fn assert_weak(db: &Db, password: &str, fragment: &str) {
    let app = TestApp::spawn(db).await;
    let message = assert_error(
        app.signup("weak@example.com", password).await,
        400,
        "WEAK_PASSWORD",
    )
    .await;
    assert!(message.contains(fragment), "{message}");
    // Nothing was created: the same email can still sign up.
    app.signed_up("weak@example.com").await;
    app.stop().await;
}

async fn password_shorter_than_8_is_weak(db: Db) {
    assert_weak(&db, "Ab1!xyz", "at least 8").await;
}

async fn password_longer_than_128_is_weak(db: Db) {
    assert_weak(&db, &format!("Aa1!{}", "x".repeat(125)), "at most 128").await;
}

async fn password_with_fewer_than_3_character_classes_is_weak(db: Db) {
    assert_weak(&db, "lowercase123", "at least 3 of").await;
}

async fn common_password_is_weak(db: Db) {
    assert_weak(&db, "Password123!", "too common").await;
}

async fn invalid_email_is_an_invalid_request(db: Db) {
    let app = TestApp::spawn(&db).await;
    for email in [
        "not-an-email",
        "a@b",
        "",
        "   ",
        &format!("{}@example.com", "a".repeat(250)),
    ] {
        assert_error(
            app.signup(email, STRONG_PASSWORD).await,
            400,
            "INVALID_REQUEST",
        )
        .await;
    }
    app.stop().await;
}

backend_tests!(
    signup_returns_user_default_instance_and_tokens,
    duplicate_signup_conflicts_whatever_the_case_or_surrounding_spaces,
    concurrent_duplicate_signups_create_one_user,
    password_shorter_than_8_is_weak,
    password_longer_than_128_is_weak,
    password_with_fewer_than_3_character_classes_is_weak,
    common_password_is_weak,
    invalid_email_is_an_invalid_request,
);

//! Members: invites (existing account or pending), roles, removal, the last owner, and
//! the memberships tokens carry.

use reqwest::Method;
use serde_json::{json, Value};
use shared::Role;

use crate::helpers::{assert_error, json_ok, str_field, Account, Db, TestApp, STRONG_PASSWORD};

fn member_path(instance: &str, user: &str) -> String {
    format!("/instances/{instance}/members/{user}")
}

async fn set_role(
    app: &TestApp,
    token: &str,
    instance: &str,
    user: &str,
    role: &str,
) -> reqwest::Response {
    app.send(
        Method::PATCH,
        &member_path(instance, user),
        token,
        Some(&json!({ "role": role })),
    )
    .await
}

async fn remove(app: &TestApp, token: &str, instance: &str, user: &str) -> reqwest::Response {
    app.send(Method::DELETE, &member_path(instance, user), token, None)
        .await
}

async fn an_invited_account_is_a_member_and_its_next_token_says_so(db: Db) {
    let app = TestApp::spawn(&db).await;
    let a = app.account("inviter@example.com").await;
    let b = app.account("invitee@example.com").await;
    assert_eq!(app.claims(&b.access).mem.len(), 1);

    let answer = json_ok(
        app.invite(&a.access, &a.home, "  INVITEE@example.com ", "editor")
            .await,
    )
    .await;
    assert_eq!(answer, json!({ "success": true }));

    let members = app.members(&a.access, &a.home).await;
    assert_eq!(
        members,
        vec![
            json!({ "userId": a.id, "email": a.email, "role": "owner" }),
            json!({ "userId": b.id, "email": b.email, "role": "editor" }),
        ]
    );
    // B sees it at once through the API, and in the token after a refresh.
    let instances = json_ok(app.get_as("/instances", &b.access).await).await;
    let shared_one = &instances["instances"][1];
    assert_eq!(shared_one["id"], json!(a.home));
    assert_eq!(shared_one["role"], json!("editor"));
    assert_eq!(shared_one["isDefault"], json!(false));
    let refreshed = json_ok(app.refresh(&b.refresh).await).await;
    assert_eq!(refreshed["user"]["instances"][1]["role"], json!("editor"));
    let claims = app.claims(str_field(&refreshed, "/accessToken"));
    assert_eq!(claims.mem.get(&a.home), Some(&Role::Editor));
    assert_eq!(claims.mem.get(&b.home), Some(&Role::Owner));
    assert_eq!(claims.mem.len(), 2);

    // Inviting an existing member again changes nothing (roles change through PATCH).
    json_ok(app.invite(&a.access, &a.home, &b.email, "viewer").await).await;
    assert_eq!(
        app.members(&a.access, &a.home).await[1]["role"],
        json!("editor")
    );
    app.stop().await;
}

async fn a_pending_invite_is_applied_at_signup_with_its_role(db: Db) {
    let app = TestApp::spawn(&db).await;
    let a = app.account("host@example.com").await;
    json_ok(
        app.invite(&a.access, &a.home, "Later@Example.com", "viewer")
            .await,
    )
    .await;
    // Pending invites are not members yet.
    assert_eq!(app.members(&a.access, &a.home).await.len(), 1);
    // Re-inviting a pending email updates the pending role.
    json_ok(
        app.invite(&a.access, &a.home, "later@example.com", "editor")
            .await,
    )
    .await;

    let later = app.signed_up("later@example.com").await;
    let instances = later["user"]["instances"].as_array().unwrap();
    assert_eq!(instances.len(), 2);
    assert_eq!(instances[0]["name"], json!("Personal Workspace"));
    assert_eq!(instances[0]["isDefault"], json!(true));
    assert_eq!(instances[1]["id"], json!(a.home));
    assert_eq!(instances[1]["role"], json!("editor"));
    let claims = app.claims(str_field(&later, "/accessToken"));
    assert_eq!(claims.mem.get(&a.home), Some(&Role::Editor));
    let members = app.members(&a.access, &a.home).await;
    assert_eq!(members[1]["email"], json!("later@example.com"));
    assert_eq!(members[1]["role"], json!("editor"));
    // Claimed once: logging in does not add it twice.
    let login = json_ok(app.login("later@example.com", STRONG_PASSWORD).await).await;
    assert_eq!(login["user"]["instances"], later["user"]["instances"]);
    app.stop().await;
}

async fn invite_answers_are_byte_identical_whether_or_not_the_account_exists(db: Db) {
    let app = TestApp::spawn(&db).await;
    let a = app.account("probe@example.com").await;
    app.account("exists@example.com").await;

    let mut answers = Vec::new();
    for email in ["exists@example.com", "does-not-exist@example.com"] {
        let response = app.invite(&a.access, &a.home, email, "viewer").await;
        let status = response.status();
        let mut headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .filter(|(name, _)| !matches!(name.as_str(), "date" | "x-request-id"))
            .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
            .collect();
        headers.sort();
        let body = response.bytes().await.unwrap();
        answers.push((status, headers, body));
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0].0, 200);
    assert_eq!(&answers[0].2[..], br#"{"success":true}"#);
    app.stop().await;
}

async fn bad_invites_and_roles_are_invalid_requests(db: Db) {
    let app = TestApp::spawn(&db).await;
    let a = app.account("strict@example.com").await;
    let b = app.account("strict-b@example.com").await;
    json_ok(app.invite(&a.access, &a.home, &b.email, "viewer").await).await;
    let path = format!("/instances/{}/members", a.home);
    for body in [
        json!({ "email": "x@example.com", "role": "admin" }),
        json!({ "email": "x@example.com", "role": "Owner" }),
        json!({ "email": "x@example.com" }),
        json!({ "email": "not an email", "role": "viewer" }),
        json!({ "role": "viewer" }),
        json!({ "email": "x@example.com", "role": 1 }),
    ] {
        let response = app.send(Method::POST, &path, &a.access, Some(&body)).await;
        assert_error(response, 400, "INVALID_REQUEST").await;
    }
    for role in ["", "superuser"] {
        assert_error(
            set_role(&app, &a.access, &a.home, &b.id, role).await,
            400,
            "INVALID_REQUEST",
        )
        .await;
    }
    assert_eq!(
        app.members(&a.access, &a.home).await[1]["role"],
        json!("viewer")
    );
    app.stop().await;
}

async fn roles_change_and_members_leave_or_are_removed(db: Db) {
    let app = TestApp::spawn(&db).await;
    let a = app.account("boss@example.com").await;
    let b = app.account("worker@example.com").await;
    let c = app.account("other@example.com").await;
    for member in [&b, &c] {
        json_ok(
            app.invite(&a.access, &a.home, &member.email, "viewer")
                .await,
        )
        .await;
    }

    assert_eq!(
        json_ok(set_role(&app, &a.access, &a.home, &b.id, "editor").await).await,
        json!({ "success": true })
    );
    let roles = |members: Vec<Value>| -> Vec<(String, String)> {
        members
            .iter()
            .map(|m| {
                (
                    str_field(m, "/userId").to_owned(),
                    str_field(m, "/role").to_owned(),
                )
            })
            .collect()
    };
    assert_eq!(
        roles(app.members(&a.access, &a.home).await),
        vec![
            (a.id.clone(), "owner".into()),
            (b.id.clone(), "editor".into()),
            (c.id.clone(), "viewer".into()),
        ]
    );
    // A viewer cannot remove someone else, but can leave.
    assert_error(
        remove(&app, &c.access, &a.home, &b.id).await,
        403,
        "FORBIDDEN",
    )
    .await;
    json_ok(remove(&app, &c.access, &a.home, &c.id).await).await;
    assert_error(
        app.get_as(&format!("/instances/{}/members", a.home), &c.access)
            .await,
        404,
        "NOT_FOUND",
    )
    .await;
    // The owner removes B; B is then unknown there.
    json_ok(remove(&app, &a.access, &a.home, &b.id).await).await;
    assert_eq!(app.members(&a.access, &a.home).await.len(), 1);
    assert_error(
        remove(&app, &a.access, &a.home, &b.id).await,
        404,
        "NOT_FOUND",
    )
    .await;
    assert_error(
        set_role(&app, &a.access, &a.home, &b.id, "viewer").await,
        404,
        "NOT_FOUND",
    )
    .await;
    let unknown = uuid::Uuid::new_v4().to_string();
    assert_error(
        set_role(&app, &a.access, &a.home, &unknown, "viewer").await,
        404,
        "NOT_FOUND",
    )
    .await;
    assert_error(
        remove(&app, &a.access, &a.home, "nope").await,
        404,
        "NOT_FOUND",
    )
    .await;
    // B's next token no longer carries it.
    let refreshed = json_ok(app.refresh(&b.refresh).await).await;
    assert!(!app
        .claims(str_field(&refreshed, "/accessToken"))
        .mem
        .contains_key(&a.home));
    app.stop().await;
}

async fn the_last_owner_can_neither_leave_nor_be_demoted(db: Db) {
    let app = TestApp::spawn(&db).await;
    let a: Account = app.account("only-owner@example.com").await;
    let b = app.account("next-owner@example.com").await;
    assert_error(
        set_role(&app, &a.access, &a.home, &a.id, "editor").await,
        409,
        "LAST_OWNER",
    )
    .await;
    assert_error(
        remove(&app, &a.access, &a.home, &a.id).await,
        409,
        "LAST_OWNER",
    )
    .await;
    // Setting the same role is a no-op, not a demotion.
    json_ok(set_role(&app, &a.access, &a.home, &a.id, "owner").await).await;

    // With a second owner, the first may step down or leave.
    json_ok(app.invite(&a.access, &a.home, &b.email, "owner").await).await;
    json_ok(set_role(&app, &a.access, &a.home, &a.id, "viewer").await).await;
    assert_error(
        set_role(&app, &b.access, &a.home, &b.id, "viewer").await,
        409,
        "LAST_OWNER",
    )
    .await;
    assert_error(
        remove(&app, &b.access, &a.home, &b.id).await,
        409,
        "LAST_OWNER",
    )
    .await;
    json_ok(remove(&app, &a.access, &a.home, &a.id).await).await;
    let members = app.members(&b.access, &a.home).await;
    assert_eq!(
        members,
        vec![json!({ "userId": b.id, "email": b.email, "role": "owner" })]
    );
    app.stop().await;
}

async fn the_member_limit_counts_members_and_pending_invites(db: Db) {
    let app = TestApp::spawn_with(&db, &[("AUTH_MAX_MEMBERS_PER_INSTANCE", "2")]).await;
    let a = app.account("crowded@example.com").await;
    json_ok(
        app.invite(&a.access, &a.home, "pending@example.com", "viewer")
            .await,
    )
    .await;
    assert_error(
        app.invite(&a.access, &a.home, "third@example.com", "viewer")
            .await,
        409,
        "MEMBER_LIMIT",
    )
    .await;
    // Updating the pending one is not a new slot.
    json_ok(
        app.invite(&a.access, &a.home, "pending@example.com", "editor")
            .await,
    )
    .await;
    app.stop().await;
}

backend_tests!(
    an_invited_account_is_a_member_and_its_next_token_says_so,
    a_pending_invite_is_applied_at_signup_with_its_role,
    invite_answers_are_byte_identical_whether_or_not_the_account_exists,
    bad_invites_and_roles_are_invalid_requests,
    roles_change_and_members_leave_or_are_removed,
    the_last_owner_can_neither_leave_nor_be_demoted,
    the_member_limit_counts_members_and_pending_invites,
);

//! The instance routes: list, create, rename, delete; names; 403 versus 404; the
//! per-user instance limit.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_error, json_ok, str_field, Db, TestApp};

async fn list(app: &TestApp, token: &str) -> Vec<Value> {
    let body = json_ok(app.get_as("/instances", token).await).await;
    assert_eq!(body["success"], json!(true));
    body["instances"].as_array().expect("instances").clone()
}

async fn an_owner_creates_lists_renames_and_deletes_an_instance(db: Db) {
    let app = TestApp::spawn(&db).await;
    let signup = app.signed_up("owner@example.com").await;
    let token = str_field(&signup, "/accessToken");

    let home = list(&app, token).await;
    assert_eq!(home.len(), 1);
    assert_eq!(home[0]["role"], json!("owner"));
    assert_eq!(home[0]["isDefault"], json!(true));
    // `user.instances` of signup is the same list, role included.
    assert_eq!(signup["user"]["instances"], json!(home));

    let created = app.create_instance(token, "  Team Space  ").await;
    let keys: Vec<&str> = created
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys.len(),
        6,
        "id, name, role, createdAt, lastAccessedAt, isDefault: {created}"
    );
    assert_eq!(created["name"], json!("Team Space"), "trimmed");
    assert_eq!(created["role"], json!("owner"));
    assert_eq!(created["isDefault"], json!(false));
    let id = str_field(&created, "/id").to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok());
    for key in ["createdAt", "lastAccessedAt"] {
        assert!(
            chrono::DateTime::parse_from_rfc3339(str_field(&created, &format!("/{key}"))).is_ok()
        );
    }
    let both = list(&app, token).await;
    assert_eq!(both.len(), 2);
    assert_eq!(both[0], home[0], "the default stays first");
    assert_eq!(both[1], created);

    let renamed = json_ok(
        app.send(
            Method::PATCH,
            &format!("/instances/{id}"),
            token,
            Some(&json!({ "name": "Renamed" })),
        )
        .await,
    )
    .await;
    assert_eq!(renamed["success"], json!(true));
    assert_eq!(renamed["instance"]["name"], json!("Renamed"));
    assert_eq!(renamed["instance"]["id"], json!(id));
    // /me shows the new name too.
    let me = json_ok(app.me(token).await).await;
    assert_eq!(me["user"]["instances"][1]["name"], json!("Renamed"));
    assert_eq!(me["user"]["instances"][1]["role"], json!("owner"));

    let deleted = json_ok(
        app.send(Method::DELETE, &format!("/instances/{id}"), token, None)
            .await,
    )
    .await;
    assert_eq!(deleted, json!({ "success": true }));
    assert_eq!(list(&app, token).await, home);
    assert_error(
        app.send(Method::DELETE, &format!("/instances/{id}"), token, None)
            .await,
        404,
        "NOT_FOUND",
    )
    .await;
    app.stop().await;
}

async fn names_must_be_1_to_100_characters_after_trimming(db: Db) {
    let app = TestApp::spawn(&db).await;
    let signup = app.signed_up("names@example.com").await;
    let token = str_field(&signup, "/accessToken");
    let home = str_field(&signup, "/user/instances/0/id");

    for name in [
        json!(""),
        json!("   "),
        json!("x".repeat(101)),
        json!(5),
        json!(null),
    ] {
        let body = json!({ "name": name });
        assert_error(
            app.send(Method::POST, "/instances", token, Some(&body))
                .await,
            400,
            "INVALID_REQUEST",
        )
        .await;
        assert_error(
            app.send(
                Method::PATCH,
                &format!("/instances/{home}"),
                token,
                Some(&body),
            )
            .await,
            400,
            "INVALID_REQUEST",
        )
        .await;
    }
    assert_error(
        app.send(Method::POST, "/instances", token, Some(&json!({})))
            .await,
        400,
        "INVALID_REQUEST",
    )
    .await;
    // 100 characters (not bytes) is the most.
    let longest = "é".repeat(100);
    assert_eq!(
        app.create_instance(token, &longest).await["name"],
        json!(longest)
    );
    app.stop().await;
}

async fn a_non_member_gets_404_and_a_member_without_the_right_gets_403(db: Db) {
    let app = TestApp::spawn(&db).await;
    let a = app.account("a@example.com").await;
    let b = app.account("b@example.com").await;
    let name = json!({ "name": "Mine now" });
    let invite = json!({ "email": "c@example.com", "role": "viewer" });
    let role = json!({ "role": "viewer" });

    // B is not a member of A's home: everything is "not found", like an unknown id.
    let unknown = uuid::Uuid::new_v4().to_string();
    for instance in [a.home.as_str(), unknown.as_str(), "not-a-uuid", "%FF"] {
        let base = format!("/instances/{instance}");
        let members = format!("{base}/members");
        let member = format!("{members}/{}", a.id);
        for (method, path, body) in [
            (Method::PATCH, &base, Some(&name)),
            (Method::DELETE, &base, None),
            (Method::GET, &members, None),
            (Method::POST, &members, Some(&invite)),
            (Method::PATCH, &member, Some(&role)),
            (Method::DELETE, &member, None),
        ] {
            let response = app.send(method.clone(), path, &b.access, body).await;
            assert_error(response, 404, "NOT_FOUND").await;
        }
    }

    // As an editor B may look but not manage.
    json_ok(app.invite(&a.access, &a.home, &b.email, "editor").await).await;
    let base = format!("/instances/{}", a.home);
    let members = format!("{base}/members");
    let member = format!("{members}/{}", a.id);
    assert_eq!(app.members(&b.access, &a.home).await.len(), 2);
    for (method, path, body) in [
        (Method::PATCH, &base, Some(&name)),
        (Method::DELETE, &base, None),
        (Method::POST, &members, Some(&invite)),
        (Method::PATCH, &member, Some(&role)),
        (Method::DELETE, &member, None),
    ] {
        let response = app.send(method.clone(), path, &b.access, body).await;
        assert_error(response, 403, "FORBIDDEN").await;
    }
    // Nothing changed.
    let instances = json_ok(app.get_as("/instances", &a.access).await).await;
    assert_eq!(
        instances["instances"][0]["name"],
        json!("Personal Workspace")
    );
    assert_eq!(app.members(&a.access, &a.home).await.len(), 2);
    app.stop().await;
}

async fn instance_routes_need_a_live_access_token(db: Db) {
    let app = TestApp::spawn(&db).await;
    let a = app.account("auth-needed@example.com").await;
    assert_error(app.get("/instances").await, 401, "TOKEN_MISSING").await;
    assert_error(
        app.get_as("/instances", &a.refresh).await,
        401,
        "INVALID_TOKEN",
    )
    .await;
    let create = json!({ "name": "x" });
    assert_error(
        app.send(Method::POST, "/instances", "garbage", Some(&create))
            .await,
        401,
        "INVALID_TOKEN",
    )
    .await;
    json_ok(app.logout(&a.refresh).await).await;
    assert_error(
        app.get_as("/instances", &a.access).await,
        401,
        "INVALID_TOKEN",
    )
    .await;
    assert_error(
        app.get_as(&format!("/instances/{}/members", a.home), &a.access)
            .await,
        401,
        "INVALID_TOKEN",
    )
    .await;
    app.stop().await;
}

async fn the_instance_limit_refuses_creation_and_parks_invites_until_there_is_room(db: Db) {
    let app = TestApp::spawn_with(&db, &[("AUTH_MAX_INSTANCES_PER_USER", "2")]).await;
    let a = app.account("limit-a@example.com").await;
    let b = app.account("limit-b@example.com").await;
    let extra = app.create_instance(&b.access, "B's second").await;
    let message = assert_error(
        app.send(
            Method::POST,
            "/instances",
            &b.access,
            Some(&json!({ "name": "third" })),
        )
        .await,
        409,
        "INSTANCE_LIMIT",
    )
    .await;
    assert!(message.contains('2'), "{message}");

    // An invite of B, who is full, succeeds like any invite but stays pending.
    json_ok(app.invite(&a.access, &a.home, &b.email, "viewer").await).await;
    assert_eq!(app.members(&a.access, &a.home).await.len(), 1);
    let refreshed = json_ok(app.refresh(&b.refresh).await).await;
    assert_eq!(refreshed["user"]["instances"].as_array().unwrap().len(), 2);

    // B makes room; the next refresh claims the invite.
    json_ok(
        app.send(
            Method::DELETE,
            &format!("/instances/{}", str_field(&extra, "/id")),
            &b.access,
            None,
        )
        .await,
    )
    .await;
    let refreshed = json_ok(app.refresh(str_field(&refreshed, "/refreshToken")).await).await;
    let instances = refreshed["user"]["instances"].as_array().unwrap();
    assert_eq!(instances.len(), 2);
    assert_eq!(instances[1]["id"], json!(a.home));
    assert_eq!(instances[1]["role"], json!("viewer"));
    let claims = app.claims(str_field(&refreshed, "/accessToken"));
    assert_eq!(claims.mem.get(&a.home), Some(&shared::Role::Viewer));
    assert_eq!(app.members(&a.access, &a.home).await.len(), 2);
    app.stop().await;
}

async fn a_user_who_leaves_the_default_instance_gets_another_default(db: Db) {
    let app = TestApp::spawn(&db).await;
    let a = app.account("default-a@example.com").await;
    let b = app.account("default-b@example.com").await;
    json_ok(app.invite(&a.access, &a.home, &b.email, "owner").await).await;
    // B deletes its own home; A's home becomes B's default.
    json_ok(
        app.send(
            Method::DELETE,
            &format!("/instances/{}", b.home),
            &b.access,
            None,
        )
        .await,
    )
    .await;
    let instances = json_ok(app.get_as("/instances", &b.access).await).await;
    assert_eq!(instances["instances"][0]["id"], json!(a.home));
    assert_eq!(instances["instances"][0]["isDefault"], json!(true));
    assert_eq!(instances["instances"][0]["role"], json!("owner"));
    app.stop().await;
}

backend_tests!(
    an_owner_creates_lists_renames_and_deletes_an_instance,
    names_must_be_1_to_100_characters_after_trimming,
    a_non_member_gets_404_and_a_member_without_the_right_gets_403,
    instance_routes_need_a_live_access_token,
    the_instance_limit_refuses_creation_and_parks_invites_until_there_is_room,
    a_user_who_leaves_the_default_instance_gets_another_default,
);

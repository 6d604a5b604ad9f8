//! The internal change feed: service tokens only, every change kind from its action,
//! order, cursor and limit, the long poll, and the `mv` claim.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use shared::change_feed::{Change, ChangeRecord, CHANGE_FEED_PATH};
use shared::Role;

use crate::helpers::{assert_error, json_ok, str_field, Db, TestApp};

fn kinds(changes: &[ChangeRecord]) -> Vec<Change> {
    changes.iter().map(|record| record.change.clone()).collect()
}

async fn the_feed_needs_a_valid_service_token(db: Db) {
    let app = TestApp::spawn(&db).await;
    let a = app.account("feed-auth@example.com").await;
    assert_error(app.get(CHANGE_FEED_PATH).await, 401, "TOKEN_MISSING").await;
    let expired = app
        .jwt
        .sign_service_token(
            "sync-worker",
            Duration::from_secs(60),
            chrono::Utc::now() - chrono::Duration::seconds(120),
        )
        .unwrap();
    let foreign = shared::JwtKeys::new(
        &shared::secret::Secret::new("another-secret-0123456789abcdef"),
        "auth-worker",
    )
    .sign_service_token("sync-worker", Duration::from_secs(60), chrono::Utc::now())
    .unwrap();
    // An access token is never a service token.
    for token in [
        a.access.as_str(),
        a.refresh.as_str(),
        &expired,
        &foreign,
        "garbage",
    ] {
        assert_error(
            app.get_as(CHANGE_FEED_PATH, token).await,
            401,
            "INVALID_TOKEN",
        )
        .await;
    }
    // And a service token is not an access token.
    assert_error(app.me(&app.service_token()).await, 401, "INVALID_TOKEN").await;
    let page = app.feed("").await;
    assert_eq!((page.changes.len(), page.head), (0, 0));
    app.stop().await;
}

async fn bad_feed_queries_are_invalid_requests(db: Db) {
    let app = TestApp::spawn(&db).await;
    for query in ["after=-1", "limit=0", "wait=soon"] {
        let response = app
            .get_as(&format!("{CHANGE_FEED_PATH}?{query}"), &app.service_token())
            .await;
        assert_error(response, 400, "INVALID_REQUEST").await;
    }
    app.stop().await;
}

async fn every_change_kind_is_emitted_by_its_action_in_order(db: Db) {
    let app = TestApp::spawn(&db).await;
    let a = app.account("feed-a@example.com").await;
    let b = app.account("feed-b@example.com").await;
    let sid = |token: &str| app.claims(token).sid;
    let team = app.create_instance(&a.access, "Team").await;
    let team = str_field(&team, "/id").to_owned();
    let members = format!("/instances/{team}/members");

    json_ok(app.invite(&a.access, &team, &b.email, "editor").await).await;
    // A pending invite (no account) changes no membership: no change.
    json_ok(
        app.invite(&a.access, &team, "nobody-yet@example.com", "editor")
            .await,
    )
    .await;
    let to_viewer = json!({ "role": "viewer" });
    let member = format!("{members}/{}", b.id);
    json_ok(
        app.send(Method::PATCH, &member, &a.access, Some(&to_viewer))
            .await,
    )
    .await;
    json_ok(app.send(Method::DELETE, &member, &a.access, None).await).await;
    json_ok(
        app.send(
            Method::DELETE,
            &format!("/instances/{team}"),
            &a.access,
            None,
        )
        .await,
    )
    .await;
    json_ok(app.logout(&b.refresh).await).await;
    // A second logout of the same session records nothing more.
    json_ok(app.logout(&b.refresh).await).await;

    let page = app.feed("after=0").await;
    let membership = |role: Option<Role>| Change::MembershipChanged {
        user_id: String::new(),
        instance_id: team.clone(),
        role,
    };
    let mut expected = vec![
        membership(Some(Role::Owner)),
        membership(Some(Role::Editor)),
        membership(Some(Role::Viewer)),
        membership(None),
        Change::InstanceDeleted {
            instance_id: team.clone(),
        },
        Change::SessionRevoked {
            session_id: sid(&b.access),
            user_id: b.id.clone(),
        },
    ];
    if let Change::MembershipChanged { user_id, .. } = &mut expected[0] {
        user_id.clone_from(&a.id);
    }
    for change in &mut expected[1..4] {
        if let Change::MembershipChanged { user_id, .. } = change {
            user_id.clone_from(&b.id);
        }
    }
    assert_eq!(kinds(&page.changes), expected);
    let seqs: Vec<u64> = page.changes.iter().map(|c| c.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert_eq!(page.head, *seqs.last().unwrap());
    for record in &page.changes {
        assert!(chrono::DateTime::parse_from_rfc3339(&record.at).is_ok());
        assert!(
            record.at.ends_with('Z') && record.at.len() == 24,
            "{}",
            record.at
        );
    }

    // The cursor and the limit.
    let after_two = app.feed(&format!("after={}", seqs[1])).await;
    assert_eq!(kinds(&after_two.changes), expected[2..].to_vec());
    let two = app.feed(&format!("after={}&limit=2", seqs[0])).await;
    assert_eq!(kinds(&two.changes), expected[1..3].to_vec());
    assert_eq!(two.head, page.head);
    let none = app.feed(&format!("after={}", page.head)).await;
    assert!(none.changes.is_empty());
    assert_eq!(none.head, page.head);
    app.stop().await;
}

async fn refresh_token_reuse_emits_session_revoked(db: Db) {
    let app = TestApp::spawn(&db).await;
    let a = app.account("feed-reuse@example.com").await;
    json_ok(app.refresh(&a.refresh).await).await;
    assert_error(app.refresh(&a.refresh).await, 401, "INVALID_TOKEN").await;
    let page = app.feed("").await;
    assert_eq!(
        kinds(&page.changes),
        vec![Change::SessionRevoked {
            session_id: app.claims(&a.access).sid,
            user_id: a.id.clone(),
        }]
    );
    app.stop().await;
}

async fn a_long_poll_returns_soon_after_a_logout(db: Db) {
    let app = TestApp::spawn(&db).await;
    let a = app.account("feed-wait@example.com").await;
    let head = app.feed("").await.head;

    let started = Instant::now();
    let query = format!("after={head}&wait=20");
    let (page, ()) = tokio::join!(app.feed(&query), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        json_ok(app.logout(&a.refresh).await).await;
    });
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(2), "answered after {waited:?}");
    assert_eq!(page.changes.len(), 1);
    assert!(matches!(
        &page.changes[0].change,
        Change::SessionRevoked { user_id, .. } if *user_id == a.id
    ));

    // With nothing new, the wait ends empty after about `wait` seconds.
    let started = Instant::now();
    let empty = app.feed(&format!("after={}&wait=1", page.head)).await;
    assert!(empty.changes.is_empty());
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    app.stop().await;
}

async fn a_long_poll_sees_commits_by_another_process_on_the_same_database(db: Db) {
    let first = TestApp::spawn(&db).await;
    // Answered only once the first process has migrated the database: two processes
    // migrating one fresh file at the same moment is not what this test is about.
    let head = first.feed("").await.head;
    let second = TestApp::spawn_with(&db, &[("DATABASE_URL", &first.database_url())]).await;
    let a = second.account("other-node@example.com").await;

    let started = Instant::now();
    let query = format!("after={head}&wait=20");
    let (page, ()) = tokio::join!(first.feed(&query), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        json_ok(second.logout(&a.refresh).await).await;
    });
    // No local wake-up here: the once-a-second re-read finds it.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(page.changes.len(), 1);
    second.stop().await;
    first.stop().await;
}

async fn shutdown_answers_a_waiting_long_poll_at_once(db: Db) {
    let app = TestApp::spawn(&db).await;
    let client = app.client.clone();
    let url = app.url(&format!("{CHANGE_FEED_PATH}?wait=30"));
    let token = app.service_token();
    let poll =
        tokio::spawn(async move { client.get(url).bearer_auth(token).send().await.unwrap() });
    // Let the request reach its wait.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    app.stop().await;
    let response = tokio::time::timeout(Duration::from_secs(2), poll)
        .await
        .expect("the poll is answered during shutdown")
        .unwrap();
    assert_eq!(response.status(), 200);
    let page: shared::change_feed::ChangePage = response.json().await.unwrap();
    assert!(page.changes.is_empty());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

async fn the_feed_is_outside_the_per_ip_rate_limit(db: Db) {
    let app = TestApp::spawn_with(&db, &[("AUTH_RATE_LIMIT_PER_MINUTE", "1")]).await;
    for _ in 0..5 {
        app.feed("").await;
    }
    app.stop().await;
}

async fn tokens_carry_the_feed_head_they_reflect_as_mv(db: Db) {
    let app = TestApp::spawn(&db).await;
    let a = app.account("mv-a@example.com").await;
    assert_eq!(app.claims(&a.access).mv, 0, "empty feed");
    let b = app.account("mv-b@example.com").await;
    json_ok(app.invite(&a.access, &a.home, &b.email, "viewer").await).await;
    let head = app.feed("").await.head;
    assert!(head > 0);

    let login = json_ok(app.login(&b.email, crate::helpers::STRONG_PASSWORD).await).await;
    let login_claims = app.claims(str_field(&login, "/accessToken"));
    assert_eq!(login_claims.mv, head);
    assert_eq!(login_claims.mem.get(&a.home), Some(&Role::Viewer));
    let signup_c = app.signed_up("mv-c@example.com").await;
    assert_eq!(app.claims(str_field(&signup_c, "/accessToken")).mv, head);
    json_ok(app.logout(&a.refresh).await).await;
    let refreshed = json_ok(app.refresh(&b.refresh).await).await;
    let refreshed_claims = app.claims(str_field(&refreshed, "/accessToken"));
    assert_eq!(refreshed_claims.mv, head + 1);
    assert_eq!(refreshed_claims.mem, login_claims.mem);
    app.stop().await;
}

backend_tests!(
    the_feed_needs_a_valid_service_token,
    bad_feed_queries_are_invalid_requests,
    every_change_kind_is_emitted_by_its_action_in_order,
    refresh_token_reuse_emits_session_revoked,
    a_long_poll_returns_soon_after_a_logout,
    a_long_poll_sees_commits_by_another_process_on_the_same_database,
    shutdown_answers_a_waiting_long_poll_at_once,
    the_feed_is_outside_the_per_ip_rate_limit,
    tokens_carry_the_feed_head_they_reflect_as_mv,
);

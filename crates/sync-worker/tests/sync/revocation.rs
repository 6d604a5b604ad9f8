//! Revocations reaching live sockets through the change feed: logout and refresh-token
//! reuse (session revoked), removal, downgrade and deletion; a restarted node; a feed
//! outage suspending the grace period.

use std::time::Duration;

use serde_json::json;
use shared::change_feed::Change;
use shared::Role;

use crate::feed::FeedServer;
use crate::helpers::*;
use crate::tokens::*;

const STORE: &str = "inst-r";

fn session_revoked(sid: &str, user: &str) -> Change {
    Change::SessionRevoked {
        session_id: sid.into(),
        user_id: user.into(),
    }
}

fn membership(user: &str, store: &str, role: Option<Role>) -> Change {
    Change::MembershipChanged {
        user_id: user.into(),
        instance_id: store.into(),
        role,
    }
}

#[tokio::test]
async fn logout_and_reuse_close_every_socket_of_the_session_and_refuse_new_ones() {
    let feed = FeedServer::start(keys()).await;
    let server = secure_server(&feed, &[]).await;
    let mem = [(STORE, Role::Owner), ("inst-other", Role::Editor)];
    // Refresh-token reuse revokes a whole session: the old and the rotated access
    // tokens share its `sid`.
    let old = mint("u1", "sess-1", &mem, 0, 600);
    let rotated = mint("u1", "sess-1", &mem, 0, 0);
    let in_grace = mint("u1", "sess-1", &mem, 0, 2000);
    let other_session = mint("u1", "sess-2", &mem, 0, 0);
    let mut a = server
        .connect(STORE, Some(&with_token(&old)))
        .await
        .unwrap();
    let mut b = server
        .connect("inst-other", Some(&with_token(&rotated)))
        .await
        .unwrap();
    let mut c = server
        .connect(STORE, Some(&with_token(&other_session)))
        .await
        .unwrap();
    a.pull("r", None).await;

    feed.push(session_revoked("sess-1", "u1"));
    for client in [&mut a, &mut b] {
        assert_eq!(
            closed_within_bound(client).await,
            (4401, "session revoked".to_owned())
        );
    }
    for token in [&old, &rotated, &in_grace] {
        let (status, body) = refused(&server, STORE, &with_token(token)).await;
        assert_eq!(
            (status, body),
            (
                401,
                json!({"code": "TOKEN_REVOKED", "message": "Session has been revoked"})
            )
        );
        let (status, body) = events_api(&server, STORE, "", Some(token)).await;
        assert_eq!((status, code(&body)), (401, "TOKEN_REVOKED"));
    }
    // The user's other session is untouched.
    c.push_acked("p", events(0, 1)).await;
    server.stop().await;
}

#[tokio::test]
async fn removal_closes_that_users_sockets_on_that_store_only() {
    let feed = FeedServer::start(keys()).await;
    let server = secure_server(&feed, &[]).await;
    let mem = [(STORE, Role::Editor), ("inst-kept", Role::Editor)];
    let token = mint("u1", "s1", &mem, 0, 0);
    let bystander = mint("u2", "s2", &[(STORE, Role::Editor)], 0, 0);
    let mut removed = server
        .connect(STORE, Some(&with_token(&token)))
        .await
        .unwrap();
    let mut kept = server
        .connect("inst-kept", Some(&with_token(&token)))
        .await
        .unwrap();
    let mut other = server
        .connect(STORE, Some(&with_token(&bystander)))
        .await
        .unwrap();

    feed.push(membership("u1", STORE, None));
    assert_eq!(
        closed_within_bound(&mut removed).await,
        (4403, "access revoked".to_owned())
    );
    let (status, body) = refused(&server, STORE, &with_token(&token)).await;
    assert_eq!((status, code(&body)), (403, "STORE_FORBIDDEN"));
    let (status, _) = events_api(&server, STORE, "", Some(&token)).await;
    assert_eq!(status, 403);
    kept.push_acked("k", events(0, 1)).await;
    other.push_acked("o", events(0, 1)).await;

    // Re-added later: the feed's newer change opens the store again, even for a token
    // issued before it.
    feed.push(membership("u1", STORE, Some(Role::Viewer)));
    assert!(
        eventually(REVOCATION_BOUND, async || server
            .connect(STORE, Some(&with_token(&token)))
            .await
            .is_ok())
        .await
    );
    server.stop().await;
}

#[tokio::test]
async fn downgrade_to_viewer_makes_further_pushes_fail_on_the_open_socket() {
    let feed = FeedServer::start(keys()).await;
    let server = secure_server(&feed, &[]).await;
    let token = mint("u1", "s1", &[(STORE, Role::Editor)], 0, 0);
    let mut client = server
        .connect(STORE, Some(&with_token(&token)))
        .await
        .unwrap();
    client.push_acked("before", events(0, 1)).await;

    feed.push(membership("u1", STORE, Some(Role::Viewer)));
    // Pushes racing the change may still land; within 2 s they must be refused.
    let (mut attempt, mut head) = (0, 1);
    let refused_push = eventually(REVOCATION_BOUND, async || {
        attempt += 1;
        let id = format!("after-{attempt}");
        client.push(&id, events(head, 1)).await;
        match client.push_outcome(&id).await {
            Ok(()) => {
                head += 1;
                false
            }
            Err(message) => {
                assert_eq!(message, "Forbidden: viewers cannot push to this store");
                true
            }
        }
    })
    .await;
    assert!(refused_push, "push still accepted 2 s after the downgrade");
    client.push("later", events(head, 1)).await;
    assert!(client.push_outcome("later").await.is_err());
    assert_eq!(
        server.stored(STORE).await.len() as u64,
        head,
        "nothing stored once refused"
    );
    // Still open and reading.
    assert_eq!(all_seqs(&client.pull("r", None).await).len() as u64, head);
    // A new socket with the old token is a viewer too.
    let mut fresh = server
        .connect(STORE, Some(&with_token(&token)))
        .await
        .unwrap();
    fresh.push("x", events(head, 1)).await;
    assert!(fresh.push_outcome("x").await.is_err());
    server.stop().await;
}

#[tokio::test]
async fn deletion_closes_every_member_socket_and_deletes_the_events() {
    let feed = FeedServer::start(keys()).await;
    let server = secure_server(&feed, &[]).await;
    let owner = mint("u1", "s1", &[(STORE, Role::Owner)], 0, 0);
    let viewer = mint("u2", "s2", &[(STORE, Role::Viewer)], 0, 0);
    let mut a = server
        .connect(STORE, Some(&with_token(&owner)))
        .await
        .unwrap();
    let mut b = server
        .connect(STORE, Some(&with_token(&viewer)))
        .await
        .unwrap();
    a.push_acked("p", events(0, 3)).await;
    assert_eq!(server.stored(STORE).await.len(), 3);

    feed.push(Change::InstanceDeleted {
        instance_id: STORE.into(),
    });
    for client in [&mut a, &mut b] {
        assert_eq!(
            closed_within_bound(client).await,
            (4403, "access revoked".to_owned())
        );
    }
    assert!(
        eventually(REVOCATION_BOUND, async || server
            .stored(STORE)
            .await
            .is_empty())
        .await,
        "events of the deleted instance still stored"
    );
    for token in [&owner, &viewer] {
        let (status, body) = refused(&server, STORE, &with_token(token)).await;
        assert_eq!((status, code(&body)), (403, "STORE_FORBIDDEN"));
    }
    // Internal services still reach the (now empty) store.
    let mut internal = server
        .connect(STORE, Some(&json!({"serverBypass": BYPASS})))
        .await
        .unwrap();
    assert!(all_seqs(&internal.pull("r", None).await).is_empty());
    server.stop().await;
}

#[tokio::test]
async fn a_restarted_node_refuses_a_session_revoked_while_it_was_down() {
    let feed = FeedServer::start(keys()).await;
    let token = mint("u1", "s1", &[(STORE, Role::Owner)], 0, 0);
    let server = secure_server(&feed, &[]).await;
    let mut client = server
        .connect(STORE, Some(&with_token(&token)))
        .await
        .unwrap();
    client.push_acked("p", events(0, 1)).await;
    drop(client);
    let dir = server.stop().await;

    feed.push(session_revoked("s1", "u1"));
    let db_vars = [
        ("REQUIRE_AUTH", "true"),
        ("AUTH_URL", feed.url.as_str()),
        ("AUTH_FEED_WAIT_SECONDS", "5"),
    ];
    let server = TestServer::spawn_in(dir, &db_vars).await;
    // The very first connect after start waits for the first sync.
    let (status, body) = refused(&server, STORE, &with_token(&token)).await;
    assert_eq!((status, code(&body)), (401, "TOKEN_REVOKED"));
    assert_eq!(
        server.stored(STORE).await.len(),
        1,
        "the log survived the restart"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_feed_outage_suspends_the_grace_period_only() {
    let feed = FeedServer::start(keys()).await;
    let server = secure_server(&feed, &[]).await;
    let fresh = mint("u1", "s1", &[(STORE, Role::Owner)], 0, 0);
    let in_grace = mint("u1", "s1", &[(STORE, Role::Owner)], 0, 2000);
    assert!(server
        .connect(STORE, Some(&with_token(&in_grace)))
        .await
        .is_ok());

    feed.set_down(true);
    let bound = Duration::from_secs(5);
    assert!(
        eventually(bound, async || server
            .connect(STORE, Some(&with_token(&in_grace)))
            .await
            .is_err())
        .await,
        "a grace-period token still opens sockets while the feed is down"
    );
    let (status, body) = refused(&server, STORE, &with_token(&in_grace)).await;
    assert_eq!((status, code(&body)), (401, "GRACE_PERIOD_EXPIRED"));
    assert!(server
        .connect(STORE, Some(&with_token(&fresh)))
        .await
        .is_ok());

    feed.set_down(false);
    assert!(
        eventually(bound, async || server
            .connect(STORE, Some(&with_token(&in_grace)))
            .await
            .is_ok())
        .await,
        "grace not restored after the feed came back"
    );
    server.stop().await;

    // No feed configured at all: the grace period never applies.
    let lone = TestServer::spawn(&[("REQUIRE_AUTH", "true")]).await;
    let (status, body) = refused(&lone, STORE, &with_token(&in_grace)).await;
    assert_eq!((status, code(&body)), (401, "GRACE_PERIOD_EXPIRED"));
    assert!(lone.connect(STORE, Some(&with_token(&fresh))).await.is_ok());
    lone.stop().await;
}

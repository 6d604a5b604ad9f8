//! PostgreSQL only: several auth-worker nodes (two `run` calls) on one database behave
//! as one service, and the change feed commits in `seq` order whichever node writes.
//! Requests race on a multi-threaded runtime, so the two nodes really run at once.

use std::time::{Duration, Instant};

use auth_worker::domain::Email;
use auth_worker::storage::{AuthStore, NewSession};
use reqwest::Method;
use serde_json::json;
use shared::change_feed::Change;
use sqlx::Connection as _;

use crate::helpers::{assert_error, json_ok, Account, Db, TestApp, STRONG_PASSWORD};

/// Two nodes on the test's scratch database; the second starts once the first has
/// migrated it (its first feed answer), so start-up order is not what is tested.
async fn two_nodes(db: &Db) -> (TestApp, TestApp) {
    let a = TestApp::spawn(db).await;
    a.feed("").await;
    let b = TestApp::spawn(db).await;
    b.feed("").await;
    (a, b)
}

async fn a_refresh_race_across_nodes_has_one_winner_and_revokes_the_session(db: Db) {
    let (a, b) = two_nodes(&db).await;
    for round in 0..4 {
        let account = a.account(&format!("race-{round}@example.com")).await;
        let (on_a, on_b) = tokio::join!(a.refresh(&account.refresh), b.refresh(&account.refresh));
        let (winner, loser) = match (on_a.status().as_u16(), on_b.status().as_u16()) {
            (200, 401) => (on_a, on_b),
            (401, 200) => (on_b, on_a),
            other => panic!("round {round}: expected one 200 and one 401, got {other:?}"),
        };
        assert_error(loser, 401, "INVALID_TOKEN").await;
        // The loser's attempt counts as reuse: the whole session is revoked, so even the
        // winner's fresh token is refused, on either node.
        let successor = Account::from_body(&json_ok(winner).await);
        assert_error(b.refresh(&successor.refresh).await, 401, "INVALID_TOKEN").await;
        assert_error(a.me(&successor.access).await, 401, "INVALID_TOKEN").await;
        let sid = a.claims(&account.access).sid;
        let revoked = a
            .feed("")
            .await
            .changes
            .into_iter()
            .filter(|c| matches!(&c.change, Change::SessionRevoked { session_id, .. } if *session_id == sid))
            .count();
        assert_eq!(revoked, 1, "round {round}");
    }
    b.stop().await;
    a.stop().await;
}

async fn a_change_on_one_node_wakes_a_long_poll_on_the_other_at_once(db: Db) {
    let (a, b) = two_nodes(&db).await;
    let account = a.account("cross-node-feed@example.com").await;
    let head = b.feed("").await.head;
    let query = format!("after={head}&wait=20");
    let started = Instant::now();
    let ((page, answered), logged_out) =
        tokio::join!(async { (b.feed(&query).await, Instant::now()) }, async {
            // Just past the poll's first once-a-second re-read: without a notice from
            // node A, node B would only answer at the next one, about 0.9 s later.
            tokio::time::sleep(Duration::from_millis(1050)).await;
            json_ok(a.logout(&account.refresh).await).await;
            Instant::now()
        });
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(2), "answered after {waited:?}");
    let after_logout = answered.saturating_duration_since(logged_out);
    assert!(
        after_logout < Duration::from_millis(600),
        "woken {after_logout:?} after the commit: no cross-node notice?"
    );
    assert_eq!(page.changes.len(), 1);
    assert!(matches!(
        &page.changes[0].change,
        Change::SessionRevoked { user_id, .. } if *user_id == account.id
    ));
    b.stop().await;
    a.stop().await;
}

/// Changes made concurrently on both nodes reach a reader following the feed on one of
/// them with consecutive sequence numbers: none is skipped, none comes twice.
async fn concurrent_changes_on_two_nodes_are_read_in_seq_order_without_gaps(db: Db) {
    const CREATORS: usize = 8;
    const LEAVERS: usize = 4;
    let (a, b) = two_nodes(&db).await;
    let mut accounts = Vec::new();
    for i in 0..CREATORS + LEAVERS {
        accounts.push(a.account(&format!("order-{i}@example.com")).await);
    }
    let (creators, leavers) = accounts.split_at(CREATORS);
    let start = b.feed("").await.head;
    // All at once: every creator makes an instance on each node (`membership_changed`
    // twice), every leaver logs out on one of them (`session_revoked`).
    let expected = 2 * CREATORS + LEAVERS;
    let writers = async {
        let mut work = tokio::task::JoinSet::new();
        let jobs = creators
            .iter()
            .flat_map(|account| [(&a, account, false), (&b, account, false)])
            .chain(
                leavers
                    .iter()
                    .enumerate()
                    .map(|(i, account)| (if i % 2 == 0 { &a } else { &b }, account, true)),
            );
        for (node, account, logout) in jobs {
            let (client, url) = (node.client.clone(), node.address.clone());
            let account = account.clone();
            work.spawn(async move {
                let request = if logout {
                    client
                        .post(format!("{url}/logout"))
                        .json(&json!({ "refreshToken": account.refresh }))
                } else {
                    client
                        .post(format!("{url}/instances"))
                        .bearer_auth(&account.access)
                        .json(&json!({ "name": "Concurrent" }))
                };
                let status = request.send().await.expect("request").status();
                assert!(status.is_success(), "{status}");
            });
        }
        while let Some(done) = work.join_next().await {
            done.expect("writer");
        }
    };
    let reader = async {
        let mut cursor = start;
        let mut seen = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while seen.len() < expected {
            assert!(
                Instant::now() < deadline,
                "only {} of {expected} changes",
                seen.len()
            );
            let page = b.feed(&format!("after={cursor}&limit=3&wait=1")).await;
            for change in page.changes {
                assert_eq!(change.seq, cursor + 1, "a change was skipped or repeated");
                cursor = change.seq;
                seen.push(change.change);
            }
        }
        seen
    };
    let ((), seen) = tokio::join!(writers, reader);
    let ids = |list: &[Account]| list.iter().map(|a| a.id.clone()).collect::<Vec<_>>();
    let mut joined: Vec<_> = seen
        .iter()
        .filter_map(|c| match c {
            Change::MembershipChanged { user_id, .. } => Some(user_id.clone()),
            _ => None,
        })
        .collect();
    let mut revoked: Vec<_> = seen
        .iter()
        .filter_map(|c| match c {
            Change::SessionRevoked { user_id, .. } => Some(user_id.clone()),
            _ => None,
        })
        .collect();
    joined.sort();
    revoked.sort();
    let mut twice: Vec<_> = ids(creators)
        .into_iter()
        .flat_map(|id| [id.clone(), id])
        .collect();
    twice.sort();
    let mut left = ids(leavers);
    left.sort();
    assert_eq!((joined, revoked), (twice, left));
    assert_eq!(a.feed("").await.head, start + expected as u64);
    b.stop().await;
    a.stop().await;
}

/// The mechanism behind the previous test, made deterministic: a change still being
/// committed elsewhere (here a raw transaction holding the next `seq`) holds back every
/// later change, so no reader ever sees `seq` n + 1 before n.
async fn a_slow_commit_holds_back_later_changes_instead_of_being_skipped(db: Db) {
    let Db::Postgres(scratch) = &db else {
        unreachable!("PostgreSQL only")
    };
    let store = AuthStore::connect(&scratch.url).await.unwrap();
    let now = chrono::Utc::now();
    let session = NewSession {
        id: "s-slow".into(),
        token_hash: "h-slow".into(),
        expires_at_ms: now.timestamp_millis() + 60_000,
    };
    store
        .create_user(
            &Email::parse("slow@example.com").unwrap(),
            "$argon2id$x",
            &session,
            now,
        )
        .await
        .unwrap();
    let head = store.change_head().await.unwrap();

    let mut slow = sqlx::PgConnection::connect(&scratch.url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut slow).await.unwrap();
    let slow_seq: i64 = sqlx::query_scalar("UPDATE change_head SET seq = seq + 1 RETURNING seq")
        .fetch_one(&mut slow)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO changes (seq, at, kind, instance_id) VALUES ($1, now(), 'instance_deleted', 'i-slow')",
    )
    .bind(slow_seq)
    .execute(&mut slow)
    .await
    .unwrap();

    let revoke = tokio::spawn({
        let store = store.clone();
        async move { store.revoke_session("s-slow", "logout", now).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!revoke.is_finished(), "the later change committed first");
    assert!(store
        .changes_after(head, 10)
        .await
        .unwrap()
        .changes
        .is_empty());

    sqlx::query("COMMIT").execute(&mut slow).await.unwrap();
    tokio::time::timeout(Duration::from_secs(2), revoke)
        .await
        .expect("the held-back change commits")
        .unwrap()
        .unwrap();
    let page = store.changes_after(head, 10).await.unwrap();
    let seqs: Vec<u64> = page.changes.iter().map(|c| c.seq).collect();
    assert_eq!(seqs, vec![head + 1, head + 2]);
    assert!(
        matches!(&page.changes[0].change, Change::InstanceDeleted { instance_id } if instance_id == "i-slow")
    );
    assert!(
        matches!(&page.changes[1].change, Change::SessionRevoked { session_id, .. } if session_id == "s-slow")
    );
    assert_eq!(page.head, head + 2);
    slow.close().await.ok();
    store.close().await;
}

async fn one_email_signing_up_on_both_nodes_at_once_creates_one_user(db: Db) {
    let (a, b) = two_nodes(&db).await;
    let mut attempts = tokio::task::JoinSet::new();
    for (node, email) in [
        (&a, "both@example.com"),
        (&b, "both@example.com"),
        (&a, "BOTH@example.com "),
        (&b, " both@example.com"),
    ] {
        let (client, url) = (node.client.clone(), node.url("/signup"));
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
    b.stop().await;
    a.stop().await;
}

/// Two owners demoting each other at once, on different nodes: one wins, and the
/// instance keeps an owner.
async fn two_owners_demoting_each_other_on_two_nodes_leave_one_owner(db: Db) {
    let (a, b) = two_nodes(&db).await;
    let first = a.account("owner-1@example.com").await;
    let second = b.account("owner-2@example.com").await;
    let instance = a.create_instance(&first.access, "Shared").await;
    let id = instance["id"].as_str().unwrap().to_owned();
    json_ok(a.invite(&first.access, &id, &second.email, "owner").await).await;
    // The invite applied at once; the second owner's next token carries it.
    let second = Account::from_body(&json_ok(b.refresh(&second.refresh).await).await);

    let demote = |node: &TestApp, token: String, member: String| {
        let request = node
            .client
            .request(
                Method::PATCH,
                node.url(&format!("/instances/{id}/members/{member}")),
            )
            .bearer_auth(token)
            .json(&json!({ "role": "editor" }));
        async move { request.send().await.expect("request") }
    };
    let (one, two) = tokio::join!(
        demote(&a, first.access.clone(), second.id.clone()),
        demote(&b, second.access.clone(), first.id.clone()),
    );
    let statuses = [one.status().as_u16(), two.status().as_u16()];
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    let owners = a
        .members(&first.access, &id)
        .await
        .into_iter()
        .filter(|m| m["role"] == "owner")
        .count();
    assert_eq!(owners, 1);
    b.stop().await;
    a.stop().await;
}

async fn accounts_and_sessions_outlive_the_node_that_made_them(db: Db) {
    let first = TestApp::spawn(&db).await;
    let account = first.account("durable-pg@example.com").await;
    assert!(first.stop().await.is_none());
    let second = TestApp::spawn(&db).await;
    json_ok(second.me(&account.access).await).await;
    json_ok(second.refresh(&account.refresh).await).await;
    json_ok(second.login(&account.email, STRONG_PASSWORD).await).await;
    second.stop().await;
}

postgres_tests!(
    a_refresh_race_across_nodes_has_one_winner_and_revokes_the_session,
    a_change_on_one_node_wakes_a_long_poll_on_the_other_at_once,
    concurrent_changes_on_two_nodes_are_read_in_seq_order_without_gaps,
    a_slow_commit_holds_back_later_changes_instead_of_being_skipped,
    one_email_signing_up_on_both_nodes_at_once_creates_one_user,
    two_owners_demoting_each_other_on_two_nodes_leave_one_owner,
    accounts_and_sessions_outlive_the_node_that_made_them,
);

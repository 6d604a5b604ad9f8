//! The storage layer directly, for what the HTTP API cannot reach quickly: purging
//! long-expired refresh tokens and old changes, and the workspace migration on a
//! pre-workspace database.

use auth_worker::domain::Email;
use auth_worker::storage::{AuthStore, NewSession};
use chrono::Utc;

use crate::helpers::Db;

async fn purge_deletes_only_tokens_expired_before_the_cutoff(db: Db) {
    let (url, _dir) = db.store_url();
    let store = AuthStore::connect(&url).await.unwrap();
    let now = Utc::now();
    let now_ms = now.timestamp_millis();
    let old = NewSession {
        id: "s-old".into(),
        token_hash: "h-old".into(),
        expires_at_ms: now_ms - 10_000,
    };
    let user = store
        .create_user(
            &Email::parse("purge@example.com").unwrap(),
            "$argon2id$x",
            &old,
            now,
        )
        .await
        .unwrap();
    let live = NewSession {
        id: "s-live".into(),
        token_hash: "h-live".into(),
        expires_at_ms: now_ms + 10_000,
    };
    store.start_session(&user.id, &live, now).await.unwrap();

    assert_eq!(
        store
            .purge_refresh_tokens_expired_before(now_ms - 20_000)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .purge_refresh_tokens_expired_before(now_ms)
            .await
            .unwrap(),
        1
    );
    assert!(store.find_refresh_token("h-old").await.unwrap().is_none());
    assert!(store.find_refresh_token("h-live").await.unwrap().is_some());
    store.close().await;
}

/// A database created before workspaces existed (only migration 0001): every instance's
/// creator becomes its owner member, keeping `is_default`.
#[tokio::test]
async fn migration_0002_makes_every_existing_instance_owner_its_creator() {
    use sqlx::sqlite::SqliteConnectOptions;
    use std::str::FromStr as _;

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("old.db").display());
    let options = SqliteConnectOptions::from_str(&url)
        .unwrap()
        .create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    let mut first_only = sqlx::migrate!("../../migrations/auth");
    first_only.migrations = std::borrow::Cow::Owned(vec![first_only.migrations[0].clone()]);
    first_only.run(&pool).await.unwrap();
    sqlx::query(
        "INSERT INTO users (id, email, password_hash, created_at, updated_at) \
         VALUES ('u1', 'old@example.com', 'h', 't', 't')",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO instances (id, user_id, name, is_default, created_at, last_accessed_at) VALUES \
         ('i-home', 'u1', 'Personal Workspace', 1, '2026-01-01T00:00:00.000Z', '2026-01-02T00:00:00.000Z'), \
         ('i-work', 'u1', 'Work', 0, '2026-02-01T00:00:00.000Z', '2026-02-02T00:00:00.000Z')",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;

    let store = AuthStore::connect(&url).await.unwrap();
    let user = store.find_user("u1").await.unwrap().unwrap();
    let summary: Vec<(&str, &str, shared::Role, bool, &str)> = user
        .instances
        .iter()
        .map(|i| {
            (
                i.id.as_str(),
                i.name.as_str(),
                i.role,
                i.is_default,
                i.last_accessed_at.as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "i-home",
                "Personal Workspace",
                shared::Role::Owner,
                true,
                "2026-01-02T00:00:00.000Z"
            ),
            (
                "i-work",
                "Work",
                shared::Role::Owner,
                false,
                "2026-02-02T00:00:00.000Z"
            ),
        ]
    );
    let (mv, mem) = store.token_memberships("u1").await.unwrap();
    assert_eq!(mv, 0);
    assert_eq!(mem.len(), 2);
    store.close().await;
}

/// Purging old changes empties the page but never moves the head (or a token's `mv`)
/// backwards, so cursors stay valid.
async fn purging_changes_keeps_the_head(db: Db) {
    let (url, _dir) = db.store_url();
    let store = AuthStore::connect(&url).await.unwrap();
    let now = Utc::now();
    let session = NewSession {
        id: "s-1".into(),
        token_hash: "h-1".into(),
        expires_at_ms: now.timestamp_millis() + 10_000,
    };
    let user = store
        .create_user(
            &Email::parse("purge-feed@example.com").unwrap(),
            "$argon2id$x",
            &session,
            now,
        )
        .await
        .unwrap();
    store.revoke_session("s-1", "logout", now).await.unwrap();
    let page = store.changes_after(0, 10).await.unwrap();
    assert_eq!((page.changes.len(), page.head), (1, 1));

    // Older than the cutoff: gone. Newer ones would stay.
    assert_eq!(
        store
            .purge_changes_before(now - chrono::Duration::seconds(1))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .purge_changes_before(now + chrono::Duration::seconds(1))
            .await
            .unwrap(),
        1
    );
    let page = store.changes_after(0, 10).await.unwrap();
    assert_eq!((page.changes.len(), page.head), (0, 1));
    assert_eq!(store.token_memberships(&user.id).await.unwrap().0, 1);
    store.close().await;
    // And across a restart.
    let store = AuthStore::connect(&url).await.unwrap();
    assert_eq!(store.change_head().await.unwrap(), 1);
    store.close().await;
}

backend_tests!(
    purge_deletes_only_tokens_expired_before_the_cutoff,
    purging_changes_keeps_the_head,
);

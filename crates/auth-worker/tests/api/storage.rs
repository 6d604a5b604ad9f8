//! The storage layer directly, for what the HTTP API cannot reach quickly: purging
//! long-expired refresh tokens.

use auth_worker::domain::Email;
use auth_worker::storage::{AuthStore, NewSession};
use chrono::Utc;

#[tokio::test]
async fn purge_deletes_only_tokens_expired_before_the_cutoff() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("nested/auth.db").display());
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

//! SQLite only: restart on the same database file, and start-up on an unusable path.
//! (Several nodes and restarts on PostgreSQL are in `cluster`.)

use crate::helpers::{json_ok, str_field, Db, TestApp, STRONG_PASSWORD};

#[tokio::test]
async fn users_and_sessions_survive_a_restart() {
    let app = TestApp::spawn(&Db::Sqlite).await;
    let signup = app.signed_up("durable@example.com").await;
    let dir = app.stop().await.expect("SQLite data dir");
    assert!(TestApp::db_path_in(dir.path()).exists());

    let app = TestApp::spawn_in(dir, &[]).await;
    // The session from before the restart still works, both ways.
    let me = json_ok(app.me(str_field(&signup, "/accessToken")).await).await;
    assert_eq!(me["user"], signup["user"]);
    let refreshed = json_ok(app.refresh(str_field(&signup, "/refreshToken")).await).await;
    assert_eq!(refreshed["user"], signup["user"]);
    // And the password hash too.
    let login = json_ok(app.login("durable@example.com", STRONG_PASSWORD).await).await;
    assert_eq!(
        str_field(&login, "/user/id"),
        str_field(&signup, "/user/id")
    );
    app.stop().await;
}

#[tokio::test]
async fn revocations_survive_a_restart() {
    let app = TestApp::spawn(&Db::Sqlite).await;
    let signup = app.signed_up("revoked@example.com").await;
    json_ok(app.logout(str_field(&signup, "/refreshToken")).await).await;
    let dir = app.stop().await.expect("SQLite data dir");

    let app = TestApp::spawn_in(dir, &[]).await;
    crate::helpers::assert_error(
        app.refresh(str_field(&signup, "/refreshToken")).await,
        401,
        "INVALID_TOKEN",
    )
    .await;
    crate::helpers::assert_error(
        app.me(str_field(&signup, "/accessToken")).await,
        401,
        "INVALID_TOKEN",
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn an_unusable_database_url_fails_start_up_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    // A regular file where the data folder should be.
    let blocker = dir.path().join("data");
    std::fs::write(&blocker, b"not a folder").unwrap();
    let vars = shared::Vars::from_pairs([(
        "DATABASE_URL",
        format!("sqlite://{}", blocker.join("auth.db").display()),
    )]);
    let config = auth_worker::AuthConfig::from_vars(&vars).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = auth_worker::run(
        config,
        shared::net::service_listener(listener),
        std::future::pending(),
    )
    .await
    .unwrap_err();
    assert!(format!("{err:#}").contains("database"), "{err:#}");
}

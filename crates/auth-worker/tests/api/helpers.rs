//! `TestApp`: the service on an ephemeral port with a fresh database, plus API helpers.
//!
//! Every test that does not depend on SQLite takes a [`Db`] and runs once per backend
//! (see `backend_tests!` in `main.rs`): on SQLite every `TestApp` gets its own file in a
//! temporary folder; on PostgreSQL the apps of one test share that test's scratch
//! database (several apps are several nodes), dropped when the test ends, pass or fail.
//!
//! Every test hashes with the production argon2id parameters: the workspace compiles
//! `argon2` optimised even in debug builds, so a hash costs tens of milliseconds.
//! Set `TEST_LOG=1` to see the service's logs.

use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::Duration;

use reqwest::{header, Method, Response, StatusCode};
use serde_json::{json, Value};
use shared::change_feed::{ChangePage, CHANGE_FEED_PATH};
use shared::{AccessClaims, JwtKeys, Vars};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const JWT_SECRET: &str = "test-secret-0123456789abcdef-0123456789";
pub const STRONG_PASSWORD: &str = "Str0ng!pass";

pub use crate::backend::Db;

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub jwt: JwtKeys,
    database_url: String,
    dir: Option<TempDir>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

fn init_test_logging() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            shared::process::init_tracing();
        }
    });
}

impl TestApp {
    /// Default settings (test JWT secret, fresh database on `db`).
    pub async fn spawn(db: &Db) -> Self {
        Self::spawn_with(db, &[]).await
    }

    pub async fn spawn_with(db: &Db, extra: &[(&str, &str)]) -> Self {
        match db {
            Db::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                Self::spawn_in(dir, extra).await
            }
            Db::Postgres(scratch) => Self::spawn_on(scratch.url.clone(), None, extra).await,
        }
    }

    /// Starts the service on the SQLite database inside `dir` (reused by restart tests).
    pub async fn spawn_in(dir: TempDir, extra: &[(&str, &str)]) -> Self {
        let db_url = format!("sqlite://{}", Self::db_path_in(dir.path()).display());
        Self::spawn_on(db_url, Some(dir), extra).await
    }

    /// Starts the service on the database `db_url` (kept in `dir` for SQLite).
    pub async fn spawn_on(db_url: String, dir: Option<TempDir>, extra: &[(&str, &str)]) -> Self {
        init_test_logging();
        let mut vars = Vars::from_pairs([("JWT_SECRET", JWT_SECRET), ("DATABASE_URL", &db_url)]);
        for (key, value) in extra {
            vars.set(*key, *value);
        }
        let config = auth_worker::AuthConfig::from_vars(&vars).expect("test config");
        let database_url = config.database_url.clone();
        let jwt = config.common.jwt_keys();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(auth_worker::run(
            config,
            shared::net::service_listener(listener),
            async move {
                let _ = rx.await;
            },
        ));
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let app = Self {
            address,
            client,
            jwt,
            database_url,
            dir,
            shutdown: Some(tx),
            server: Some(server),
        };
        app.wait_until_serving().await;
        app
    }

    /// Returns once the service answers: it serves only after opening and migrating its
    /// database, which on PostgreSQL (a fresh scratch database) can take a moment, and
    /// tests that time a wait must not count it. A failed start-up is left for `stop` to
    /// report.
    async fn wait_until_serving(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if self.server.as_ref().is_some_and(JoinHandle::is_finished) {
                return;
            }
            if let Ok(response) = self.client.get(self.url("/health")).send().await {
                if response.status().is_success() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{} did not answer /health within 10 s", self.address);
    }

    /// Where the database of a data dir lives: a sub-folder that does not exist yet, so
    /// every start also exercises "create the folder and file if missing".
    pub fn db_path_in(dir: &Path) -> PathBuf {
        dir.join("data").join("auth.db")
    }

    /// Graceful shutdown; returns the SQLite data dir for a restart (`None` on
    /// PostgreSQL). Panics if `run` failed.
    pub async fn stop(mut self) -> Option<TempDir> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let result = tokio::time::timeout(std::time::Duration::from_secs(10), server)
                .await
                .expect("server stops within 10 s")
                .expect("server task");
            result.expect("run returned an error");
        }
        self.dir.take()
    }

    /// The `DATABASE_URL` of this app's database (for a second node on the same one).
    pub fn database_url(&self) -> String {
        self.database_url.clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn post_raw(
        &self,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Response {
        let mut request = self.client.post(self.url(path)).body(body);
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        request.send().await.expect("request")
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    pub async fn signup(&self, email: &str, password: &str) -> Response {
        self.post_json("/signup", &json!({ "email": email, "password": password }))
            .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post_json("/login", &json!({ "email": email, "password": password }))
            .await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.post_json("/refresh", &json!({ "refreshToken": refresh_token }))
            .await
    }

    pub async fn logout(&self, refresh_token: &str) -> Response {
        self.post_json("/logout", &json!({ "refreshToken": refresh_token }))
            .await
    }

    pub async fn me(&self, access_token: &str) -> Response {
        self.client
            .get(self.url("/me"))
            .bearer_auth(access_token)
            .send()
            .await
            .expect("request")
    }

    /// Signs up `email` with the strong password and returns the success body.
    pub async fn signed_up(&self, email: &str) -> Value {
        json_ok(self.signup(email, STRONG_PASSWORD).await).await
    }

    /// Signs up `email` and returns the account's ids and tokens.
    pub async fn account(&self, email: &str) -> Account {
        Account::from_body(&self.signed_up(email).await)
    }

    /// A request with `Authorization: Bearer <token>` and an optional JSON body.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Response {
        let mut request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.expect("request")
    }

    pub async fn get_as(&self, path: &str, token: &str) -> Response {
        self.send(Method::GET, path, token, None).await
    }

    /// `POST /instances {"name"}` as `token`, asserting 201; returns the instance.
    pub async fn create_instance(&self, token: &str, name: &str) -> Value {
        let response = self
            .send(
                Method::POST,
                "/instances",
                token,
                Some(&json!({ "name": name })),
            )
            .await;
        let status = response.status();
        let body: Value = response.json().await.expect("JSON body");
        assert_eq!(status, StatusCode::CREATED, "body: {body}");
        assert_eq!(body["success"], json!(true));
        body["instance"].clone()
    }

    /// `POST /instances/{id}/members {"email","role"}` as `token`.
    pub async fn invite(
        &self,
        token: &str,
        instance_id: &str,
        email: &str,
        role: &str,
    ) -> Response {
        self.send(
            Method::POST,
            &format!("/instances/{instance_id}/members"),
            token,
            Some(&json!({ "email": email, "role": role })),
        )
        .await
    }

    /// The members list of `instance_id` as `token` (asserting 200).
    pub async fn members(&self, token: &str, instance_id: &str) -> Vec<Value> {
        let body = json_ok(
            self.get_as(&format!("/instances/{instance_id}/members"), token)
                .await,
        )
        .await;
        body["members"].as_array().expect("members").clone()
    }

    /// A service token as a sync node would mint it.
    pub fn service_token(&self) -> String {
        self.jwt
            .sign_service_token("sync-worker", Duration::from_secs(60), chrono::Utc::now())
            .expect("service token")
    }

    /// `GET /internal/changes?<query>` with a fresh service token; asserts 200.
    pub async fn feed(&self, query: &str) -> ChangePage {
        let response = self
            .get_as(
                &format!("{CHANGE_FEED_PATH}?{query}"),
                &self.service_token(),
            )
            .await;
        let status = response.status();
        let text = response.text().await.expect("body");
        assert_eq!(status, StatusCode::OK, "body: {text}");
        serde_json::from_str(&text).expect("a ChangePage")
    }

    /// The claims of an access token issued by this app.
    pub fn claims(&self, access_token: &str) -> AccessClaims {
        self.jwt
            .verify_access_token(access_token)
            .expect("valid access token")
            .claims
    }
}

/// A signed-up account.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    pub email: String,
    pub access: String,
    pub refresh: String,
    /// The id of its default `Personal Workspace`.
    pub home: String,
}

impl Account {
    pub fn from_body(body: &Value) -> Self {
        Self {
            id: str_field(body, "/user/id").to_owned(),
            email: str_field(body, "/user/email").to_owned(),
            access: str_field(body, "/accessToken").to_owned(),
            refresh: str_field(body, "/refreshToken").to_owned(),
            home: str_field(body, "/user/instances/0/id").to_owned(),
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // A test that panicked before `stop`: end the server task with it.
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

/// Asserts a 200 and returns the JSON body.
pub async fn json_ok(response: Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.expect("JSON body");
    assert_eq!(status, StatusCode::OK, "body: {body}");
    body
}

/// Asserts the SPEC error shape with `status` and `code`; returns the message.
pub async fn assert_error(response: Response, status: u16, code: &str) -> String {
    let actual = response.status().as_u16();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response.text().await.expect("body");
    assert_eq!(actual, status, "body: {text}");
    assert!(
        content_type.starts_with("application/json"),
        "content-type {content_type:?}: {text}"
    );
    let body: Value = serde_json::from_str(&text).expect("JSON error body");
    assert_eq!(body["success"], json!(false), "{body}");
    assert_eq!(body["error"]["code"], json!(code), "{body}");
    let message = body["error"]["message"]
        .as_str()
        .expect("message")
        .to_owned();
    assert!(!message.is_empty());
    message
}

pub fn str_field<'a>(body: &'a Value, pointer: &str) -> &'a str {
    body.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{pointer} missing in {body}"))
}

//! A scratch PostgreSQL database per test: created on the server `PG_TEST_URL` names
//! (default `postgres://root@127.0.0.1:5432/postgres`, the machine's server with trust
//! auth) and dropped by [`ScratchDb::drop_now`]. Tests fail, they do not skip, when the
//! server is not reachable. The database is named `<prefix>_test_<uuid>`, so a
//! leftover one tells which crate's tests made it.

use sqlx::Connection as _;

const DEFAULT_PG_TEST_URL: &str = "postgres://root@127.0.0.1:5432/postgres";

/// One scratch database.
#[derive(Debug)]
pub struct ScratchDb {
    /// URL of the scratch database itself.
    pub url: String,
    admin: String,
    name: String,
}

impl ScratchDb {
    /// Creates `<prefix>_test_<uuid>` on the `PG_TEST_URL` server.
    pub async fn create(prefix: &str) -> Self {
        let admin = std::env::var("PG_TEST_URL").unwrap_or_else(|_| DEFAULT_PG_TEST_URL.into());
        let name = format!("{prefix}_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| {
                panic!("PostgreSQL at {admin} (PG_TEST_URL) is needed by these tests: {e}")
            });
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create scratch database");
        conn.close().await.ok();
        Self {
            url: with_database(&admin, &name),
            admin,
            name,
        }
    }

    /// Ends every session on the scratch database (`pg_terminate_backend`), as a server
    /// restart would, without touching the server or anyone else's databases; returns
    /// how many were ended.
    pub async fn terminate_connections(&self) -> i64 {
        let mut conn = sqlx::PgConnection::connect(&self.admin)
            .await
            .expect("admin connection");
        let ended: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()) AS ended",
        )
        .bind(&self.name)
        .fetch_one(&mut conn)
        .await
        .expect("terminate the scratch database's sessions");
        conn.close().await.ok();
        ended
    }

    /// Drops the database, ending its sessions.
    pub async fn drop_now(&self) {
        let mut conn = sqlx::PgConnection::connect(&self.admin)
            .await
            .expect("admin connection");
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut conn)
        .await
        .expect("drop scratch database");
        conn.close().await.ok();
    }
}

/// `admin` with its database name replaced by `name`.
fn with_database(admin: &str, name: &str) -> String {
    let (base, query) = match admin.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (admin, None),
    };
    let prefix = match base.rsplit_once('/') {
        Some((prefix, _)) if prefix.contains("://") && !prefix.ends_with('/') => prefix,
        _ => base,
    };
    match query {
        Some(query) => format!("{prefix}/{name}?{query}"),
        None => format!("{prefix}/{name}"),
    }
}

//! Black-box tests of auth-worker: each test spawns the real service on 127.0.0.1:0 and
//! talks HTTP to it. One binary (see `helpers`).
//!
//! Every test that is not about SQLite itself (file persistence, its migrations) runs on
//! both backends: `backend_tests!` turns each listed `async fn(Db)` into a `sqlite::` and
//! a `postgres::` test. PostgreSQL comes from `PG_TEST_URL` (default
//! `postgres://root@127.0.0.1:5432/postgres`); each PostgreSQL test creates and drops its
//! own scratch database, and fails (never skips) when the server is unreachable.

/// One `#[tokio::test]` per backend for each listed test function of the module.
macro_rules! backend_tests {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    crate::helpers::Db::Sqlite.run(super::$test).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $test() {
                    crate::helpers::Db::postgres().await.run(super::$test).await;
                }
            )*
        }
    };
}

/// PostgreSQL-only tests (several nodes on one database), on a multi-threaded runtime so
/// the nodes really run at once.
macro_rules! postgres_tests {
    ($($test:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    crate::helpers::Db::postgres().await.run(super::$test).await;
                }
            )*
        }
    };
}

mod backend;
mod cluster;
mod cors_health;
mod faults;
mod feed;
mod helpers;
mod instances;
mod login;
mod members;
mod persistence;
pub(crate) use test_support::pg_scratch;
mod rate_limit;
mod signup;
mod storage;
mod tokens;
mod validation;

//! [`Db`]: the backend a test runs on, and running a test body on it.

use std::future::Future;
use std::sync::Arc;

use tempfile::TempDir;

use crate::pg_scratch::ScratchDb;

/// The backend a test runs on.
#[derive(Debug, Clone)]
pub enum Db {
    /// A fresh SQLite file per app.
    Sqlite,
    /// The test's scratch PostgreSQL database, shared by its apps.
    Postgres(Arc<ScratchDb>),
}

impl Db {
    pub async fn postgres() -> Self {
        Self::Postgres(Arc::new(ScratchDb::create("auth").await))
    }

    /// Runs `test` on this backend, then drops the scratch database, also when the
    /// test panicked (the panic is re-raised afterwards).
    pub async fn run<F, Fut>(self, test: F)
    where
        F: FnOnce(Db) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let outcome = tokio::spawn(test(self.clone())).await;
        if let Self::Postgres(scratch) = &self {
            scratch.drop_now().await;
        }
        if let Err(err) = outcome {
            std::panic::resume_unwind(err.into_panic());
        }
    }

    /// A fresh database URL for a store opened directly (not through a `TestApp`);
    /// the returned folder must outlive the store on SQLite.
    pub fn store_url(&self) -> (String, Option<TempDir>) {
        match self {
            Self::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("nested/auth.db").display());
                (url, Some(dir))
            }
            Self::Postgres(scratch) => (scratch.url.clone(), None),
        }
    }
}

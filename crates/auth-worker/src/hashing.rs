//! Argon2id password hashing off the async runtime, with a bound on concurrent jobs.
//!
//! Each hash or verification runs in `spawn_blocking` after taking a permit from a
//! semaphore sized by `AUTH_MAX_CONCURRENT_HASHES` (default: the number of CPUs), so a
//! burst of logins queues instead of starving the runtime or the machine. A dummy hash,
//! computed once at start with the configured parameters, lets a login for an unknown
//! email cost exactly one verification, like a login with a wrong password.

use std::sync::Arc;

use anyhow::Context;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::config::{Argon2Params, HashingConfig};

/// Hashes and verifies passwords. Cheap to clone.
#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

struct Inner {
    argon2: Argon2<'static>,
    permits: Semaphore,
    /// PHC string of a random password, verified against when the email is unknown.
    dummy_hash: String,
}

impl PasswordHasher {
    /// Builds the hasher and computes the dummy hash (one full hash, off the runtime).
    pub async fn new(config: HashingConfig) -> anyhow::Result<Self> {
        let argon2 = argon2_with(config.params)?;
        let dummy_password = {
            use rand::RngCore as _;
            let mut bytes = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut bytes);
            bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
        };
        let for_dummy = argon2.clone();
        let dummy_hash =
            tokio::task::spawn_blocking(move || hash_with(&for_dummy, &dummy_password))
                .await
                .context("dummy hash task failed")??;
        Ok(Self {
            inner: Arc::new(Inner {
                argon2,
                permits: Semaphore::new(config.max_concurrent.max(1)),
                dummy_hash,
            }),
        })
    }

    /// Hashes a new password into a PHC string (`$argon2id$v=19$m=...`).
    pub async fn hash(&self, password: String) -> anyhow::Result<String> {
        self.run(move |argon2| hash_with(argon2, &password)).await?
    }

    /// Checks `password` against `stored` (a PHC string), or against the dummy hash when
    /// there is no stored hash, so that case costs the same and always fails.
    pub async fn verify(&self, password: String, stored: Option<String>) -> anyhow::Result<bool> {
        let known = stored.is_some();
        let phc = stored.unwrap_or_else(|| self.inner.dummy_hash.clone());
        let matches = self
            .run(move |argon2| -> anyhow::Result<bool> {
                let parsed = PasswordHash::new(&phc).context("stored password hash is not PHC")?;
                Ok(argon2.verify_password(password.as_bytes(), &parsed).is_ok())
            })
            .await??;
        Ok(known && matches)
    }

    /// Runs `job` on the blocking pool once a permit is free.
    async fn run<T, F>(&self, job: F) -> anyhow::Result<T>
    where
        F: FnOnce(&Argon2<'static>) -> T + Send + 'static,
        T: Send + 'static,
    {
        let mut job_metrics = crate::metrics::Argon2Job::queued();
        let _permit = self
            .inner
            .permits
            .acquire()
            .await
            .context("hashing semaphore closed")?;
        job_metrics.started();
        let inner = Arc::clone(&self.inner);
        // The span carries the request id into the blocking thread's logs.
        let span = tracing::Span::current();
        let result = tokio::task::spawn_blocking(move || span.in_scope(|| job(&inner.argon2)))
            .await
            .context("password hashing task failed");
        drop(job_metrics);
        result
    }
}

fn argon2_with(params: Argon2Params) -> anyhow::Result<Argon2<'static>> {
    let params = Params::new(
        params.memory_kib,
        params.iterations,
        params.parallelism,
        None,
    )
    .map_err(|e| anyhow::anyhow!("invalid argon2 parameters: {e}"))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn hash_with(argon2: &Argon2<'_>, password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    argon2
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> HashingConfig {
        HashingConfig {
            params: Argon2Params::OWASP,
            max_concurrent: 2,
        }
    }

    #[tokio::test]
    async fn hashes_are_argon2id_phc_with_the_configured_cost() {
        let hasher = PasswordHasher::new(config()).await.unwrap();
        let phc = hasher.hash("Str0ng!pass".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(hasher
            .verify("Str0ng!pass".into(), Some(phc.clone()))
            .await
            .unwrap());
        assert!(!hasher
            .verify("Str0ng!pasS".into(), Some(phc))
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn unknown_user_never_verifies() {
        let hasher = PasswordHasher::new(config()).await.unwrap();
        assert!(hasher.dummy_hash_is_phc());
        assert!(!hasher.verify("anything".into(), None).await.unwrap());
    }

    impl PasswordHasher {
        fn dummy_hash_is_phc(&self) -> bool {
            self.inner.dummy_hash.starts_with("$argon2id$")
        }
    }
}

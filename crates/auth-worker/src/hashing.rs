//! Argon2id password hashing on a few dedicated threads, off the async runtime.
//!
//! `AUTH_MAX_CONCURRENT_HASHES` threads (default: the number of CPUs) take jobs from
//! one queue, so a burst of logins waits in line instead of starving the runtime or the
//! machine. The threads run at a lower scheduling priority (nice
//! [`HASH_THREAD_NICE`] on Linux): a hash takes tens of milliseconds of CPU, and at
//! equal priority a `/health` or `/refresh` request landing on a core busy hashing
//! waits for the scheduler's time slice; at lower priority the runtime's threads take
//! the core at once and hashes use what is left. A dummy hash, computed once at start
//! with the configured parameters, lets a login for an unknown email cost exactly one
//! verification, like a login with a wrong password.

use std::panic::AssertUnwindSafe;
use std::sync::{mpsc, Arc, Mutex};

use anyhow::Context;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::oneshot;

use crate::config::{Argon2Params, HashingConfig};

/// The nice value of the hashing threads (0 is the default priority, 19 the lowest).
pub const HASH_THREAD_NICE: i32 = 10;

/// One hash or verification, run on a hashing thread.
type Job = Box<dyn FnOnce(&Argon2<'static>) + Send>;

/// Hashes and verifies passwords. Cheap to clone; the threads stop when the last clone
/// is dropped.
#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

struct Inner {
    jobs: mpsc::Sender<Job>,
    /// PHC string of a random password, verified against when the email is unknown.
    dummy_hash: String,
}

impl PasswordHasher {
    /// Starts the hashing threads and computes the dummy hash (one full hash).
    pub async fn new(config: HashingConfig) -> anyhow::Result<Self> {
        let argon2 = argon2_with(config.params)?;
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for index in 0..config.max_concurrent.max(1) {
            let queue = Arc::clone(&queue);
            let argon2 = argon2.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{index}"))
                .spawn(move || hashing_thread(&argon2, &queue))
                .context("cannot start a password hashing thread")?;
        }
        let dummy_password = {
            use rand::RngCore as _;
            let mut bytes = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut bytes);
            bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
        };
        let mut hasher = Self {
            inner: Arc::new(Inner {
                jobs,
                dummy_hash: String::new(),
            }),
        };
        let dummy_hash = hasher.hash(dummy_password).await?;
        Arc::get_mut(&mut hasher.inner)
            .context("the password hasher was shared before it started")?
            .dummy_hash = dummy_hash;
        Ok(hasher)
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

    /// Runs `job` on a hashing thread once one is free.
    async fn run<T, F>(&self, job: F) -> anyhow::Result<T>
    where
        F: FnOnce(&Argon2<'static>) -> T + Send + 'static,
        T: Send + 'static,
    {
        let (done, result) = oneshot::channel();
        // The span carries the request id into the hashing thread's logs.
        let span = tracing::Span::current();
        // Counted as waiting until a thread starts it, then as running; a job dropped
        // unstarted (threads gone) leaves the queue count too.
        let mut job_metrics = crate::metrics::Argon2Job::queued();
        let job: Job = Box::new(move |argon2| {
            job_metrics.started();
            let answer = span.in_scope(|| job(argon2));
            // Counted done before the caller can see the answer (and a scrape after it).
            drop(job_metrics);
            let _ = done.send(answer);
        });
        if self.inner.jobs.send(job).is_err() {
            anyhow::bail!("password hashing threads stopped");
        }
        result.await.context("password hashing job failed")
    }
}

/// One hashing thread: lowers its own priority, then runs jobs until the hasher is gone.
fn hashing_thread(argon2: &Argon2<'static>, queue: &Mutex<mpsc::Receiver<Job>>) {
    lower_priority();
    loop {
        // The lock is held only while waiting for the next job, never while hashing.
        let next = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return,
        };
        let Ok(job) = next else {
            return; // every sender dropped: the hasher is gone
        };
        // A panicking job drops its answer channel (its caller gets an error); the
        // thread lives on for the next one.
        if std::panic::catch_unwind(AssertUnwindSafe(|| job(argon2))).is_err() {
            tracing::error!("a password hashing job panicked");
        }
    }
}

#[cfg(target_os = "linux")]
fn lower_priority() {
    // Linux keeps a nice value per thread: naming this thread's id changes only it.
    let thread = rustix::thread::gettid();
    if let Err(error) = rustix::process::setpriority_process(Some(thread), HASH_THREAD_NICE) {
        tracing::warn!(%error, "cannot lower the password hashing thread's priority");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

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
    async fn hashing_threads_run_at_lower_priority_and_serve_every_job() {
        let hasher = PasswordHasher::new(config()).await.unwrap();
        let jobs: Vec<_> = (0..6)
            .map(|i| {
                let hasher = hasher.clone();
                tokio::spawn(async move { hasher.hash(format!("password-{i}")).await })
            })
            .collect();
        for job in jobs {
            assert!(job.await.unwrap().unwrap().starts_with("$argon2id$"));
        }
        #[cfg(target_os = "linux")]
        {
            let nice = hasher
                .run(|_| rustix::process::getpriority_process(Some(rustix::thread::gettid())))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(nice, HASH_THREAD_NICE);
        }
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

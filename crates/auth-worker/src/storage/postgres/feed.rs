//! Cross-node wake-ups of the change feed's long polls through PostgreSQL itself: every
//! change sends `NOTIFY auth_changes, '<seq>'` inside its transaction (delivered at
//! commit, never for a rolled-back one), and every node `LISTEN`s and publishes the seq
//! as its feed head, so a long poll on node B answers a change committed on node A at
//! once instead of at the feed's next once-a-second re-read.
//!
//! Notices are not stored: while the listening connection is down they are lost, and the
//! re-read (`routes::changes::POLL_INTERVAL`) still finds every change within a second.
//! The listener has its own connection (a pool of one, outside the query pool), so it
//! never takes a slot queries need; connecting again after the database was unreachable
//! is bounded by the acquire timeout, so the listener is back within a few seconds of
//! the database.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool};
use tokio::sync::watch;

use crate::storage::publish_head;

/// The notification channel.
pub(super) const CHANNEL: &str = "auth_changes";
/// Wait before listening again after the connection failed.
const RETRY: Duration = Duration::from_secs(1);

/// Listens until aborted (by [`super::PgStore::close`]); reconnects after failures.
pub(super) async fn listen(pool: PgPool, feed_head: Arc<watch::Sender<u64>>) {
    // A connect failure was logged (log it once, not every second).
    let mut warned = false;
    let mut first = true;
    loop {
        let connected = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = match connected.await {
            Ok(listener) => {
                if !first {
                    tracing::info!("change notices: listening again");
                }
                first = false;
                warned = false;
                listener
            }
            Err(error) => {
                if !warned {
                    tracing::warn!(%error, "change notices: cannot listen; retrying (long polls still re-read every second)");
                    warned = true;
                }
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => match notification.payload().parse::<u64>() {
                    Ok(seq) => publish_head(&feed_head, Some(seq)),
                    Err(_) => tracing::warn!("change notices: ignoring a malformed notice"),
                },
                // Reconnected by sqlx: notices in between are lost (the re-read covers them).
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(%error, "change notices: connection failed; reconnecting");
                    break;
                }
            }
        }
        tokio::time::sleep(RETRY).await;
    }
}

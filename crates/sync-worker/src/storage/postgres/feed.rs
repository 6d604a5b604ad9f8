//! Cross-node commit notices through PostgreSQL itself: every append sends
//! `NOTIFY sync_events, '<node> <from> <to> <store>'` inside its transaction (so it is
//! delivered at commit, never for a rolled-back append), and every node `LISTEN`s, skips
//! its own notices and reports the others as [`RemoteCommit::Advanced`]. A notice carries
//! the range it committed, so the receiving node reads exactly those events back.
//!
//! Notices are not stored: while the listening connection is down they are lost, so a
//! reconnect is reported as [`RemoteCommit::Resync`] and hubs re-read their stores' heads.

use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool};
use tokio::sync::broadcast;

use crate::storage::{RemoteCommit, StoreId};

/// The notification channel.
pub(super) const CHANNEL: &str = "sync_events";
/// Notices buffered for a slow consumer before it lags (and resyncs).
pub(super) const REMOTE_QUEUE: usize = 4096;
/// Wait before listening again after the connection failed.
const RETRY: Duration = Duration::from_secs(1);

/// The payload of one commit notice (store ids may contain spaces: they come last).
pub(super) fn notice(node: &str, from: u64, to: u64, store: &StoreId) -> String {
    format!("{node} {from} {to} {store}")
}

fn parse(payload: &str) -> Option<(&str, u64, u64, StoreId)> {
    let mut parts = payload.splitn(4, ' ');
    let node = parts.next()?;
    let from = parts.next()?.parse().ok()?;
    let to = parts.next()?.parse().ok()?;
    let store = StoreId::parse(parts.next()?).ok()?;
    Some((node, from, to, store))
}

/// Listens until the pool closes; reconnects (and reports a resync) after failures.
/// `ready` fires once the first `LISTEN` is in place: a node must not accept pushes it
/// could miss notices about.
pub(super) async fn listen(
    pool: PgPool,
    node: String,
    out: broadcast::Sender<RemoteCommit>,
    ready: tokio::sync::oneshot::Sender<()>,
) {
    let mut ready = Some(ready);
    let mut connected_before = false;
    let mut failing = false;
    loop {
        if pool.is_closed() {
            return;
        }
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(listener) => listener,
            Err(error) => {
                if pool.is_closed() {
                    return;
                }
                if !failing {
                    tracing::warn!(%error, "commit notices: cannot connect; retrying");
                    failing = true;
                }
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        if let Err(error) = listener.listen(CHANNEL).await {
            if !failing {
                tracing::warn!(%error, "commit notices: LISTEN failed; retrying");
                failing = true;
            }
            tokio::time::sleep(RETRY).await;
            continue;
        }
        if let Some(ready) = ready.take() {
            let _ = ready.send(());
        }
        if connected_before || failing {
            tracing::info!("commit notices: listening again; resyncing stores");
            let _ = out.send(RemoteCommit::Resync);
        }
        connected_before = true;
        // Until the connection fails again (the arm below breaks with `failing` set).
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => match parse(notification.payload()) {
                    Some((from_node, _, _, _)) if from_node == node => {}
                    Some((_, from, to, store)) => {
                        // No receiver (no hub running) is fine: nobody needs the notice.
                        let _ = out.send(RemoteCommit::Advanced { store, from, to });
                    }
                    None => tracing::warn!("commit notices: ignoring a malformed notice"),
                },
                Ok(None) => {
                    // The connection dropped and was re-established: notices are lost.
                    let _ = out.send(RemoteCommit::Resync);
                }
                Err(sqlx::Error::PoolClosed) => return,
                Err(error) => {
                    tracing::warn!(%error, "commit notices: connection failed; reconnecting");
                    failing = true;
                    break;
                }
            }
        }
        tokio::time::sleep(RETRY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_round_trip_store_ids_with_spaces() {
        let store = StoreId::parse("a b  c").unwrap();
        let text = notice("n1", 4, 9, &store);
        let (node, from, to, parsed) = parse(&text).unwrap();
        assert_eq!((node, from, to), ("n1", 4, 9));
        assert_eq!(parsed, store);
        assert!(parse("n1 x 9 s").is_none());
        assert!(parse("n1 4 9").is_none());
    }
}

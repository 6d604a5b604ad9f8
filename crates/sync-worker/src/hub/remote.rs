//! Commits made by other nodes on a shared database, as one hub sees them.
//!
//! Each hub keeps `broadcast_head`: every event up to it has been offered to the hub's
//! connections, in order. A commit notice from another node, a resync after lost
//! notices, and a push validated on a head that moved elsewhere all "catch up": read the
//! missing range back from storage and broadcast it before anything newer, so the
//! broadcasts a connection receives stay one unbroken, ordered chain whichever node
//! accepted each push.

use std::sync::atomic::Ordering;

use super::actor::StoreActor;
use super::outcome::{Committed, CommittedEvents};

/// Events read from storage per catch-up query and per broadcast frame.
const CATCH_UP_WINDOW: usize = 1000;

impl StoreActor {
    /// Another node committed `(from, to]`; `None`: notices were lost, re-read the head.
    pub(super) async fn on_remote_commit(&mut self, range: Option<(u64, u64)>) {
        // Local appends in flight finish first: their broadcasts come before, and a
        // conflict they meet resets the expected head anyway.
        self.drain().await;
        let to = match range {
            Some((_, to)) => to,
            None => match self.log.head(&self.shared.store).await {
                Ok(head) => head,
                Err(error) => {
                    tracing::warn!(store = %self.shared.store, %error, "resync: cannot read the head");
                    return;
                }
            },
        };
        if self.broadcast_head.is_none() {
            // Nothing broadcast yet and the start-up head unknown: the notice's own range
            // is what is new.
            self.broadcast_head = range.map(|(from, _)| from);
        }
        self.catch_up(to).await;
        // The next push is validated against storage's head, which moved.
        self.expected_head = None;
    }

    /// Broadcasts every committed event after `broadcast_head` up to `to`.
    pub(super) async fn catch_up(&mut self, to: u64) {
        let Some(mut after) = self.broadcast_head else {
            return;
        };
        if after < to {
            self.backend_id().await;
        }
        while after < to {
            // Numbers may skip, so `to - after` only bounds the count from above.
            let want = usize::try_from(to - after)
                .unwrap_or(usize::MAX)
                .min(CATCH_UP_WINDOW);
            let mut events = match self.log.read_range(&self.shared.store, after, want).await {
                Ok(events) => events,
                Err(error) => {
                    tracing::warn!(store = %self.shared.store, %error, "catch-up read failed");
                    return;
                }
            };
            // Events past `to` (committed since) are the next catch-up's.
            events.retain(|event| event.seq_num <= to);
            let Some(last) = events.last().map(|event| event.seq_num) else {
                break;
            };
            let committed = Committed::new(
                self.shared.store.clone(),
                CommittedEvents::Stored(events),
                self.shared.epoch.load(Ordering::Acquire),
                None,
                self.backend_id.clone(),
            );
            self.offer_all(committed);
            after = last;
        }
    }
}

//! The actor behind one [`super::StoreHub`]: validation, pipelined appends, and answers
//! in push order.
//!
//! A push is validated against `expected_head` (the head once every push already handed
//! to storage has committed) and its append future is queued in a `FuturesOrdered`, so
//! up to `pipeline_depth` batches of the store can be in the storage writer's group
//! commit at once while their answers still leave in submission order. If an append
//! fails, the later ones (chained on it) fail too; the expected head is then reloaded
//! from storage before the next push is validated.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use futures_util::stream::{FuturesOrdered, StreamExt};
use tokio::sync::{mpsc, OwnedSemaphorePermit};

use super::{lock, Command, ConnHandle, HubLimits, HubShared, Outbound, RegistryRef};
use crate::protocol::{encode_server_message, PullBatch, PullContext, ServerMessage};
use crate::storage::{AppendBatch, EventLog, NewEvent, StorageError};

/// Checks that `batch` is a contiguous chain starting on `head`.
pub(crate) fn validate_chain(batch: &[NewEvent], head: u64) -> Result<(), String> {
    let Some(first) = batch.first() else {
        return Ok(());
    };
    if first.parent_seq_num != head {
        return Err(wrong_parent(first.parent_seq_num, head));
    }
    let mut previous = head;
    for (index, event) in batch.iter().enumerate() {
        if event.parent_seq_num != previous || event.seq_num != previous + 1 {
            return Err(format!(
                "Invalid event sequence: event {index} has seqNum e{} and parentSeqNum e{}, \
                 expected seqNum e{} and parentSeqNum e{previous}",
                event.seq_num,
                event.parent_seq_num,
                previous + 1
            ));
        }
        previous = event.seq_num;
    }
    Ok(())
}

fn wrong_parent(received: u64, head: u64) -> String {
    format!("Invalid parent event number. Received e{received} but expected e{head}")
}

enum Outcome {
    Ack,
    Rejected(String),
    Appended {
        result: Result<(), StorageError>,
        events: Arc<[NewEvent]>,
        created_at: DateTime<Utc>,
        pushed_by: Arc<str>,
    },
    Reset(Result<(), StorageError>),
}

struct Done {
    conn: ConnHandle,
    request_id: Arc<str>,
    permit: Option<OwnedSemaphorePermit>,
    outcome: Outcome,
}

pub(super) struct StoreActor {
    shared: Arc<HubShared>,
    log: Arc<dyn EventLog>,
    registry: RegistryRef,
    rx: mpsc::UnboundedReceiver<Command>,
    limits: HubLimits,
    /// `None` until loaded, and again after a failed append.
    expected_head: Option<u64>,
    inflight: FuturesOrdered<BoxFuture<'static, Done>>,
    idle_requested: bool,
}

impl StoreActor {
    pub(super) fn new(
        shared: Arc<HubShared>,
        log: Arc<dyn EventLog>,
        registry: RegistryRef,
        rx: mpsc::UnboundedReceiver<Command>,
        limits: HubLimits,
    ) -> Self {
        Self {
            shared,
            log,
            registry,
            rx,
            limits,
            expected_head: None,
            inflight: FuturesOrdered::new(),
            idle_requested: false,
        }
    }

    pub(super) async fn run(mut self) {
        loop {
            let accepting = self.inflight.len() < self.limits.pipeline_depth.max(1);
            tokio::select! {
                biased;
                Some(done) = self.inflight.next(), if !self.inflight.is_empty() => self.finish(done),
                command = self.rx.recv(), if accepting => match command {
                    Some(command) => self.handle(command).await,
                    None => break,
                },
            }
            if self.idle_requested && self.inflight.is_empty() && self.try_retire() {
                return;
            }
        }
        self.drain().await;
    }

    async fn handle(&mut self, command: Command) {
        match command {
            Command::CheckIdle => self.idle_requested = true,
            Command::Push {
                conn,
                request_id,
                batch,
                pushed_by,
                permit,
            } => {
                let head = match self.head().await {
                    Ok(head) => head,
                    Err(error) => {
                        tracing::error!(store = %self.shared.store, %error, "cannot load store head");
                        let outcome =
                            Outcome::Rejected("Internal error: storage unavailable".into());
                        return self.queue_ready(conn, request_id, Some(permit), outcome);
                    }
                };
                if batch.is_empty() {
                    return self.queue_ready(conn, request_id, Some(permit), Outcome::Ack);
                }
                if let Err(message) = validate_chain(&batch, head) {
                    return self.queue_ready(
                        conn,
                        request_id,
                        Some(permit),
                        Outcome::Rejected(message),
                    );
                }
                let events: Arc<[NewEvent]> = batch.into();
                self.expected_head = events.last().map(|e| e.seq_num);
                let created_at = Utc::now();
                let append = AppendBatch {
                    store: self.shared.store.clone(),
                    events: events.clone(),
                    created_at,
                    pushed_by: pushed_by.clone(),
                };
                let log = self.log.clone();
                self.inflight.push_back(Box::pin(async move {
                    let result = log.append(append).await;
                    Done {
                        conn,
                        request_id,
                        permit: Some(permit),
                        outcome: Outcome::Appended {
                            result,
                            events,
                            created_at,
                            pushed_by,
                        },
                    }
                }));
            }
            Command::Wipe => {
                self.drain().await;
                match self.log.reset(&self.shared.store).await {
                    Ok(()) => {
                        self.expected_head = Some(0);
                        self.shared.epoch.fetch_add(1, Ordering::AcqRel);
                    }
                    Err(error) => {
                        self.expected_head = None;
                        tracing::error!(store = %self.shared.store, %error, "cannot delete the events of a deleted instance");
                    }
                }
            }
            Command::Reset { conn, request_id } => {
                // A reset waits for every pending append, then restarts the sequence.
                self.drain().await;
                let result = self.log.reset(&self.shared.store).await;
                if result.is_ok() {
                    self.expected_head = Some(0);
                    self.shared.epoch.fetch_add(1, Ordering::AcqRel);
                    tracing::warn!(store = %self.shared.store, "store reset by admin request");
                } else {
                    self.expected_head = None;
                }
                self.finish(Done {
                    conn,
                    request_id,
                    permit: None,
                    outcome: Outcome::Reset(result),
                });
            }
        }
    }

    /// The expected head, loaded from storage (after pending appends) when unknown.
    async fn head(&mut self) -> Result<u64, StorageError> {
        if let Some(head) = self.expected_head {
            return Ok(head);
        }
        self.drain().await;
        let head = self.log.head(&self.shared.store).await?;
        self.expected_head = Some(head);
        Ok(head)
    }

    fn queue_ready(
        &mut self,
        conn: ConnHandle,
        request_id: Arc<str>,
        permit: Option<OwnedSemaphorePermit>,
        outcome: Outcome,
    ) {
        let done = Done {
            conn,
            request_id,
            permit,
            outcome,
        };
        // Queued behind pending appends so answers keep request order.
        self.inflight
            .push_back(Box::pin(futures_util::future::ready(done)));
    }

    async fn drain(&mut self) {
        while let Some(done) = self.inflight.next().await {
            self.finish(done);
        }
    }

    fn finish(&mut self, done: Done) {
        let Done {
            conn,
            request_id,
            permit,
            outcome,
        } = done;
        let reply = |message: ServerMessage<'_>| {
            conn.offer(Outbound::Direct(encode_server_message(&message).into()));
        };
        match outcome {
            Outcome::Ack => reply(ServerMessage::PushAck {
                request_id: &request_id,
            }),
            Outcome::Rejected(message) => reply(ServerMessage::Error {
                request_id: &request_id,
                message: &message,
            }),
            Outcome::Reset(Ok(())) => reply(ServerMessage::AdminResetRoomRes {
                request_id: &request_id,
            }),
            Outcome::Reset(Err(error)) => {
                tracing::error!(store = %self.shared.store, %error, "admin reset failed");
                reply(ServerMessage::Error {
                    request_id: &request_id,
                    message: "Internal error: reset failed",
                });
            }
            Outcome::Appended {
                result: Ok(()),
                events,
                created_at,
                pushed_by,
            } => {
                reply(ServerMessage::PushAck {
                    request_id: &request_id,
                });
                self.broadcast(&request_id, &events, created_at, &pushed_by);
            }
            Outcome::Appended {
                result: Err(error),
                events,
                ..
            } => {
                // Later pending appends chain on this one: reload the head afterwards.
                self.expected_head = None;
                let message = match error {
                    StorageError::Conflict { head } => {
                        let parent = events.first().map_or(0, |e| e.parent_seq_num);
                        tracing::warn!(store = %self.shared.store, head, parent, "append conflict");
                        wrong_parent(parent, head)
                    }
                    error => {
                        tracing::error!(store = %self.shared.store, %error, "append failed");
                        "Internal error: the push was not stored".to_owned()
                    }
                };
                reply(ServerMessage::Error {
                    request_id: &request_id,
                    message: &message,
                });
            }
        }
        // The pusher may pipeline another push once this one is answered.
        drop(permit);
    }

    /// Encodes the push's `PullRes` once and queues the same bytes for every connection.
    fn broadcast(
        &self,
        request_id: &str,
        events: &[NewEvent],
        created_at: DateTime<Utc>,
        pushed_by: &str,
    ) {
        let frame = encode_server_message(&ServerMessage::PullRes {
            request_id,
            context: PullContext::Push,
            batch: PullBatch::PushedBy {
                events,
                created_at,
                pushed_by,
            },
            remaining: 0,
        });
        let frame: axum::extract::ws::Utf8Bytes = frame.into();
        let epoch = self.shared.epoch.load(Ordering::Acquire);
        let last_seq = events.last().map_or(0, |e| e.seq_num);
        for conn in lock(&self.shared.subscribers).values() {
            conn.offer(Outbound::Broadcast {
                epoch,
                last_seq,
                frame: frame.clone(),
            });
        }
    }

    /// Removes this hub from the registry if no connection uses it and nothing is queued.
    fn try_retire(&mut self) -> bool {
        self.idle_requested = false;
        let Some(registry) = self.registry.upgrade() else {
            return true;
        };
        let mut registry = lock(&registry);
        let idle = lock(&self.shared.subscribers).is_empty() && self.rx.is_empty();
        if !idle {
            return false;
        }
        let ours = registry
            .get(&self.shared.store)
            .is_some_and(|hub| Arc::ptr_eq(&hub.shared, &self.shared));
        if ours {
            registry.remove(&self.shared.store);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(parent: u64, n: u64) -> Vec<NewEvent> {
        (0..n)
            .map(|i| NewEvent {
                seq_num: parent + i + 1,
                parent_seq_num: parent + i,
                name: "e".into(),
                args: None,
                client_id: "c".into(),
                session_id: "s".into(),
            })
            .collect()
    }

    #[test]
    fn chain_validation() {
        assert_eq!(validate_chain(&chain(0, 3), 0), Ok(()));
        assert_eq!(validate_chain(&[], 7), Ok(()));
        assert_eq!(
            validate_chain(&chain(2, 1), 5).unwrap_err(),
            "Invalid parent event number. Received e2 but expected e5"
        );
        let mut gap = chain(0, 3);
        gap[2].seq_num = 4;
        gap[2].parent_seq_num = 3;
        assert!(validate_chain(&gap, 0)
            .unwrap_err()
            .starts_with("Invalid event sequence: event 2"));
        let mut skip = chain(0, 2);
        skip[0].seq_num = 5;
        assert!(validate_chain(&skip, 0)
            .unwrap_err()
            .starts_with("Invalid event sequence: event 0"));
    }
}

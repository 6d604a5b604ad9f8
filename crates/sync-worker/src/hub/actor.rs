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
use std::time::Instant;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use futures_util::stream::{FuturesOrdered, StreamExt};
use tokio::sync::mpsc;

use super::chain::validate_chain;
use super::outcome::{Committed, CommittedEvents, PushOutcome, Reply, StorageFailure};
use super::{lock, Command, ConnHandle, HubLimits, HubShared, Outbound, PushPermits, RegistryRef};
use crate::metrics::{self, metrics};
use crate::storage::{AppendBatch, EventLog, NewEvent, StorageError};

enum Outcome {
    Ack,
    Rejected(PushOutcome),
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
    permit: Option<PushPermits>,
    outcome: Outcome,
    /// When the request's frame was received.
    received: Instant,
}

pub(super) struct StoreActor {
    pub(super) shared: Arc<HubShared>,
    pub(super) log: Arc<dyn EventLog>,
    registry: RegistryRef,
    rx: mpsc::UnboundedReceiver<Command>,
    limits: HubLimits,
    /// `None` until loaded, and again after a failed append.
    pub(super) expected_head: Option<u64>,
    inflight: FuturesOrdered<BoxFuture<'static, Done>>,
    idle_requested: bool,
    /// Every event up to this one has been offered to this hub's connections (see the
    /// `remote` module); `None` until known.
    pub(super) broadcast_head: Option<u64>,
    /// The store's backend id; `None` until loaded (and after a failed load).
    pub(super) backend_id: Option<Arc<str>>,
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
            broadcast_head: None,
            backend_id: None,
        }
    }

    /// The store's backend id, loaded (created on first use) when unknown.
    pub(super) async fn backend_id(&mut self) -> Option<Arc<str>> {
        if self.backend_id.is_none() {
            match self.log.backend_id(&self.shared.store).await {
                Ok(id) => self.backend_id = Some(id.into()),
                Err(error) => {
                    metrics::storage_error("backend_id");
                    tracing::error!(store = %self.shared.store, %error, "cannot load the backend id");
                }
            }
        }
        self.backend_id.clone()
    }

    pub(super) async fn run(mut self) {
        // What connections joining now will pull up to, at most; later commits reach
        // them as broadcasts. Only consulted when other nodes commit to this store.
        self.broadcast_head = self.log.head(&self.shared.store).await.ok();
        self.backend_id().await;
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
            Command::RemoteCommit(range) => self.on_remote_commit(range).await,
            Command::Push {
                conn,
                request_id,
                batch,
                pushed_by,
                permit,
                backend_id,
                received: received_at,
            } => {
                let expected = self.backend_id().await;
                if let Some(received) = backend_id {
                    let outcome = match expected {
                        None => Some(PushOutcome::StorageFailure(StorageFailure::HeadUnavailable)),
                        Some(expected) if *expected != *received => {
                            Some(PushOutcome::BackendIdMismatch { expected, received })
                        }
                        Some(_) => None,
                    };
                    if let Some(outcome) = outcome {
                        let outcome = Outcome::Rejected(outcome);
                        return self.queue_ready(
                            conn,
                            request_id,
                            Some(permit),
                            outcome,
                            received_at,
                        );
                    }
                }
                let head = match self.head().await {
                    Ok(head) => head,
                    Err(error) => {
                        metrics::storage_error("head");
                        tracing::error!(store = %self.shared.store, %error, "cannot load store head");
                        let outcome = Outcome::Rejected(PushOutcome::StorageFailure(
                            StorageFailure::HeadUnavailable,
                        ));
                        return self.queue_ready(
                            conn,
                            request_id,
                            Some(permit),
                            outcome,
                            received_at,
                        );
                    }
                };
                if batch.is_empty() {
                    return self.queue_ready(
                        conn,
                        request_id,
                        Some(permit),
                        Outcome::Ack,
                        received_at,
                    );
                }
                if self.inflight.is_empty() {
                    // A head loaded from storage may include commits of other nodes
                    // not broadcast here yet: they go out before this push's own.
                    self.catch_up(head).await;
                }
                if let Err(error) = validate_chain(&batch, head) {
                    return self.queue_ready(
                        conn,
                        request_id,
                        Some(permit),
                        Outcome::Rejected(error.into()),
                        received_at,
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
                    let started = Instant::now();
                    let result = log.append(append).await;
                    metrics()
                        .push_commit_seconds
                        .record(metrics::seconds(started.elapsed()));
                    Done {
                        conn,
                        request_id,
                        received: received_at,
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
                        self.broadcast_head = Some(0);
                        self.shared.epoch.fetch_add(1, Ordering::AcqRel);
                        self.backend_id = None;
                        self.backend_id().await;
                    }
                    Err(error) => {
                        self.expected_head = None;
                        metrics::storage_error("reset");
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
                    self.broadcast_head = Some(0);
                    self.shared.epoch.fetch_add(1, Ordering::AcqRel);
                    self.backend_id = None;
                    self.backend_id().await;
                    tracing::info!(store = %self.shared.store, epoch = self.shared.epoch.load(Ordering::Acquire), "admin action: store reset done");
                } else {
                    metrics::storage_error("reset");
                    self.expected_head = None;
                }
                self.finish(Done {
                    conn,
                    request_id,
                    received: Instant::now(),
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
        let head = self.log.head(&self.shared.store).await.inspect_err(|_| {
            metrics::storage_error("head");
        })?;
        self.expected_head = Some(head);
        Ok(head)
    }

    fn queue_ready(
        &mut self,
        conn: ConnHandle,
        request_id: Arc<str>,
        permit: Option<PushPermits>,
        outcome: Outcome,
        received: Instant,
    ) {
        let done = Done {
            conn,
            request_id,
            permit,
            outcome,
            received,
        };
        // Queued behind pending appends so answers keep request order.
        self.inflight
            .push_back(Box::pin(futures_util::future::ready(done)));
    }

    pub(super) async fn drain(&mut self) {
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
            received,
        } = done;
        let push_reply = |outcome: PushOutcome| {
            match &outcome {
                PushOutcome::Committed => metrics().pushes_acked.increment(1),
                rejected => metrics::push_rejected(rejected.metric_reason()),
            }
            conn.offer(Outbound::Reply(Box::new(Reply::Push {
                request_id: request_id.clone(),
                outcome,
                received,
            })));
        };
        match outcome {
            Outcome::Ack => push_reply(PushOutcome::Committed),
            Outcome::Rejected(outcome) => push_reply(outcome),
            Outcome::Reset(result) => {
                if let Err(error) = &result {
                    tracing::error!(store = %self.shared.store, %error, "admin reset failed");
                }
                conn.offer(Outbound::Reply(Box::new(Reply::Reset {
                    request_id: request_id.clone(),
                    done: result.is_ok(),
                })));
            }
            Outcome::Appended {
                result: Ok(()),
                events,
                created_at,
                pushed_by,
            } => {
                metrics().events_acked.increment(events.len() as u64);
                push_reply(PushOutcome::Committed);
                self.broadcast(&request_id, events, created_at, pushed_by);
            }
            Outcome::Appended {
                result: Err(error),
                events,
                ..
            } => {
                // Later pending appends chain on this one: reload the head afterwards.
                self.expected_head = None;
                let outcome = match error {
                    StorageError::Conflict { head } => {
                        let parent = events.first().map_or(0, |e| e.parent_seq_num);
                        tracing::warn!(store = %self.shared.store, head, parent, "append conflict");
                        PushOutcome::WrongParent { head, parent }
                    }
                    error @ StorageError::CommitUnknown(_) => {
                        tracing::error!(store = %self.shared.store, %error, "append outcome unknown");
                        PushOutcome::StorageFailure(StorageFailure::Unknown)
                    }
                    error => {
                        metrics::storage_error("append");
                        tracing::error!(store = %self.shared.store, %error, "append failed");
                        PushOutcome::StorageFailure(StorageFailure::NotStored)
                    }
                };
                push_reply(outcome);
            }
        }
        // The pusher may pipeline another push once this one is answered.
        drop(permit);
    }

    /// Queues one shared [`Committed`] value for every connection of the store.
    fn broadcast(
        &mut self,
        request_id: &Arc<str>,
        events: Arc<[NewEvent]>,
        created_at: DateTime<Utc>,
        pushed_by: Arc<str>,
    ) {
        let committed = Committed::new(
            self.shared.store.clone(),
            CommittedEvents::Pushed {
                events,
                created_at,
                pushed_by,
            },
            self.shared.epoch.load(Ordering::Acquire),
            Some(request_id.clone()),
            self.backend_id.clone(),
        );
        self.offer_all(committed);
    }

    /// Hands `committed` to every connection and advances `broadcast_head`.
    pub(super) fn offer_all(&mut self, committed: Committed) {
        self.broadcast_head = Some(committed.last_seq);
        let committed = Arc::new(committed);
        for conn in lock(&self.shared.subscribers).values() {
            conn.offer(Outbound::Broadcast(committed.clone()));
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

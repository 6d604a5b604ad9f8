//! The single writer and its group commit.
//!
//! SQLite has one writer at a time and a durable commit costs an fsync (milliseconds),
//! so one commit per push caps throughput at a few hundred pushes a second. Instead one
//! task owns the only write connection, takes every append and reset queued on its
//! channel (up to the group limits), applies them in ONE `BEGIN IMMEDIATE` transaction
//! with prepared multi-row inserts, commits once, and only then answers each caller.
//!
//! Conflicts stay exact per batch: the writer keeps its own view of each touched store's
//! head (loaded inside the transaction on first touch), and a batch whose first parent
//! is not that head is answered `Conflict` without affecting the rest of the group.
//! Appends to one store that arrive in the same group are applied in chain order (a
//! pipelining client's batches can reach the queue out of order); two batches on the
//! same parent still see exactly one win. If the transaction fails, every caller of the
//! group gets the error and the cached heads are dropped; a primary-key violation (a
//! writer outside this process moved a head) is retried once with heads reloaded.

use std::collections::{BTreeMap, HashMap};

use sqlx::{Connection, SqliteConnection};
use tokio::sync::{mpsc, oneshot};

use super::codec::{check_chain, format_created_at, to_sql_seq, SELECT_HEAD};
use super::group_error::replicate;
use crate::storage::{AppendBatch, NewEvent, StorageError, StoreId};

/// Columns of one inserted row, in bind order.
const INSERT_COLUMNS: &str = "store_id, seq_num, parent_seq_num, name, args, client_id, \
     session_id, created_at, pushed_by";
const ROW_PLACEHOLDERS: &str = "(?, ?, ?, ?, ?, ?, ?, ?, ?)";
const DELETE_STORE: &str = "DELETE FROM events WHERE store_id = ?1";
const DELETE_BACKEND_ID: &str = "DELETE FROM stores WHERE store_id = ?1";
const INSERT_BACKEND_ID: &str =
    "INSERT INTO stores (store_id, backend_id) VALUES (?1, ?2) ON CONFLICT (store_id) DO NOTHING";
const MOVE_STORE: &str = "UPDATE events SET store_id = ?2 WHERE store_id = ?1";

pub(super) type Reply = oneshot::Sender<Result<(), StorageError>>;

/// A write the writer orders with every other write.
pub(super) enum Op {
    Append(AppendBatch),
    Reset(StoreId),
    /// Gives `store` the backend id `id` unless it has one.
    CreateBackendId {
        store: StoreId,
        id: String,
    },
    /// Moves every event of `from` to the empty store `to` (import staging).
    Move {
        from: StoreId,
        to: StoreId,
    },
}

pub(super) enum Command {
    Write {
        op: Op,
        reply: Reply,
    },
    /// Finish what is queued before this, then close the connection and stop.
    Close,
}

/// How much one group transaction may take.
pub(super) struct GroupLimits {
    pub max_batches: usize,
    pub max_events: usize,
    /// Past this many cached heads, the cache is dropped after the group.
    pub max_cached_heads: usize,
}

pub(super) struct Writer {
    conn: SqliteConnection,
    /// The writer's view of each touched store's head; always a committed value between
    /// groups (cleared when a group fails).
    heads: HashMap<StoreId, u64>,
    inserts: InsertStatements,
    limits: GroupLimits,
}

impl Writer {
    pub fn new(conn: SqliteConnection, limits: GroupLimits, rows_per_insert: usize) -> Self {
        Self {
            conn,
            heads: HashMap::new(),
            inserts: InsertStatements::new(rows_per_insert),
            limits,
        }
    }

    /// Serves the queue until `Close` or until every sender is gone.
    pub async fn run(mut self, mut queue: mpsc::Receiver<Command>) {
        let mut group: Vec<(Op, Reply)> = Vec::new();
        let mut closing = false;
        while !closing {
            let Some(first) = queue.recv().await else {
                break;
            };
            let mut events = 0;
            let mut next = Some(first);
            while let Some(command) = next.take() {
                match command {
                    Command::Write { op, reply } => {
                        events += match &op {
                            Op::Append(batch) => batch.events.len(),
                            Op::Reset(_) | Op::Move { .. } | Op::CreateBackendId { .. } => 0,
                        };
                        group.push((op, reply));
                    }
                    Command::Close => closing = true,
                }
                if !closing
                    && group.len() < self.limits.max_batches
                    && events < self.limits.max_events
                {
                    next = queue.try_recv().ok();
                }
            }
            if !group.is_empty() {
                tracing::trace!(writes = group.len(), events, "event log group commit");
                self.commit_group(&mut group).await;
                if self.heads.len() > self.limits.max_cached_heads {
                    self.heads.clear();
                }
            }
        }
        // Writes queued after `Close` are dropped unanswered: their callers see `Closed`.
        queue.close();
        while queue.try_recv().is_ok() {}
        if let Err(error) = self.conn.close().await {
            tracing::warn!(%error, "closing the event log's write connection failed");
        }
    }

    async fn commit_group(&mut self, group: &mut Vec<(Op, Reply)>) {
        let mut outcome = self.apply(group).await;
        if let Err(sqlx::Error::Database(db)) = &outcome {
            if db.is_unique_violation() {
                tracing::warn!("event log head moved outside this writer; retrying the group");
                self.heads.clear();
                outcome = self.apply(group).await;
            }
        }
        match outcome {
            Ok(results) => {
                for ((_, reply), result) in group.drain(..).zip(results) {
                    // A caller that went away no longer needs its answer.
                    let _ = reply.send(result);
                }
            }
            Err(error) => {
                tracing::error!(%error, writes = group.len(), "event log group commit failed");
                self.heads.clear();
                for (_, reply) in group.drain(..) {
                    let _ = reply.send(Err(StorageError::Database(replicate(&error))));
                }
            }
        }
    }

    /// Applies `group` in one transaction; `Err` when the transaction as a whole failed
    /// (then the cached heads may hold uncommitted values and must be dropped).
    async fn apply(
        &mut self,
        group: &[(Op, Reply)],
    ) -> Result<Vec<Result<(), StorageError>>, sqlx::Error> {
        let Self {
            conn,
            heads,
            inserts,
            ..
        } = self;
        let mut results: Vec<Option<Result<(), StorageError>>> =
            group.iter().map(|_| None).collect();
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let mut segment: Vec<(usize, &AppendBatch)> = Vec::new();
        for (index, (op, _)) in group.iter().enumerate() {
            match op {
                Op::Append(batch) => match check_chain(&batch.events) {
                    Ok(()) => segment.push((index, batch)),
                    Err(error) => results[index] = Some(Err(error)),
                },
                Op::Reset(store) => {
                    // Appends queued before the reset are written (and deleted) first.
                    let segment = std::mem::take(&mut segment);
                    apply_appends(&mut tx, heads, inserts, segment, &mut results).await?;
                    sqlx::query(DELETE_STORE)
                        .bind(store.as_str())
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(DELETE_BACKEND_ID)
                        .bind(store.as_str())
                        .execute(&mut *tx)
                        .await?;
                    heads.insert(store.clone(), 0);
                    results[index] = Some(Ok(()));
                }
                Op::CreateBackendId { store, id } => {
                    sqlx::query(INSERT_BACKEND_ID)
                        .bind(store.as_str())
                        .bind(id.as_str())
                        .execute(&mut *tx)
                        .await?;
                    results[index] = Some(Ok(()));
                }
                Op::Move { from, to } => {
                    let segment = std::mem::take(&mut segment);
                    apply_appends(&mut tx, heads, inserts, segment, &mut results).await?;
                    let target_head = head_of(&mut tx, heads, to).await?;
                    if target_head != 0 {
                        results[index] = Some(Err(StorageError::Conflict { head: target_head }));
                        continue;
                    }
                    let moved_head = head_of(&mut tx, heads, from).await?;
                    sqlx::query(MOVE_STORE)
                        .bind(from.as_str())
                        .bind(to.as_str())
                        .execute(&mut *tx)
                        .await?;
                    heads.insert(from.clone(), 0);
                    heads.insert(to.clone(), moved_head);
                    results[index] = Some(Ok(()));
                }
            }
        }
        apply_appends(&mut tx, heads, inserts, segment, &mut results).await?;
        tx.commit().await?;
        Ok(results
            .into_iter()
            .map(|result| {
                result.unwrap_or_else(|| Err(StorageError::Corrupt("write left unanswered".into())))
            })
            .collect())
    }
}

/// Decides each append of a segment (no reset in between) against the heads, writes the
/// accepted ones, and records every outcome.
async fn apply_appends(
    conn: &mut SqliteConnection,
    heads: &mut HashMap<StoreId, u64>,
    inserts: &InsertStatements,
    mut pending: Vec<(usize, &AppendBatch)>,
    results: &mut [Option<Result<(), StorageError>>],
) -> Result<(), sqlx::Error> {
    let mut accepted: Vec<&AppendBatch> = Vec::with_capacity(pending.len());
    // Arrival order first; a batch whose parent is not yet the head waits for a later
    // pass, in case an earlier link of its chain is further down the queue.
    loop {
        let before = pending.len();
        let mut waiting = Vec::new();
        for (index, batch) in pending {
            let head = head_of(conn, heads, &batch.store).await?;
            let (Some(first), Some(last)) = (batch.events.first(), batch.events.last()) else {
                continue; // check_chain refused empty batches already
            };
            if first.parent_seq_num == head {
                heads.insert(batch.store.clone(), last.seq_num);
                accepted.push(batch);
                results[index] = Some(Ok(()));
            } else {
                waiting.push((index, batch));
            }
        }
        let progressed = waiting.len() < before;
        pending = waiting;
        if pending.is_empty() || !progressed {
            break;
        }
    }
    for (index, batch) in pending {
        let head = heads.get(&batch.store).copied().unwrap_or(0);
        results[index] = Some(Err(StorageError::Conflict { head }));
    }
    insert_rows(conn, inserts, &accepted).await
}

/// The writer's head of `store`, loaded inside the current transaction on first touch.
async fn head_of(
    conn: &mut SqliteConnection,
    heads: &mut HashMap<StoreId, u64>,
    store: &StoreId,
) -> Result<u64, sqlx::Error> {
    if let Some(head) = heads.get(store) {
        return Ok(*head);
    }
    let stored: Option<i64> = sqlx::query_scalar(SELECT_HEAD)
        .bind(store.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    let head = u64::try_from(stored.unwrap_or(0))
        .map_err(|_| sqlx::Error::Decode("negative seq_num in the event log".into()))?;
    heads.insert(store.clone(), head);
    Ok(head)
}

/// One row to insert, borrowed from its batch.
struct RowRef<'a> {
    batch: &'a AppendBatch,
    created_at: &'a str,
    event: &'a NewEvent,
}

/// Writes the events of `batches` with as few prepared statements as possible: rows of
/// every batch are concatenated and cut into chunks of the sizes [`InsertStatements`]
/// prepared (each size's statement is prepared once and cached by the connection).
async fn insert_rows(
    conn: &mut SqliteConnection,
    inserts: &InsertStatements,
    batches: &[&AppendBatch],
) -> Result<(), sqlx::Error> {
    let created_at: Vec<String> = batches
        .iter()
        .map(|batch| format_created_at(&batch.created_at))
        .collect();
    let rows: Vec<RowRef<'_>> = batches
        .iter()
        .zip(&created_at)
        .flat_map(|(batch, created_at)| {
            batch.events.iter().map(move |event| RowRef {
                batch,
                created_at,
                event,
            })
        })
        .collect();
    let mut rest = rows.as_slice();
    while let Some((size, sql)) = inserts.largest_fitting(rest.len()) {
        let (chunk, tail) = rest.split_at(size);
        let mut query = sqlx::query(sql);
        for row in chunk {
            query = query
                .bind(row.batch.store.as_str())
                .bind(to_sql_seq(row.event.seq_num))
                .bind(to_sql_seq(row.event.parent_seq_num))
                .bind(row.event.name.as_str())
                .bind(row.event.args.as_deref().map(|args| args.get()))
                .bind(row.event.client_id.as_str())
                .bind(row.event.session_id.as_str())
                .bind(row.created_at)
                .bind(&*row.batch.pushed_by);
        }
        query.execute(&mut *conn).await?;
        rest = tail;
    }
    Ok(())
}

/// Multi-row `INSERT` statements of a few fixed sizes: the configured maximum and every
/// power of two below it, so any row count is covered by few statements and the
/// connection's statement cache holds at most a dozen of them.
struct InsertStatements {
    by_rows: BTreeMap<usize, String>,
}

impl InsertStatements {
    fn new(max_rows: usize) -> Self {
        let max_rows = max_rows.max(1);
        let mut sizes = vec![max_rows];
        sizes.extend(
            std::iter::successors(Some(1usize), |size| size.checked_mul(2))
                .take_while(|size| *size < max_rows),
        );
        let by_rows = sizes
            .into_iter()
            .map(|rows| {
                let values = vec![ROW_PLACEHOLDERS; rows].join(", ");
                let sql = format!("INSERT INTO events ({INSERT_COLUMNS}) VALUES {values}");
                (rows, sql)
            })
            .collect();
        Self { by_rows }
    }

    /// The largest prepared size not above `rows`, `None` when `rows` is 0 (every
    /// prepared size is at least 1).
    fn largest_fitting(&self, rows: usize) -> Option<(usize, &str)> {
        self.by_rows
            .range(..=rows)
            .next_back()
            .map(|(size, sql)| (*size, sql.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_sizes_cover_every_count() {
        let inserts = InsertStatements::new(100);
        for total in 0..=1000usize {
            let mut rest = total;
            let mut statements = 0;
            while let Some((size, sql)) = inserts.largest_fitting(rest) {
                assert_eq!(sql.matches('(').count(), size + 1);
                rest -= size;
                statements += 1;
            }
            assert_eq!(rest, 0);
            assert!(statements <= total / 100 + 7);
        }
    }
}

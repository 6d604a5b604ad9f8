//! The change feed's table: appended inside the transactions that make the changes,
//! read in pages by sync nodes, purged by age.
//!
//! Sequence numbers come from the one-row `change_head` table, not a sequence: taking
//! the next one (`UPDATE .. RETURNING`) row-locks the counter until the appending
//! transaction commits or rolls back, so changes commit in `seq` order with no gaps,
//! on every node sharing the database. A reader that has passed `seq` n therefore never
//! misses a smaller one committed later (with `BIGSERIAL`, transaction A could take 9,
//! B take 10 and commit first, and a reader at 10 would skip 9 for ever). The counter
//! also keeps the head where it was after a purge empties `changes`, so a sync node's
//! cursor and the `mv` claim of tokens never go backwards.

use chrono::{DateTime, Utc};
use shared::change_feed::{Change, ChangePage, ChangeRecord};
use shared::Role;
use sqlx::postgres::PgRow;
use sqlx::{Executor, PgConnection, Postgres, Row as _};

use super::PgStore;
use crate::storage::{iso, to_u64, StoreError};

/// The latest sequence number handed out (0 before the first change).
pub(super) async fn read_head<'e, E>(executor: E) -> Result<u64, sqlx::Error>
where
    E: Executor<'e, Database = Postgres>,
{
    let head: Option<i64> = sqlx::query_scalar("SELECT seq FROM change_head")
        .fetch_optional(executor)
        .await?;
    Ok(head.map_or(0, to_u64))
}

/// Appends `change` on `conn` (inside the transaction making the change); returns its
/// sequence number.
pub(super) async fn record(
    conn: &mut PgConnection,
    change: &Change,
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let (kind, user_id, session_id, instance_id, role) = match change {
        Change::SessionRevoked {
            session_id,
            user_id,
        } => (
            "session_revoked",
            Some(user_id),
            Some(session_id),
            None,
            None,
        ),
        Change::MembershipChanged {
            user_id,
            instance_id,
            role,
        } => (
            "membership_changed",
            Some(user_id),
            None,
            Some(instance_id),
            role.map(Role::as_str),
        ),
        Change::InstanceDeleted { instance_id } => {
            ("instance_deleted", None, None, Some(instance_id), None)
        }
    };
    // Held until the transaction ends: the next change on any node waits for this one.
    let seq: i64 = sqlx::query_scalar("UPDATE change_head SET seq = seq + 1 RETURNING seq")
        .fetch_one(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO changes (seq, at, kind, user_id, session_id, instance_id, role) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(seq)
    .bind(now)
    .bind(kind)
    .bind(user_id)
    .bind(session_id)
    .bind(instance_id)
    .bind(role)
    .execute(&mut *conn)
    .await?;
    // Delivered to every listening node when (and only if) the transaction commits.
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(super::feed::CHANNEL)
        .bind(seq.to_string())
        .execute(&mut *conn)
        .await?;
    Ok(to_u64(seq))
}

impl PgStore {
    /// Changes with `seq > after`, ascending, at most `limit`, and the feed head, read
    /// from one snapshot.
    pub async fn changes_after(&self, after: u64, limit: usize) -> Result<ChangePage, StoreError> {
        let mut tx = self.begin_snapshot().await?;
        let rows = sqlx::query(
            "SELECT seq, at, kind, user_id, session_id, instance_id, role FROM changes \
             WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(i64::try_from(after).unwrap_or(i64::MAX))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&mut *tx)
        .await?;
        let head = read_head(&mut *tx).await?;
        tx.commit().await?;
        let changes = rows.iter().map(decode).collect::<Result<Vec<_>, _>>()?;
        Ok(ChangePage { changes, head })
    }

    /// The feed head as stored (also counts commits by other processes).
    pub async fn change_head(&self) -> Result<u64, StoreError> {
        Ok(read_head(&self.pool).await?)
    }

    /// Deletes changes committed before `cutoff`; returns how many.
    pub async fn purge_changes_before(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM changes WHERE at < $1")
            .bind(cutoff)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

fn decode(row: &PgRow) -> Result<ChangeRecord, sqlx::Error> {
    let text = |name: &str| -> Result<String, sqlx::Error> {
        row.try_get::<Option<String>, _>(name)?
            .ok_or_else(|| corrupt(format!("change row without {name}")))
    };
    let kind: String = row.try_get("kind")?;
    let change = match kind.as_str() {
        "session_revoked" => Change::SessionRevoked {
            session_id: text("session_id")?,
            user_id: text("user_id")?,
        },
        "membership_changed" => Change::MembershipChanged {
            user_id: text("user_id")?,
            instance_id: text("instance_id")?,
            role: match row.try_get::<Option<String>, _>("role")? {
                None => None,
                Some(raw) => {
                    Some(Role::parse(&raw).ok_or_else(|| corrupt(format!("role {raw:?}")))?)
                }
            },
        },
        "instance_deleted" => Change::InstanceDeleted {
            instance_id: text("instance_id")?,
        },
        other => return Err(corrupt(format!("change kind {other:?}"))),
    };
    Ok(ChangeRecord {
        seq: to_u64(row.try_get("seq")?),
        at: iso(row.try_get::<DateTime<Utc>, _>("at")?),
        change,
    })
}

fn corrupt(what: String) -> sqlx::Error {
    sqlx::Error::Decode(format!("unexpected {what} in the changes table").into())
}

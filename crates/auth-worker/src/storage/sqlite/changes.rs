//! The change feed's table: appended inside the transactions that make the changes,
//! read in pages by sync nodes, purged by age.
//!
//! The feed head is the table's AUTOINCREMENT counter (`sqlite_sequence`), not
//! `MAX(seq)`: after a purge empties the table the head stays where it was, so a sync
//! node's cursor and the `mv` claim of tokens never go backwards.

use chrono::{DateTime, Utc};
use shared::change_feed::{Change, ChangePage, ChangeRecord};
use shared::Role;
use sqlx::sqlite::SqliteRow;
use sqlx::{Executor, Row as _, Sqlite, SqliteConnection};

use super::SqliteStore;
use crate::storage::{iso, to_u64, StoreError};

/// The latest sequence number handed out (0 before the first change).
pub(super) async fn read_head<'e, E>(executor: E) -> Result<u64, sqlx::Error>
where
    E: Executor<'e, Database = Sqlite>,
{
    let head: Option<i64> =
        sqlx::query_scalar("SELECT seq FROM sqlite_sequence WHERE name = 'changes'")
            .fetch_optional(executor)
            .await?;
    Ok(head.map_or(0, to_u64))
}

/// Appends `change` on `conn` (inside the transaction making the change); returns its
/// sequence number.
pub(super) async fn record(
    conn: &mut SqliteConnection,
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
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO changes (at, kind, user_id, session_id, instance_id, role) \
         VALUES (?, ?, ?, ?, ?, ?) RETURNING seq",
    )
    .bind(iso(now))
    .bind(kind)
    .bind(user_id)
    .bind(session_id)
    .bind(instance_id)
    .bind(role)
    .fetch_one(&mut *conn)
    .await?;
    Ok(to_u64(seq))
}

impl SqliteStore {
    /// Changes with `seq > after`, ascending, at most `limit`, and the feed head, read
    /// from one snapshot.
    pub async fn changes_after(&self, after: u64, limit: usize) -> Result<ChangePage, StoreError> {
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(
            "SELECT seq, at, kind, user_id, session_id, instance_id, role FROM changes \
             WHERE seq > ? ORDER BY seq LIMIT ?",
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
        let done = sqlx::query("DELETE FROM changes WHERE at < ?")
            .bind(iso(cutoff))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

fn decode(row: &SqliteRow) -> Result<ChangeRecord, sqlx::Error> {
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
        at: row.try_get("at")?,
        change,
    })
}

fn corrupt(what: String) -> sqlx::Error {
    sqlx::Error::Decode(format!("unexpected {what} in the changes table").into())
}

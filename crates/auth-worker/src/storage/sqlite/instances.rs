//! Instances (workspaces) as their members see them, and the membership checks every
//! instance route makes inside its transaction.
//!
//! An instance the caller is not a member of is `NotFound`, exactly like one that does
//! not exist, so no answer confirms that someone else's instance exists.

use chrono::{DateTime, Utc};
use shared::change_feed::Change;
use shared::{Memberships, Role};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row as _, SqliteConnection};

use super::{changes, SqliteStore};
use crate::storage::{iso, Instance, StoreError};

const INSTANCE_SELECT: &str =
    "SELECT i.id, i.name, m.role, i.created_at, m.last_accessed_at, m.is_default \
     FROM memberships m JOIN instances i ON i.id = m.instance_id";

fn decode_instance(row: &SqliteRow) -> Result<Instance, sqlx::Error> {
    Ok(Instance {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        role: parse_role(&row.try_get::<String, _>("role")?)?,
        created_at: row.try_get("created_at")?,
        last_accessed_at: row.try_get("last_accessed_at")?,
        is_default: row.try_get::<i64, _>("is_default")? != 0,
    })
}

/// A role as stored; the table's CHECK constraint makes anything else corruption.
pub(super) fn parse_role(raw: &str) -> Result<Role, sqlx::Error> {
    Role::parse(raw)
        .ok_or_else(|| sqlx::Error::Decode(format!("unexpected role {raw:?} stored").into()))
}

/// `user_id`'s role in `instance_id`, if a member.
pub(super) async fn role_of(
    conn: &mut SqliteConnection,
    instance_id: &str,
    user_id: &str,
) -> Result<Option<Role>, sqlx::Error> {
    let role: Option<String> =
        sqlx::query_scalar("SELECT role FROM memberships WHERE instance_id = ? AND user_id = ?")
            .bind(instance_id)
            .bind(user_id)
            .fetch_optional(&mut *conn)
            .await?;
    role.as_deref().map(parse_role).transpose()
}

/// The caller's role: `NotFound` for a non-member, `Forbidden` for a non-owner when
/// `owner_only`.
pub(super) async fn require_role(
    conn: &mut SqliteConnection,
    instance_id: &str,
    user_id: &str,
    owner_only: bool,
) -> Result<Role, StoreError> {
    let role = role_of(conn, instance_id, user_id)
        .await?
        .ok_or(StoreError::NotFound)?;
    if owner_only && !role.is_owner() {
        return Err(StoreError::Forbidden);
    }
    Ok(role)
}

/// How many instances `user_id` is a member of.
pub(super) async fn membership_count(
    conn: &mut SqliteConnection,
    user_id: &str,
) -> Result<usize, sqlx::Error> {
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM memberships WHERE user_id = ?")
        .bind(user_id)
        .fetch_one(&mut *conn)
        .await?;
    Ok(usize::try_from(count).unwrap_or(usize::MAX))
}

/// Adds a membership (not the default unless the user has none) and records the change.
pub(super) async fn add_membership(
    conn: &mut SqliteConnection,
    instance_id: &str,
    user_id: &str,
    role: Role,
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    sqlx::query(
        "INSERT INTO memberships (instance_id, user_id, role, is_default, created_at, last_accessed_at) \
         VALUES (?, ?, ?, 0, ?, ?)",
    )
    .bind(instance_id)
    .bind(user_id)
    .bind(role.as_str())
    .bind(iso(now))
    .bind(iso(now))
    .execute(&mut *conn)
    .await?;
    ensure_default(conn, user_id).await?;
    changes::record(
        conn,
        &Change::MembershipChanged {
            user_id: user_id.to_owned(),
            instance_id: instance_id.to_owned(),
            role: Some(role),
        },
        now,
    )
    .await
}

/// A user with memberships but no default gets their oldest membership as default (after
/// they leave, are removed from, or delete their default instance; or on first join).
pub(super) async fn ensure_default(
    conn: &mut SqliteConnection,
    user_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE memberships SET is_default = 1 \
         WHERE user_id = ?1 \
           AND NOT EXISTS (SELECT 1 FROM memberships WHERE user_id = ?1 AND is_default = 1) \
           AND instance_id = (SELECT instance_id FROM memberships WHERE user_id = ?1 \
                              ORDER BY created_at, instance_id LIMIT 1)",
    )
    .bind(user_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Every instance `user_id` is a member of, default first, then oldest first.
pub(super) async fn instances_of(
    conn: &mut SqliteConnection,
    user_id: &str,
) -> Result<Vec<Instance>, sqlx::Error> {
    sqlx::query(&format!(
        "{INSTANCE_SELECT} WHERE m.user_id = ? ORDER BY m.is_default DESC, m.created_at, i.id"
    ))
    .bind(user_id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(decode_instance)
    .collect()
}

async fn instance_of(
    conn: &mut SqliteConnection,
    instance_id: &str,
    user_id: &str,
) -> Result<Instance, StoreError> {
    let row = sqlx::query(&format!(
        "{INSTANCE_SELECT} WHERE m.instance_id = ? AND m.user_id = ?"
    ))
    .bind(instance_id)
    .bind(user_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    Ok(decode_instance(&row)?)
}

impl SqliteStore {
    /// Every instance `user_id` is a member of.
    pub async fn list_instances(&self, user_id: &str) -> Result<Vec<Instance>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        Ok(instances_of(&mut conn, user_id).await?)
    }

    /// Creates an instance owned by `user_id`; `InstanceLimit` when the user is a member
    /// of as many instances as allowed. Records the new owner membership as a change, so
    /// sync nodes let the creator open the store before the next refresh.
    pub async fn create_instance(
        &self,
        user_id: &str,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<Instance, StoreError> {
        let max = self.limits.max_instances_per_user;
        let mut tx = self.begin_write().await?;
        if membership_count(&mut tx, user_id).await? >= max {
            return Err(StoreError::InstanceLimit(max));
        }
        let id = uuid::Uuid::new_v4().to_string();
        sqlx::query("INSERT INTO instances (id, created_by, name, created_at) VALUES (?, ?, ?, ?)")
            .bind(&id)
            .bind(user_id)
            .bind(name)
            .bind(iso(now))
            .execute(&mut *tx)
            .await?;
        let seq = add_membership(&mut tx, &id, user_id, Role::Owner, now).await?;
        let instance = instance_of(&mut tx, &id, user_id).await?;
        self.commit(tx, Some(seq)).await?;
        Ok(instance)
    }

    /// Renames an instance (owners only).
    pub async fn rename_instance(
        &self,
        user_id: &str,
        instance_id: &str,
        name: &str,
    ) -> Result<Instance, StoreError> {
        let mut tx = self.begin_write().await?;
        require_role(&mut tx, instance_id, user_id, true).await?;
        sqlx::query("UPDATE instances SET name = ? WHERE id = ?")
            .bind(name)
            .bind(instance_id)
            .execute(&mut *tx)
            .await?;
        let instance = instance_of(&mut tx, instance_id, user_id).await?;
        self.commit(tx, None).await?;
        Ok(instance)
    }

    /// Deletes an instance with its memberships and invites (owners only) and records
    /// `instance_deleted`. Members who lose their default get their oldest remaining
    /// membership as default.
    pub async fn delete_instance(
        &self,
        user_id: &str,
        instance_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        require_role(&mut tx, instance_id, user_id, true).await?;
        let members: Vec<String> =
            sqlx::query_scalar("SELECT user_id FROM memberships WHERE instance_id = ?")
                .bind(instance_id)
                .fetch_all(&mut *tx)
                .await?;
        // Memberships and invites go by ON DELETE CASCADE.
        sqlx::query("DELETE FROM instances WHERE id = ?")
            .bind(instance_id)
            .execute(&mut *tx)
            .await?;
        for member in &members {
            ensure_default(&mut tx, member).await?;
        }
        let seq = changes::record(
            &mut tx,
            &Change::InstanceDeleted {
                instance_id: instance_id.to_owned(),
            },
            now,
        )
        .await?;
        self.commit(tx, Some(seq)).await?;
        Ok(())
    }

    /// What an access token for `user_id` carries: the feed head (`mv`) and then every
    /// membership (`mem`), in one snapshot, so `mem` reflects exactly the changes up to
    /// `mv`. The order matters wherever the two reads might not share a snapshot (e.g.
    /// another database later): reading the head first means a change committed in
    /// between shows up in `mem` and again, with `seq > mv`, as an override on the sync
    /// nodes (harmless); the reverse order could miss it in both.
    pub async fn token_memberships(&self, user_id: &str) -> Result<(u64, Memberships), StoreError> {
        let mut tx = self.pool.begin().await?;
        let head = changes::read_head(&mut *tx).await?;
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT instance_id, role FROM memberships WHERE user_id = ?")
                .bind(user_id)
                .fetch_all(&mut *tx)
                .await?;
        tx.commit().await?;
        let memberships = rows
            .into_iter()
            .map(|(instance_id, role)| Ok((instance_id, parse_role(&role)?)))
            .collect::<Result<Memberships, sqlx::Error>>()?;
        Ok((head, memberships))
    }
}

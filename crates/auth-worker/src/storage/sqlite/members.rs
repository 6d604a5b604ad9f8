//! Members of an instance: listing, invites (direct or pending by email), role changes,
//! removal, and claiming pending invites.
//!
//! Rules, all checked inside one `BEGIN IMMEDIATE` transaction so concurrent requests
//! cannot race past them: only owners manage members (a member may remove itself); an
//! instance always keeps at least one owner; a user is a member of at most
//! `max_instances_per_user` instances (an invite beyond that waits, pending); an instance
//! has at most `max_members_per_instance` members plus pending invites.

use chrono::{DateTime, Utc};
use shared::change_feed::Change;
use shared::Role;
use sqlx::SqliteConnection;

use super::instances::{
    add_membership, ensure_default, membership_count, parse_role, require_role, role_of,
};
use super::{changes, SqliteStore};
use crate::domain::Email;
use crate::storage::{iso, Member, StoreError};

async fn owner_count(conn: &mut SqliteConnection, instance_id: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM memberships WHERE instance_id = ? AND role = 'owner'")
        .bind(instance_id)
        .fetch_one(&mut *conn)
        .await
}

/// Adds every pending invite of `email` to `user_id` while the user has room, oldest
/// invite first; returns the last change's sequence number, if any. Invites that do not
/// fit stay pending for a later login or refresh.
pub(super) async fn claim_invites_in(
    conn: &mut SqliteConnection,
    user_id: &str,
    email: &str,
    max_instances: usize,
    now: DateTime<Utc>,
) -> Result<Option<u64>, sqlx::Error> {
    let invites: Vec<(String, String)> = sqlx::query_as(
        "SELECT instance_id, role FROM invites WHERE email = ? ORDER BY created_at, instance_id",
    )
    .bind(email)
    .fetch_all(&mut *conn)
    .await?;
    let mut count = membership_count(conn, user_id).await?;
    let mut last_seq = None;
    for (instance_id, role) in invites {
        let already_member = role_of(conn, &instance_id, user_id).await?.is_some();
        if !already_member {
            if count >= max_instances {
                break;
            }
            last_seq =
                Some(add_membership(conn, &instance_id, user_id, parse_role(&role)?, now).await?);
            count += 1;
        }
        sqlx::query("DELETE FROM invites WHERE instance_id = ? AND email = ?")
            .bind(&instance_id)
            .bind(email)
            .execute(&mut *conn)
            .await?;
    }
    Ok(last_seq)
}

impl SqliteStore {
    /// The members of an instance (any member may look), owners first.
    pub async fn list_members(
        &self,
        caller: &str,
        instance_id: &str,
    ) -> Result<Vec<Member>, StoreError> {
        let mut tx = self.pool.begin().await?;
        require_role(&mut tx, instance_id, caller, false).await?;
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT m.user_id, u.email, m.role FROM memberships m \
             JOIN users u ON u.id = m.user_id WHERE m.instance_id = ? \
             ORDER BY CASE m.role WHEN 'owner' THEN 0 WHEN 'editor' THEN 1 ELSE 2 END, \
                      m.created_at, u.email",
        )
        .bind(instance_id)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.into_iter()
            .map(|(user_id, email, role)| {
                Ok(Member {
                    user_id,
                    email,
                    role: parse_role(&role)?,
                })
            })
            .collect()
    }

    /// Invites `email` with `role` (owners only). The outcome is deliberately not
    /// returned: the API answers the same whether or not an account exists.
    ///
    /// - already a member: nothing changes (roles change through `set_member_role`, which
    ///   guards the last owner);
    /// - already invited (pending): the pending role becomes `role`;
    /// - an account with room for another instance: it becomes a member now
    ///   (`membership_changed`);
    /// - otherwise (no account yet, or an account at its instance limit): a pending
    ///   invite, claimed at signup, login or refresh.
    pub async fn invite_member(
        &self,
        caller: &str,
        instance_id: &str,
        email: &Email,
        role: Role,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        require_role(&mut tx, instance_id, caller, true).await?;
        let user_id: Option<String> = sqlx::query_scalar("SELECT id FROM users WHERE email = ?")
            .bind(email.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(user_id) = &user_id {
            if role_of(&mut tx, instance_id, user_id).await?.is_some() {
                return Ok(());
            }
        }
        let updated =
            sqlx::query("UPDATE invites SET role = ? WHERE instance_id = ? AND email = ?")
                .bind(role.as_str())
                .bind(instance_id)
                .bind(email.as_str())
                .execute(&mut *tx)
                .await?;
        if updated.rows_affected() == 1 {
            self.commit(tx, None).await?;
            return Ok(());
        }
        let max_members = self.limits.max_members_per_instance;
        let taken: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM memberships WHERE instance_id = ?1) \
                  + (SELECT COUNT(*) FROM invites WHERE instance_id = ?1)",
        )
        .bind(instance_id)
        .fetch_one(&mut *tx)
        .await?;
        if usize::try_from(taken).unwrap_or(usize::MAX) >= max_members {
            return Err(StoreError::MemberLimit(max_members));
        }
        let mut seq = None;
        match &user_id {
            Some(user_id)
                if membership_count(&mut tx, user_id).await?
                    < self.limits.max_instances_per_user =>
            {
                seq = Some(add_membership(&mut tx, instance_id, user_id, role, now).await?);
            }
            _ => {
                sqlx::query(
                    "INSERT INTO invites (instance_id, email, role, invited_by, created_at) \
                     VALUES (?, ?, ?, ?, ?)",
                )
                .bind(instance_id)
                .bind(email.as_str())
                .bind(role.as_str())
                .bind(caller)
                .bind(iso(now))
                .execute(&mut *tx)
                .await?;
            }
        }
        self.commit(tx, seq).await?;
        Ok(())
    }

    /// Changes a member's role (owners only); demoting the last owner is `LastOwner`.
    pub async fn set_member_role(
        &self,
        caller: &str,
        instance_id: &str,
        member: &str,
        role: Role,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        require_role(&mut tx, instance_id, caller, true).await?;
        let current = role_of(&mut tx, instance_id, member)
            .await?
            .ok_or(StoreError::NotFound)?;
        if current == role {
            return Ok(());
        }
        if current.is_owner() && owner_count(&mut tx, instance_id).await? <= 1 {
            return Err(StoreError::LastOwner);
        }
        sqlx::query("UPDATE memberships SET role = ? WHERE instance_id = ? AND user_id = ?")
            .bind(role.as_str())
            .bind(instance_id)
            .bind(member)
            .execute(&mut *tx)
            .await?;
        let seq = changes::record(
            &mut tx,
            &Change::MembershipChanged {
                user_id: member.to_owned(),
                instance_id: instance_id.to_owned(),
                role: Some(role),
            },
            now,
        )
        .await?;
        self.commit(tx, Some(seq)).await?;
        Ok(())
    }

    /// Removes a member: an owner may remove anyone, any member may remove itself; the
    /// last owner cannot go (`LastOwner`).
    pub async fn remove_member(
        &self,
        caller: &str,
        instance_id: &str,
        member: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let caller_role = require_role(&mut tx, instance_id, caller, false).await?;
        if caller != member && !caller_role.is_owner() {
            return Err(StoreError::Forbidden);
        }
        let role = role_of(&mut tx, instance_id, member)
            .await?
            .ok_or(StoreError::NotFound)?;
        if role.is_owner() && owner_count(&mut tx, instance_id).await? <= 1 {
            return Err(StoreError::LastOwner);
        }
        sqlx::query("DELETE FROM memberships WHERE instance_id = ? AND user_id = ?")
            .bind(instance_id)
            .bind(member)
            .execute(&mut *tx)
            .await?;
        ensure_default(&mut tx, member).await?;
        let seq = changes::record(
            &mut tx,
            &Change::MembershipChanged {
                user_id: member.to_owned(),
                instance_id: instance_id.to_owned(),
                role: None,
            },
            now,
        )
        .await?;
        self.commit(tx, Some(seq)).await?;
        Ok(())
    }

    /// Claims `email`'s pending invites for `user_id` (login and refresh; signup claims
    /// inside its own transaction). Costs one indexed read when there are none.
    pub async fn claim_invites(
        &self,
        user_id: &str,
        email: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let pending: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM invites WHERE email = ? LIMIT 1")
                .bind(email)
                .fetch_optional(&self.pool)
                .await?;
        if pending.is_none() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        let seq = claim_invites_in(
            &mut tx,
            user_id,
            email,
            self.limits.max_instances_per_user,
            now,
        )
        .await?;
        self.commit(tx, seq).await?;
        Ok(())
    }
}

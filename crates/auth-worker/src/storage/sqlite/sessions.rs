//! Sessions (refresh-token families) and their refresh tokens.
//!
//! A session is created at signup or login with its first token. `/refresh` marks the
//! presented token rotated and adds its successor to the same session, in one
//! transaction guarded by `rotated_at IS NULL`, so two concurrent refreshes of one token
//! cannot both succeed. Revoking a session kills every token in it and records a
//! `session_revoked` change for the sync nodes.

use chrono::{DateTime, Utc};
use sqlx::{Row as _, Sqlite, Transaction};

use shared::change_feed::Change;

use super::{changes, SqliteStore};
use crate::storage::{iso, NewSession, RefreshTokenRecord, RotateOutcome, StoreError};

impl SqliteStore {
    /// Starts a session for an existing user (login).
    pub async fn start_session(
        &self,
        user_id: &str,
        session: &NewSession,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        Self::insert_session(&mut tx, user_id, session, now).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn insert_session(
        tx: &mut Transaction<'_, Sqlite>,
        user_id: &str,
        session: &NewSession,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO sessions (id, user_id, created_at) VALUES (?, ?, ?)")
            .bind(&session.id)
            .bind(user_id)
            .bind(iso(now))
            .execute(&mut **tx)
            .await?;
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at_ms) \
             VALUES (?, ?, ?, ?)",
        )
        .bind(&session.token_hash)
        .bind(&session.id)
        .bind(iso(now))
        .bind(session.expires_at_ms)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    pub async fn find_refresh_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<RefreshTokenRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT t.session_id, t.expires_at_ms, t.rotated_at IS NOT NULL AS rotated, \
                    s.revoked_at IS NOT NULL AS revoked, s.user_id, u.email \
             FROM refresh_tokens t \
             JOIN sessions s ON s.id = t.session_id \
             JOIN users u ON u.id = s.user_id \
             WHERE t.token_hash = ?",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| RefreshTokenRecord {
            session_id: row.get("session_id"),
            user_id: row.get("user_id"),
            email: row.get("email"),
            expires_at_ms: row.get("expires_at_ms"),
            rotated: row.get::<i64, _>("rotated") != 0,
            session_revoked: row.get::<i64, _>("revoked") != 0,
        }))
    }

    /// Marks `old_hash` rotated and stores its successor in the same session, only if
    /// `old_hash` is still the live token of a live session.
    pub async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        new_hash: &str,
        new_expires_at_ms: i64,
        now: DateTime<Utc>,
    ) -> Result<RotateOutcome, StoreError> {
        let mut tx = self.pool.begin().await?;
        let marked = sqlx::query(
            "UPDATE refresh_tokens SET rotated_at = ? \
             WHERE token_hash = ? AND rotated_at IS NULL \
               AND session_id IN (SELECT id FROM sessions WHERE revoked_at IS NULL)",
        )
        .bind(iso(now))
        .bind(old_hash)
        .execute(&mut *tx)
        .await?;
        if marked.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(RotateOutcome::NotCurrent);
        }
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at_ms) \
             SELECT ?, session_id, ?, ? FROM refresh_tokens WHERE token_hash = ?",
        )
        .bind(new_hash)
        .bind(iso(now))
        .bind(new_expires_at_ms)
        .bind(old_hash)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(RotateOutcome::Rotated)
    }

    /// Revokes a session (no-op if already revoked) and, when it was live, records
    /// `session_revoked` in the same transaction. `reason` is recorded for audits.
    pub async fn revoke_session(
        &self,
        session_id: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let seq = Self::revoke_in(&mut tx, session_id, reason, now).await?;
        self.commit(tx, seq).await?;
        Ok(())
    }

    /// Revokes the session a refresh token belongs to; `false` if the token is unknown.
    pub async fn revoke_session_of_token(
        &self,
        token_hash: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        // Looked up outside the write lock: unknown tokens (logout is idempotent and
        // answers everyone the same) cost no write transaction.
        let session: Option<String> =
            sqlx::query_scalar("SELECT session_id FROM refresh_tokens WHERE token_hash = ?")
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?;
        let Some(session_id) = session else {
            return Ok(false);
        };
        self.revoke_session(&session_id, reason, now).await?;
        Ok(true)
    }

    /// Marks the session revoked; the change's sequence number if it was live.
    async fn revoke_in(
        tx: &mut Transaction<'static, Sqlite>,
        session_id: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<u64>, StoreError> {
        let user_id: Option<String> = sqlx::query_scalar(
            "UPDATE sessions SET revoked_at = ?, revoked_reason = ? \
             WHERE id = ? AND revoked_at IS NULL RETURNING user_id",
        )
        .bind(iso(now))
        .bind(reason)
        .bind(session_id)
        .fetch_optional(&mut **tx)
        .await?;
        let Some(user_id) = user_id else {
            return Ok(None);
        };
        let change = Change::SessionRevoked {
            session_id: session_id.to_owned(),
            user_id,
        };
        Ok(Some(changes::record(tx, &change, now).await?))
    }

    /// Whether `session_id` exists for `user_id` and has not been revoked.
    pub async fn session_is_active(
        &self,
        session_id: &str,
        user_id: &str,
    ) -> Result<bool, StoreError> {
        let active = sqlx::query(
            "SELECT 1 FROM sessions WHERE id = ? AND user_id = ? AND revoked_at IS NULL",
        )
        .bind(session_id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(active.is_some())
    }

    /// Deletes refresh tokens that expired before `cutoff_ms`; returns how many. Until
    /// then an expired token still answers `TOKEN_EXPIRED` and a rotated one still
    /// counts as reuse, so callers pass a cutoff well in the past.
    pub async fn purge_refresh_tokens_expired_before(
        &self,
        cutoff_ms: i64,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM refresh_tokens WHERE expires_at_ms < ?")
            .bind(cutoff_ms)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

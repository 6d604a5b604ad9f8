//! Users, with the instances they are members of.

use chrono::{DateTime, Utc};
use sqlx::Row as _;

use super::instances::instances_of;
use super::members::claim_invites_in;
use super::PgStore;
use crate::domain::Email;
use crate::storage::{
    is_unique_violation, Credentials, NewSession, StoreError, User, DEFAULT_INSTANCE_NAME,
};

impl PgStore {
    pub async fn email_exists(&self, email: &Email) -> Result<bool, StoreError> {
        let found = sqlx::query("SELECT 1 FROM users WHERE email = $1")
            .bind(email.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(found.is_some())
    }

    pub async fn find_credentials(&self, email: &Email) -> Result<Option<Credentials>, StoreError> {
        let row = sqlx::query("SELECT id, email, password_hash FROM users WHERE email = $1")
            .bind(email.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|row| Credentials {
            user_id: row.get("id"),
            email: row.get("email"),
            password_hash: row.get("password_hash"),
        }))
    }

    /// Creates the user, its default instance (the user as owner), its first session, and
    /// claims the email's pending invites, in one transaction. A taken email (also when
    /// another signup wins a race) is `EmailTaken`.
    pub async fn create_user(
        &self,
        email: &Email,
        password_hash: &str,
        session: &NewSession,
        now: DateTime<Utc>,
    ) -> Result<User, StoreError> {
        let user_id = uuid::Uuid::new_v4().to_string();
        let instance_id = uuid::Uuid::new_v4().to_string();
        // The write lock: claiming invites checks limits and records changes.
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO users (id, email, password_hash, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&user_id)
        .bind(email.as_str())
        .bind(password_hash)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::EmailTaken
            } else {
                StoreError::Database(e)
            }
        })?;
        sqlx::query(
            "INSERT INTO instances (id, created_by, name, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&instance_id)
        .bind(&user_id)
        .bind(DEFAULT_INSTANCE_NAME)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        // No change is recorded for it: no token of this user exists yet, and the first
        // one carries the membership.
        sqlx::query(
            "INSERT INTO memberships (instance_id, user_id, role, is_default, created_at, last_accessed_at) \
             VALUES ($1, $2, 'owner', TRUE, $3, $4)",
        )
        .bind(&instance_id)
        .bind(&user_id)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let claimed = claim_invites_in(
            &mut tx,
            &user_id,
            email.as_str(),
            self.limits.max_instances_per_user,
            now,
        )
        .await?;
        Self::insert_session(&mut tx, &user_id, session, now).await?;
        let instances = instances_of(&mut tx, &user_id).await?;
        self.commit(tx, claimed).await?;
        Ok(User {
            id: user_id,
            email: email.as_str().to_owned(),
            instances,
        })
    }

    /// The user with every instance it is a member of, default first.
    pub async fn find_user(&self, user_id: &str) -> Result<Option<User>, StoreError> {
        let Some(row) = sqlx::query("SELECT id, email FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let mut conn = self.pool.acquire().await?;
        let instances = instances_of(&mut conn, user_id).await?;
        Ok(Some(User {
            id: row.get("id"),
            email: row.get("email"),
            instances,
        }))
    }
}

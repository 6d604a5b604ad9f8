//! Users and their instances.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row as _;

use super::{is_unique_violation, iso, AuthStore, NewSession, StoreError};
use crate::domain::Email;

/// Name of the instance every new user gets.
pub const DEFAULT_INSTANCE_NAME: &str = "Personal Workspace";

/// A user as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: String,
    pub email: String,
    pub instances: Vec<Instance>,
}

/// One of a user's instances (workspaces), camelCase on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Instance {
    pub id: String,
    pub name: String,
    pub created_at: String,
    pub last_accessed_at: String,
    pub is_default: bool,
}

/// What a login needs to check a password. Deliberately not `Debug`: it holds the hash.
pub struct Credentials {
    pub user_id: String,
    pub email: String,
    pub password_hash: String,
}

impl AuthStore {
    pub async fn email_exists(&self, email: &Email) -> Result<bool, StoreError> {
        let found = sqlx::query("SELECT 1 FROM users WHERE email = ?")
            .bind(email.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(found.is_some())
    }

    pub async fn find_credentials(&self, email: &Email) -> Result<Option<Credentials>, StoreError> {
        let row = sqlx::query("SELECT id, email, password_hash FROM users WHERE email = ?")
            .bind(email.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|row| Credentials {
            user_id: row.get("id"),
            email: row.get("email"),
            password_hash: row.get("password_hash"),
        }))
    }

    /// Creates the user, its default instance and its first session in one transaction.
    /// A taken email (also when another signup wins a race) is `EmailTaken`.
    pub async fn create_user(
        &self,
        email: &Email,
        password_hash: &str,
        session: &NewSession,
        now: DateTime<Utc>,
    ) -> Result<User, StoreError> {
        let user_id = uuid::Uuid::new_v4().to_string();
        let instance = Instance {
            id: uuid::Uuid::new_v4().to_string(),
            name: DEFAULT_INSTANCE_NAME.to_owned(),
            created_at: iso(now),
            last_accessed_at: iso(now),
            is_default: true,
        };
        let mut tx = self.pool.begin().await?;
        // First statement writes, so the transaction takes the write lock up front.
        sqlx::query(
            "INSERT INTO users (id, email, password_hash, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&user_id)
        .bind(email.as_str())
        .bind(password_hash)
        .bind(iso(now))
        .bind(iso(now))
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
            "INSERT INTO instances (id, user_id, name, is_default, created_at, last_accessed_at) \
             VALUES (?, ?, ?, 1, ?, ?)",
        )
        .bind(&instance.id)
        .bind(&user_id)
        .bind(&instance.name)
        .bind(&instance.created_at)
        .bind(&instance.last_accessed_at)
        .execute(&mut *tx)
        .await?;
        Self::insert_session(&mut tx, &user_id, session, now).await?;
        tx.commit().await?;
        Ok(User {
            id: user_id,
            email: email.as_str().to_owned(),
            instances: vec![instance],
        })
    }

    /// The user with its instances, default first.
    pub async fn find_user(&self, user_id: &str) -> Result<Option<User>, StoreError> {
        let Some(row) = sqlx::query("SELECT id, email FROM users WHERE id = ?")
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let instances = sqlx::query(
            "SELECT id, name, created_at, last_accessed_at, is_default FROM instances \
             WHERE user_id = ? ORDER BY is_default DESC, created_at, id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|row| Instance {
            id: row.get("id"),
            name: row.get("name"),
            created_at: row.get("created_at"),
            last_accessed_at: row.get("last_accessed_at"),
            is_default: row.get::<i64, _>("is_default") != 0,
        })
        .collect();
        Ok(Some(User {
            id: row.get("id"),
            email: row.get("email"),
            instances,
        }))
    }
}

//! [`AuthStore`]: the one handle callers use, dispatching every call to the backend its
//! `DATABASE_URL` selected.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use shared::change_feed::ChangePage;
use shared::{Memberships, Role};
use tokio::sync::watch;

use super::{
    postgres, sqlite, Backend, Credentials, Instance, Member, NewSession, PgOptions, Readiness,
    RefreshTokenRecord, RotateOutcome, StoreError, User,
};
use crate::config::WorkspaceLimits;
use crate::domain::Email;

/// Handle to the auth database, whichever the backend. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AuthStore {
    inner: Inner,
}

#[derive(Clone, Debug)]
enum Inner {
    Sqlite(sqlite::SqliteStore),
    Postgres(postgres::PgStore),
}

/// Calls the same method on whichever backend the store has.
macro_rules! dispatch {
    ($self:ident . $method:ident ( $($arg:expr),* $(,)? )) => {
        match &$self.inner {
            Inner::Sqlite(store) => store.$method($($arg),*).await,
            Inner::Postgres(store) => store.$method($($arg),*).await,
        }
    };
}

impl AuthStore {
    /// Opens and migrates the database `database_url` names, with the default options.
    pub async fn connect(database_url: &str) -> anyhow::Result<Self> {
        Self::connect_with(database_url, &PgOptions::default()).await
    }

    /// Opens and migrates the database `database_url` names: a SQLite file (folder and
    /// file created when missing) or a PostgreSQL database (`postgres` options apply).
    pub async fn connect_with(database_url: &str, postgres: &PgOptions) -> anyhow::Result<Self> {
        let feed_head = Arc::new(watch::Sender::new(0));
        let inner = match Backend::of(database_url)? {
            Backend::Sqlite => {
                Inner::Sqlite(sqlite::SqliteStore::connect(database_url, feed_head).await?)
            }
            Backend::Postgres => Inner::Postgres(
                postgres::PgStore::connect(database_url, postgres, feed_head).await?,
            ),
        };
        Ok(Self { inner })
    }

    /// The backend this store runs on.
    pub fn backend(&self) -> Backend {
        match &self.inner {
            Inner::Sqlite(_) => Backend::Sqlite,
            Inner::Postgres(_) => Backend::Postgres,
        }
    }

    /// The same store, enforcing `limits` (the defaults until this is called).
    #[must_use]
    pub fn with_limits(mut self, limits: WorkspaceLimits) -> Self {
        match &mut self.inner {
            Inner::Sqlite(store) => store.limits = limits,
            Inner::Postgres(store) => store.limits = limits,
        }
        self
    }

    /// Whether the database answers and carries this build's migrations.
    pub async fn readiness(&self) -> Result<Readiness, StoreError> {
        dispatch!(self.readiness())
    }

    /// Waits for open connections to finish and closes the pool.
    pub async fn close(&self) {
        dispatch!(self.close())
    }

    // Users.

    pub async fn email_exists(&self, email: &Email) -> Result<bool, StoreError> {
        dispatch!(self.email_exists(email))
    }

    pub async fn find_credentials(&self, email: &Email) -> Result<Option<Credentials>, StoreError> {
        dispatch!(self.find_credentials(email))
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
        dispatch!(self.create_user(email, password_hash, session, now))
    }

    /// The user with every instance it is a member of, default first.
    pub async fn find_user(&self, user_id: &str) -> Result<Option<User>, StoreError> {
        dispatch!(self.find_user(user_id))
    }

    // Sessions and refresh tokens.

    /// Starts a session for an existing user (login).
    pub async fn start_session(
        &self,
        user_id: &str,
        session: &NewSession,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        dispatch!(self.start_session(user_id, session, now))
    }

    pub async fn find_refresh_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<RefreshTokenRecord>, StoreError> {
        dispatch!(self.find_refresh_token(token_hash))
    }

    /// Marks `old_hash` rotated and stores its successor in the same session, only if
    /// `old_hash` is still the live token of a live session; of two racing rotations of
    /// one token exactly one is `Rotated`.
    pub async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        new_hash: &str,
        new_expires_at_ms: i64,
        now: DateTime<Utc>,
    ) -> Result<RotateOutcome, StoreError> {
        dispatch!(self.rotate_refresh_token(old_hash, new_hash, new_expires_at_ms, now))
    }

    /// Revokes a session (no-op if already revoked) and, when it was live, records
    /// `session_revoked`.
    pub async fn revoke_session(
        &self,
        session_id: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        dispatch!(self.revoke_session(session_id, reason, now))
    }

    /// Revokes the session a refresh token belongs to; `false` if the token is unknown.
    pub async fn revoke_session_of_token(
        &self,
        token_hash: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        dispatch!(self.revoke_session_of_token(token_hash, reason, now))
    }

    /// Whether `session_id` exists for `user_id` and has not been revoked.
    pub async fn session_is_active(
        &self,
        session_id: &str,
        user_id: &str,
    ) -> Result<bool, StoreError> {
        dispatch!(self.session_is_active(session_id, user_id))
    }

    /// Deletes refresh tokens that expired before `cutoff_ms`; returns how many. Until
    /// then an expired token still answers `TOKEN_EXPIRED` and a rotated one still
    /// counts as reuse, so callers pass a cutoff well in the past.
    pub async fn purge_refresh_tokens_expired_before(
        &self,
        cutoff_ms: i64,
    ) -> Result<u64, StoreError> {
        dispatch!(self.purge_refresh_tokens_expired_before(cutoff_ms))
    }

    // Instances.

    /// Every instance `user_id` is a member of, default first, then oldest first.
    pub async fn list_instances(&self, user_id: &str) -> Result<Vec<Instance>, StoreError> {
        dispatch!(self.list_instances(user_id))
    }

    /// Creates an instance owned by `user_id`; `InstanceLimit` when the user is a member
    /// of as many instances as allowed. Records the new owner membership as a change.
    pub async fn create_instance(
        &self,
        user_id: &str,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<Instance, StoreError> {
        dispatch!(self.create_instance(user_id, name, now))
    }

    /// Renames an instance (owners only).
    pub async fn rename_instance(
        &self,
        user_id: &str,
        instance_id: &str,
        name: &str,
    ) -> Result<Instance, StoreError> {
        dispatch!(self.rename_instance(user_id, instance_id, name))
    }

    /// Deletes an instance with its memberships and invites (owners only) and records
    /// `instance_deleted`.
    pub async fn delete_instance(
        &self,
        user_id: &str,
        instance_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        dispatch!(self.delete_instance(user_id, instance_id, now))
    }

    /// What an access token for `user_id` carries: the feed head (`mv`) and every
    /// membership (`mem`), from one snapshot.
    pub async fn token_memberships(&self, user_id: &str) -> Result<(u64, Memberships), StoreError> {
        dispatch!(self.token_memberships(user_id))
    }

    // Members.

    /// The members of an instance (any member may look), owners first.
    pub async fn list_members(
        &self,
        caller: &str,
        instance_id: &str,
    ) -> Result<Vec<Member>, StoreError> {
        dispatch!(self.list_members(caller, instance_id))
    }

    /// Invites `email` with `role` (owners only); the outcome is deliberately not
    /// returned (no user enumeration). See the backends for the cases.
    pub async fn invite_member(
        &self,
        caller: &str,
        instance_id: &str,
        email: &Email,
        role: Role,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        dispatch!(self.invite_member(caller, instance_id, email, role, now))
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
        dispatch!(self.set_member_role(caller, instance_id, member, role, now))
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
        dispatch!(self.remove_member(caller, instance_id, member, now))
    }

    /// Claims `email`'s pending invites for `user_id` (login and refresh).
    pub async fn claim_invites(
        &self,
        user_id: &str,
        email: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        dispatch!(self.claim_invites(user_id, email, now))
    }

    // The change feed.

    /// Changes with `seq > after`, ascending, at most `limit`, and the feed head, read
    /// from one snapshot.
    pub async fn changes_after(&self, after: u64, limit: usize) -> Result<ChangePage, StoreError> {
        dispatch!(self.changes_after(after, limit))
    }

    /// The feed head as last published by this process (wakes on every local commit).
    pub fn subscribe_changes(&self) -> watch::Receiver<u64> {
        match &self.inner {
            Inner::Sqlite(store) => store.feed_head.subscribe(),
            Inner::Postgres(store) => store.feed_head.subscribe(),
        }
    }

    /// The feed head as stored (also counts commits by other processes).
    pub async fn change_head(&self) -> Result<u64, StoreError> {
        dispatch!(self.change_head())
    }

    /// Deletes changes committed before `cutoff`; returns how many.
    pub async fn purge_changes_before(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        dispatch!(self.purge_changes_before(cutoff))
    }
}

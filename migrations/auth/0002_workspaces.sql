-- Workspaces with members: an instance (a LiveStore store id) now has any number of
-- members, each with a role; invites for emails without an account wait in `invites`;
-- and `changes` is the feed sync nodes read (revoked sessions, membership changes,
-- deleted instances).
--
-- Existing data: every instance's creator becomes its `owner` member, keeping the
-- instance's `is_default` and `last_accessed_at` (both are per member from now on).
--
-- Deleting an instance deletes its rows (the instance, its memberships and invites, by
-- cascade); an `instance_deleted` change tells sync nodes to refuse its store. Instance
-- ids are random UUIDs, so a deleted id is never handed out again.

CREATE TABLE memberships (
    instance_id      TEXT NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    user_id          TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role             TEXT NOT NULL CHECK (role IN ('owner', 'editor', 'viewer')),
    -- At most one default per user (the app opens it first).
    is_default       INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1)),
    created_at       TEXT NOT NULL,
    last_accessed_at TEXT NOT NULL,
    PRIMARY KEY (instance_id, user_id)
);
CREATE INDEX memberships_by_user ON memberships (user_id, created_at);
CREATE UNIQUE INDEX memberships_one_default ON memberships (user_id) WHERE is_default = 1;

INSERT INTO memberships (instance_id, user_id, role, is_default, created_at, last_accessed_at)
SELECT id, user_id, 'owner', is_default, created_at, last_accessed_at FROM instances;

-- `instances` keeps what belongs to the instance itself; `user_id` becomes its creator
-- (kept for audits; rights come only from `memberships`).
ALTER TABLE instances RENAME COLUMN user_id TO created_by;
ALTER TABLE instances DROP COLUMN is_default;
ALTER TABLE instances DROP COLUMN last_accessed_at;

-- Pending memberships for an email that has no account yet (or whose account is at its
-- instance limit): claimed at signup, login and refresh. Emails are stored normalized.
CREATE TABLE invites (
    instance_id TEXT NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    email       TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('owner', 'editor', 'viewer')),
    invited_by  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (instance_id, email)
);
CREATE INDEX invites_by_email ON invites (email, created_at);

-- The change feed. AUTOINCREMENT: a purged sequence number is never reused, so a sync
-- node's cursor and a token's `mv` stay meaningful across purges.
CREATE TABLE changes (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    -- ISO-8601 UTC with milliseconds: compares as text, purged by age.
    at          TEXT NOT NULL,
    kind        TEXT NOT NULL
                CHECK (kind IN ('session_revoked', 'membership_changed', 'instance_deleted')),
    user_id     TEXT,
    session_id  TEXT,
    instance_id TEXT,
    -- `membership_changed` only; NULL there means "no longer a member".
    role        TEXT CHECK (role IN ('owner', 'editor', 'viewer'))
);
CREATE INDEX changes_by_time ON changes (at);

-- auth-worker schema, PostgreSQL backend (the SQLite one is migrations/auth): the end
-- state of the SQLite migrations 0001 + 0002 in one file.
--
-- Timestamps are TIMESTAMPTZ (shown to clients as ISO-8601 with milliseconds); refresh
-- token expiry is epoch milliseconds so it compares as a number. Ids are random UUIDs
-- as text, like on SQLite, so an export moves between the backends unchanged.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    -- Normalized (trimmed, lower-cased): uniqueness is case-insensitive.
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);

-- What belongs to the instance itself; rights come only from `memberships`.
CREATE TABLE instances (
    id         TEXT PRIMARY KEY,
    -- The creator, kept for audits.
    created_by TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX instances_by_creator ON instances (created_by);

CREATE TABLE memberships (
    instance_id      TEXT NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    user_id          TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role             TEXT NOT NULL CHECK (role IN ('owner', 'editor', 'viewer')),
    -- At most one default per user (the app opens it first).
    is_default       BOOLEAN NOT NULL DEFAULT FALSE,
    created_at       TIMESTAMPTZ NOT NULL,
    last_accessed_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (instance_id, user_id)
);
CREATE INDEX memberships_by_user ON memberships (user_id, created_at);
CREATE UNIQUE INDEX memberships_one_default ON memberships (user_id) WHERE is_default;

-- Pending memberships for an email that has no account yet (or whose account is at its
-- instance limit): claimed at signup, login and refresh. Emails are stored normalized.
CREATE TABLE invites (
    instance_id TEXT NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    email       TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('owner', 'editor', 'viewer')),
    invited_by  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (instance_id, email)
);
CREATE INDEX invites_by_email ON invites (email, created_at);

CREATE TABLE sessions (
    id             TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at     TIMESTAMPTZ NOT NULL,
    -- Set once on logout or refresh-token reuse; a revoked session never comes back.
    revoked_at     TIMESTAMPTZ,
    revoked_reason TEXT
);
CREATE INDEX sessions_by_user ON sessions (user_id);

CREATE TABLE refresh_tokens (
    -- SHA-256 hex of the token; the token itself is never stored.
    token_hash    TEXT PRIMARY KEY,
    session_id    TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at    TIMESTAMPTZ NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    -- Set when this token was exchanged for its successor; presenting it again is reuse.
    rotated_at    TIMESTAMPTZ
);
CREATE INDEX refresh_tokens_by_session ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens (expires_at_ms);

-- The change feed's head: one row, the last sequence number handed out. Appending a
-- change increments it (`UPDATE .. RETURNING`), which row-locks it until the appending
-- transaction ends, so changes commit in `seq` order and without gaps: a feed reader
-- that has seen `seq` n can never later find a smaller one (a plain sequence or
-- identity column would let two transactions commit 10 before 9). It is also what keeps
-- the head, and so cursors and tokens' `mv`, from going backwards after a purge empties
-- `changes`.
CREATE TABLE change_head (
    id  BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (id),
    seq BIGINT NOT NULL CHECK (seq >= 0)
);
INSERT INTO change_head (id, seq) VALUES (TRUE, 0);

CREATE TABLE changes (
    seq         BIGINT PRIMARY KEY CHECK (seq > 0),
    at          TIMESTAMPTZ NOT NULL,
    kind        TEXT NOT NULL
                CHECK (kind IN ('session_revoked', 'membership_changed', 'instance_deleted')),
    user_id     TEXT,
    session_id  TEXT,
    instance_id TEXT,
    -- `membership_changed` only; NULL there means "no longer a member".
    role        TEXT CHECK (role IN ('owner', 'editor', 'viewer'))
);
CREATE INDEX changes_by_time ON changes (at);

-- auth-worker schema: users, their instances, sessions (refresh-token families) and
-- refresh tokens (stored only as SHA-256 hex). Timestamps shown to clients are ISO-8601
-- text; expiry is epoch milliseconds so it compares as a number.

CREATE TABLE users (
    id            TEXT PRIMARY KEY NOT NULL,
    -- Normalized (trimmed, lower-cased): uniqueness is case-insensitive.
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

CREATE TABLE instances (
    id               TEXT PRIMARY KEY NOT NULL,
    user_id          TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    is_default       INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1)),
    created_at       TEXT NOT NULL,
    last_accessed_at TEXT NOT NULL
);
CREATE INDEX instances_by_user ON instances (user_id, created_at);

CREATE TABLE sessions (
    id             TEXT PRIMARY KEY NOT NULL,
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at     TEXT NOT NULL,
    -- Set once on logout or refresh-token reuse; a revoked session never comes back.
    revoked_at     TEXT,
    revoked_reason TEXT
);
CREATE INDEX sessions_by_user ON sessions (user_id);

CREATE TABLE refresh_tokens (
    token_hash    TEXT PRIMARY KEY NOT NULL,
    session_id    TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at    TEXT NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    -- Set when this token was exchanged for its successor; presenting it again is reuse.
    rotated_at    TEXT
);
CREATE INDEX refresh_tokens_by_session ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens (expires_at_ms);

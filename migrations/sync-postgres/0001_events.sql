-- The event log of every store, PostgreSQL backend (the SQLite one is migrations/sync).
--
-- `store_heads` holds one row per store with its head: an append locks that row
-- (SELECT .. FOR UPDATE through an upsert), so appends to one store are serialized across
-- every sync node sharing this database while different stores proceed in parallel, and
-- the head can be read with one primary-key lookup.
CREATE TABLE store_heads (
    store_id TEXT   PRIMARY KEY,
    head     BIGINT NOT NULL CHECK (head >= 0)
);

CREATE TABLE events (
    store_id       TEXT   NOT NULL,
    seq_num        BIGINT NOT NULL CHECK (seq_num > 0),
    parent_seq_num BIGINT NOT NULL CHECK (parent_seq_num >= 0 AND parent_seq_num < seq_num),
    name           TEXT   NOT NULL,
    -- The event's args exactly as the client sent them (raw JSON text); NULL when absent.
    args           TEXT,
    client_id      TEXT   NOT NULL,
    session_id     TEXT   NOT NULL,
    -- One timestamp per push, epoch milliseconds (shown as ISO-8601 with milliseconds).
    created_at_ms  BIGINT NOT NULL,
    -- The identity of the connection that pushed the event.
    pushed_by      TEXT   NOT NULL,
    PRIMARY KEY (store_id, seq_num)
);

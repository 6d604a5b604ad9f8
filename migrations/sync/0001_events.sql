-- The event log of every store on this server: one row per event.
--
-- Keyed (store_id, seq_num) and WITHOUT ROWID, so the table itself is the primary-key
-- b-tree: a store's chain is one contiguous key range (a pull is a range scan, an append
-- touches one b-tree instead of a table plus an index). Store ids are opaque text bound
-- as parameters; `a-b` and `a_b` are two different keys.
CREATE TABLE events (
    store_id       TEXT    NOT NULL,
    seq_num        INTEGER NOT NULL CHECK (seq_num > 0),
    -- Always seq_num - 1 in LiveStore 0.3.1; kept because the wire protocol carries it.
    parent_seq_num INTEGER NOT NULL CHECK (parent_seq_num = seq_num - 1),
    name           TEXT    NOT NULL,
    -- The event's args exactly as the client sent them (raw JSON text); NULL when absent.
    args           TEXT,
    client_id      TEXT    NOT NULL,
    session_id     TEXT    NOT NULL,
    -- One timestamp per push: ISO-8601, UTC, milliseconds (2024-05-01T12:00:00.123Z).
    created_at     TEXT    NOT NULL,
    -- The identity of the connection that pushed the event.
    pushed_by      TEXT    NOT NULL,
    PRIMARY KEY (store_id, seq_num)
) STRICT, WITHOUT ROWID;

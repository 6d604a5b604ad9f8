-- LiveStore 0.4 allows gaps in sequence numbers (its own suite pushes seqNum 100 with
-- parentSeqNum 0 into an empty store): an event's parent is the event before it, and its
-- seq_num is greater, but not necessarily by one. SQLite cannot drop a CHECK, so the
-- table is rebuilt with the same layout (primary key, STRICT, WITHOUT ROWID) and the
-- relaxed CHECK, inside this migration's transaction: the rows are copied, the old table
-- dropped and the new one renamed.
CREATE TABLE events_new (
    store_id       TEXT    NOT NULL,
    seq_num        INTEGER NOT NULL CHECK (seq_num > 0),
    -- The seq_num of the store's previous event (0 for its first): smaller, maybe by more
    -- than one.
    parent_seq_num INTEGER NOT NULL CHECK (parent_seq_num >= 0 AND parent_seq_num < seq_num),
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

INSERT INTO events_new (store_id, seq_num, parent_seq_num, name, args, client_id,
                        session_id, created_at, pushed_by)
    SELECT store_id, seq_num, parent_seq_num, name, args, client_id, session_id,
           created_at, pushed_by
    FROM events ORDER BY store_id, seq_num;

DROP TABLE events;
ALTER TABLE events_new RENAME TO events;

-- The events that skip numbers, so that counting a store's events after a cursor (a
-- pull's `remaining`) is the head minus the gaps instead of a scan of every event.
CREATE INDEX events_gaps ON events (store_id, seq_num) WHERE seq_num - parent_seq_num > 1;

-- The events that skip numbers (LiveStore 0.4 allows gaps; the CHECK of 0001 already
-- allows any parent below seq_num), so that counting a store's events after a cursor (a
-- pull's `remaining`) is the head minus the gaps instead of a scan of every event.
CREATE INDEX events_gaps ON events (store_id, seq_num) WHERE seq_num - parent_seq_num > 1;
-- Without statistics on the gap itself the planner takes `seq_num - parent_seq_num > 1`
-- for a third of the rows and scans the table instead of this (nearly empty) index.
CREATE STATISTICS events_gap_width ON ((seq_num - parent_seq_num)) FROM events;
ANALYZE events;

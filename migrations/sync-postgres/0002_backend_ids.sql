-- One row per store that has handed out a backend id (LiveStore 0.4 `backendId`): a
-- random id created with the store's log and replaced (row deleted, a new one created on
-- next use) by an admin reset or instance deletion.
CREATE TABLE stores (
    store_id   TEXT NOT NULL PRIMARY KEY,
    backend_id TEXT NOT NULL
);

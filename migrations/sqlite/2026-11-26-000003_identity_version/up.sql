-- The counter Postgres replicas check their cached callers against (see ../../postgres/).
-- SQLite's caches follow `PRAGMA data_version` instead, so nothing here maintains it: the table
-- is kept so that both schemas have the same tables (a backup moved between them included;
-- any value serves, as Postgres only compares it with what it read before).
CREATE TABLE identity_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO identity_version (id, version) VALUES (1, 1);

-- The counter Postgres replicas check their cached callers against (see ../../postgres/).
-- SQLite's caches follow `PRAGMA data_version` instead; the table and its triggers are kept
-- here too so that both schemas, and a backup moved between them, mean the same.
CREATE TABLE identity_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO identity_version (id, version) VALUES (1, 1);

CREATE TRIGGER api_keys_identity_update AFTER UPDATE ON api_keys
BEGIN UPDATE identity_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER api_keys_identity_delete AFTER DELETE ON api_keys
BEGIN UPDATE identity_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER users_identity_update AFTER UPDATE ON users
BEGIN UPDATE identity_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER users_identity_delete AFTER DELETE ON users
BEGIN UPDATE identity_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER orgs_identity_update AFTER UPDATE ON orgs
BEGIN UPDATE identity_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER orgs_identity_delete AFTER DELETE ON orgs
BEGIN UPDATE identity_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER group_members_identity_insert AFTER INSERT ON group_members
BEGIN UPDATE identity_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER group_members_identity_update AFTER UPDATE ON group_members
BEGIN UPDATE identity_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER group_members_identity_delete AFTER DELETE ON group_members
BEGIN UPDATE identity_version SET version = version + 1 WHERE id = 1; END;

-- A stamp that every change of the registry replaces, in the transaction that makes it: each
-- table but usage_events has a trigger per kind of change that sets a new random value. SQLite
-- tells a process that another connection committed (`PRAGMA data_version`), not what it
-- changed; the read caches then compare this stamp with the one they saw and keep their
-- entries when only usage rows were written (the gateway's writers commit about once a second,
-- which otherwise ended every cache each time). Random rather than counted, so that a database
-- put in place of another (a restore) never carries the stamp the other had.
-- A table added later needs its three triggers (crates/store/tests/schema.rs checks).
-- Keep the table in step with ../../postgres/ (same names, same columns).
CREATE TABLE registry_stamp (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    stamp BIGINT NOT NULL
);
INSERT INTO registry_stamp (id, stamp) VALUES (1, random());

CREATE TRIGGER api_keys_stamp_insert AFTER INSERT ON api_keys
BEGIN UPDATE registry_stamp SET stamp = random() WHERE id = 1; END;
CREATE TRIGGER api_keys_stamp_update AFTER UPDATE ON api_keys
BEGIN UPDATE registry_stamp SET stamp = random() WHERE id = 1; END;
CREATE TRIGGER api_keys_stamp_delete AFTER DELETE ON api_keys
BEGIN UPDATE registry_stamp SET stamp = random() WHERE id = 1; END;
CREATE TRIGGER audit_events_stamp_insert AFTER INSERT ON audit_events
BEGIN UPDATE registry_stamp SET stamp = random() WHERE id = 1; END;
CREATE TRIGGER audit_events_stamp_update AFTER UPDATE ON audit_events
BEGIN UPDATE registry_stamp SET stamp = random() WHERE id = 1; END;
CREATE TRIGGER audit_events_stamp_delete AFTER DELETE ON audit_events
BEGIN UPDATE registry_stamp SET stamp = random() WHERE id = 1; END;
CREATE TRIGGER endpoints_stamp_insert AFTER INSERT ON endpoints
BEGIN UPDATE registry_stamp SET stamp = random() WHERE id = 1; END;
CREATE TRIGGER endpoints_stamp_update AFTER UPDATE ON endpoints
BEGIN UPDATE registry_stamp SET stamp = random() WHERE id = 1; END;
CREATE TRIGGER endpoints_stamp_delete AFTER DELETE ON endpoints
BEGIN UPDATE registry_stamp SET stamp = random() WHERE id = 1; END;
CREATE TRIGGER group_members_stamp_insert AFTER INSERT ON group_members
BEGIN UPDATE registry_stamp SET stamp = random() WHERE id = 1; END;
CREATE TRIGGER group_members_stamp_update AFTER UPDATE ON group_members
BEGIN UPDATE registry_stamp SET stamp = random() WHERE id = 1; END;
CREATE TRIGGER group_members_stamp_delete AFTER DELETE ON group_members
BEGIN UPDATE registry_stamp SET stamp = random() WHERE id = 1; END;
CREATE TRIGGER identity_version_stamp_insert AFTER INSERT ON identity_version
BEGIN UPDATE registry_stamp SET stamp = random() WHERE id = 1; END;
CREATE TRIGGER identity_version_stamp_update AFTER UPDATE ON identity_version
BEGIN UPDATE registry_stamp SET stamp = random() WHERE id = 1; END;
CREATE TRIGGER identity_version_stamp_delete AFTER DELETE ON identity_version
BEGIN UPDATE registry_stamp SET stamp = random() WHERE id = 1; END;
CREATE TRIGGER model_counts_stamp_insert AFTER INSERT ON model_counts
BEGIN UPDATE registry_stamp SET stamp = random() WHERE id = 1; END;
CREATE TRIGGER model_counts_stamp_update AFTER UPDATE ON model_counts
BEGIN UPDATE registry_stamp SET stamp = random() WHERE id = 1; END;
CREATE TRIGGER model_counts_stamp_delete AFTER DELETE ON model_counts
BEGIN UPDATE registry_stamp SET stamp = random() WHERE id = 1; END;
CREATE TRIGGER model_grants_stamp_insert AFTER INSERT ON model_grants
BEGIN UPDATE registry_stamp SET stamp = random() WHERE id = 1; END;
CREATE TRIGGER model_grants_stamp_update AFTER UPDATE ON model_grants
BEGIN UPDATE registry_stamp SET stamp = random() WHERE id = 1; END;
CREATE TRIGGER model_grants_stamp_delete AFTER DELETE ON model_grants
BEGIN UPDATE registry_stamp SET stamp = random() WHERE id = 1; END;
CREATE TRIGGER models_stamp_insert AFTER INSERT ON models
BEGIN UPDATE registry_stamp SET stamp = random() WHERE id = 1; END;
CREATE TRIGGER models_stamp_update AFTER UPDATE ON models
BEGIN UPDATE registry_stamp SET stamp = random() WHERE id = 1; END;
CREATE TRIGGER models_stamp_delete AFTER DELETE ON models
BEGIN UPDATE registry_stamp SET stamp = random() WHERE id = 1; END;
CREATE TRIGGER orgs_stamp_insert AFTER INSERT ON orgs
BEGIN UPDATE registry_stamp SET stamp = random() WHERE id = 1; END;
CREATE TRIGGER orgs_stamp_update AFTER UPDATE ON orgs
BEGIN UPDATE registry_stamp SET stamp = random() WHERE id = 1; END;
CREATE TRIGGER orgs_stamp_delete AFTER DELETE ON orgs
BEGIN UPDATE registry_stamp SET stamp = random() WHERE id = 1; END;
CREATE TRIGGER providers_stamp_insert AFTER INSERT ON providers
BEGIN UPDATE registry_stamp SET stamp = random() WHERE id = 1; END;
CREATE TRIGGER providers_stamp_update AFTER UPDATE ON providers
BEGIN UPDATE registry_stamp SET stamp = random() WHERE id = 1; END;
CREATE TRIGGER providers_stamp_delete AFTER DELETE ON providers
BEGIN UPDATE registry_stamp SET stamp = random() WHERE id = 1; END;
CREATE TRIGGER user_defaults_stamp_insert AFTER INSERT ON user_defaults
BEGIN UPDATE registry_stamp SET stamp = random() WHERE id = 1; END;
CREATE TRIGGER user_defaults_stamp_update AFTER UPDATE ON user_defaults
BEGIN UPDATE registry_stamp SET stamp = random() WHERE id = 1; END;
CREATE TRIGGER user_defaults_stamp_delete AFTER DELETE ON user_defaults
BEGIN UPDATE registry_stamp SET stamp = random() WHERE id = 1; END;
CREATE TRIGGER user_groups_stamp_insert AFTER INSERT ON user_groups
BEGIN UPDATE registry_stamp SET stamp = random() WHERE id = 1; END;
CREATE TRIGGER user_groups_stamp_update AFTER UPDATE ON user_groups
BEGIN UPDATE registry_stamp SET stamp = random() WHERE id = 1; END;
CREATE TRIGGER user_groups_stamp_delete AFTER DELETE ON user_groups
BEGIN UPDATE registry_stamp SET stamp = random() WHERE id = 1; END;
CREATE TRIGGER users_stamp_insert AFTER INSERT ON users
BEGIN UPDATE registry_stamp SET stamp = random() WHERE id = 1; END;
CREATE TRIGGER users_stamp_update AFTER UPDATE ON users
BEGIN UPDATE registry_stamp SET stamp = random() WHERE id = 1; END;
CREATE TRIGGER users_stamp_delete AFTER DELETE ON users
BEGIN UPDATE registry_stamp SET stamp = random() WHERE id = 1; END;

-- Only possible while no user id is used by two orgs (the primary key below refuses otherwise).
DROP INDEX models_owner;

ALTER TABLE user_defaults DROP CONSTRAINT user_defaults_org_id_user_id_fkey;
ALTER TABLE user_defaults DROP CONSTRAINT user_defaults_pkey;
ALTER TABLE user_defaults ADD PRIMARY KEY (user_id, config_type);
ALTER TABLE user_defaults DROP COLUMN org_id;

ALTER TABLE group_members DROP CONSTRAINT group_members_org_id_user_id_fkey;
DROP INDEX group_members_user;
CREATE INDEX group_members_user ON group_members (user_id);

ALTER TABLE api_keys DROP CONSTRAINT api_keys_org_id_user_id_fkey;
DROP INDEX api_keys_user;
ALTER TABLE api_keys DROP COLUMN org_id;
CREATE INDEX api_keys_user ON api_keys (user_id);

ALTER TABLE users DROP CONSTRAINT users_pkey;
ALTER TABLE users ADD PRIMARY KEY (id);
CREATE INDEX users_org ON users (org_id);

UPDATE models SET owner_id = NULL WHERE owner_id NOT IN (SELECT id FROM users);
UPDATE endpoints SET owner_id = NULL WHERE owner_id NOT IN (SELECT id FROM users);
UPDATE providers SET owner_id = NULL WHERE owner_id NOT IN (SELECT id FROM users);
ALTER TABLE models ADD CONSTRAINT models_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES users (id) ON DELETE SET NULL;
ALTER TABLE endpoints ADD CONSTRAINT endpoints_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES users (id) ON DELETE SET NULL;
ALTER TABLE providers ADD CONSTRAINT providers_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES users (id) ON DELETE SET NULL;
ALTER TABLE user_defaults ADD CONSTRAINT user_defaults_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;
ALTER TABLE group_members ADD CONSTRAINT group_members_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;

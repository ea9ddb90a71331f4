-- A user id names a user within its org, as group ids already do: two orgs may each have an
-- `alice`, and creating one tells nothing about the other org. Rows that point at a user carry
-- its org. Owners (models, endpoints, providers) keep a plain column: the store clears it when
-- the user is deleted, since a composite ON DELETE SET NULL would clear the org too.
-- Keep in step with ../../sqlite/ (same names, same columns).
ALTER TABLE group_members DROP CONSTRAINT group_members_user_id_fkey;
ALTER TABLE api_keys DROP CONSTRAINT api_keys_user_id_fkey;
ALTER TABLE user_defaults DROP CONSTRAINT user_defaults_user_id_fkey;
ALTER TABLE models DROP CONSTRAINT models_owner_id_fkey;
ALTER TABLE endpoints DROP CONSTRAINT endpoints_owner_id_fkey;
ALTER TABLE providers DROP CONSTRAINT providers_owner_id_fkey;

ALTER TABLE users DROP CONSTRAINT users_pkey;
ALTER TABLE users ADD PRIMARY KEY (org_id, id);
DROP INDEX users_org;

ALTER TABLE api_keys ADD COLUMN org_id TEXT;
UPDATE api_keys SET org_id = users.org_id FROM users WHERE users.id = api_keys.user_id;
ALTER TABLE api_keys ALTER COLUMN org_id SET NOT NULL;
ALTER TABLE api_keys ADD FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE;
DROP INDEX api_keys_user;
CREATE INDEX api_keys_user ON api_keys (org_id, user_id);

ALTER TABLE group_members ADD FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE;
DROP INDEX group_members_user;
CREATE INDEX group_members_user ON group_members (org_id, user_id);

ALTER TABLE user_defaults ADD COLUMN org_id TEXT;
UPDATE user_defaults SET org_id = users.org_id FROM users WHERE users.id = user_defaults.user_id;
ALTER TABLE user_defaults ALTER COLUMN org_id SET NOT NULL;
ALTER TABLE user_defaults DROP CONSTRAINT user_defaults_pkey;
ALTER TABLE user_defaults ADD PRIMARY KEY (org_id, user_id, config_type);
ALTER TABLE user_defaults ADD FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE;

CREATE INDEX models_owner ON models (org_id, owner_id);

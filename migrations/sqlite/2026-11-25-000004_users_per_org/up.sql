-- A user id names a user within its org, as group ids already do: two orgs may each have an
-- `alice`, and creating one tells nothing about the other org. Rows that point at a user carry
-- its org. Owners (models, endpoints, providers) keep a plain column: the store clears it when
-- the user is deleted, since a composite ON DELETE SET NULL would clear the org too.
-- Keep in step with ../../postgres/ (same names, same columns).
--
-- SQLite changes a key only by rebuilding the table. The store runs migrations with foreign keys
-- off (a dropped parent would otherwise cascade into its children) and checks them after.
CREATE TABLE users_new (
    id TEXT NOT NULL,
    org_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    email TEXT,
    role TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    seq BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (org_id, id)
);
INSERT INTO users_new (id, org_id, name, email, role, created_at, updated_at, seq)
SELECT id, org_id, name, email, role, created_at, updated_at, seq FROM users;

CREATE TABLE api_keys_new (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP,
    org_id TEXT NOT NULL,
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);
INSERT INTO api_keys_new (id, user_id, name, prefix, key_hash, created_at, revoked_at, org_id)
SELECT k.id, k.user_id, k.name, k.prefix, k.key_hash, k.created_at, k.revoked_at, u.org_id
FROM api_keys k JOIN users u ON u.id = k.user_id;

CREATE TABLE group_members_new (
    org_id TEXT NOT NULL,
    group_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    PRIMARY KEY (org_id, group_id, user_id),
    FOREIGN KEY (org_id, group_id) REFERENCES user_groups (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);
INSERT INTO group_members_new (org_id, group_id, user_id)
SELECT org_id, group_id, user_id FROM group_members;

CREATE TABLE user_defaults_new (
    user_id TEXT NOT NULL,
    config_type TEXT NOT NULL,
    model_seq BIGINT NOT NULL REFERENCES models (seq) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    id BIGINT NOT NULL DEFAULT 0,
    org_id TEXT NOT NULL,
    PRIMARY KEY (org_id, user_id, config_type),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);
INSERT INTO user_defaults_new (user_id, config_type, model_seq, created_at, updated_at, id, org_id)
SELECT d.user_id, d.config_type, d.model_seq, d.created_at, d.updated_at, d.id, u.org_id
FROM user_defaults d JOIN users u ON u.id = d.user_id;

CREATE TABLE providers_new (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    provider_id TEXT NOT NULL,
    name TEXT NOT NULL,
    api_key_enc TEXT,
    api_key_mask TEXT,
    extra TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version BIGINT NOT NULL,
    owner_id TEXT,
    extra_secrets TEXT NOT NULL DEFAULT '{}',
    UNIQUE (org_id, provider_id)
);
INSERT INTO providers_new
SELECT seq, org_id, provider_id, name, api_key_enc, api_key_mask, extra, created_at, updated_at,
       version, owner_id, extra_secrets
FROM providers;

CREATE TABLE models_new (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    org_id TEXT REFERENCES orgs (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    source TEXT NOT NULL,
    owner_id TEXT,
    display_name TEXT,
    description TEXT,
    tags TEXT NOT NULL,
    provider TEXT,
    provider_ref BIGINT REFERENCES providers (seq) ON DELETE SET NULL,
    base_model TEXT,
    category TEXT,
    base_url TEXT,
    api_key_enc TEXT,
    api_key_mask TEXT,
    params TEXT NOT NULL,
    capabilities TEXT,
    input_cost DOUBLE,
    output_cost DOUBLE,
    cache_hit_input_cost DOUBLE,
    cache_creation_input_cost DOUBLE,
    context_window BIGINT,
    dimension BIGINT,
    supported_params_override TEXT,
    extra TEXT NOT NULL,
    is_active BOOLEAN NOT NULL,
    public_read BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version BIGINT NOT NULL
);
INSERT INTO models_new
SELECT seq, uuid, org_id, key, source, owner_id, display_name, description, tags, provider,
       provider_ref, base_model, category, base_url, api_key_enc, api_key_mask, params,
       capabilities, input_cost, output_cost, cache_hit_input_cost, cache_creation_input_cost,
       context_window, dimension, supported_params_override, extra, is_active, public_read,
       created_at, updated_at, version
FROM models;

CREATE TABLE endpoints_new (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    slug TEXT NOT NULL,
    description TEXT NOT NULL,
    model_seq BIGINT REFERENCES models (seq) ON DELETE CASCADE,
    owner_id TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    summary TEXT NOT NULL DEFAULT '',
    response_type TEXT NOT NULL DEFAULT 'summary',
    published BOOLEAN NOT NULL DEFAULT FALSE,
    tags TEXT NOT NULL DEFAULT '[]',
    system_prompt TEXT,
    UNIQUE (org_id, slug)
);
INSERT INTO endpoints_new
SELECT id, org_id, name, slug, description, model_seq, owner_id, created_at, updated_at, summary,
       response_type, published, tags, system_prompt
FROM endpoints;

DROP TABLE endpoints;
DROP TABLE models;
DROP TABLE providers;
DROP TABLE user_defaults;
DROP TABLE group_members;
DROP TABLE api_keys;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;
ALTER TABLE api_keys_new RENAME TO api_keys;
ALTER TABLE group_members_new RENAME TO group_members;
ALTER TABLE user_defaults_new RENAME TO user_defaults;
ALTER TABLE providers_new RENAME TO providers;
ALTER TABLE models_new RENAME TO models;
ALTER TABLE endpoints_new RENAME TO endpoints;

CREATE UNIQUE INDEX users_seq ON users (seq);
CREATE TRIGGER users_number AFTER INSERT ON users WHEN NEW.seq = 0
BEGIN
    UPDATE users SET seq = (SELECT MAX(seq) + 1 FROM users) WHERE rowid = NEW.rowid;
END;
CREATE INDEX api_keys_user ON api_keys (org_id, user_id);
CREATE INDEX group_members_user ON group_members (org_id, user_id);
CREATE INDEX user_defaults_model ON user_defaults (model_seq);
CREATE UNIQUE INDEX user_defaults_id ON user_defaults (id);
CREATE TRIGGER user_defaults_number AFTER INSERT ON user_defaults WHEN NEW.id = 0
BEGIN
    UPDATE user_defaults SET id = (SELECT MAX(id) + 1 FROM user_defaults) WHERE rowid = NEW.rowid;
END;
CREATE UNIQUE INDEX models_org_key ON models (org_id, key) WHERE org_id IS NOT NULL;
CREATE UNIQUE INDEX models_builtin_key ON models (key) WHERE org_id IS NULL;
CREATE INDEX models_provider_ref ON models (provider_ref);
CREATE INDEX models_owner ON models (org_id, owner_id);
CREATE INDEX endpoints_model ON endpoints (model_seq);

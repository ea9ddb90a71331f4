-- Only possible while no user id is used by two orgs (the primary key below refuses otherwise).
-- Runs with foreign keys off, as the up migration does.
CREATE TABLE users_old (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    email TEXT,
    role TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    seq BIGINT NOT NULL DEFAULT 0
);
INSERT INTO users_old (id, org_id, name, email, role, created_at, updated_at, seq)
SELECT id, org_id, name, email, role, created_at, updated_at, seq FROM users;

CREATE TABLE api_keys_old (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
INSERT INTO api_keys_old SELECT id, user_id, name, prefix, key_hash, created_at, revoked_at FROM api_keys;

CREATE TABLE group_members_old (
    org_id TEXT NOT NULL,
    group_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (org_id, group_id, user_id),
    FOREIGN KEY (org_id, group_id) REFERENCES user_groups (org_id, id) ON DELETE CASCADE
);
INSERT INTO group_members_old SELECT org_id, group_id, user_id FROM group_members;

CREATE TABLE user_defaults_old (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    config_type TEXT NOT NULL,
    model_seq BIGINT NOT NULL REFERENCES models (seq) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    id BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, config_type)
);
INSERT INTO user_defaults_old
SELECT user_id, config_type, model_seq, created_at, updated_at, id FROM user_defaults;

CREATE TABLE providers_old (
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
    owner_id TEXT REFERENCES users (id) ON DELETE SET NULL,
    extra_secrets TEXT NOT NULL DEFAULT '{}',
    UNIQUE (org_id, provider_id)
);
INSERT INTO providers_old
SELECT seq, org_id, provider_id, name, api_key_enc, api_key_mask, extra, created_at, updated_at,
       version, owner_id, extra_secrets
FROM providers;
UPDATE providers_old SET owner_id = NULL WHERE owner_id NOT IN (SELECT id FROM users_old);

CREATE TABLE models_old (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    org_id TEXT REFERENCES orgs (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    source TEXT NOT NULL,
    owner_id TEXT REFERENCES users (id) ON DELETE SET NULL,
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
INSERT INTO models_old
SELECT seq, uuid, org_id, key, source, owner_id, display_name, description, tags, provider,
       provider_ref, base_model, category, base_url, api_key_enc, api_key_mask, params,
       capabilities, input_cost, output_cost, cache_hit_input_cost, cache_creation_input_cost,
       context_window, dimension, supported_params_override, extra, is_active, public_read,
       created_at, updated_at, version
FROM models;
UPDATE models_old SET owner_id = NULL WHERE owner_id NOT IN (SELECT id FROM users_old);

CREATE TABLE endpoints_old (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    slug TEXT NOT NULL,
    description TEXT NOT NULL,
    model_seq BIGINT REFERENCES models (seq) ON DELETE CASCADE,
    owner_id TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    summary TEXT NOT NULL DEFAULT '',
    response_type TEXT NOT NULL DEFAULT 'summary',
    published BOOLEAN NOT NULL DEFAULT FALSE,
    tags TEXT NOT NULL DEFAULT '[]',
    system_prompt TEXT,
    UNIQUE (org_id, slug)
);
INSERT INTO endpoints_old
SELECT id, org_id, name, slug, description, model_seq, owner_id, created_at, updated_at, summary,
       response_type, published, tags, system_prompt
FROM endpoints;
UPDATE endpoints_old SET owner_id = NULL WHERE owner_id NOT IN (SELECT id FROM users_old);

DROP TABLE endpoints;
DROP TABLE models;
DROP TABLE providers;
DROP TABLE user_defaults;
DROP TABLE group_members;
DROP TABLE api_keys;
DROP TABLE users;
ALTER TABLE users_old RENAME TO users;
ALTER TABLE api_keys_old RENAME TO api_keys;
ALTER TABLE group_members_old RENAME TO group_members;
ALTER TABLE user_defaults_old RENAME TO user_defaults;
ALTER TABLE providers_old RENAME TO providers;
ALTER TABLE models_old RENAME TO models;
ALTER TABLE endpoints_old RENAME TO endpoints;

CREATE INDEX users_org ON users (org_id);
CREATE UNIQUE INDEX users_seq ON users (seq);
CREATE TRIGGER users_number AFTER INSERT ON users WHEN NEW.seq = 0
BEGIN
    UPDATE users SET seq = (SELECT MAX(seq) + 1 FROM users) WHERE rowid = NEW.rowid;
END;
CREATE INDEX api_keys_user ON api_keys (user_id);
CREATE INDEX group_members_user ON group_members (user_id);
CREATE INDEX user_defaults_model ON user_defaults (model_seq);
CREATE UNIQUE INDEX user_defaults_id ON user_defaults (id);
CREATE TRIGGER user_defaults_number AFTER INSERT ON user_defaults WHEN NEW.id = 0
BEGIN
    UPDATE user_defaults SET id = (SELECT MAX(id) + 1 FROM user_defaults) WHERE rowid = NEW.rowid;
END;
CREATE UNIQUE INDEX models_org_key ON models (org_id, key) WHERE org_id IS NOT NULL;
CREATE UNIQUE INDEX models_builtin_key ON models (key) WHERE org_id IS NULL;
CREATE INDEX models_provider_ref ON models (provider_ref);
CREATE INDEX endpoints_model ON endpoints (model_seq);

-- modelgate schema (Postgres). Keep in step with ../../sqlite/ (same names, same columns).
CREATE TABLE orgs (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL UNIQUE,
    is_root BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    email TEXT,
    role TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX users_org ON users (org_id);

CREATE TABLE user_groups (
    org_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (org_id, id)
);

CREATE TABLE group_members (
    org_id TEXT NOT NULL,
    group_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (org_id, group_id, user_id),
    FOREIGN KEY (org_id, group_id) REFERENCES user_groups (org_id, id) ON DELETE CASCADE
);
CREATE INDEX group_members_user ON group_members (user_id);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
CREATE INDEX api_keys_user ON api_keys (user_id);

CREATE TABLE providers (
    seq BIGSERIAL PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    provider_id TEXT NOT NULL,
    name TEXT NOT NULL,
    api_key_enc TEXT,
    api_key_mask TEXT,
    extra TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version BIGINT NOT NULL,
    UNIQUE (org_id, provider_id)
);

CREATE TABLE models (
    seq BIGSERIAL PRIMARY KEY,
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
    input_cost DOUBLE PRECISION,
    output_cost DOUBLE PRECISION,
    cache_hit_input_cost DOUBLE PRECISION,
    cache_creation_input_cost DOUBLE PRECISION,
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
-- A key is unique inside an org, and among the built-in (org-less) catalog models.
CREATE UNIQUE INDEX models_org_key ON models (org_id, key) WHERE org_id IS NOT NULL;
CREATE UNIQUE INDEX models_builtin_key ON models (key) WHERE org_id IS NULL;
CREATE INDEX models_provider_ref ON models (provider_ref);

CREATE TABLE model_grants (
    model_seq BIGINT NOT NULL REFERENCES models (seq) ON DELETE CASCADE,
    principal_type TEXT NOT NULL,
    principal_id TEXT NOT NULL,
    permission TEXT NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (model_seq, principal_type, principal_id, permission)
);
CREATE INDEX model_grants_principal ON model_grants (principal_type, principal_id);

CREATE TABLE endpoints (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    slug TEXT NOT NULL,
    description TEXT NOT NULL,
    model_seq BIGINT REFERENCES models (seq) ON DELETE CASCADE,
    owner_id TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (org_id, slug)
);
CREATE INDEX endpoints_model ON endpoints (model_seq);

CREATE TABLE user_defaults (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    config_type TEXT NOT NULL,
    model_seq BIGINT NOT NULL REFERENCES models (seq) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, config_type)
);
CREATE INDEX user_defaults_model ON user_defaults (model_seq);

-- No foreign keys: the trail outlives what it describes.
CREATE TABLE audit_events (
    id BIGSERIAL PRIMARY KEY,
    org_id TEXT,
    entity TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    actor_id TEXT,
    dialect TEXT NOT NULL,
    action TEXT NOT NULL,
    before_state TEXT,
    after_state TEXT,
    at TIMESTAMP NOT NULL
);
CREATE INDEX audit_events_entity ON audit_events (entity, entity_id, id);

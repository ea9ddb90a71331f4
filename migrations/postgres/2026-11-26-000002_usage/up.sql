-- One row per call through the inference gateway: who, which model, tokens, cost, timings.
CREATE TABLE usage_events (
    id BIGSERIAL PRIMARY KEY,
    org_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    -- The key's id; no foreign key: usage outlives deleted users and their keys.
    key_id TEXT,
    model_key TEXT NOT NULL,
    upstream_model TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    stream BOOLEAN NOT NULL,
    prompt_tokens BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    cached_tokens BIGINT NOT NULL,
    cost DOUBLE PRECISION,
    latency_ms BIGINT NOT NULL,
    ttft_ms BIGINT,
    status INTEGER NOT NULL,
    at TIMESTAMP NOT NULL
);
CREATE INDEX usage_events_org_at ON usage_events (org_id, at);

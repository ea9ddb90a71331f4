-- What the products' current clients read: stable integer ids for users and per-user defaults
-- (Xagent shows them as `user_id` and `id`), and the endpoint fields Syft Space keeps.
-- Keep in step with ../../sqlite/ (same names, same columns).
CREATE SEQUENCE users_seq_seq;
ALTER TABLE users ADD COLUMN seq BIGINT NOT NULL DEFAULT nextval('users_seq_seq');
ALTER SEQUENCE users_seq_seq OWNED BY users.seq;
CREATE UNIQUE INDEX users_seq ON users (seq);

CREATE SEQUENCE user_defaults_id_seq;
ALTER TABLE user_defaults ADD COLUMN id BIGINT NOT NULL DEFAULT nextval('user_defaults_id_seq');
ALTER SEQUENCE user_defaults_id_seq OWNED BY user_defaults.id;
CREATE UNIQUE INDEX user_defaults_id ON user_defaults (id);

-- Endpoints made before this migration served a model without a dataset: Syft's 'summary' type.
ALTER TABLE endpoints ADD COLUMN summary TEXT NOT NULL DEFAULT '';
ALTER TABLE endpoints ADD COLUMN response_type TEXT NOT NULL DEFAULT 'summary';
ALTER TABLE endpoints ADD COLUMN published BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE endpoints ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
ALTER TABLE endpoints ADD COLUMN system_prompt TEXT;

-- What the products' current clients read: stable integer ids for users and per-user defaults
-- (Xagent shows them as `user_id` and `id`), and the endpoint fields Syft Space keeps.
-- Keep in step with ../../postgres/ (same names, same columns).
--
-- SQLite cannot add a column with a sequence default, so new rows arrive with 0 and a trigger
-- gives them the next number. Writers are serialized, so MAX + 1 cannot race.
ALTER TABLE users ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
UPDATE users SET seq = rowid;
CREATE UNIQUE INDEX users_seq ON users (seq);
CREATE TRIGGER users_number AFTER INSERT ON users WHEN NEW.seq = 0
BEGIN
    UPDATE users SET seq = (SELECT MAX(seq) + 1 FROM users) WHERE rowid = NEW.rowid;
END;

ALTER TABLE user_defaults ADD COLUMN id BIGINT NOT NULL DEFAULT 0;
UPDATE user_defaults SET id = rowid;
CREATE UNIQUE INDEX user_defaults_id ON user_defaults (id);
CREATE TRIGGER user_defaults_number AFTER INSERT ON user_defaults WHEN NEW.id = 0
BEGIN
    UPDATE user_defaults SET id = (SELECT MAX(id) + 1 FROM user_defaults) WHERE rowid = NEW.rowid;
END;

-- Endpoints made before this migration served a model without a dataset: Syft's 'summary' type.
ALTER TABLE endpoints ADD COLUMN summary TEXT NOT NULL DEFAULT '';
ALTER TABLE endpoints ADD COLUMN response_type TEXT NOT NULL DEFAULT 'summary';
ALTER TABLE endpoints ADD COLUMN published BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE endpoints ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
ALTER TABLE endpoints ADD COLUMN system_prompt TEXT;

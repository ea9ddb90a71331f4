-- Custom providers get an owner (the creating user; providers made before have none, so only
-- org admins write them) and a column for the sealed credential-bearing values of their
-- settings: a JSON object from a JSON pointer into `extra` to its ciphertext. Values written in
-- clear by earlier versions are sealed by the store after migrating (Store::migrate), since SQL
-- cannot encrypt. Keep in step with ../../sqlite/ (same names, same columns).
ALTER TABLE providers ADD COLUMN owner_id TEXT REFERENCES users (id) ON DELETE SET NULL;
ALTER TABLE providers ADD COLUMN extra_secrets TEXT NOT NULL DEFAULT '{}';

ALTER TABLE endpoints DROP COLUMN system_prompt;
ALTER TABLE endpoints DROP COLUMN tags;
ALTER TABLE endpoints DROP COLUMN published;
ALTER TABLE endpoints DROP COLUMN response_type;
ALTER TABLE endpoints DROP COLUMN summary;
-- Dropping the columns drops the sequences they own and their indexes.
ALTER TABLE user_defaults DROP COLUMN id;
ALTER TABLE users DROP COLUMN seq;

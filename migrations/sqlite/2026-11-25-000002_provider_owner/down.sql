-- The sealed values cannot be put back in clear by SQL: going down drops them.
ALTER TABLE providers DROP COLUMN extra_secrets;
ALTER TABLE providers DROP COLUMN owner_id;

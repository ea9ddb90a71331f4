-- Unpaged lists in key order (`/v1/models`, exports) read an org's custom models and the
-- catalog separately, each in batches after the last key read. Where the statistics are stale
-- (autovacuum off, a table grown since the last ANALYZE) Postgres read a batch from the org's
-- newest-first index and sorted every model after the cursor: 14 s for 100,000 models. With
-- the org, source and key range all in one index, a batch is one ordered range read.
-- Keep in step with ../../sqlite/ (same name, same columns).
CREATE INDEX models_org_source_key ON models (org_id, source, key, seq);

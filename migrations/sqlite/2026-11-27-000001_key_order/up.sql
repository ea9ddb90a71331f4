-- Unpaged lists in key order (`/v1/models`, exports) read an org's custom models and the
-- catalog separately, in batches after the last key read: with the org, source and key range
-- in one index, a batch is one ordered range read (see ../../postgres/, where stale statistics
-- made each batch sort every model after the cursor).
-- Keep in step with ../../postgres/ (same name, same columns).
CREATE INDEX models_org_source_key ON models (org_id, source, key, seq);

-- Listing pages that cost the same at a thousand models as at a hundred thousand.
-- Keep in step with ../../sqlite/ (same names, same columns).
--
-- Open WebUI lists an org's custom models newest first: this index hands out a page in order
-- without sorting the org's models.
CREATE INDEX models_org_newest ON models (org_id, source, created_at DESC, seq);

-- Unpaged lists (`/v1/models`, exports) are read in batches by key: each batch starts in this
-- index where the last one ended, instead of sorting every visible model again.
CREATE INDEX models_key_seq ON models (key, seq);

-- How many models each org has, by source ('' stands for the built-in catalog), kept by
-- triggers in the transaction that inserts or deletes them: a page's total without counting
-- rows. Once per statement, not per row: a bulk insert updates each count once. A model's org
-- and source never change, so updates need no trigger.
CREATE TABLE model_counts (
    org_id TEXT NOT NULL,
    source TEXT NOT NULL,
    total BIGINT NOT NULL,
    PRIMARY KEY (org_id, source)
);
INSERT INTO model_counts (org_id, source, total)
    SELECT COALESCE(org_id, ''), source, COUNT(*) FROM models GROUP BY COALESCE(org_id, ''), source;

CREATE FUNCTION count_inserted_models() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO model_counts (org_id, source, total)
        SELECT COALESCE(org_id, ''), source, COUNT(*) FROM inserted
        GROUP BY COALESCE(org_id, ''), source
        ON CONFLICT (org_id, source) DO UPDATE SET total = model_counts.total + EXCLUDED.total;
    RETURN NULL;
END
$$;

CREATE FUNCTION count_deleted_models() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE model_counts SET total = model_counts.total - gone.n
        FROM (SELECT COALESCE(org_id, '') AS org_id, source, COUNT(*) AS n FROM deleted
              GROUP BY COALESCE(org_id, ''), source) AS gone
        WHERE model_counts.org_id = gone.org_id AND model_counts.source = gone.source;
    RETURN NULL;
END
$$;

CREATE TRIGGER models_counted_in AFTER INSERT ON models
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION count_inserted_models();
CREATE TRIGGER models_counted_out AFTER DELETE ON models
    REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT EXECUTE FUNCTION count_deleted_models();

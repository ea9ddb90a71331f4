-- Listing pages that cost the same at a thousand models as at a hundred thousand.
-- Keep in step with ../../postgres/ (same names, same columns).
--
-- Open WebUI lists an org's custom models newest first: this index hands out a page in order
-- without sorting the org's models.
CREATE INDEX models_org_newest ON models (org_id, source, created_at DESC, seq);

-- Unpaged lists (`/v1/models`, exports) are read in batches by key: each batch starts in this
-- index where the last one ended, instead of sorting every visible model again.
CREATE INDEX models_key_seq ON models (key, seq);

-- How many models each org has, by source ('' stands for the built-in catalog), kept by
-- triggers in the transaction that inserts or deletes them: a page's total without counting
-- rows. A model's org and source never change, so updates need no trigger.
CREATE TABLE model_counts (
    org_id TEXT NOT NULL,
    source TEXT NOT NULL,
    total BIGINT NOT NULL,
    PRIMARY KEY (org_id, source)
);
INSERT INTO model_counts (org_id, source, total)
    SELECT COALESCE(org_id, ''), source, COUNT(*) FROM models GROUP BY COALESCE(org_id, ''), source;

CREATE TRIGGER models_counted_in AFTER INSERT ON models
BEGIN
    INSERT INTO model_counts (org_id, source, total) VALUES (COALESCE(NEW.org_id, ''), NEW.source, 1)
        ON CONFLICT (org_id, source) DO UPDATE SET total = total + 1;
END;

CREATE TRIGGER models_counted_out AFTER DELETE ON models
BEGIN
    UPDATE model_counts SET total = total - 1
        WHERE org_id = COALESCE(OLD.org_id, '') AND source = OLD.source;
END;

DROP INDEX models_org_source_key;

DROP TRIGGER models_counted_out;
DROP TRIGGER models_counted_in;
DROP TABLE model_counts;
DROP INDEX models_key_seq;
DROP INDEX models_org_newest;

DROP TRIGGER models_counted_out ON models;
DROP TRIGGER models_counted_in ON models;
DROP FUNCTION count_deleted_models();
DROP FUNCTION count_inserted_models();
DROP TABLE model_counts;
DROP INDEX models_key_seq;
DROP INDEX models_org_newest;

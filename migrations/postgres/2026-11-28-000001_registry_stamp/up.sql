-- SQLite's stamp of registry changes (see ../../sqlite/). Postgres replicas check their cached
-- entries against each row's `xmin` and the identity version instead, so nothing here maintains
-- it: the table is kept so that both schemas have the same tables.
CREATE TABLE registry_stamp (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    stamp BIGINT NOT NULL
);
INSERT INTO registry_stamp (id, stamp) VALUES (1, 0);

-- A counter that moves whenever what an API key authenticates may have changed: a key revoked
-- or deleted, a user's role or org changed or the user deleted, an org's root flag changed, a
-- group membership added or removed (a group's deletion removes its memberships). Statement
-- triggers bump it in the writing transaction, so a replica that cached callers at version N
-- learns, from one read of this row in the same statement as the data it serves, whether any
-- of them may be stale. Creating keys, users and orgs changes no existing caller.
-- Keep in step with ../../sqlite/ (same names, same columns).
CREATE TABLE identity_version (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO identity_version (id, version) VALUES (1, 1);

CREATE FUNCTION bump_identity_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE identity_version SET version = version + 1 WHERE id = 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER api_keys_identity AFTER UPDATE OR DELETE OR TRUNCATE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION bump_identity_version();
CREATE TRIGGER users_identity AFTER UPDATE OR DELETE OR TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION bump_identity_version();
CREATE TRIGGER orgs_identity AFTER UPDATE OR DELETE OR TRUNCATE ON orgs
    FOR EACH STATEMENT EXECUTE FUNCTION bump_identity_version();
CREATE TRIGGER group_members_identity AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON group_members
    FOR EACH STATEMENT EXECUTE FUNCTION bump_identity_version();

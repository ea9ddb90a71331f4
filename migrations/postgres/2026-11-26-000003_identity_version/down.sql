DROP TRIGGER group_members_identity ON group_members;
DROP TRIGGER orgs_identity ON orgs;
DROP TRIGGER users_identity ON users;
DROP TRIGGER api_keys_identity ON api_keys;
DROP FUNCTION bump_identity_version();
DROP TABLE identity_version;

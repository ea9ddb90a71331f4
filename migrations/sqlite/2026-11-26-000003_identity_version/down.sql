DROP TABLE identity_version;

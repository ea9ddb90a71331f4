DROP TABLE registry_stamp;

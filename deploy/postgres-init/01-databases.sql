-- Run once by the postgres image, on an empty data volume only (docker-entrypoint-initdb.d).
-- One database each, so the sidecar's and the KMS's migrations and tables never meet.
CREATE DATABASE sidecar;
CREATE DATABASE kms;

-- Access control (README "Registration credentials", docs/security.md).

-- A credential lets sidecars register for one service. Only a SHA-256 of its token is kept:
-- tokens are 256-bit random values, so a fast hash is as good as a slow one and lookups stay exact.
CREATE TABLE kms_credentials (
  credential_id  uuid PRIMARY KEY,
  service_name   text        NOT NULL,
  label          text        NOT NULL DEFAULT '',
  token_sha256   bytea       NOT NULL UNIQUE CHECK (length(token_sha256) = 32),
  created        timestamptz NOT NULL DEFAULT clock_timestamp(),
  revoked        timestamptz
);

-- NULL: registered without a credential (KMS_REGISTRATION=open).
ALTER TABLE kms_sidecars ADD COLUMN credential_id uuid REFERENCES kms_credentials (credential_id);
-- Registrations are counted per credential and in total while their connections are open.
CREATE INDEX kms_sidecars_open ON kms_sidecars (credential_id) WHERE status IN ('challenged', 'registered');

-- A batch id is unique within its scope: the credential of the registration that delivered it,
-- or the all-zero uuid for registrations without one. So one credential's batches can neither
-- collide with another's nor reveal (through error 120) which ids another holds.
ALTER TABLE kms_batches ADD COLUMN scope uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000';
ALTER TABLE kms_batches DROP CONSTRAINT kms_batches_pkey;
ALTER TABLE kms_batches ADD PRIMARY KEY (scope, batch_id);

-- NULL: accepted as a result. Otherwise why the response was not counted as one (it is kept as
-- evidence of what the sender did, and shown in the verdict as that sender's problem).
ALTER TABLE kms_inquiry_responses ADD COLUMN problem text;

-- Who did what through the admin API, and when.
CREATE TABLE kms_admin_actions (
  action_id  bigserial PRIMARY KEY,
  at         timestamptz NOT NULL DEFAULT clock_timestamp(),
  role       text        NOT NULL,   -- admin or auditor
  remote     text        NOT NULL,   -- peer address:port
  method     text        NOT NULL,
  path       text        NOT NULL,
  target     text,                   -- the id the action created or changed, when there is one
  status     integer     NOT NULL    -- the HTTP status it was answered with
);

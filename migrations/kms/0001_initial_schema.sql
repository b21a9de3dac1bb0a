-- The central KMS's state (protocol.md §7). Tables are prefixed so the KMS can share a
-- database with a sidecar in small set-ups.

CREATE TABLE kms_sidecars (
  sidecar_id    uuid PRIMARY KEY,
  service_name  text        NOT NULL,
  status        text        NOT NULL CHECK (status IN ('challenged', 'registered', 'terminated', 'suspended')),
  created       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX kms_sidecars_service ON kms_sidecars (service_name);

CREATE TABLE kms_sidecar_status_history (
  sidecar_id  uuid        NOT NULL REFERENCES kms_sidecars (sidecar_id),
  status      text        NOT NULL,
  changed     timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX kms_sidecar_status_history_sidecar ON kms_sidecar_status_history (sidecar_id, changed);

-- Secret keys are stored only sealed with the master key (libsodium secretbox: nonce || box).
CREATE TABLE kms_keys (
  sidecar_id        uuid  PRIMARY KEY REFERENCES kms_sidecars (sidecar_id),
  row_key_sealed    bytea NOT NULL,
  batch_key_sealed  bytea NOT NULL,
  batch_public_key  bytea NOT NULL
);

CREATE TABLE kms_batches (
  batch_id    uuid PRIMARY KEY,
  sidecar_id  uuid        NOT NULL REFERENCES kms_sidecars (sidecar_id),
  signature   text        NOT NULL,
  received    timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX kms_batches_sidecar_received ON kms_batches (sidecar_id, received);

CREATE TABLE kms_healthchecks (
  healthcheck_id  uuid PRIMARY KEY,
  sidecar_id      uuid        NOT NULL REFERENCES kms_sidecars (sidecar_id),
  level           text        NOT NULL,
  created         timestamptz NOT NULL,
  response        jsonb,
  completed       timestamptz
);

CREATE TABLE kms_inquiries (
  inquiry_id    uuid PRIMARY KEY,
  service_name  text        NOT NULL,
  start_time    timestamptz NOT NULL,
  end_time      timestamptz NOT NULL,
  created       timestamptz NOT NULL DEFAULT clock_timestamp(),
  asked         uuid[]      NOT NULL,          -- the sidecars the inquiry went to
  completed     timestamptz                     -- set when the verdict is final
);

CREATE TABLE kms_inquiry_responses (
  inquiry_id  uuid        NOT NULL REFERENCES kms_inquiries (inquiry_id),
  sidecar_id  uuid        NOT NULL,             -- the connection that answered
  batch_id    uuid,                             -- NULL for the "total 0" answer
  body        text,
  total       integer     NOT NULL,
  item        integer     NOT NULL,
  received    timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX kms_inquiry_responses_inquiry ON kms_inquiry_responses (inquiry_id, received);

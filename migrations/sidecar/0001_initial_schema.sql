-- The sidecar's audit store (protocol.md §2 and §3).

-- One row per registration with the KMS: every event and batch names the registration that
-- signed it. The public half of the batch key is kept so batch signatures can be checked
-- from the database alone; the secret keys are never stored.
CREATE TABLE sidecars (
  sidecar_id        uuid PRIMARY KEY,
  service_name      text        NOT NULL,
  version           text        NOT NULL,
  batch_public_key  text        NOT NULL,
  created           timestamptz NOT NULL
);

-- A batch row exists from its first event on (data and signature NULL while it is open), so
-- events are written once, already linked to their batch.
CREATE TABLE batches (
  batch_id      uuid PRIMARY KEY,
  sidecar_id    uuid NOT NULL REFERENCES sidecars (sidecar_id),
  data          text,          -- the signed JSON document, byte for byte
  signature     text,          -- ed25519, 128 hex digits
  created       timestamptz,   -- when the batch was closed and signed
  acknowledged  timestamptz,   -- when the KMS confirmed it holds the signature
  CHECK ((data IS NULL) = (signature IS NULL)),
  CHECK ((data IS NULL) = (created IS NULL))
);
CREATE INDEX batches_sidecar_id ON batches (sidecar_id);
CREATE INDEX batches_created ON batches (created);
CREATE INDEX batches_open ON batches (batch_id) WHERE data IS NULL;
CREATE INDEX batches_unacknowledged ON batches (created) WHERE acknowledged IS NULL AND data IS NOT NULL;

CREATE TABLE events (
  event_id    uuid PRIMARY KEY,
  sidecar_id  uuid        NOT NULL REFERENCES sidecars (sidecar_id),
  batch_id    uuid        NOT NULL REFERENCES batches (batch_id),
  sequence    bigint      NOT NULL,
  message     bytea       NOT NULL,  -- the payload exactly as received
  signature   text        NOT NULL,  -- AES-CMAC of the signable row, 32 hex digits
  created     timestamptz NOT NULL,  -- receipt time, millisecond precision
  UNIQUE (sidecar_id, sequence)
);
CREATE INDEX events_batch_id ON events (batch_id);

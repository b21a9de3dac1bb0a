-- Inquiry responses are verified once, as they arrive, and each is stored with its outcome, so a
-- verdict is read with SQL over the outcomes instead of verifying every body again.

ALTER TABLE kms_inquiry_responses
  ADD COLUMN arrival        bigint,    -- its place among the inquiry's responses, in order of arrival
  ADD COLUMN verified       boolean,   -- NULL: not a result (no batch, or a problem), or stored before outcomes were
  ADD COLUMN delivered_by   uuid,      -- the registration that delivered the batch; NULL: the KMS never received it
  ADD COLUMN rows           integer,
  ADD COLUMN rows_verified  integer,
  ADD COLUMN problems       text;      -- a JSON array of strings, batch-level first, then rows in order
CREATE INDEX kms_inquiry_responses_arrival ON kms_inquiry_responses (inquiry_id, arrival);
CREATE INDEX kms_inquiry_responses_batch ON kms_inquiry_responses (inquiry_id, batch_id);

-- The sequence numbers of every verified row of an inquiry's results, per keyId, as runs of
-- consecutive numbers: the verdict's gaps are the holes between them.
CREATE TABLE kms_inquiry_sequences (
  inquiry_id      uuid   NOT NULL REFERENCES kms_inquiries (inquiry_id),
  key_id          text   NOT NULL,   -- lower case
  first_sequence  bigint NOT NULL,
  last_sequence   bigint NOT NULL CHECK (last_sequence >= first_sequence)
);
CREATE INDEX kms_inquiry_sequences_key ON kms_inquiry_sequences (inquiry_id, key_id, first_sequence);

-- The writer commits on more than one connection: while one group commits, the next group's
-- rows are already being written. Those rows may name a batch or a registration that the
-- previous group adds and has not committed yet, so the foreign keys are checked at COMMIT,
-- which the writer issues only once every earlier group is committed. The checks themselves
-- are unchanged.
ALTER TABLE batches ALTER CONSTRAINT batches_sidecar_id_fkey DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE events ALTER CONSTRAINT events_sidecar_id_fkey DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE events ALTER CONSTRAINT events_batch_id_fkey DEFERRABLE INITIALLY DEFERRED;

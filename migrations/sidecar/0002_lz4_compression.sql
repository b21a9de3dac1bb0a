-- The writer's commits compress every value larger than about 2 kB: each batch document (it
-- repeats every event of its batch) and every large message. lz4 does that at a fraction of
-- the CPU of the default pglz, on the writer's critical path. It needs PostgreSQL 14 or later
-- built with lz4; any other server keeps its default, and says so.
DO $$
BEGIN
  EXECUTE 'ALTER TABLE batches ALTER COLUMN data SET COMPRESSION lz4';
  EXECUTE 'ALTER TABLE events ALTER COLUMN message SET COMPRESSION lz4';
EXCEPTION WHEN feature_not_supported OR syntax_error THEN
  RAISE NOTICE 'batches.data and events.message keep the default compression: %', SQLERRM;
END
$$;

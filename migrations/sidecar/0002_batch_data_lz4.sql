-- A batch document repeats every event of its batch, so it is the largest value the writer
-- stores, and PostgreSQL compresses it on the writer's critical path. lz4 does that at a
-- fraction of the CPU of the default pglz. It needs PostgreSQL 14 or later built with lz4;
-- any other server keeps its default, and says so.
DO $$
BEGIN
  EXECUTE 'ALTER TABLE batches ALTER COLUMN data SET COMPRESSION lz4';
EXCEPTION WHEN feature_not_supported OR syntax_error THEN
  RAISE NOTICE 'batches.data keeps the default compression: %', SQLERRM;
END
$$;

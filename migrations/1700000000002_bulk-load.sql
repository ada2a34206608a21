-- Up Migration

-- Bulk loads (src/modules/importer/importer.ts) run without the unique key on activities and build
-- it once at the end. Rows whose event id may already be stored (the importer's Bloom filter says
-- so) wait here, in arrival order, until the rebuilt key settles them: the first occurrence of an
-- id is inserted, the others are duplicates. The ledger counts them as pending meanwhile.
ALTER TABLE import_runs ADD COLUMN rows_pending bigint NOT NULL DEFAULT 0;
ALTER TABLE import_runs DROP CONSTRAINT import_runs_check;
ALTER TABLE import_runs ADD CONSTRAINT import_runs_rows_add_up
  CHECK (rows_read = rows_inserted + rows_duplicate + rows_rejected + rows_pending);

CREATE TABLE activities_pending (
  LIKE activities,
  warnings smallint NOT NULL,                  -- bit i = WARNING_KINDS[i] of row-rules.ts
  seq bigint GENERATED ALWAYS AS IDENTITY      -- arrival order: file order, then line order
);

-- Down Migration

DROP TABLE activities_pending;
ALTER TABLE import_runs DROP CONSTRAINT import_runs_rows_add_up;
ALTER TABLE import_runs ADD CONSTRAINT import_runs_check
  CHECK (rows_read = rows_inserted + rows_duplicate + rows_rejected);
ALTER TABLE import_runs DROP COLUMN rows_pending;

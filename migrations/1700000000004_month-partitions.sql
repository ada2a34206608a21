-- Up Migration

-- Facts live in month partitions of activities (by event_at, UTC), created by the importer as
-- data arrives (src/modules/importer/month-partitions.ts), so old months can be archived and
-- dropped and month ranges read only their partitions. A unique key on a partitioned table must
-- hold the partition key, so "an event_id is stored at most once, in any month" moves to the id
-- registry event_ids, which keeps the ids of archived months too.
CREATE TABLE event_ids (event_id uuid PRIMARY KEY);
-- Bulk loads stage the ids of the rows they copy here, unkeyed, and merge them into event_ids in
-- one sorted pass when they settle: the registry never loses its key, even after a crash.
CREATE TABLE event_ids_staged (event_id uuid NOT NULL);
-- An interrupted bulk load left activities without its key; its ids (all distinct) are staged,
-- for the next import to finish that load.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'activities_pkey') THEN
    INSERT INTO event_ids SELECT event_id FROM activities;
  ELSE
    INSERT INTO event_ids_staged SELECT event_id FROM activities;
  END IF;
END $$;

ALTER TABLE activities RENAME TO activities_unpartitioned;
CREATE TABLE activities (LIKE activities_unpartitioned INCLUDING DEFAULTS)
  PARTITION BY RANGE (event_at);
DO $$
DECLARE
  first_day timestamptz;
BEGIN
  FOR first_day IN
    SELECT DISTINCT date_trunc('month', event_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
    FROM activities_unpartitioned
  LOOP
    EXECUTE format('CREATE TABLE %I PARTITION OF activities FOR VALUES FROM (%L) TO (%L)',
      'activities_' || to_char(first_day AT TIME ZONE 'UTC', 'YYYY_MM'), first_day,
      first_day + interval '1 month');
  END LOOP;
END $$;
INSERT INTO activities SELECT * FROM activities_unpartitioned;
DROP TABLE activities_unpartitioned;

-- Archived months (npm run archive): their facts are in the file, their figures stay in the
-- rollups and their ids in event_ids. A restored month's row is deleted with the restore.
-- A month archived, then imported into again, is archived once more: one row per file.
CREATE TABLE archived_months (
  month int NOT NULL,                 -- yyyymm
  file_name text NOT NULL,            -- in the archive folder
  rows bigint NOT NULL,
  bytes bigint NOT NULL,
  sha256 text NOT NULL,               -- of the compressed file
  archived_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (month, file_name)
);

-- Down Migration

DROP TABLE archived_months;
ALTER TABLE activities RENAME TO activities_partitioned;
CREATE TABLE activities (LIKE activities_partitioned INCLUDING DEFAULTS);
INSERT INTO activities SELECT * FROM activities_partitioned;
DROP TABLE activities_partitioned;
ALTER TABLE activities ADD CONSTRAINT activities_pkey PRIMARY KEY (event_id);
DROP TABLE event_ids, event_ids_staged;

-- Up Migration

-- The id registry in generations, so that a day's import enters one small index instead of a
-- B-tree of every id ever stored (src/modules/importer/id-registry.ts). event_ids becomes a
-- parent partitioned by generation; each generation is a partition with its own unique key. The
-- newest takes new ids; the older ones are sealed, and a Bloom filter of each (in segments of
-- sorted ids) screens which ids must be looked up in them. The existing registry becomes
-- generation 1, the newest.
ALTER TABLE event_ids RENAME TO event_ids_1;
ALTER TABLE event_ids_1 RENAME CONSTRAINT event_ids_pkey TO event_ids_1_pkey;
ALTER TABLE event_ids_1 ADD COLUMN generation int NOT NULL DEFAULT 1;
CREATE TABLE event_ids (event_id uuid NOT NULL, generation int NOT NULL)
  PARTITION BY LIST (generation);
ALTER TABLE event_ids ATTACH PARTITION event_ids_1 FOR VALUES IN (1);

CREATE TABLE event_id_filters (
  generation int NOT NULL,
  segment int NOT NULL,
  first_id uuid NOT NULL,    -- the segment holds the generation's ids from this one to the next's
  ids int NOT NULL,
  bits bytea NOT NULL,       -- src/modules/importer/id-filter.ts
  PRIMARY KEY (generation, segment)
);
-- Random bits do not compress: store them out of line as they are.
ALTER TABLE event_id_filters ALTER COLUMN bits SET STORAGE EXTERNAL;

-- Down Migration

DROP TABLE event_id_filters;
CREATE TABLE event_ids_all (event_id uuid PRIMARY KEY);
INSERT INTO event_ids_all SELECT event_id FROM event_ids;
DROP TABLE event_ids;
ALTER TABLE event_ids_all RENAME TO event_ids;
ALTER TABLE event_ids RENAME CONSTRAINT event_ids_all_pkey TO event_ids_pkey;

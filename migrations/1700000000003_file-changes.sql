-- Up Migration

-- A run is done only when what it committed is the file's whole content. committed_hash is the
-- SHA-256 of the first bytes_committed bytes as read: a later import resumes the run only when the
-- file still starts with exactly those bytes. 'changed': the file changed while it was imported;
-- its committed rows stay, and the file is imported again once it is stable.
ALTER TABLE import_runs ADD COLUMN committed_hash text;
ALTER TABLE import_runs DROP CONSTRAINT import_runs_status_check;
ALTER TABLE import_runs ADD CONSTRAINT import_runs_status_check
  CHECK (status IN ('queued', 'running', 'done', 'failed', 'rejected', 'changed'));

-- Down Migration

UPDATE import_runs SET status = 'failed', message = 'the file changed while it was imported'
  WHERE status = 'changed';
ALTER TABLE import_runs DROP CONSTRAINT import_runs_status_check;
ALTER TABLE import_runs ADD CONSTRAINT import_runs_status_check
  CHECK (status IN ('queued', 'running', 'done', 'failed', 'rejected'));
ALTER TABLE import_runs DROP COLUMN committed_hash;

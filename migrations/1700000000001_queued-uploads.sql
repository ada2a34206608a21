-- Up Migration

-- An upload gets its ledger row (and id) as soon as the file is stored, before its import starts.
ALTER TABLE import_runs DROP CONSTRAINT import_runs_status_check;
ALTER TABLE import_runs ADD CONSTRAINT import_runs_status_check
  CHECK (status IN ('queued', 'running', 'done', 'failed', 'rejected'));

-- Down Migration

UPDATE import_runs SET status = 'failed', message = 'queued upload dropped by a schema downgrade'
  WHERE status = 'queued';
ALTER TABLE import_runs DROP CONSTRAINT import_runs_status_check;
ALTER TABLE import_runs ADD CONSTRAINT import_runs_status_check
  CHECK (status IN ('running', 'done', 'failed', 'rejected'));

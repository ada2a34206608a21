import type pg from 'pg';
import type { StoredUpload } from './uploads.js';

/** The run an upload is answered with: an earlier one of the same content, or its own. */
export interface UploadRun {
  id: number;
  status: 'queued' | 'running' | 'done' | 'rejected';
  /** True when the run was made for this upload: its stored copy is the one to import. */
  created: boolean;
}

/** The first key of the two-key advisory locks taken per upload name (any constant). */
const UPLOAD_LOCK_CLASS = 727_274_002;

/**
 * The run of this name and content that makes another unnecessary: a finished one first (its
 * answer is final), else the newest still queued or running.
 */
async function findSameContent(
  client: pg.PoolClient,
  upload: StoredUpload,
): Promise<UploadRun | undefined> {
  const result = await client.query<{ id: number; status: UploadRun['status'] }>(
    `SELECT id, status FROM import_runs
     WHERE file_name = $1 AND file_hash = $2 AND status IN ('queued', 'running', 'done', 'rejected')
     ORDER BY status IN ('done', 'rejected') DESC, id DESC LIMIT 1`,
    [upload.fileName, upload.hash],
  );
  const row = result.rows[0];
  return row && { ...row, created: false };
}

async function createQueuedRun(client: pg.PoolClient, upload: StoredUpload): Promise<UploadRun> {
  const result = await client.query<{ id: number }>(
    `INSERT INTO import_runs (file_name, file_size, file_mtime, file_hash, status, bytes_committed, next_line)
     VALUES ($1, $2, $3, $4, 'queued', 0, 1) RETURNING id`,
    [upload.fileName, upload.size, upload.mtime, upload.hash],
  );
  return { id: (result.rows[0] as { id: number }).id, status: 'queued', created: true };
}

/**
 * The ledger's answer to a stored upload: the run of the same name and content if there is one,
 * else a new queued run. Serialised per file name by an advisory lock held to the commit, so
 * identical uploads at once make one run, not one each.
 */
export async function runForUpload(pool: pg.Pool, upload: StoredUpload): Promise<UploadRun> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [
      UPLOAD_LOCK_CLASS,
      upload.fileName,
    ]);
    const run = (await findSameContent(client, upload)) ?? (await createQueuedRun(client, upload));
    await client.query('COMMIT');
    return run;
  } catch (error) {
    // A connection that cannot even roll back is not given back to the pool.
    broken = await client.query('ROLLBACK').then(
      () => undefined,
      (rollbackError: Error) => rollbackError,
    );
    throw error;
  } finally {
    client.release(broken);
  }
}

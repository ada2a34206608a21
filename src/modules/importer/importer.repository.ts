import pg from 'pg';
import { serverUrl } from '../../db/servers.js';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import {
  ACTIVITY_COLUMNS,
  COPY_HEADER_BYTES,
  UUID_OFFSET_IN_ROW,
  UUID_ROW_BYTES,
} from './binary-copy.js';
import { splitPair, splitTriple, type RollupDelta, type RowFacts } from './batch-rollups.js';

export type RunStatus = 'queued' | 'running' | 'done' | 'failed' | 'rejected' | 'changed';

/** A run's row accounting: read = inserted + duplicate + rejected. */
export interface RunCounts {
  rowsRead: number;
  rowsInserted: number;
  rowsDuplicate: number;
  rowsRejected: number;
  /** Rows of a bulk load waiting for the rebuilt unique key to settle them (importer.ts). */
  rowsPending: number;
  rejectsByReason: Record<string, number>;
  warningsByKind: Record<string, number>;
}

export interface RunRecord extends RunCounts {
  id: number;
  fileName: string;
  fileSize: number;
  fileMtime: Date | null;
  fileHash: string;
  status: RunStatus;
  bytesCommitted: number;
  /** SHA-256 of the first bytesCommitted bytes as read; null for runs older than the column. */
  committedHash: string | null;
  nextLine: number;
  message: string | null;
  startedAt: Date;
  finishedAt: Date | null;
}

export interface RejectRecord {
  runId: number;
  line: number;
  reason: string;
  raw: string;
}

const RUN_COLUMNS = `id, file_name AS "fileName", file_size::float8 AS "fileSize", file_mtime AS "fileMtime",
  file_hash AS "fileHash", status, rows_read::float8 AS "rowsRead", rows_inserted::float8 AS "rowsInserted",
  rows_duplicate::float8 AS "rowsDuplicate", rows_rejected::float8 AS "rowsRejected",
  rows_pending::float8 AS "rowsPending", rejects_by_reason AS "rejectsByReason", warnings_by_kind AS "warningsByKind",
  bytes_committed::float8 AS "bytesCommitted", committed_hash AS "committedHash", next_line::float8 AS "nextLine", message,
  started_at AS "startedAt", finished_at AS "finishedAt"`;

const IMPORT_LOCK_KEY = 727_274_001; // any constant: one importer at a time per database

/** A session-level lock: a second importer (process or request) waits for the first to finish. */
export async function acquireImportLock(client: pg.Client): Promise<void> {
  await client.query('SELECT pg_advisory_lock($1)', [IMPORT_LOCK_KEY]);
}

/**
 * Session settings for bulk loading, on the importer's own connection only:
 * - synchronous_commit off: a commit does not wait for its WAL flush. A server crash can lose the
 *   last batches, but each loses its ledger progress in the same transaction, so a rerun redoes
 *   exactly those rows: nothing is counted twice or half.
 * - statement_timeout: a batch may take minutes on slow disks, but never hangs forever.
 * - jit off: the importer's queries are large but simple; compiling them only adds time.
 */
export async function prepareImportSession(client: pg.Client): Promise<void> {
  await client.query(
    `SET synchronous_commit = off; SET statement_timeout = '30min'; SET TimeZone = 'UTC';
     SET jit = off`,
  );
}

const UNIQUE_VIOLATION = '23505';

async function copyIn(
  client: pg.Client,
  target: string,
  body: Buffer,
  midstream?: () => Promise<void>,
): Promise<void> {
  const stream = client.query(copyFrom(`COPY ${target} FROM STDIN (FORMAT binary)`));
  let sent = 0;
  if (midstream) {
    // Fault-injection tests: half the rows handed to the socket, inside the COPY.
    sent = body.length >> 1;
    await new Promise((resolve) => stream.write(body.subarray(0, sent), resolve));
    await midstream();
  }
  stream.end(body.subarray(sent));
  await finished(stream);
}

/** COPYs a body given in chunks, in order, waiting whenever the socket's buffer is full. */
async function copyInChunks(
  client: pg.Client,
  target: string,
  chunks: Iterable<Buffer>,
): Promise<void> {
  const stream = client.query(copyFrom(`COPY ${target} FROM STDIN (FORMAT binary)`));
  for (const chunk of chunks) if (!stream.write(chunk)) await once(stream, 'drain');
  stream.end();
  await finished(stream);
}

/**
 * COPYs ids (a body of one-uuid rows, in chunks) into the registry's newest generation `table`,
 * inside a savepoint. Returns false, with the savepoint rolled back, when that generation holds
 * one already: its unique key never admits one.
 */
export async function registerIds(
  client: pg.Client,
  table: string,
  chunks: Iterable<Buffer>,
): Promise<boolean> {
  await client.query('SAVEPOINT register_ids');
  try {
    await copyInChunks(client, `${table} (event_id)`, chunks);
    await client.query('RELEASE SAVEPOINT register_ids');
    return true;
  } catch (error) {
    if ((error as { code?: string }).code !== UNIQUE_VIOLATION) throw error;
    await client.query('ROLLBACK TO SAVEPOINT register_ids');
    return false;
  }
}

/** A bulk load's batch of ids into the unkeyed event_ids_staged. */
export async function stageIds(client: pg.Client, body: Buffer): Promise<void> {
  await copyIn(client, 'event_ids_staged (event_id)', body);
}

/** COPYs encoded rows into activities (their months' partitions exist). */
export async function copyActivities(
  client: pg.Client,
  body: Buffer,
  midstream?: () => Promise<void>,
): Promise<void> {
  await copyIn(client, `activities (${ACTIVITY_COLUMNS.join(', ')})`, body, midstream);
}

/**
 * Which of these event ids are already stored: one index probe per id (a join on unnest; `= ANY`
 * of a large array made PostgreSQL scan the whole table instead).
 */
export async function findStoredIds(client: pg.ClientBase, ids: string[]): Promise<string[]> {
  const result = await client.query<{ id: string }>(
    `SELECT a.event_id::text AS id FROM unnest($1::uuid[]) AS u(id) JOIN event_ids a ON a.event_id = u.id`,
    [ids],
  );
  return result.rows.map((r) => r.id);
}

/**
 * Keys in ascending order, which is the order of the rollup tables' unique indexes (pair and
 * triple keys pack their columns high to low), so the upserts walk each index in sequence rather
 * than in arrival order, which makes them cheaper.
 */
function inKeyOrder(keys: Iterable<number>): Float64Array {
  return Float64Array.from(keys).sort();
}

function unnestPairs(keys: Float64Array): [number[], number[]] {
  const a: number[] = [];
  const b: number[] = [];
  for (const key of keys) {
    const [x, y] = splitPair(key);
    a.push(x);
    b.push(y);
  }
  return [a, b];
}

function unnestTriples(keys: Float64Array): [number[], number[], number[]] {
  const a: number[] = [];
  const b: number[] = [];
  const c: number[] = [];
  for (const key of keys) {
    const [x, y, z] = splitTriple(key);
    a.push(x);
    b.push(y);
    c.push(z);
  }
  return [a, b, c];
}

/** Applies a batch's rollup deltas. Presence keys already known to be stored may be left out. */
export async function applyRollups(client: pg.Client, delta: RollupDelta): Promise<void> {
  if (delta.monthVolume.size > 0) {
    const keys = inKeyOrder(delta.monthVolume.keys());
    const [months, merchants] = unnestPairs(keys);
    const sums = Array.from(keys, (key) => String(delta.monthVolume.get(key)));
    await client.query(
      `INSERT INTO merchant_month_volume (month, merchant_id, success_kobo)
       SELECT * FROM unnest($1::int[], $2::int[], $3::numeric[])
       ON CONFLICT (month, merchant_id)
       DO UPDATE SET success_kobo = merchant_month_volume.success_kobo + EXCLUDED.success_kobo`,
      [months, merchants, sums],
    );
  }
  await insertPresence(
    client,
    'product_merchants (product, merchant_id)',
    unnestPairs(inKeyOrder(delta.productMerchants)),
  );
  await insertPresence(
    client,
    'product_month_merchants (product, month, merchant_id)',
    unnestTriples(inKeyOrder(delta.productMonthMerchants)),
  );
  await insertPresence(
    client,
    'kyc_merchants (stage, merchant_id)',
    unnestPairs(inKeyOrder(delta.kycMerchants)),
  );
  await insertPresence(
    client,
    'kyc_month_merchants (stage, month, merchant_id)',
    unnestTriples(inKeyOrder(delta.kycMonthMerchants)),
  );
  if (delta.productMonthStatus.size > 0) {
    const keys = inKeyOrder(delta.productMonthStatus.keys());
    const [products, months] = unnestPairs(keys);
    const counts = Array.from(keys, (key) => delta.productMonthStatus.get(key) as number[]);
    await client.query(
      `INSERT INTO product_month_status (product, month, success, failed, pending)
       SELECT * FROM unnest($1::smallint[], $2::int[], $3::bigint[], $4::bigint[], $5::bigint[])
       ON CONFLICT (product, month) DO UPDATE SET
         success = product_month_status.success + EXCLUDED.success,
         failed = product_month_status.failed + EXCLUDED.failed,
         pending = product_month_status.pending + EXCLUDED.pending`,
      [products, months, counts.map((c) => c[0]), counts.map((c) => c[1]), counts.map((c) => c[2])],
    );
  }
}

async function insertPresence(
  client: pg.Client,
  target: string,
  columns: number[][],
): Promise<void> {
  if ((columns[0] as number[]).length === 0) return;
  const types = columns.length === 2 ? ['smallint', 'int'] : ['smallint', 'int', 'int'];
  const params = types.map((t, i) => `$${i + 1}::${t}[]`).join(', ');
  await client.query(
    `INSERT INTO ${target} SELECT * FROM unnest(${params}) ON CONFLICT DO NOTHING`,
    columns,
  );
}

export async function insertRejects(client: pg.Client, rejects: RejectRecord[]): Promise<void> {
  if (rejects.length === 0) return;
  await client.query(
    `INSERT INTO import_rejects (run_id, line, reason, raw)
     SELECT * FROM unnest($1::int[], $2::bigint[], $3::text[], $4::text[])
     ON CONFLICT (run_id, line) DO NOTHING`,
    [
      rejects.map((r) => r.runId),
      rejects.map((r) => r.line),
      rejects.map((r) => r.reason),
      rejects.map((r) => r.raw),
    ],
  );
}

/** What a file was when its run ended: the ledger's record of the content imported. */
export interface FileIdentity {
  fileSize: number;
  fileMtime: Date;
  fileHash: string;
}

export interface RunProgress extends RunCounts {
  id: number;
  status: RunStatus;
  bytesCommitted: number;
  committedHash?: string | null;
  nextLine: number;
  message?: string | null;
  /** Set when the run ends: the file as it was read to its end. */
  identity?: FileIdentity;
}

export async function saveRunProgress(
  client: pg.Client | pg.Pool,
  run: RunProgress,
): Promise<void> {
  await client.query(
    `UPDATE import_runs SET status = $2, rows_read = $3, rows_inserted = $4, rows_duplicate = $5,
       rows_rejected = $6, rejects_by_reason = $7, warnings_by_kind = $8, bytes_committed = $9,
       next_line = $10, message = $11, rows_pending = $12,
       committed_hash = COALESCE($13, committed_hash), file_size = COALESCE($14, file_size),
       file_mtime = COALESCE($15, file_mtime), file_hash = COALESCE($16, file_hash),
       finished_at = CASE WHEN $2 = 'running' THEN NULL ELSE now() END
     WHERE id = $1`,
    [
      run.id,
      run.status,
      run.rowsRead,
      run.rowsInserted,
      run.rowsDuplicate,
      run.rowsRejected,
      JSON.stringify(run.rejectsByReason),
      JSON.stringify(run.warningsByKind),
      run.bytesCommitted,
      run.nextLine,
      run.message ?? null,
      run.rowsPending,
      run.committedHash ?? null,
      run.identity?.fileSize ?? null,
      run.identity?.fileMtime ?? null,
      run.identity?.fileHash ?? null,
    ],
  );
}

/** Bumps the data version and tells every listening instance, both at commit. */
export async function bumpDataVersion(client: pg.Client): Promise<void> {
  const result = await client.query<{ version: string }>(
    `UPDATE data_version SET version = version + 1, committed_at = now() RETURNING version`,
  );
  await client.query(`SELECT pg_notify('data_version', $1)`, [String(result.rows[0]?.version)]);
}

export async function runsForFile(db: pg.Pool, fileName: string): Promise<RunRecord[]> {
  const result = await db.query<RunRecord>(
    `SELECT ${RUN_COLUMNS} FROM import_runs WHERE file_name = $1 ORDER BY id DESC`,
    [fileName],
  );
  return result.rows;
}

export interface NewRun {
  fileName: string;
  fileSize: number;
  fileMtime: Date;
  fileHash: string;
  status: RunStatus;
  bytesCommitted: number;
  nextLine: number;
  message?: string;
}

export async function createRun(db: pg.Pool, run: NewRun): Promise<number> {
  const result = await db.query<{ id: number }>(
    `INSERT INTO import_runs (file_name, file_size, file_mtime, file_hash, status, bytes_committed, next_line,
                              message, finished_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8,
             CASE WHEN $5 IN ('queued', 'running') THEN NULL ELSE now() END)
     RETURNING id`,
    [
      run.fileName,
      run.fileSize,
      run.fileMtime,
      run.fileHash,
      run.status,
      run.bytesCommitted,
      run.nextLine,
      run.message ?? null,
    ],
  );
  return (result.rows[0] as { id: number }).id;
}

export async function setRunStatus(
  db: pg.Pool,
  id: number,
  status: RunStatus,
  message: string | null,
): Promise<void> {
  await db.query(
    `UPDATE import_runs SET status = $2, message = $3,
       started_at = CASE WHEN status = 'queued' THEN now() ELSE started_at END,
       finished_at = CASE WHEN $2 IN ('queued', 'running') THEN NULL ELSE now() END WHERE id = $1`,
    [id, status, message],
  );
}

/**
 * Marks failed the runs of `fileName` that an importer which died (its thread or process gone)
 * left 'running'. Only while no importer holds the lock: a live one may be running the file.
 */
export async function failAbandonedRuns(
  databaseUrl: string,
  fileName: string,
  message: string,
): Promise<void> {
  const client = new pg.Client({ connectionString: await serverUrl(databaseUrl) });
  client.on('error', () => undefined); // a lost connection fails the query in flight instead
  await client.connect();
  try {
    const lock = await client.query<{ locked: boolean }>(
      'SELECT pg_try_advisory_lock($1) AS locked',
      [IMPORT_LOCK_KEY],
    );
    if (!lock.rows[0]?.locked) return;
    await client.query(
      `UPDATE import_runs SET status = 'failed', message = $2, finished_at = now()
       WHERE file_name = $1 AND status = 'running'`,
      [fileName, message],
    );
  } finally {
    await client.end();
  }
}

export async function listRuns(db: pg.Pool, limit: number, offset: number): Promise<RunRecord[]> {
  const result = await db.query<RunRecord>(
    `SELECT ${RUN_COLUMNS} FROM import_runs ORDER BY id DESC LIMIT $1 OFFSET $2`,
    [limit, offset],
  );
  return result.rows;
}

export async function findRun(db: pg.Pool, id: number): Promise<RunRecord | undefined> {
  const result = await db.query<RunRecord>(`SELECT ${RUN_COLUMNS} FROM import_runs WHERE id = $1`, [
    id,
  ]);
  return result.rows[0];
}

export async function listRejects(
  db: pg.Pool,
  runId: number,
  reason: string | undefined,
  limit: number,
  afterLine: number,
): Promise<Array<{ line: number; reason: string; raw: string }>> {
  const result = await db.query<{ line: number; reason: string; raw: string }>(
    `SELECT line::float8 AS line, reason, raw FROM import_rejects
     WHERE run_id = $1 AND ($2::text IS NULL OR reason = $2) AND line > $3
     ORDER BY line LIMIT $4`,
    [runId, reason ?? null, afterLine, limit],
  );
  return result.rows;
}

// Bulk loads (importer.ts): ids are staged unkeyed while the rows stream in, and the registry is
// built anew with them at the end. Answers never read the registry or the staged ids.

/** True while a bulk load left staged ids or pending rows: it must be finished first. */
export async function bulkLoadUnfinished(client: pg.Client): Promise<boolean> {
  const result = await client.query<{ unfinished: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM event_ids_staged) OR EXISTS (SELECT 1 FROM activities_pending)
       AS unfinished`,
  );
  return result.rows[0]?.unfinished ?? false;
}

/** Calls `visit` with the 16 bytes of every stored, staged and pending event id. */
export async function forEachKnownId(
  client: pg.Client,
  visit: (bytes: Buffer, offset: number) => void,
): Promise<void> {
  await forEachSelectedId(
    client,
    `SELECT event_id FROM event_ids UNION ALL SELECT event_id FROM event_ids_staged
     UNION ALL SELECT event_id FROM activities_pending`,
    visit,
  );
}

/** Calls `visit` with the 16 bytes of each uuid a one-column query selects, in order (binary COPY out). */
export async function forEachSelectedId(
  client: pg.Client,
  query: string,
  visit: (bytes: Buffer, offset: number) => void,
): Promise<void> {
  const stream = client.query(copyTo(`COPY (${query}) TO STDOUT (FORMAT binary)`));
  let carry: Buffer = Buffer.alloc(0);
  let headerLeft = COPY_HEADER_BYTES;
  for await (const chunk of stream) {
    const data = carry.length > 0 ? Buffer.concat([carry, chunk as Buffer]) : (chunk as Buffer);
    let pos = Math.min(headerLeft, data.length);
    headerLeft -= pos;
    for (; pos + UUID_ROW_BYTES <= data.length; pos += UUID_ROW_BYTES)
      visit(data, pos + UUID_OFFSET_IN_ROW);
    carry = data.subarray(pos); // a cut tuple, or the 2-byte trailer at the end
  }
}

/** The columns of activities_pending a bulk load writes (its seq is assigned in arrival order). */
export const PENDING_COLUMNS = [...ACTIVITY_COLUMNS, 'warnings'] as const;

/** COPYs encoded rows (ACTIVITY_COLUMNS and a warnings mask) into activities_pending. */
export async function copyIntoPending(client: pg.Client, body: Buffer): Promise<void> {
  const stream = client.query(
    copyFrom(`COPY activities_pending (${PENDING_COLUMNS.join(', ')}) FROM STDIN (FORMAT binary)`),
  );
  stream.end(body);
  await finished(stream);
}

/**
 * Collects, in the transaction's temp table `settled`, the pending rows to insert: for each id,
 * its first pending occurrence, unless the id is stored (a stored row always arrived earlier).
 */
export async function collectSettledRows(client: pg.Client): Promise<void> {
  // Stored ids out first (the test is per id, so it commutes with taking the first occurrence):
  // the sort is then of the few left. work_mem keeps that sort in memory, for this transaction.
  await client.query(`SET LOCAL work_mem = '256MB'`);
  await client.query(
    `CREATE TEMP TABLE settled ON COMMIT DROP AS
     SELECT DISTINCT ON (event_id) seq FROM activities_pending p
     WHERE NOT EXISTS (SELECT 1 FROM event_ids a WHERE a.event_id = p.event_id)
     ORDER BY event_id, seq`,
  );
  await client.query('ALTER TABLE settled ADD PRIMARY KEY (seq)');
}

/** The rollup columns of a settled row, its run and its warnings mask. */
export interface SettledRow extends RowFacts {
  runId: number;
  warnings: number;
}

/**
 * Opens, in the caller's transaction, a cursor over the settled rows that readSettledRows pages
 * through: one pass over activities_pending, whatever the number of pages (keyset pages of a join
 * on seq, which the pending table has no index for, scanned it once a page).
 */
export async function openSettledRows(client: pg.Client, kycProduct: number): Promise<void> {
  await client.query(
    `DECLARE settled_rows NO SCROLL CURSOR FOR
     SELECT p.run_id AS "runId", p.merchant_id AS merchant,
            (extract(year FROM p.event_at) * 100 + extract(month FROM p.event_at))::int AS month,
            p.product, p.status, coalesce(k.code, 0)::int AS "kycStage",
            p.amount_kobo::float8 AS "amountKobo", p.warnings
     FROM settled s JOIN activities_pending p USING (seq)
       LEFT JOIN kyc_stages k ON p.product = $1 AND k.name = p.event_type`,
    [kycProduct],
  );
}

/**
 * The next page of settled rows; pages keep the importer's memory flat. At the end, an empty page,
 * and the cursor is closed (it would keep activities_pending from being truncated).
 */
export async function readSettledRows(client: pg.Client, limit: number): Promise<SettledRow[]> {
  const result = await client.query<SettledRow>(`FETCH ${Number(limit)} FROM settled_rows`);
  if (result.rows.length === 0) await client.query('CLOSE settled_rows');
  return result.rows;
}

/**
 * Inserts the settled rows into activities (whose partitions exist) and their ids into the
 * registry's newest generation `idTable`.
 */
export async function insertSettledRows(client: pg.Client, idTable: string): Promise<void> {
  const columns = ACTIVITY_COLUMNS.join(', ');
  await client.query(
    `INSERT INTO ${idTable} (event_id)
     SELECT p.event_id FROM activities_pending p JOIN settled USING (seq) ORDER BY p.event_id`,
  );
  await client.query(
    `INSERT INTO activities (${columns})
     SELECT ${ACTIVITY_COLUMNS.map((c) => `p.${c}`).join(', ')}
     FROM activities_pending p JOIN settled USING (seq)`,
  );
}

/** Pending rows per run. */
export async function pendingRowsByRun(client: pg.Client): Promise<Map<number, number>> {
  const result = await client.query<{ runId: number; rows: number }>(
    `SELECT run_id AS "runId", count(*)::float8 AS rows FROM activities_pending GROUP BY run_id`,
  );
  return new Map(result.rows.map((r) => [r.runId, r.rows]));
}

/** Moves a run's pending rows to inserted and duplicate, adding the inserted rows' warnings. */
export async function settleRunCounts(
  client: pg.Client,
  runId: number,
  settled: { inserted: number; duplicate: number; warningsByKind: Record<string, number> },
): Promise<void> {
  await client.query(
    `UPDATE import_runs SET rows_inserted = rows_inserted + $2, rows_duplicate = rows_duplicate + $3,
       rows_pending = rows_pending - $2 - $3,
       warnings_by_kind = (
         SELECT coalesce(jsonb_object_agg(key, total), '{}') FROM (
           SELECT key, sum(value::bigint) AS total FROM (
             SELECT * FROM jsonb_each_text(warnings_by_kind)
             UNION ALL SELECT * FROM jsonb_each_text($4::jsonb)) AS each GROUP BY key) AS sums)
     WHERE id = $1`,
    [runId, settled.inserted, settled.duplicate, JSON.stringify(settled.warningsByKind)],
  );
}

export async function clearPendingRows(client: pg.Client): Promise<void> {
  await client.query('TRUNCATE activities_pending');
}

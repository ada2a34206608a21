import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { serverUrl } from '../../db/servers.js';
import { hashFile } from '../importer/data-file.js';
import { acquireImportLock } from '../importer/importer.repository.js';
import { monthText } from '../analytics/analytics.definitions.js';
import { createMonthPartition, partitionName, storedMonths } from '../importer/month-partitions.js';

/**
 * Retention: a month's facts written to a compressed CSV file in the archive folder, then its
 * partition dropped; and back. The rollups keep the month's figures and event_ids keeps its ids,
 * so neither the answers nor deduplication change. Both hold the import lock: no import runs
 * meanwhile, and each month is one transaction, so a kill leaves the month either stored or
 * archived, never both or neither.
 */

export interface ArchivedMonth {
  month: number;
  fileName: string;
  rows: number;
  bytes: number;
  sha256: string;
}

/** Test hooks: called just before a month's transaction commits. */
export interface RetentionHooks {
  beforeCommit?: (month: number) => Promise<void>;
}

/** Archives every stored month before `before` (yyyymm), oldest first. */
export async function archiveMonthsBefore(
  databaseUrl: string,
  archiveDir: string,
  before: number,
  hooks: RetentionHooks = {},
): Promise<ArchivedMonth[]> {
  await mkdir(archiveDir, { recursive: true });
  return withImportLock(databaseUrl, async (client) => {
    await removePartialArchives(archiveDir);
    const archived: ArchivedMonth[] = [];
    for (const month of (await storedMonths(client)).filter((m) => m < before))
      archived.push(await archiveMonth(client, archiveDir, month, hooks));
    return archived;
  });
}

async function archiveMonth(
  client: pg.Client,
  archiveDir: string,
  month: number,
  hooks: RetentionHooks,
): Promise<ArchivedMonth> {
  const table = partitionName(month);
  const earlier = await client.query('SELECT 1 FROM archived_months WHERE month = $1', [month]);
  // A month imported into again after its archive gets a second file.
  const fileName = `${table}.${earlier.rowCount ?? 0}.csv.gz`;
  await client.query('BEGIN');
  try {
    const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`);
    const written = await writeArchive(client, table, path.join(archiveDir, fileName));
    await client.query(
      `INSERT INTO archived_months (month, file_name, rows, bytes, sha256) VALUES ($1, $2, $3, $4, $5)`,
      [month, fileName, rows[0]?.n, written.bytes, written.sha256],
    );
    await client.query(`DROP TABLE ${table}`);
    await hooks.beforeCommit?.(month);
    await client.query('COMMIT');
    return { month, fileName, rows: Number(rows[0]?.n), ...written };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/**
 * COPYs a partition out as gzip'd CSV to `file`, durably (a temporary name, fsync, rename, fsync
 * of the folder): the partition is dropped only once its file is on disk under its final name.
 */
async function writeArchive(
  client: pg.Client,
  table: string,
  file: string,
): Promise<{ bytes: number; sha256: string }> {
  const partial = `${file}.partial`;
  const digest = new Digest();
  await pipeline(
    client.query(copyTo(`COPY ${table} TO STDOUT (FORMAT csv, HEADER)`)),
    createGzip(),
    digest,
    createWriteStream(partial),
  );
  await fsync(partial);
  await rename(partial, file);
  await fsync(path.dirname(file));
  return { bytes: digest.bytes, sha256: digest.hex() };
}

/** Restores a month from its archive files: checksums first, then one transaction. */
export async function restoreMonth(
  databaseUrl: string,
  archiveDir: string,
  month: number,
  hooks: RetentionHooks = {},
): Promise<{ rows: number; files: string[] }> {
  return withImportLock(databaseUrl, async (client) => {
    const archives = await client.query<{ fileName: string; sha256: string; rows: string }>(
      `SELECT file_name AS "fileName", sha256, rows FROM archived_months WHERE month = $1
       ORDER BY archived_at, file_name`,
      [month],
    );
    if (archives.rows.length === 0) throw new Error(`month ${monthText(month)} is not archived`);
    for (const archive of archives.rows) {
      const actual = await hashFile(path.join(archiveDir, archive.fileName));
      if (actual !== archive.sha256)
        throw new Error(`${archive.fileName}: checksum differs from the ledger's; not restored`);
    }
    let rows = 0;
    await client.query('BEGIN');
    try {
      if (!(await storedMonths(client)).includes(month)) await createMonthPartition(client, month);
      for (const archive of archives.rows) {
        rows += await loadArchive(client, partitionName(month), archiveDir, archive.fileName);
      }
      const expected = archives.rows.reduce((sum, a) => sum + Number(a.rows), 0);
      if (rows !== expected)
        throw new Error(`restored ${rows} rows where the ledger says ${expected}; not restored`);
      await client.query('DELETE FROM archived_months WHERE month = $1', [month]);
      await hooks.beforeCommit?.(month);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
    const files = archives.rows.map((a) => a.fileName);
    for (const file of files) await rm(path.join(archiveDir, file), { force: true });
    return { rows, files };
  });
}

async function loadArchive(
  client: pg.Client,
  table: string,
  archiveDir: string,
  fileName: string,
): Promise<number> {
  const copy = client.query(copyFrom(`COPY ${table} FROM STDIN (FORMAT csv, HEADER)`));
  await pipeline(createReadStream(path.join(archiveDir, fileName)), createGunzip(), copy);
  return copy.rowCount;
}

/** Archive files a crash left half-written (never in the ledger): safe to remove. */
async function removePartialArchives(archiveDir: string): Promise<void> {
  const names = await readdir(archiveDir).catch(() => []);
  for (const name of names.filter((n) => n.endsWith('.partial')))
    await rm(path.join(archiveDir, name), { force: true });
}

async function withImportLock<T>(
  databaseUrl: string,
  work: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const client = new pg.Client({ connectionString: await serverUrl(databaseUrl) });
  client.on('error', () => undefined); // a lost connection fails the query in flight instead
  await client.connect();
  try {
    await client.query(`SET TimeZone = 'UTC'; SET DateStyle = 'ISO'`);
    await acquireImportLock(client);
    return await work(client);
  } finally {
    await client.end();
  }
}

class Digest extends Transform {
  private readonly hash = createHash('sha256');
  bytes = 0;

  override _transform(chunk: Buffer, _encoding: string, done: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    done(null, chunk);
  }

  hex(): string {
    return this.hash.digest('hex');
  }
}

async function fsync(file: string): Promise<void> {
  const handle = await open(file, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

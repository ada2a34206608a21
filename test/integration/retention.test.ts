import { readdir, readFile, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generateFiles } from '../../bench/generate.js';
import { migrate } from '../../src/db/migrate.js';
import { createPool } from '../../src/db/pool.js';
import { AnswerCache } from '../../src/modules/analytics/analytics.cache.js';
import { verifyAnswers } from '../../src/modules/analytics/verify.js';
import { listImportFiles } from '../../src/modules/importer/data-file.js';
import { storedMonths } from '../../src/modules/importer/month-partitions.js';
import {
  figuresOf,
  importInto,
  killImportClis,
  runRetentionCli,
  type Figures,
} from '../fault-helpers.js';
import { createTestDatabase, scratchDirs } from '../helpers.js';

const scratchDir = scratchDirs();

/** md5 of a month's facts (all columns), in event_id order. */
async function monthDigest(admin: pg.Client, month: number): Promise<string> {
  const { rows } = await admin.query<{ md5: string | null }>(
    `SELECT md5(string_agg(concat_ws('|', event_id, merchant_id, event_at, product, event_type,
               amount_kobo, status, channel, region, merchant_tier, run_id), ',' ORDER BY event_id))
     FROM activities
     WHERE event_at >= make_timestamptz($1 / 100, $1 % 100, 1, 0, 0, 0, 'UTC')
       AND event_at < make_timestamptz($1 / 100, $1 % 100, 1, 0, 0, 0, 'UTC') + interval '1 month'`,
    [month],
  );
  return rows[0]?.md5 ?? 'no facts';
}

const sha256 = async (file: string): Promise<string> =>
  createHash('sha256')
    .update(await readFile(file))
    .digest('hex');

describe('when months are archived and restored (npm run archive / restore)', () => {
  let db: { url: string; drop: () => Promise<void> };
  let admin: pg.Client;
  let dataDir: string;
  let archiveDir: string;
  let env: Record<string, string>;
  let before: Figures;
  const digests = new Map<number, string>();
  const archivedRows = async () =>
    (
      await admin.query<{ month: number; file_name: string; rows: string; sha256: string }>(
        'SELECT month, file_name, rows, sha256 FROM archived_months ORDER BY month, file_name',
      )
    ).rows;

  beforeAll(async () => {
    db = await createTestDatabase();
    await migrate(db.url);
    admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    dataDir = await scratchDir();
    archiveDir = await scratchDir();
    env = { DATABASE_URL: db.url, ARCHIVE_DIR: archiveDir };
    // 2024-01-28 to 2024-03-02: facts in January, February and March.
    await generateFiles({
      days: 35,
      rowsPerDay: 300,
      seed: 5,
      outDir: dataDir,
      clean: true,
      startDate: '2024-01-28',
    });
    await importInto(db.url, await listImportFiles(dataDir), 1_000_000);
    before = await figuresOf(db.url);
    for (const month of [202401, 202402, 202403])
      digests.set(month, await monthDigest(admin, month));
  });
  afterEach(killImportClis);
  afterAll(async () => {
    await admin?.end();
    await db?.drop();
  });

  it('then each month before the limit is written to a checksummed file and its partition dropped, and the answers do not change', async () => {
    expect(await storedMonths(admin)).toEqual([202401, 202402, 202403]);
    const run = await runRetentionCli(['archive', '--before', '2024-03'], env);
    expect(run.code, run.stderr).toBe(0);

    expect(await storedMonths(admin)).toEqual([202403]);
    const archived = await archivedRows();
    expect(archived.map((a) => a.month)).toEqual([202401, 202402]);
    for (const a of archived) {
      expect(await sha256(path.join(archiveDir, a.file_name))).toBe(a.sha256);
      expect(Number(a.rows)).toBeGreaterThan(0);
    }
    const now = await figuresOf(db.url);
    expect(now.answers).toEqual(before.answers);
    expect(now.registryDigest).toBe(before.registryDigest);
    const pool = createPool(db.url, 2);
    try {
      const checks = await verifyAnswers(pool, new AnswerCache(pool), { from: 202403, to: 202403 });
      for (const c of checks) expect(c.served, c.query).toBe(c.recomputed);
    } finally {
      await pool.end();
    }
  });

  it('then an archived event id arriving again, in upper case, is a duplicate', async () => {
    const january = (await readFile(path.join(dataDir, 'activities_20240128.csv'), 'utf8'))
      .trimEnd()
      .split('\n');
    const repeats = january
      .slice(1, 41)
      .map((line, i) => (i % 2 === 0 ? line.replace(/^[^,]+/, (id) => id.toUpperCase()) : line));
    const file = path.join(await scratchDir(), 'activities_20240401.csv');
    await writeFile(file, `${[january[0], ...repeats].join('\n')}\n`);

    const [outcome] = await importInto(db.url, [file], 1_000_000);
    expect(outcome).toMatchObject({ status: 'done', rowsDuplicate: 40, rowsInserted: 0 });
    expect((await figuresOf(db.url)).answers).toEqual(before.answers);
  });

  it('then an archive file that changed is refused and nothing is restored', async () => {
    const [february] = (await archivedRows()).filter((a) => a.month === 202402);
    const file = path.join(archiveDir, (february as { file_name: string }).file_name);
    const original = await readFile(file);
    const tampered = Buffer.from(original);
    const middle = tampered.length >> 1;
    tampered[middle] = (tampered[middle] as number) ^ 0xff;
    await writeFile(file, tampered);
    try {
      const run = await runRetentionCli(['restore', '2024-02'], env);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/checksum differs/);
      expect(await storedMonths(admin)).toEqual([202403]);
    } finally {
      await writeFile(file, original);
    }
  });

  it('then a restored month holds exactly the facts it held, and its file is gone', async () => {
    const run = await runRetentionCli(['restore', '2024-01'], env);
    expect(run.code, run.stderr).toBe(0);
    expect(await storedMonths(admin)).toEqual([202401, 202403]);
    expect(await monthDigest(admin, 202401)).toBe(digests.get(202401));
    expect((await archivedRows()).map((a) => a.month)).toEqual([202402]);
    expect((await readdir(archiveDir)).filter((f) => f.startsWith('activities_2024_01'))).toEqual(
      [],
    );
  });

  it('then an archive or restore killed (SIGKILL) before its commit leaves the month where it was, and running it again finishes', async () => {
    const archiving = await runRetentionCli(['archive', '--before', '2024-02'], {
      ...env,
      RETENTION_CRASH_AT: '1',
    });
    expect(archiving.signal, archiving.stderr).toBe('SIGKILL');
    expect(await storedMonths(admin)).toEqual([202401, 202403]);
    expect((await archivedRows()).map((a) => a.month)).toEqual([202402]);
    const archived = await runRetentionCli(['archive', '--before', '2024-02'], env);
    expect(archived.code, archived.stderr).toBe(0);
    expect(await storedMonths(admin)).toEqual([202403]);

    for (const [month, stored] of [
      ['2024-01', [202403]],
      ['2024-02', [202401, 202403]],
    ] as const) {
      const restoring = await runRetentionCli(['restore', month], {
        ...env,
        RETENTION_CRASH_AT: '1',
      });
      expect(restoring.signal, restoring.stderr).toBe('SIGKILL');
      expect(await storedMonths(admin)).toEqual(stored);
      const restored = await runRetentionCli(['restore', month], env);
      expect(restored.code, restored.stderr).toBe(0);
    }
    expect(await storedMonths(admin)).toEqual([202401, 202402, 202403]);
    expect(await archivedRows()).toEqual([]);
    expect(await readdir(archiveDir)).toEqual([]);
    const now = await figuresOf(db.url);
    expect({ ...now, ledger: [] }).toEqual({ ...before, ledger: [] });
    for (const [month, digest] of digests) expect(await monthDigest(admin, month)).toBe(digest);
  });

  it('then verify over a month range reads only that range’s partitions', async () => {
    // Another session holds February's partition exclusively: a scan of it would wait.
    await admin.query(`ALTER DATABASE ${await currentDatabase(admin)} SET lock_timeout = '2s'`);
    const locker = new pg.Client({ connectionString: db.url });
    await locker.connect();
    const pool = createPool(db.url, 2);
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE activities_2024_02 IN ACCESS EXCLUSIVE MODE');
      const checks = await verifyAnswers(pool, new AnswerCache(pool), { from: 202403, to: 202403 });
      for (const c of checks) expect(c.served, c.query).toBe(c.recomputed);
      const blocked = verifyAnswers(pool, new AnswerCache(pool), { from: 202402, to: 202402 });
      await expect(blocked).rejects.toThrow(/lock timeout/);
    } finally {
      await locker.end();
      await pool.end();
    }
  });
});

async function currentDatabase(client: pg.Client): Promise<string> {
  const { rows } = await client.query<{ name: string }>('SELECT current_database() AS name');
  return `"${rows[0]?.name}"`;
}

/**
 * Helpers of the tests of files that change while they import (issue 21): a service watching
 * DATA_DIR, waiting until it has settled, the ledger's promises, and the stored figures of one
 * clean import to compare with.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, open, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'vitest';
import type { Config } from '../src/config.js';
import { openDatabase } from '../src/db/database.js';
import { createPool } from '../src/db/pool.js';
import { listImportFiles } from '../src/modules/importer/data-file.js';
import { Importer } from '../src/modules/importer/importer.js';
import { listStoredUploads } from '../src/modules/importer/uploads.js';
import type { Service } from '../src/service.js';
import { answersOf, sleep } from './fault-helpers.js';
import { createTestDatabase, HEADER, testConfig } from './helpers.js';

export const ADMIN_TOKEN = 'test-admin-token-0123456789';
export const AUTH = { authorization: `Bearer ${ADMIN_TOKEN}` };

/** A service config watching `dataDir`, with the settle time for unterminated last lines. */
export function watchedConfig(
  databaseUrl: string,
  dataDir: string,
  options: { settleMs: number; batchRows?: number; watch?: boolean },
): Config {
  // Config.fileSettleMs (FILE_SETTLE_MS) comes with issue 21: passed as a spread so that this
  // compiles before and after the field exists.
  const settle = { fileSettleMs: options.settleMs };
  return testConfig({
    databaseUrl,
    dataDir,
    adminToken: ADMIN_TOKEN,
    watchDataDir: options.watch ?? true,
    importBatchRows: options.batchRows ?? 1_000_000,
    ...settle,
  });
}

export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not end within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** One ledger row as stored (every column, whatever the schema version), with what is stored under it. */
export interface StoredRun {
  id: number;
  file_name: string;
  file_size: number;
  file_hash: string;
  committed_hash?: string | null;
  status: string;
  rows_read: number;
  rows_inserted: number;
  rows_duplicate: number;
  rows_rejected: number;
  rows_pending: number;
  rejects_by_reason: Record<string, number>;
  bytes_committed: number;
  message: string | null;
  facts_stored: number;
  rejects_stored: number;
}

export async function storedRuns(url: string): Promise<StoredRun[]> {
  const pool = createPool(url, 1);
  try {
    // to_jsonb: columns added by later migrations (committed_hash) come along when they exist.
    const { rows } = await pool.query<{ run: StoredRun }>(
      `SELECT to_jsonb(r) || jsonb_build_object(
                'facts_stored', (SELECT count(*) FROM activities a WHERE a.run_id = r.id),
                'rejects_stored', (SELECT count(*) FROM import_rejects j WHERE j.run_id = r.id)
              ) AS run
       FROM import_runs r ORDER BY id`,
    );
    return rows.map((r) => r.run);
  } finally {
    await pool.end();
  }
}

/** The regular activities files now in DATA_DIR and the upload folder, by ledger name. */
export async function currentFiles(config: Config): Promise<Map<string, string>> {
  const listed = [
    ...(await listImportFiles(config.dataDir)),
    ...(await listStoredUploads(config.uploadDir)),
  ];
  const files = new Map<string, string>();
  for (const file of listed) {
    const info = await lstat(file).catch(() => null);
    if (info?.isFile()) files.set(path.basename(file), file);
  }
  return files;
}

const hashes = new Map<string, { key: string; hash: string }>();
/** sha256 of a file's content now (cached while its size and mtime stay the same). */
export async function fileHash(file: string): Promise<{ size: number; hash: string }> {
  const info = await lstat(file);
  const key = `${info.size}:${info.mtimeMs}`;
  const cached = hashes.get(file);
  if (cached?.key === key) return { size: info.size, hash: cached.hash };
  const hash = sha256(await readFile(file));
  hashes.set(file, { key, hash });
  return { size: info.size, hash };
}

const latestRuns = (runs: StoredRun[]): Map<string, StoredRun> =>
  new Map(runs.map((r) => [r.file_name, r])); // ordered by id: the last one wins

/**
 * Waits until the DATA_DIR watcher reports new files. It starts after the start-up import and
 * takes a moment to scan the folder; what is written meanwhile counts as already there. A probe
 * file (a header, no rows) is written again until it has a run.
 */
export async function watcherReady(config: Config, timeoutMs = 15_000): Promise<void> {
  const name = 'activities_00000000_probe.csv';
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await writeFile(path.join(config.dataDir, name), `${HEADER}\n`);
    const until = Date.now() + 2000;
    while (Date.now() < until) {
      const runs = await storedRuns(config.databaseUrl as string);
      if (runs.some((r) => r.file_name === name && r.status === 'done')) return;
      await sleep(50);
    }
    if (Date.now() > deadline) throw new Error('the DATA_DIR watcher did not report a new file');
  }
}

/** What keeps the service from being settled, or null. */
async function unsettled(service: Service, config: Config): Promise<string | null> {
  if (service.imports.status.state === 'running') return 'an import is running';
  const runs = await storedRuns(config.databaseUrl as string);
  const busy = runs.find((r) => r.status === 'queued' || r.status === 'running');
  if (busy) return `run ${busy.id} of ${busy.file_name} is ${busy.status}`;
  const latest = latestRuns(runs);
  for (const [name, file] of await currentFiles(config)) {
    const run = latest.get(name);
    if (!run) return `${name} has no run`;
    if (run.status !== 'done' && run.status !== 'rejected')
      return `the last run of ${name} (${run.id}) is ${run.status}`;
    const now = await fileHash(file).catch(() => null);
    if (now && run.file_hash !== now.hash)
      return `the last run of ${name} (${run.id}) is of other content than the file's`;
  }
  return null;
}

/**
 * Waits until the service has settled: no import running or queued, and the last run of every
 * file in DATA_DIR (and the uploads) finished with the file's present content, for a second on
 * end (a re-queued file's import may start a little later).
 */
export async function waitUntilSettled(
  service: Service,
  config: Config,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let since: number | null = null;
  let last = '';
  for (;;) {
    const problem = await unsettled(service, config);
    if (problem === null) {
      since ??= Date.now();
      if (Date.now() - since >= 1000) return;
    } else {
      since = null;
      last = problem;
    }
    if (Date.now() > deadline)
      throw new Error(`the service did not settle within ${timeoutMs} ms: ${last}`);
    await sleep(100);
  }
}

/**
 * The ledger's promises once settled: every run balances and holds what is stored under it;
 * nothing is left running, queued or failed; a run is done only when it committed the whole file
 * (bytes and hash); a `changed` run names the run that took its file over, if one did; and the last
 * run of every file present is done with the file's present content.
 */
export async function expectLedgerHolds(config: Config): Promise<StoredRun[]> {
  const runs = await storedRuns(config.databaseUrl as string);
  const describe = (run: StoredRun): string =>
    `run ${run.id} of ${run.file_name} (${run.status}, ${run.message})`;
  for (const run of runs) {
    const what = describe(run);
    expect(run.rows_read, `${what}: rows read = inserted + duplicate + rejected`).toBe(
      run.rows_inserted + run.rows_duplicate + run.rows_rejected + run.rows_pending,
    );
    expect(run.rows_pending, `${what}: pending rows`).toBe(0);
    expect(run.facts_stored, `${what}: facts stored under it`).toBe(run.rows_inserted);
    expect(run.rejects_stored, `${what}: rejects stored under it`).toBe(run.rows_rejected);
    expect(['done', 'rejected', 'changed'], `${what}: final status`).toContain(run.status);
    if (run.status === 'done')
      expect(run.bytes_committed, `${what}: bytes committed = file size`).toBe(run.file_size);
  }
  const latest = latestRuns(runs);
  for (const [name, file] of await currentFiles(config)) {
    const { size, hash } = await fileHash(file);
    expect(latest.get(name), `the last run of ${name}`).toMatchObject({
      status: 'done',
      file_size: size,
      file_hash: hash,
      bytes_committed: size,
    });
  }
  for (const run of runs) {
    const what = describe(run);
    if (run.status === 'done')
      expect(run.committed_hash, `${what}: committed hash = file hash`).toBe(run.file_hash);
    const later = runs.filter((r) => r.file_name === run.file_name && r.id > run.id);
    if (run.status === 'changed' && later.length > 0) {
      expect(run.message, `${what}: names the run that took the file over`).toMatch(
        new RegExp(`\\b(${later.map((r) => r.id).join('|')})\\b`),
      );
    }
  }
  return runs;
}

/** The figures a reader sees: the answers, the stored facts and every rollup table, as digests. */
export interface StoredFigures {
  answers: Record<string, string>;
  facts: { count: number; digest: string };
  rollups: Record<string, { count: number; digest: string }>;
  pending: number;
}

const ROLLUP_TABLES = [
  'merchant_month_volume',
  'product_merchants',
  'product_month_merchants',
  'kyc_merchants',
  'kyc_month_merchants',
  'product_month_status',
];

export async function storedFigures(url: string): Promise<StoredFigures> {
  const pool = createPool(url, 2);
  try {
    const answers = await answersOf(pool);
    const facts = await pool.query<{ count: number; digest: string }>(
      `SELECT count(*)::int AS count,
              coalesce(md5(string_agg(concat_ws('|', event_id, merchant_id, event_at, product,
                event_type, amount_kobo, status, channel, region, merchant_tier), ','
                ORDER BY event_id)), 'none') AS digest
       FROM activities`,
    );
    const rollups: StoredFigures['rollups'] = {};
    for (const table of ROLLUP_TABLES) {
      const { rows } = await pool.query<{ count: number; digest: string }>(
        `SELECT count(*)::int AS count,
                coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), 'none') AS digest
         FROM ${table} t`,
      );
      rollups[table] = rows[0] as { count: number; digest: string };
    }
    const pending = await pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM activities_pending',
    );
    return {
      answers,
      facts: facts.rows[0] as { count: number; digest: string },
      rollups,
      pending: pending.rows[0]?.n ?? -1,
    };
  } finally {
    await pool.end();
  }
}

/** Imports `files` once, in this process, as `npm run import` does (no settle wait: they are complete). */
export async function importOnce(url: string, files: string[]): Promise<void> {
  const database = await openDatabase({ databaseUrl: url });
  try {
    // ImportOptions.settleMs comes with issue 21: passed as a variable so that this compiles
    // before and after the field exists.
    const options = { batchRows: 1_000_000, settleMs: 0 };
    await new Importer(database.pool, url, options).importFiles(files);
  } finally {
    await database.close();
  }
}

/** The stored figures of one import of `files`, as they are now, into a fresh database. */
export async function cleanImportFigures(files: string[]): Promise<StoredFigures> {
  const db = await createTestDatabase();
  try {
    await importOnce(db.url, files);
    return await storedFigures(db.url);
  } finally {
    await db.drop();
  }
}

/** The figures of the service's database against those of one clean import of the files present. */
export async function expectFiguresOfOneCleanImport(config: Config): Promise<StoredFigures> {
  const files = [...(await currentFiles(config)).values()];
  const figures = await storedFigures(config.databaseUrl as string);
  const clean = await cleanImportFigures(files);
  expect(figures.facts, 'the stored facts').toEqual(clean.facts);
  expect(figures.rollups, 'the rollup tables').toEqual(clean.rollups);
  expect(figures.answers, 'the answers').toEqual(clean.answers);
  expect(figures.pending, 'rows left pending').toBe(0);
  return figures;
}

export function makeFifo(file: string): void {
  execFileSync('mkfifo', [file]);
}

/** True when some process has the FIFO open for reading (opening its write end does not fail). */
export async function fifoHasReader(file: string): Promise<boolean> {
  try {
    const handle = await open(file, constants.O_WRONLY | constants.O_NONBLOCK);
    await handle.close();
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENXIO') return false;
    throw error;
  }
}

/**
 * Keeps letting go of whoever blocks opening the FIFO to read (opening and closing its write end
 * gives that reader an empty file), so that a test failing on a blocked import can still close its
 * service. Returns the function that stops it.
 */
export function releaseFifoReaders(file: string): () => Promise<void> {
  let running = true;
  const loop = (async () => {
    while (running) {
      await fifoHasReader(file).catch(() => false);
      await sleep(50);
    }
  })();
  return async () => {
    running = false;
    await loop;
  };
}

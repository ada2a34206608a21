/** Helpers of the fault-injection tests: figures to compare, the CLI in a process, held commits. */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import pg from 'pg';
import { expect } from 'vitest';
import { openDatabase } from '../src/db/database.js';
import { createPool } from '../src/db/pool.js';
import { AnswerCache, DEFAULT_ARGS, QUERIES } from '../src/modules/analytics/analytics.cache.js';
import { verifyAnswers } from '../src/modules/analytics/verify.js';
import { listImportFiles } from '../src/modules/importer/data-file.js';
import { IMPORTER_APPLICATION_NAME, Importer } from '../src/modules/importer/importer.js';
import type { FileOutcome } from '../src/modules/importer/import-types.js';
import { createTestDatabase } from './helpers.js';

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `probe` until it returns something other than undefined; fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Polls a check that asks a server (slower than a look at memory) every `intervalMs` until it holds. */
export function waitUntil(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
  intervalMs = 50,
): Promise<true> {
  return waitFor(
    what,
    async () => ((await check()) ? true : (await sleep(intervalMs), undefined)),
    timeoutMs,
  );
}

/** One file's runs in the ledger, with the facts and rejects actually stored under each run. */
export interface LedgerRow {
  file_name: string;
  file_hash: string;
  status: string;
  rows_read: number;
  rows_inserted: number;
  rows_duplicate: number;
  rows_rejected: number;
  rows_pending: number;
  rejects_by_reason: Record<string, number>;
  warnings_by_kind: Record<string, number>;
  bytes_committed: number;
  next_line: number;
  message: string | null;
  facts_stored: number;
  rejects_stored: number;
  pending_stored: number;
}

/** What "the same figures" means: every served answer, the ledger, and the stored facts exactly. */
export interface Figures {
  answers: Record<string, string>;
  ledger: LedgerRow[];
  /** md5 of every stored fact (all columns but the run), in event_id order. */
  factsDigest: string;
  /** md5 of the ids in the registry and staged by a bulk load: with no month archived, the facts'. */
  registryDigest: string;
}

/** Every answer the service gives without parameters, computed afresh from this database. */
export async function answersOf(pool: pg.Pool): Promise<Record<string, string>> {
  const cache = new AnswerCache(pool);
  await cache.refresh();
  const answers: Record<string, string> = {};
  for (const query of QUERIES)
    answers[query] = (await cache.get(query, DEFAULT_ARGS)).body.toString();
  return answers;
}

export async function figuresOf(url: string): Promise<Figures> {
  const pool = createPool(url, 2);
  try {
    const answers = await answersOf(pool);
    const ledger = await pool.query<LedgerRow>(
      `SELECT file_name, file_hash, status, rows_read::int, rows_inserted::int,
              rows_duplicate::int, rows_rejected::int, rows_pending::int, rejects_by_reason,
              warnings_by_kind,
              bytes_committed::int, next_line::int, message,
              (SELECT count(*)::int FROM activities a WHERE a.run_id = r.id) AS facts_stored,
              (SELECT count(*)::int FROM import_rejects j WHERE j.run_id = r.id) AS rejects_stored,
              (SELECT count(*)::int FROM activities_pending p WHERE p.run_id = r.id) AS pending_stored
       FROM import_runs r ORDER BY file_name, id`,
    );
    const digest = await pool.query<{ md5: string | null }>(
      `SELECT md5(string_agg(concat_ws('|', event_id, merchant_id, event_at, product, event_type,
                 amount_kobo, status, channel, region, merchant_tier), ',' ORDER BY event_id))
       FROM activities`,
    );
    const registry = await pool.query<{ md5: string | null }>(
      `SELECT md5(string_agg(event_id::text, ',' ORDER BY event_id))
       FROM (SELECT event_id FROM event_ids UNION ALL SELECT event_id FROM event_ids_staged) AS ids`,
    );
    return {
      answers,
      ledger: ledger.rows,
      factsDigest: digest.rows[0]?.md5 ?? 'no facts',
      registryDigest: registry.rows[0]?.md5 ?? 'no ids',
    };
  } finally {
    await pool.end();
  }
}

/** Imports `files` in this process, on a pool of its own, as `npm run import` would. */
export async function importInto(
  url: string,
  files: string[],
  batchRows: number,
): Promise<FileOutcome[]> {
  const database = await openDatabase({ databaseUrl: url });
  try {
    return await new Importer(database.pool, url, { batchRows, settleMs: 0 }).importFiles(files);
  } finally {
    await database.close();
  }
}

/** The figures of one clean import of `target` (folder or file) into a fresh database. */
export async function cleanImportFigures(target: string): Promise<Figures> {
  const db = await createTestDatabase();
  try {
    await importInto(db.url, await listImportFiles(target), 1_000_000);
    return await figuresOf(db.url);
  } finally {
    await db.drop();
  }
}

/**
 * What an interruption must leave: every run's ledger counts equal what is stored under it (no
 * batch half there), and the rollups behind the answers equal the facts (`npm run verify`).
 */
export async function expectConsistent(url: string): Promise<Figures> {
  const figures = await figuresOf(url);
  for (const run of figures.ledger) {
    expect(run.facts_stored, `facts of ${run.file_name}`).toBe(run.rows_inserted);
    expect(run.rejects_stored, `rejects of ${run.file_name}`).toBe(run.rows_rejected);
    expect(run.pending_stored, `pending rows of ${run.file_name}`).toBe(run.rows_pending);
  }
  const pool = createPool(url, 2);
  try {
    const ids = await pool.query<{ md5: string | null }>(
      `SELECT md5(string_agg(event_id::text, ',' ORDER BY event_id)) FROM activities`,
    );
    expect(figures.registryDigest, 'the registry holds the facts’ ids').toBe(
      ids.rows[0]?.md5 ?? 'no ids',
    );
    for (const r of await verifyAnswers(pool, new AnswerCache(pool)))
      expect(r.served, r.query).toBe(r.recomputed);
  } finally {
    await pool.end();
  }
  return figures;
}

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const CLI = path.resolve('src/modules/importer/importer.cli.ts');
const FAULT_CLI = path.resolve('test/fault-import-cli.ts');
const RETENTION_CLI = path.resolve('src/modules/retention/retention.cli.ts');
const FAULT_RETENTION_CLI = path.resolve('test/fault-retention-cli.ts');
const running = new Set<ChildProcess>();

/** Runs the import CLI (`npm run import`) on `target` in its own process. */
export function runImportCli(target: string, env: Record<string, string>): Promise<CliRun> {
  // IMPORTER_CRASH_AT is read by the test-only entry; the shipped CLI knows nothing of it.
  return runCli(env.IMPORTER_CRASH_AT ? FAULT_CLI : CLI, [target], env);
}

/**
 * Runs `npm run archive` or `npm run restore` (args: ['archive', '--before', 'YYYY-MM'] or
 * ['restore', 'YYYY-MM']) in its own process; RETENTION_CRASH_AT=<n> kills it at its n-th commit.
 */
export function runRetentionCli(args: string[], env: Record<string, string>): Promise<CliRun> {
  return runCli(env.RETENTION_CRASH_AT ? FAULT_RETENTION_CLI : RETENTION_CLI, args, env);
}

function runCli(entry: string, args: string[], env: Record<string, string>): Promise<CliRun> {
  const child = spawn(process.execPath, ['--import', 'tsx', entry, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      running.delete(child);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Kills the CLI processes a test left running (for afterEach: a failed test must not leak them). */
export function killImportClis(): void {
  for (const child of running) child.kill('SIGKILL');
}

/** file name → status, from the CLI's summary table. */
export function cliStatuses(output: string): Record<string, string> {
  const plain = output.replace(/\x1b\[[0-9;]*m/g, '');
  const statuses: Record<string, string> = {};
  for (const [, file, status] of plain.matchAll(/(activities_\w+\.csv)\s*│\s*(\w+)/g))
    statuses[file as string] = status as string;
  return statuses;
}

/** What the importer sessions on this database wait for (pg_stat_activity.wait_event), sorted. */
export async function importerWaits(admin: pg.Client): Promise<string[]> {
  // Inside a transaction (the commit gate's) the activity view is a snapshot taken once: clear it.
  await admin.query('SELECT pg_stat_clear_snapshot()');
  const { rows } = await admin.query<{ wait: string | null }>(
    `SELECT wait_event AS wait FROM pg_stat_activity
     WHERE application_name = $1 AND datname = current_database()`,
    [IMPORTER_APPLICATION_NAME],
  );
  return rows.map((r) => r.wait ?? 'none').sort();
}

/**
 * Holds every import commit: with data_version locked, an importer stops inside its next batch
 * transaction (facts, rollups and ledger progress written) at the version bump, just before COMMIT.
 */
export class CommitGate {
  private constructor(readonly admin: pg.Client) {}

  static async close(url: string): Promise<CommitGate> {
    const admin = new pg.Client({ connectionString: url });
    admin.on('error', () => undefined); // the server may be stopped under it
    await admin.connect();
    await admin.query('BEGIN; LOCK TABLE data_version IN EXCLUSIVE MODE');
    return new CommitGate(admin);
  }

  /** Resolves once an importer waits at the gate (a relation lock); fails if none comes. */
  async importerWaiting(): Promise<void> {
    await waitFor('an importer held at the commit gate', async () =>
      (await importerWaits(this.admin)).includes('relation') ? true : undefined,
    );
  }

  /** Lets exactly the waiting batch commit, then closes again before the next one. */
  async letOneThrough(): Promise<void> {
    // Queued behind the waiting importer, the new lock is granted once that batch has committed.
    await this.admin.query('COMMIT; BEGIN; LOCK TABLE data_version IN EXCLUSIVE MODE');
  }

  async open(): Promise<void> {
    await this.admin.query('COMMIT').catch(() => undefined);
    await this.admin.end().catch(() => undefined);
  }
}

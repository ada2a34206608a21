/**
 * Import benchmark: how fast the service's importer loads CSV files into PostgreSQL, next to what
 * plain `psql \copy` does with the same files, and how soon the service answers after start-up.
 *
 * What it measures, in one run:
 *  1. build (`npm run build`); generate N rows twice with bench/generate.ts into a temp folder:
 *     a clean variant and a dirty one (10% duplicates, 1% rejects, default 2% warnings);
 *  2. baselines on the clean files, each into a fresh scratch database: one psql running one
 *     `\copy ... (FORMAT csv, HEADER)` per file into a typed table, (a) with a uuid primary key
 *     on event_id ("keyed"), (b) with no key ("keyless"); wall time of the loading only, plain
 *     psql defaults (synchronous_commit on);
 *  3. the importer CLI (`node dist/modules/importer/importer.cli.js <folder>`) end to end, on the
 *     clean then the dirty files, each into a fresh scratch database: wall time from spawn to exit
 *     (node start-up and migrations included) and peak RSS (`/usr/bin/time -v`, or VmHWM polling);
 *  4. a table of rows/s and MB/s (MB = 10^6 bytes of CSV), the ratios and their targets
 *     (PASS/FAIL is printed, the exit code stays 0: this measures, it does not gate);
 *  5. start-up to first correct answer: spawn `node dist/server.js` with DATA_DIR = clean folder
 *     and a fresh database, poll /analytics/top-merchant every 100 ms until 200, and compare the
 *     answer with SQL over the keyless baseline table;
 *  6. drop the scratch databases and the temp folder unless --keep.
 * Every measured phase starts after a CHECKPOINT; after each load its database gets an untimed
 * VACUUM ANALYZE, so autovacuum of one phase does not eat into the next one (2 cores).
 *
 * With --stored N it measures growth instead (issue 23): N clean rows of history, in days of
 * --rows rows each ending the day before a new day of --rows rows (the users this is for: the
 * history is the days just before the new one). It times (a) the keyed psql \copy of the history
 * and (b) the importer's load of it, then the new day into (c) an empty store, (c') an empty store
 * with IMPORT_BULK_LOAD=never (an empty store otherwise takes the bulk path) and (d) the full one,
 * and prints (b) against (a) and (d) against (c), for reference (d) against (c'), with peak RSS.
 *
 * usage: npm run bench:import -- [--rows N] [--days D] [--stored N [--skip-keyed]] [--keep]
 *                               [--database-url URL]
 *   --rows N            rows per variant (default 1000000); with --stored, rows of a day
 *   --days D            files per variant (default max(1, round(N / 100000)): ~100k rows a file)
 *   --stored N          rows of history to store first (growth mode, above)
 *   --skip-keyed        growth mode without (a): the keyed \copy of 100 M rows takes half an hour
 *   --database-url URL  admin connection used to create scratch databases
 *                       (default postgres://postgres@127.0.0.1:5432/postgres)
 *   --keep              keep the scratch databases and the generated files
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { positiveInt, withAdmin } from './bench-kit.js';
import { generateFiles, type GenerateManifest } from './generate.js';
import { freePort } from '../src/free-port.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const IMPORTER_CLI = join(ROOT, 'dist/modules/importer/importer.cli.js');
const SERVER = join(ROOT, 'dist/server.js');
/** The same Node flags as `npm run import` and `npm start` (package.json). */
const IMPORT_NODE_FLAGS = ['--max-old-space-size=256', '--max-semi-space-size=4'];
const SERVER_NODE_FLAGS = ['--max-old-space-size=256'];
const GNU_TIME = '/usr/bin/time';
const SEED = 42;
const POLL_MS = 100;
const STOP_TIMEOUT_MS = 15_000;

const TARGET_VS_KEYED = 2.5;
const TARGET_VS_KEYLESS = 1.2;
const TARGET_DIRTY_VS_CLEAN = 0.8;
const TARGET_RSS_MB = 300;
const TARGET_FULL_VS_EMPTY = 1.3;
/** One merchant population for the history and the new day, as for one company. */
const STORED_MERCHANTS = 20_000;

/** The typed table of the baselines, with or without the uuid primary key. */
function createTableSql(keyed: boolean): string {
  return `CREATE TABLE activities (event_id uuid${keyed ? ' PRIMARY KEY' : ''}, merchant_id text,
    event_timestamp timestamptz, product text, event_type text, amount numeric, status text,
    channel text, region text, merchant_tier text)`;
}

interface Options {
  rows: number;
  days: number;
  /** growth mode: rows of history stored before the new day (0: the standard run) */
  stored: number;
  /** growth mode: no keyed \copy of the history */
  skipKeyed: boolean;
  keep: boolean;
  adminUrl: string;
  /** 1-minute load average when the run started: other work on the box skews the figures */
  loadBefore: number;
}

interface Variant {
  dir: string;
  manifest: GenerateManifest;
}

interface Measurement {
  label: string;
  rows: number;
  bytes: number;
  seconds: number;
  /** importer only */
  peakRssBytes?: number;
}

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  seconds: number;
}

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      rows: { type: 'string', default: '1000000' },
      days: { type: 'string' },
      stored: { type: 'string', default: '0' },
      keep: { type: 'boolean', default: false },
      'skip-keyed': { type: 'boolean', default: false },
      'database-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
    },
  });
  const rows = positiveInt('rows', values.rows);
  const days =
    values.days === undefined
      ? Math.max(1, Math.round(rows / 100_000))
      : positiveInt('days', values.days);
  const adminUrl = values['database-url'];
  if (!/^postgres(ql)?:\/\//.test(adminUrl)) {
    throw new Error('--database-url must start with postgres:// or postgresql://');
  }
  const stored = values.stored === '0' ? 0 : positiveInt('stored', values.stored);
  const skipKeyed = values['skip-keyed'];
  if (skipKeyed && stored === 0) throw new Error('--skip-keyed goes with --stored');
  return {
    rows,
    days,
    stored,
    skipKeyed,
    keep: values.keep,
    adminUrl,
    loadBefore: loadavg()[0] ?? 0,
  };
}

// ---------------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------------

function log(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

/** Runs a command to its end, collecting its output; `input` is written to its stdin. */
function run(
  command: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; input?: string; onSpawn?: (child: ChildProcess) => void } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, { cwd: ROOT, env: opts.env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({ code, stdout, stderr, seconds: (performance.now() - started) / 1000 }),
    );
    child.stdin.end(opts.input ?? '');
    opts.onSpawn?.(child);
  });
}

function failIfNonZero(what: string, result: RunResult): void {
  if (result.code === 0) return;
  const tail = (result.stderr || result.stdout).trim().split('\n').slice(-20).join('\n');
  throw new Error(`${what} exited with code ${result.code}:\n${tail}`);
}

async function build(): Promise<void> {
  log('npm run build');
  failIfNonZero('npm run build', await run('npm', ['run', 'build', '--silent']));
}

// ---------------------------------------------------------------------------------------------
// Data
// ---------------------------------------------------------------------------------------------

async function generate(
  dir: string,
  o: Options,
  extra: { clean?: boolean; duplicateRate?: number; anomalyRate?: number },
): Promise<Variant> {
  const rowsPerDay = Math.ceil(o.rows / o.days);
  const manifest = await generateFiles({
    days: o.days,
    rowsPerDay,
    seed: SEED,
    outDir: dir,
    ...extra,
  });
  return { dir, manifest };
}

// ---------------------------------------------------------------------------------------------
// Scratch databases
// ---------------------------------------------------------------------------------------------

class ScratchDatabases {
  private readonly names: string[] = [];
  private readonly tag = `bench_import_${randomBytes(3).toString('hex')}`;

  constructor(private readonly adminUrl: string) {}

  /** Creates an empty database and returns its connection URL. */
  async create(label: string): Promise<string> {
    const name = `${this.tag}_${label}`;
    await adminQuery(this.adminUrl, `CREATE DATABASE ${name}`);
    this.names.push(name);
    const url = new URL(this.adminUrl);
    url.pathname = `/${name}`;
    return url.toString();
  }

  list(): string[] {
    return [...this.names];
  }

  async dropAll(): Promise<void> {
    for (const name of this.names.splice(0)) {
      await adminQuery(this.adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    }
  }
}

async function adminQuery<R extends pg.QueryResultRow = pg.QueryResultRow>(
  url: string,
  sql: string,
): Promise<R[]> {
  return withAdmin(url, async (client) => (await client.query<R>(sql)).rows);
}

/** Puts the cluster in the same state before every measured phase. */
async function checkpoint(adminUrl: string): Promise<void> {
  await adminQuery(adminUrl, 'CHECKPOINT');
}

/** Untimed clean-up after a load, so autovacuum does not run during the next phase. */
async function settle(url: string): Promise<void> {
  await adminQuery(url, 'VACUUM (ANALYZE)');
}

// ---------------------------------------------------------------------------------------------
// Baselines: psql \copy
// ---------------------------------------------------------------------------------------------

function copyScript(v: Variant): string {
  const lines = v.manifest.files.map((f) => {
    const path = join(v.dir, f).replaceAll("'", "''");
    return `\\copy activities FROM '${path}' WITH (FORMAT csv, HEADER true)`;
  });
  return lines.join('\n') + '\n';
}

async function psqlBaseline(
  label: string,
  keyed: boolean,
  v: Variant,
  dbs: ScratchDatabases,
  adminUrl: string,
): Promise<{ m: Measurement; url: string }> {
  const url = await dbs.create(keyed ? 'keyed' : 'keyless');
  await adminQuery(url, createTableSql(keyed));
  await checkpoint(adminUrl);
  log(`${label}: psql \\copy of ${v.manifest.files.length} file(s)`);
  const result = await run('psql', ['-X', '-v', 'ON_ERROR_STOP=1', '-d', url], {
    input: copyScript(v),
  });
  failIfNonZero(`psql (${label})`, result);
  const copied = [...result.stdout.matchAll(/^COPY (\d+)$/gm)].reduce(
    (a, m) => a + Number(m[1]),
    0,
  );
  if (copied !== v.manifest.rows)
    log(`warning: ${label} copied ${copied} rows, expected ${v.manifest.rows}`);
  await settle(url);
  return { m: { label, rows: copied, bytes: v.manifest.bytes, seconds: result.seconds }, url };
}

// ---------------------------------------------------------------------------------------------
// The importer CLI
// ---------------------------------------------------------------------------------------------

async function gnuTimeWorks(): Promise<boolean> {
  if (!existsSync(GNU_TIME)) return false;
  const r = await run(GNU_TIME, ['-v', 'true']).catch(() => undefined);
  return r?.code === 0 && /Maximum resident set size/.test(r.stderr);
}

/** Polls VmHWM (peak RSS) of a running process; the last value read is the peak. */
function watchPeakRss(child: ChildProcess): () => number {
  let peakKb = 0;
  const read = (): void => {
    readFile(`/proc/${child.pid}/status`, 'utf8')
      .then((s) => (peakKb = Math.max(peakKb, Number(/VmHWM:\s+(\d+)/.exec(s)?.[1] ?? 0))))
      .catch(() => undefined);
  };
  const timer = setInterval(read, 20);
  return () => {
    clearInterval(timer);
    return peakKb * 1024;
  };
}

async function runImporter(
  label: string,
  v: Variant,
  url: string,
  useGnuTime: boolean,
  settings: Record<string, string> = {},
): Promise<{ m: Measurement; summary: string }> {
  const env = { ...process.env, DATABASE_URL: url, LOG_LEVEL: 'warn', ...settings };
  log(`${label}: importer CLI on ${v.manifest.files.length} file(s)`);
  let stopWatch: (() => number) | undefined;
  const result = useGnuTime
    ? await run(GNU_TIME, ['-v', process.execPath, ...IMPORT_NODE_FLAGS, IMPORTER_CLI, v.dir], {
        env,
      })
    : await run(process.execPath, [...IMPORT_NODE_FLAGS, IMPORTER_CLI, v.dir], {
        env,
        onSpawn: (child) => (stopWatch = watchPeakRss(child)),
      });
  const watchedPeak = stopWatch?.();
  failIfNonZero(`importer (${label})`, result);
  const timedKb = /Maximum resident set size \(kbytes\): (\d+)/.exec(result.stderr)?.[1];
  const peakRssBytes = timedKb !== undefined ? Number(timedKb) * 1024 : watchedPeak;
  const summary = /^\d+ file\(s\).*$/m.exec(result.stdout)?.[0] ?? '(no summary line)';
  const m = { label, rows: v.manifest.rows, bytes: v.manifest.bytes, seconds: result.seconds };
  return { m: { ...m, peakRssBytes }, summary };
}

/** An importer run timed from a checkpoint, then the untimed vacuum of what it loaded. */
async function measuredImport(
  adminUrl: string,
  label: string,
  v: Variant,
  url: string,
  useGnuTime: boolean,
  settings: Record<string, string> = {},
): Promise<{ m: Measurement; summary: string }> {
  await checkpoint(adminUrl);
  const r = await runImporter(label, v, url, useGnuTime, settings);
  await settle(url);
  return r;
}

/** The import ledger's totals, as a cross-check of what the importer did. */
async function ledgerLine(url: string): Promise<string> {
  try {
    const [r] = await adminQuery(
      url,
      `SELECT sum(rows_read) AS read, sum(rows_inserted) AS inserted,
              sum(rows_duplicate) AS dup, sum(rows_rejected) AS rej,
              count(*) FILTER (WHERE status <> 'done') AS not_done
         FROM import_runs`,
    );
    return (
      `read ${r?.read}, inserted ${r?.inserted}, duplicates ${r?.dup}, rejected ${r?.rej}` +
      (Number(r?.not_done) > 0 ? `, ${r?.not_done} run(s) not done` : '')
    );
  } catch (error) {
    return `unavailable (${(error as Error).message})`;
  }
}

// ---------------------------------------------------------------------------------------------
// Start-up to first correct answer
// ---------------------------------------------------------------------------------------------

interface TopMerchant {
  merchant: string;
  volume: string;
}

async function expectedTopMerchant(keylessUrl: string): Promise<TopMerchant | undefined> {
  const [row] = await adminQuery<{ merchant_id: string; total: string }>(
    keylessUrl,
    `SELECT merchant_id, round(coalesce(sum(amount), 0), 2)::text AS total
       FROM activities
      WHERE upper(trim(status)) = 'SUCCESS'
      GROUP BY merchant_id
      ORDER BY coalesce(sum(amount), 0) DESC, merchant_id COLLATE "C"
      LIMIT 1`,
  );
  return row && { merchant: row.merchant_id, volume: row.total };
}

/** The answer as the service wrote it (the volume's digits kept exactly as sent). */
function parseTopMerchant(body: string): TopMerchant {
  const merchant = (JSON.parse(body) as { merchant_id?: unknown }).merchant_id;
  const volume = /"total_volume"\s*:\s*(-?[0-9.eE+-]+)/.exec(body)?.[1] ?? '?';
  return { merchant: String(merchant), volume };
}

interface Server {
  child: ChildProcess;
  /** the last few KB the server wrote, for error messages */
  output: () => string;
}

function startServer(dataDir: string, url: string, port: number): Server {
  const env = {
    ...process.env,
    PORT: String(port),
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    DATABASE_URL: url,
    LOG_LEVEL: 'warn',
  };
  const child = spawn(process.execPath, [...SERVER_NODE_FLAGS, SERVER], {
    cwd: ROOT,
    env,
    stdio: 'pipe',
  });
  let tail = '';
  const keep = (chunk: Buffer): void => {
    tail = (tail + chunk.toString('utf8')).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return { child, output: () => tail.trim() };
}

/** Polls every POLL_MS until the first 200; returns its body. */
async function firstOk(url: string, server: Server, timeoutMs: number): Promise<string> {
  const deadline = performance.now() + timeoutMs;
  let last = 'no response yet';
  while (performance.now() < deadline) {
    const code = server.child.exitCode;
    if (code !== null) throw new Error(`server exited (${code}); ${last}\n${server.output()}`);
    const next = performance.now() + POLL_MS;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
      const body = await res.text();
      if (res.status === 200) return body;
      last = `last response HTTP ${res.status}`;
    } catch (error) {
      last = `last error ${(error as Error).message}`;
    }
    await sleep(Math.max(0, next - performance.now()));
  }
  throw new Error(`no 200 within ${timeoutMs / 1000} s; ${last}\n${server.output()}`);
}

async function stopServer({ child: server }: Server): Promise<void> {
  if (server.exitCode !== null || server.signalCode !== null) return;
  const exited = new Promise((resolve) => server.once('exit', resolve));
  server.kill('SIGTERM');
  const timer = setTimeout(() => server.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

async function timeToFirstAnswer(
  v: Variant,
  url: string,
  expected: TopMerchant | undefined,
): Promise<string> {
  const port = await freePort();
  log(`start-up: node dist/server.js on port ${port}, DATA_DIR with ${v.manifest.rows} rows`);
  const started = performance.now();
  const server = startServer(v.dir, url, port);
  try {
    const timeoutMs = 120_000 + v.manifest.rows / 10; // 10 k rows/s at worst
    const body = await firstOk(
      `http://127.0.0.1:${port}/analytics/top-merchant`,
      server,
      timeoutMs,
    );
    const seconds = (performance.now() - started) / 1000;
    const got = parseTopMerchant(body);
    const match = expected?.merchant === got.merchant && expected.volume === got.volume;
    const wanted = expected ? `${expected.merchant} ${expected.volume}` : 'none';
    return (
      `start-up to first correct answer: ${seconds.toFixed(2)} s (answer ${got.merchant} ${got.volume})\n` +
      `  matches SQL over the keyless baseline table: ${match ? 'yes' : `NO (SQL says ${wanted})`}`
    );
  } finally {
    await stopServer(server);
  }
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

const rate = (m: Measurement): number => m.rows / m.seconds;
const mb = (bytes: number): number => bytes / 1e6;
const int = (n: number): string => Math.round(n).toLocaleString('en-US');

function resultTable(ms: Measurement[]): string {
  const head = ['phase', 'rows', 'MB', 'wall s', 'rows/s', 'MB/s', 'peak RSS MB'];
  const rows = ms.map((m) => [
    m.label,
    int(m.rows),
    mb(m.bytes).toFixed(1),
    m.seconds.toFixed(2),
    int(rate(m)),
    (mb(m.bytes) / m.seconds).toFixed(1),
    m.peakRssBytes === undefined ? '-' : mb(m.peakRssBytes).toFixed(0),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(head), ...rows.map(line)].join('\n');
}

function targetLine(what: string, value: string, target: string, pass: boolean): string {
  const verdict = pass ? 'PASS' : 'FAIL';
  return `${what.padEnd(44)}${value.padStart(8)}   target ${target.padEnd(10)}${verdict}`;
}

function targetLines(
  keyed: Measurement,
  keyless: Measurement,
  clean: Measurement,
  dirty: Measurement,
): string[] {
  const ratios = [
    { what: 'importer clean / keyed baseline', r: rate(clean) / rate(keyed), min: TARGET_VS_KEYED },
    {
      what: 'importer clean / keyless baseline',
      r: rate(clean) / rate(keyless),
      min: TARGET_VS_KEYLESS,
    },
    {
      what: 'importer dirty / importer clean',
      r: rate(dirty) / rate(clean),
      min: TARGET_DIRTY_VS_CLEAN,
    },
  ];
  const lines = ratios.map(({ what, r, min }) =>
    targetLine(`${what} (rows/s)`, `${r.toFixed(2)}x`, `>= ${min}x`, r >= min),
  );
  for (const m of [clean, dirty]) {
    const rss = m.peakRssBytes === undefined ? undefined : mb(m.peakRssBytes);
    const shown = rss === undefined ? 'unknown' : `${rss.toFixed(0)} MB`;
    const pass = rss !== undefined && rss < TARGET_RSS_MB;
    lines.push(targetLine(`${m.label} peak RSS`, shown, `< ${TARGET_RSS_MB} MB`, pass));
  }
  return lines;
}

// ---------------------------------------------------------------------------------------------
// Growth: a new day into an empty store and into one holding --stored rows
// ---------------------------------------------------------------------------------------------

const isoDay = (d: Date): string => d.toISOString().slice(0, 10);

/** The history (days just before the new day, --rows each) and the new day itself. */
async function generateHistoryAndDay(
  work: string,
  o: Options,
): Promise<{ history: Variant; day: Variant }> {
  const historyDays = Math.ceil(o.stored / o.rows);
  const start = new Date(Date.UTC(2024, 0, 1));
  const dayAfter = new Date(start.getTime() + historyDays * 86_400_000);
  const common = { rowsPerDay: o.rows, merchants: STORED_MERCHANTS, clean: true };
  const history = join(work, 'history');
  const day = join(work, 'day');
  const [h, d] = [
    await generateFiles({ ...common, days: historyDays, seed: SEED, outDir: history }),
    await generateFiles({
      ...common,
      days: 1,
      seed: SEED + 1,
      outDir: day,
      startDate: isoDay(dayAfter),
    }),
  ];
  return { history: { dir: history, manifest: h }, day: { dir: day, manifest: d } };
}

async function measureGrowth(o: Options, work: string, dbs: ScratchDatabases): Promise<string[]> {
  const useGnuTime = await gnuTimeWorks();
  log(`generating ${int(o.stored)} rows of history and a day of ${int(o.rows)} under ${work}`);
  const { history, day } = await generateHistoryAndDay(work, o);

  const keyed = o.skipKeyed
    ? null
    : await psqlBaseline('keyed \\copy history', true, history, dbs, o.adminUrl);
  if (keyed) await adminQuery(o.adminUrl, `DROP DATABASE ${new URL(keyed.url).pathname.slice(1)}`);
  const load = async (label: string, v: Variant, url: string, settings = {}) =>
    (await measuredImport(o.adminUrl, label, v, url, useGnuTime, settings)).m;
  const full = await dbs.create('full');
  const bulk = await load('importer history', history, full);
  const intoEmpty = await load('day into empty', day, await dbs.create('empty'));
  // The same day kept out of the bulk path (which an empty store takes): the keyed path's own cost.
  const keyedIntoEmpty = await load('day into empty, keyed', day, await dbs.create('empty_keyed'), {
    IMPORT_BULK_LOAD: 'never',
  });
  const intoFull = await load(`day into ${int(history.manifest.rows)}`, day, full);

  const ratio = intoFull.seconds / intoEmpty.seconds;
  const keyedRatio = intoFull.seconds / keyedIntoEmpty.seconds;
  const rss = [bulk, intoEmpty, keyedIntoEmpty, intoFull].map((m) => mb(m.peakRssBytes ?? NaN));
  const vsKeyed = keyed
    ? [
        targetLine(
          'history: importer / keyed \\copy (rows/s)',
          `${(rate(bulk) / rate(keyed.m)).toFixed(2)}x`,
          `>= ${TARGET_VS_KEYED}x`,
          rate(bulk) / rate(keyed.m) >= TARGET_VS_KEYED,
        ),
      ]
    : [];
  return [
    `growth benchmark: ${int(history.manifest.rows)} rows of history in ` +
      `${history.manifest.files.length} day(s), then a day of ${int(day.manifest.rows)}; ` +
      `load average before start: ${o.loadBefore.toFixed(2)}`,
    `ledger of the full store: ${await ledgerLine(full)}`,
    '',
    resultTable([...(keyed ? [keyed.m] : []), bulk, intoEmpty, keyedIntoEmpty, intoFull]),
    '',
    ...vsKeyed,
    targetLine(
      'a day into the full store / into an empty one',
      `${ratio.toFixed(2)}x`,
      `<= ${TARGET_FULL_VS_EMPTY}x`,
      ratio <= TARGET_FULL_VS_EMPTY,
    ),
    `a day into the full store / keyed into an empty one   ${keyedRatio.toFixed(2)}x   (for reference)`,
    targetLine(
      'importer peak RSS (largest)',
      `${Math.max(...rss).toFixed(0)} MB`,
      `< ${TARGET_RSS_MB} MB`,
      Math.max(...rss) < TARGET_RSS_MB,
    ),
  ];
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

async function header(
  o: Options,
  clean: Variant,
  dirty: Variant,
  useGnuTime: boolean,
): Promise<string[]> {
  const [row] = await adminQuery<{ server_version: string }>(o.adminUrl, 'SHOW server_version');
  const rss = useGnuTime ? '/usr/bin/time -v' : '/proc VmHWM polling';
  return [
    `import benchmark: ${int(clean.manifest.rows)} rows a variant in ${o.days} file(s), ` +
      `PostgreSQL ${row?.server_version}, peak RSS from ${rss}, MB = 10^6 bytes`,
    `dirty variant: ${dirty.manifest.injected.duplicate} duplicates injected; ` +
      `load average before start: ${o.loadBefore.toFixed(2)}`,
  ];
}

async function measure(o: Options, work: string, dbs: ScratchDatabases): Promise<string[]> {
  const useGnuTime = await gnuTimeWorks();
  log(`generating ${int(o.rows)} rows x 2 variants in ${o.days} file(s) each under ${work}`);
  const clean = await generate(join(work, 'clean'), o, { clean: true });
  const dirty = await generate(join(work, 'dirty'), o, { duplicateRate: 0.1, anomalyRate: 0.01 });
  await writeFile(
    join(work, 'manifests.json'),
    JSON.stringify({ clean: clean.manifest, dirty: dirty.manifest }, null, 2),
  );

  const keyed = await psqlBaseline('keyed baseline', true, clean, dbs, o.adminUrl);
  const keyless = await psqlBaseline('keyless baseline', false, clean, dbs, o.adminUrl);
  const expected = await expectedTopMerchant(keyless.url);

  const importer = async (label: string, v: Variant, db: string) => {
    const url = await dbs.create(db);
    const r = await measuredImport(o.adminUrl, label, v, url, useGnuTime);
    return { ...r, note: `${label}: ${r.summary}\n  ledger: ${await ledgerLine(url)}` };
  };
  const ic = await importer('importer clean', clean, 'clean');
  const id = await importer('importer dirty', dirty, 'dirty');

  const startupUrl = await dbs.create('startup');
  await checkpoint(o.adminUrl);
  const startup = await timeToFirstAnswer(clean, startupUrl, expected);

  return [
    ...(await header(o, clean, dirty, useGnuTime)),
    '',
    resultTable([keyed.m, keyless.m, ic.m, id.m]),
    '',
    ...targetLines(keyed.m, keyless.m, ic.m, id.m),
    '',
    ic.note,
    id.note,
    '',
    startup,
  ];
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  await build();
  const work = await mkdtemp(join(tmpdir(), 'import-bench-'));
  const dbs = new ScratchDatabases(o.adminUrl);
  try {
    const report = o.stored > 0 ? await measureGrowth(o, work, dbs) : await measure(o, work, dbs);
    process.stdout.write(report.join('\n') + '\n');
  } finally {
    if (o.keep) {
      log(`kept ${work} and databases ${dbs.list().join(', ')}`);
    } else {
      await dbs.dropAll();
      await rm(work, { recursive: true, force: true });
    }
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:import failed: ${(error as Error)?.stack ?? String(error)}\n`);
  process.exitCode = 1;
});

/**
 * Soak benchmark: every analytics endpoint under sustained load while a multi-million-row import
 * commits batch after batch underneath the running service.
 *
 * Checks (PASS/FAIL each; the exit code is 1 when any fails):
 *  - errors: no socket error or timeout, and every status 200 or 304;
 *  - overlap: the load saw the base version, at least one intermediate one and the final one;
 *  - memory: the service's live heap (after a forced full GC) is no larger at the end of the load
 *    than after its warm-up (see LIVE_HEAP_MAX_PCT); RSS and heapUsed are sampled every second;
 *  - (a) per endpoint and data version (from the ETag) every 200 body is byte-identical, equals
 *    the body this process read itself in one snapshot of that version (whenever it caught that
 *    version), and agrees with the other endpoints of the same version;
 *  - (b) per connection, the versions seen never go backwards;
 *  - (c) after the import the service serves the final version, with the bodies of a fresh cache,
 *    and the five answers equal a recomputation from the facts (src/modules/analytics/verify.ts).
 *
 * How, in one run:
 *  1. build; generate a small base (2 days of 50k rows from 2024-01-01) and the import (--rows,
 *     100k rows a day from 2024-01-20, so into February), both dirty (the generator's default
 *     anomalies, duplicates and warnings) with different seeds; create a scratch database;
 *  2. start `node dist/server.js` on the base as `npm start` does (rate limit off: one client
 *     address), plus a preload that posts process.memoryUsage() over IPC every second and on
 *     request after a full GC; wait until analytics answer 200;
 *  3. autocannon (this process): C connections, each cycling through TARGETS; odd connections
 *     revalidate with If-None-Match (304s); every response's status, ETag and body is recorded by
 *     path, version and connection in an onResponse hook (a string compare per response);
 *  4. after IMPORT_DELAY_S of load, the importer CLI runs in a child process; meanwhile a reference
 *     reader here LISTENs for data_version and snapshots the answers of every version it catches;
 *  5. the load stops after --duration s, or TAIL_S after the import finished if that is later;
 *  6. final check against a fresh cache and the facts; report; drop the database and temp files.
 *
 * usage: npm run bench:soak -- [--rows N] [--duration S] [--connections C] [--batch-rows B]
 *                              [--keep] [--database-url postgres://user@host:port/admin-db]
 */
import { type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import pg from 'pg';
import {
  build,
  cleanUp,
  cleanups,
  createScratchDatabase,
  positiveInt,
  prepareTemp,
  startNode,
  tail,
  median,
} from './bench-kit.js';
import { generateFiles } from './generate.js';
import { freePort } from '../src/free-port.js';
import {
  AnswerCache,
  cacheKey,
  DEFAULT_ARGS,
  type QueryArgs,
  type QueryName,
} from '../src/modules/analytics/analytics.cache.js';
import { parseMonth } from '../src/modules/analytics/analytics.definitions.js';
import { readDataVersion } from '../src/modules/analytics/analytics.repository.js';
import { verifyAnswers } from '../src/modules/analytics/verify.js';

const HOST = '127.0.0.1';
const POLL_MS = 200;
const BASE_ROWS_PER_DAY = 50_000;
const BASE_DAYS = 2;
const ROWS_PER_DAY = 100_000;
/** Load before the import starts: the memory warm-up and the base version under load. */
const IMPORT_DELAY_S = 5;
/** Load after the import finished: the final version must be served under load too. */
const TAIL_S = 5;
/** Memory samples of the first seconds of load are the warm-up (JIT, pools, buffers). */
const MEMORY_WARMUP_S = 10;
/**
 * The memory check compares the live heap (heapUsed right after a forced full GC) at the end of
 * the load with the same after the warm-up, both under the same load and holding the same eight
 * cached answers. Per-second samples are no good for that: heapUsed is a sawtooth (young-generation
 * garbage until a scavenge, old-generation garbage until a mark-compact), so "median of the last
 * 10 s vs the median after warm-up" came out anywhere from -9% to +16%, and a least-squares trend
 * up to +18%, in runs without a leak; they are printed for information only. The live heap is
 * ~24 MB (code, pools, cache, the requests in flight) and moved by +0.2% to +2% between the two
 * points in seven runs. 20% (~5 MB) leaves room for that and still fails on keeping 10 bytes per
 * request (1-1.7 M requests in a 60 s run: 10-17 MB); an injected leak of ~1 MB/s failed it (+28%).
 */
const LIVE_HEAP_MAX_PCT = 20;
/** the end-vs-median comparison, printed for information */
const END_WINDOW_S = 10;
const TIMELINE_S = 5;
const PROGRESS_EVERY_S = 10;

interface Target {
  path: string;
  query: QueryName;
  args: QueryArgs;
}

const monthArgs = (from: string, to: string): QueryArgs => ({
  range: { from: parseMonth(from) as number, to: parseMonth(to) as number },
  limit: 10,
});
/** All months of any generated data: must equal the unfiltered answer of the same version. */
const EVERY_MONTH = '?from=2000-01&to=2099-12';
const TARGETS: Target[] = [
  { path: '/analytics/top-merchant', query: 'top-merchant', args: DEFAULT_ARGS },
  {
    path: '/analytics/monthly-active-merchants',
    query: 'monthly-active-merchants',
    args: DEFAULT_ARGS,
  },
  { path: '/analytics/product-adoption', query: 'product-adoption', args: DEFAULT_ARGS },
  { path: '/analytics/kyc-funnel', query: 'kyc-funnel', args: DEFAULT_ARGS },
  { path: '/analytics/failure-rates', query: 'failure-rates', args: DEFAULT_ARGS },
  { path: '/analytics/top-merchants?limit=10', query: 'top-merchants', args: DEFAULT_ARGS },
  {
    path: `/analytics/product-adoption${EVERY_MONTH}`,
    query: 'product-adoption',
    args: monthArgs('2000-01', '2099-12'),
  },
  {
    path: '/analytics/failure-rates?from=2024-01&to=2024-01',
    query: 'failure-rates',
    args: monthArgs('2024-01', '2024-01'),
  },
];

interface Options {
  rows: number;
  duration: number;
  connections: number;
  batchRows: number;
  keep: boolean;
  adminUrl: string;
}

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      rows: { type: 'string', default: '2500000' },
      duration: { type: 'string', default: '60' },
      connections: { type: 'string', default: '50' },
      'batch-rows': { type: 'string', default: '100000' },
      keep: { type: 'boolean', default: false },
      'database-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
    },
  });
  const adminUrl = values['database-url'];
  if (!/^postgres(ql)?:\/\//.test(adminUrl)) {
    throw new Error('--database-url must start with postgres:// or postgresql://');
  }
  return {
    rows: positiveInt('rows', values.rows),
    duration: positiveInt('duration', values.duration),
    connections: positiveInt('connections', values.connections),
    batchRows: positiveInt('batch-rows', values['batch-rows']),
    keep: values.keep,
    adminUrl,
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const seconds = (fromMs: number, toMs = performance.now()) => (toMs - fromMs) / 1000;

// ---------------------------------------------------------------------------------------------
// Set-up: build, data, database, service
// ---------------------------------------------------------------------------------------------

/** The base the service starts on (January), and the import: another seed, into February. */
async function generateData(rows: number, temp: string) {
  const started = performance.now();
  const base = await generateFiles({
    days: BASE_DAYS,
    rowsPerDay: BASE_ROWS_PER_DAY,
    seed: 1,
    outDir: join(temp, 'base'),
    startDate: '2024-01-01',
  });
  const days = Math.max(1, Math.round(rows / ROWS_PER_DAY));
  const big = await generateFiles({
    days,
    rowsPerDay: Math.max(1, Math.round(rows / days)),
    seed: 2,
    outDir: join(temp, 'import'),
    startDate: '2024-01-20',
  });
  console.log(
    `generated ${base.rows} base rows and ${big.rows} rows to import (${days} file(s), ` +
      `${(big.bytes / 1048576).toFixed(0)} MiB, dirty) in ${seconds(started).toFixed(1)} s`,
  );
  return { baseDir: join(temp, 'base'), importDir: join(temp, 'import'), importRows: big.rows };
}

/**
 * Measured from inside the service, the only place heapUsed exists: a preload (no change to the
 * service's code) posts process.memoryUsage() here every second, and on 'gc' runs a full
 * collection first (--expose-gc; nothing else calls it) so the answer is the live heap.
 */
const MEMORY_PROBE =
  'data:text/javascript,' +
  encodeURIComponent(
    `setInterval(() => process.send?.({ gc: false, ...process.memoryUsage() }), 1000).unref();
     process.on('message', (m) => {
       if (m !== 'gc') return;
       globalThis.gc();
       process.send?.({ gc: true, ...process.memoryUsage() });
     });`,
  );

type ProbeMessage = NodeJS.MemoryUsage & { gc: boolean };

interface MemorySample {
  /** performance.now() here when it arrived */
  at: number;
  rss: number;
  heapUsed: number;
}

function startService(port: number, dataDir: string, databaseUrl: string, logFile: string) {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: String(port),
    HOST,
    DATA_DIR: dataDir,
    DATABASE_URL: databaseUrl,
    // Every connection comes from this one address: a per-client limit would answer 429s.
    RATE_LIMIT_PER_MINUTE: '0',
  };
  delete env.LOG_LEVEL; // the default (info): what production runs with
  const args = [
    '--max-old-space-size=256', // as npm start
    '--expose-gc',
    `--import=${MEMORY_PROBE}`,
    'dist/server.js',
  ];
  const child = startNode('service', args, env, logFile, true);
  const memory: MemorySample[] = [];
  child.on('message', (m: ProbeMessage) => {
    if (!m.gc) memory.push({ at: performance.now(), rss: m.rss, heapUsed: m.heapUsed });
  });
  return { child, memory };
}

/** The service's heapUsed right after a full collection: what it really holds. */
function liveHeap(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    const onMessage = (m: ProbeMessage) => {
      if (!m.gc) return;
      child.off('message', onMessage);
      resolve(m.heapUsed);
    };
    child.on('message', onMessage);
    child.send('gc');
  });
}

/** Polls GET url every POLL_MS until it answers 200; fails when the child exits first. */
async function waitFor200(url: string, child: ChildProcess, logFile: string): Promise<void> {
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(
        `service exited (${child.exitCode}) before ${url} answered 200:\n${tail(logFile)}`,
      );
    }
    const response = await fetch(url).catch(() => null);
    await response?.arrayBuffer(); // release the connection
    if (response?.status === 200) return;
    await sleep(POLL_MS);
  }
}

// ---------------------------------------------------------------------------------------------
// What the clients saw
// ---------------------------------------------------------------------------------------------

/** One autocannon connection: a keep-alive client sending one request at a time. */
interface Connection {
  id: number;
  revalidates: boolean;
  /** highest version seen so far, the path that first gave it, and the highest per path */
  version: number;
  versionFrom: string;
  versionByPath: Map<string, number>;
  etags: Map<string, string>;
}

interface BodyRecord {
  body: string;
  count: number;
  /** 200s of the same path and version whose body differed from `body` */
  differing: number;
}

const versionOf = (etag: string | null | undefined): number | null => {
  const match = /^"v(\d+)-/.exec(etag ?? '');
  return match ? Number(match[1]) : null;
};

class Observations {
  readonly statuses = new Map<number, number>();
  /** path -> version -> the first 200 body seen and how often it repeated */
  readonly bodies = new Map<string, Map<number, BodyRecord>>();
  /** version -> performance.now() when a client first saw it */
  readonly firstSeen = new Map<number, number>();
  responses = 0;
  unversioned = 0;
  regressions = 0;
  regressionsSamePath = 0;
  /** of the steps back: the path that had given the connection the newer version -> count */
  readonly regressionSources = new Map<string, number>();
  /** of the steps back: '<newer> <older>' versions -> count */
  readonly regressionVersions = new Map<string, number>();
  readonly regressionExamples: string[] = [];

  record(conn: Connection, path: string, status: number, body: string, etag?: string): void {
    this.responses += 1;
    this.statuses.set(status, (this.statuses.get(status) ?? 0) + 1);
    if (status !== 200 && status !== 304) return;
    const version = versionOf(etag);
    if (version === null || etag === undefined) {
      this.unversioned += 1;
      return;
    }
    if (status === 200) this.recordBody(path, version, body);
    if (!this.firstSeen.has(version)) this.firstSeen.set(version, performance.now());
    this.recordOrder(conn, path, version);
    conn.etags.set(path, etag);
  }

  private recordBody(path: string, version: number, body: string): void {
    let byVersion = this.bodies.get(path);
    if (!byVersion) this.bodies.set(path, (byVersion = new Map()));
    const seen = byVersion.get(version);
    if (!seen) byVersion.set(version, { body, count: 1, differing: 0 });
    else {
      seen.count += 1;
      if (seen.body !== body) seen.differing += 1;
    }
  }

  private recordOrder(conn: Connection, path: string, version: number): void {
    if (version < conn.version) this.recordRegression(conn, path, version);
    if (version > conn.version) {
      conn.version = version;
      conn.versionFrom = path;
    }
    conn.versionByPath.set(path, Math.max(version, conn.versionByPath.get(path) ?? -1));
  }

  private recordRegression(conn: Connection, path: string, version: number): void {
    this.regressions += 1;
    const samePath = version < (conn.versionByPath.get(path) ?? -1);
    if (samePath) this.regressionsSamePath += 1;
    const sources = this.regressionSources;
    sources.set(conn.versionFrom, (sources.get(conn.versionFrom) ?? 0) + 1);
    const pair = `${conn.version} ${version}`;
    this.regressionVersions.set(pair, (this.regressionVersions.get(pair) ?? 0) + 1);
    if (this.regressionExamples.length < 5) {
      this.regressionExamples.push(
        `connection ${conn.id}: v${conn.version} from ${conn.versionFrom}, later ` +
          `v${version} from ${path}${samePath ? ' (a step back on the same path)' : ''}`,
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Load
// ---------------------------------------------------------------------------------------------

function withIfNoneMatch(conn: Connection, path: string) {
  return (request: autocannon.Request): autocannon.Request => {
    const etag = conn.etags.get(path);
    return etag ? { ...request, headers: { ...request.headers, 'if-none-match': etag } } : request;
  };
}

/** Gives each connection its own state; its requests record into `observations`. */
function setUpConnection(client: autocannon.Client, id: number, observations: Observations) {
  const conn: Connection = {
    id,
    revalidates: id % 2 === 1,
    version: -1,
    versionFrom: '',
    versionByPath: new Map(),
    etags: new Map(),
  };
  client.setRequests(
    TARGETS.map(({ path }) => ({
      method: 'GET',
      path,
      onResponse: (status, body, _context, headers) =>
        observations.record(conn, path, status, body, headers?.etag),
      // as a browser cache would: ask for the body only when the held version is stale
      ...(conn.revalidates ? { setupRequest: withIfNoneMatch(conn, path) } : {}),
    })),
  );
}

/** Starts autocannon with no end of its own; stop() ends it and resolves with the result. */
function startLoad(base: string, connections: number, observations: Observations) {
  let nextId = 0;
  let resolveResult: (result: autocannon.Result) => void = () => undefined;
  let rejectResult: (error: unknown) => void = () => undefined;
  const result = new Promise<autocannon.Result>((resolve, reject) => {
    resolveResult = resolve;
    rejectResult = reject;
  });
  const instance = autocannon(
    {
      url: base,
      connections,
      duration: 24 * 3600,
      timeout: 10,
      setupClient: (client) => setUpConnection(client, nextId++, observations),
    },
    (error: unknown, r: autocannon.Result) => (error ? rejectResult(error) : resolveResult(r)),
  );
  cleanups.push(async () => instance.stop()); // on a failure part way; a no-op after stop()
  return {
    stop(): Promise<autocannon.Result> {
      instance.stop();
      return result;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The reference: this process's own snapshot of every version it catches
// ---------------------------------------------------------------------------------------------

/**
 * An AnswerCache of its own, refreshed on every NOTIFY data_version (and a 250 ms poll): the
 * answers of a version read in one REPEATABLE READ snapshot: the service's code, but run here, on
 * its own connections and its own timing.
 * Two commits close together can be caught as one; those versions have no reference.
 */
class ReferenceReader {
  /** version -> path -> body */
  readonly bodies = new Map<number, Map<string, string>>();
  /** version -> performance.now() when its NOTIFY arrived here */
  readonly notifiedAt = new Map<number, number>();
  private readonly cache: AnswerCache;
  private running: Promise<void> | null = null;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private listener: pg.Client | undefined;
  failures = 0;

  constructor(pool: pg.Pool) {
    this.cache = new AnswerCache(pool);
  }

  async start(databaseUrl: string): Promise<void> {
    this.listener = new pg.Client({ connectionString: databaseUrl });
    this.listener.on('error', () => void (this.failures += 1));
    await this.listener.connect();
    this.listener.on('notification', (message) => {
      this.notifiedAt.set(Number(message.payload), performance.now());
      this.trigger();
    });
    await this.listener.query('LISTEN data_version');
    this.timer = setInterval(() => this.trigger(), 250);
    await this.capture();
  }

  /** Idempotent: called after the load, and again by the clean-up. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
    const listener = this.listener;
    this.listener = undefined;
    await listener?.end();
  }

  private trigger(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.capture()
      .catch(() => void (this.failures += 1))
      .finally(() => {
        this.running = null;
        if (this.again) {
          this.again = false;
          this.trigger();
        }
      });
  }

  private async capture(): Promise<void> {
    await this.cache.refresh(); // the six unfiltered answers: one snapshot
    for (const t of TARGETS) {
      const answer =
        this.cache.peek(cacheKey(t.query, t.args)) ?? (await this.cache.get(t.query, t.args));
      let byPath = this.bodies.get(answer.version);
      if (!byPath) this.bodies.set(answer.version, (byPath = new Map()));
      byPath.set(t.path, answer.body.toString());
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Import
// ---------------------------------------------------------------------------------------------

interface ImportRun {
  startedAt: number;
  endedAt: number;
  code: number | null;
}

/** The CLI, as `npm run import` runs it, in its own process; resolves when it exits. */
async function runImport(dir: string, databaseUrl: string, batchRows: number, logFile: string) {
  const env = { ...process.env, DATABASE_URL: databaseUrl, IMPORT_BATCH_ROWS: String(batchRows) };
  const args = ['--max-old-space-size=256', 'dist/modules/importer/importer.cli.js', dir];
  const startedAt = performance.now();
  const child = startNode('importer', args, env, logFile);
  const [code] = (await once(child, 'exit')) as [number | null];
  return { startedAt, endedAt: performance.now(), code } satisfies ImportRun;
}

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

interface Check {
  name: string;
  ok: boolean;
  detail: string[];
}

const MB = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

function checkErrors(result: autocannon.Result, observations: Observations): Check {
  const unexpected = [...observations.statuses].filter(([s]) => s !== 200 && s !== 304);
  const statuses = [...observations.statuses].map(([s, n]) => `${s}: ${n}`).join(', ');
  return {
    name: 'errors: no socket error or timeout, only 200/304',
    ok: result.errors === 0 && result.timeouts === 0 && unexpected.length === 0,
    detail: [
      `${observations.responses} responses (${statuses}); ${result.errors} errors, ` +
        `${result.timeouts} timeouts`,
    ],
  };
}

function checkOverlap(observations: Observations, baseVersion: number, finalVersion: number) {
  const seen = [...observations.firstSeen.keys()].sort((a, b) => a - b);
  const between = seen.filter((v) => v > baseVersion && v < finalVersion).length;
  return {
    name: 'overlap: clients saw the base, an intermediate and the final version',
    ok: seen.includes(baseVersion) && seen.includes(finalVersion) && between > 0,
    detail: [
      `base v${baseVersion}, final v${finalVersion}: ${finalVersion - baseVersion} commit(s); ` +
        `clients saw ${seen.length} version(s), ${between} intermediate`,
    ],
  };
}

/** Medians of heapUsed per TIMELINE_S window of the load: flat or climbing, at a glance. */
function timeline(samples: MemorySample[], loadStart: number): string[] {
  const windows: number[][] = [];
  for (const s of samples) {
    (windows[Math.floor((s.at - loadStart) / 1000 / TIMELINE_S)] ??= []).push(s.heapUsed);
  }
  return [...windows].map((w) => (w ? (median(w) / 1e6).toFixed(0) : '-'));
}

/** Least-squares slope of heapUsed against time, in bytes per second. */
function heapSlope(samples: MemorySample[]): number {
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const t = samples.map((s) => s.at / 1000);
  const tMean = mean(t);
  const hMean = mean(samples.map((s) => s.heapUsed));
  let covariance = 0;
  let variance = 0;
  samples.forEach((s, i) => {
    covariance += (t[i]! - tMean) * (s.heapUsed - hMean);
    variance += (t[i]! - tMean) ** 2;
  });
  return variance === 0 ? 0 : covariance / variance;
}

function memoryRow(label: string, pick: (s: MemorySample) => number, m: MemoryWindows): string {
  const values = m.during.map(pick);
  return (
    `${label}: before load ${m.before ? MB(pick(m.before)) : 'n/a'}, ` +
    `first ${MB(values[0] ?? 0)}, peak ${MB(Math.max(...values))}, ` +
    `last ${MB(values.at(-1) ?? 0)}, median after warm-up ${MB(median(m.steady.map(pick)))}`
  );
}

interface MemoryWindows {
  before: MemorySample | undefined;
  during: MemorySample[];
  steady: MemorySample[];
  end: MemorySample[];
}

interface LiveHeap {
  afterWarmUp: number;
  atEnd: number;
}

/** Live heap at the end against after the warm-up (see LIVE_HEAP_MAX_PCT); the rest informs. */
function checkMemory(
  samples: MemorySample[],
  live: LiveHeap,
  loadStart: number,
  loadEnd: number,
): Check {
  const during = samples.filter((s) => s.at >= loadStart && s.at <= loadEnd);
  const m: MemoryWindows = {
    before: samples.filter((s) => s.at < loadStart).at(-1),
    during,
    steady: during.filter((s) => s.at >= loadStart + MEMORY_WARMUP_S * 1000),
    end: during.filter((s) => s.at >= loadEnd - END_WINDOW_S * 1000),
  };
  const steadyHeap = median(m.steady.map((s) => s.heapUsed));
  const span = m.steady.length > 1 ? seconds(m.steady[0]!.at, m.steady.at(-1)!.at) : 0;
  const trendPct = ((heapSlope(m.steady) * span) / steadyHeap) * 100;
  const endPct = (median(m.end.map((s) => s.heapUsed)) / steadyHeap - 1) * 100;
  const livePct = (live.atEnd / live.afterWarmUp - 1) * 100;
  const signed = (n: number) => `${n >= 0 ? '+' : ''}${n.toFixed(1)}%`;
  return {
    name: `memory: live heap at the end within ${LIVE_HEAP_MAX_PCT}% of after the warm-up`,
    ok: livePct <= LIVE_HEAP_MAX_PCT,
    detail: [
      `live heap (after a full GC): ${MB(live.afterWarmUp)} at t=${MEMORY_WARMUP_S} s, ` +
        `${MB(live.atEnd)} at the end: ${signed(livePct)}`,
      `${during.length} samples, 1 a second:`,
      memoryRow('rss     ', (s) => s.rss, m),
      memoryRow('heapUsed', (s) => s.heapUsed, m),
      `heapUsed MB per ${TIMELINE_S} s (median): ${timeline(during, loadStart).join(' ')}`,
      `for information: median of the last ${END_WINDOW_S} s ${signed(endPct)} of the median ` +
        `after warm-up; least-squares trend over ${span.toFixed(0)} s ${signed(trendPct)}`,
    ],
  };
}

function checkIdentical(observations: Observations): Check {
  const detail: string[] = [];
  let pairs = 0;
  for (const [path, byVersion] of observations.bodies) {
    for (const [version, seen] of byVersion) {
      pairs += 1;
      if (seen.differing > 0) {
        detail.push(`${path} v${version}: ${seen.differing} of ${seen.count} bodies differ`);
      }
    }
  }
  if (observations.unversioned > 0) {
    detail.push(`${observations.unversioned} 200/304 answers without a versioned ETag`);
  }
  return {
    name: '(a) one body per endpoint and version',
    ok: detail.length === 0,
    detail: [`${pairs} (endpoint, version) pairs`, ...detail.slice(0, 10)],
  };
}

function checkAgainstReference(observations: Observations, reference: ReferenceReader): Check {
  const detail: string[] = [];
  let compared = 0;
  let pairs = 0;
  for (const [path, byVersion] of observations.bodies) {
    for (const [version, seen] of byVersion) {
      pairs += 1;
      const expected = reference.bodies.get(version)?.get(path);
      if (expected === undefined) continue;
      compared += 1;
      if (expected !== seen.body) detail.push(`${path} v${version}: differs from the snapshot`);
    }
  }
  return {
    name: '(a) each body equals a snapshot of its committed version',
    ok: detail.length === 0 && reference.failures === 0,
    detail: [
      `${compared} of ${pairs} (endpoint, version) pairs had a snapshot ` +
        `(${reference.bodies.size} versions caught; ${reference.failures} failed reads)`,
      ...detail.slice(0, 10),
    ],
  };
}

interface Ranked {
  merchant_id: string;
  total_volume: number;
}

/** Parsed, as the texts differ by design (rank; `10.10` is written with its two decimals). */
function sameMerchant(topBody: string, boardBody: string): boolean {
  const top = JSON.parse(topBody) as Ranked;
  const first = (JSON.parse(boardBody) as Ranked[])[0];
  return first?.merchant_id === top.merchant_id && first.total_volume === top.total_volume;
}

/** Within a version: top-merchant = leaderboard rank 1; adoption over every month = all-time. */
function checkAcrossEndpoints(observations: Observations): Check {
  const body = (path: string, v: number) => observations.bodies.get(path)?.get(v)?.body;
  const detail: string[] = [];
  let compared = 0;
  for (const version of observations.firstSeen.keys()) {
    const top = body('/analytics/top-merchant', version);
    const board = body('/analytics/top-merchants?limit=10', version);
    if (top !== undefined && board !== undefined) {
      compared += 1;
      if (!sameMerchant(top, board)) detail.push(`v${version}: top-merchant ≠ rank 1`);
    }
    const all = body('/analytics/product-adoption', version);
    const filtered = body(`/analytics/product-adoption${EVERY_MONTH}`, version);
    if (all !== undefined && filtered !== undefined) {
      compared += 1;
      if (all !== filtered) detail.push(`v${version}: product-adoption all-time ≠ every month`);
    }
  }
  return {
    name: '(a) endpoints agree within a version',
    ok: detail.length === 0,
    detail: [`${compared} comparisons`, ...detail.slice(0, 10)],
  };
}

/** Which versions the steps back were between, and how far apart their two commits were. */
function stepsBackByVersion(observations: Observations, reference: ReferenceReader): string[] {
  return [...observations.regressionVersions].map(([pair, n]) => {
    const [newer, older] = pair.split(' ').map(Number) as [number, number];
    const gap = (reference.notifiedAt.get(newer) ?? NaN) - (reference.notifiedAt.get(older) ?? NaN);
    const apart = Number.isNaN(gap) ? '' : ` (their NOTIFYs ${gap.toFixed(0)} ms apart)`;
    return `${n} x v${newer} then v${older}${apart}`;
  });
}

function checkMonotonic(observations: Observations, reference: ReferenceReader): Check {
  return {
    name: '(b) versions never go backwards on a connection',
    ok: observations.regressions === 0,
    detail: [
      `${observations.regressions} step(s) back, ${observations.regressionsSamePath} of them ` +
        `on the same path`,
      ...[...observations.regressionSources].map(
        ([path, n]) => `${n} after the newer version came from ${path}`,
      ),
      ...stepsBackByVersion(observations, reference),
      ...observations.regressionExamples,
    ],
  };
}

/** Polls /health until the service's answers are on `version`. */
async function waitForServedVersion(base: string, version: number): Promise<boolean> {
  const deadline = performance.now() + 10_000;
  while (performance.now() < deadline) {
    const health = (await (await fetch(`${base}/health`)).json()) as { dataVersion: number };
    if (health.dataVersion === version) return true;
    await sleep(POLL_MS);
  }
  return false;
}

/** After the import: served = a fresh cache's answers, and the five = the facts (verify.ts). */
async function checkFinal(base: string, pool: pg.Pool, observations: Observations) {
  const version = (await readDataVersion(pool)).version;
  const detail: string[] = [];
  if (!(await waitForServedVersion(base, version)))
    detail.push(`/health never reached v${version}`);
  const fresh = new AnswerCache(pool);
  const served = new Map<string, string>();
  for (const t of TARGETS) {
    const response = await fetch(base + t.path);
    const body = await response.text();
    served.set(t.path, body);
    if (response.status !== 200) detail.push(`${t.path}: status ${response.status}`);
    const answer = await fresh.get(t.query, t.args);
    if (versionOf(response.headers.get('etag')) !== version)
      detail.push(`${t.path}: not v${version}`);
    if (body !== answer.body.toString()) detail.push(`${t.path}: differs from a fresh cache`);
    const lastSeen = observations.bodies.get(t.path)?.get(version)?.body;
    if (lastSeen !== undefined && lastSeen !== body)
      detail.push(`${t.path}: load saw another body`);
  }
  const verified = await verifyAnswers(pool, new AnswerCache(pool));
  for (const r of verified) {
    if (!r.match) detail.push(`${r.query}: rollups differ from the facts`);
    if (served.get(`/analytics/${r.query}`) !== r.recomputed) {
      detail.push(`${r.query}: served differs from the facts`);
    }
  }
  return {
    check: {
      name: '(c) final answers = fresh cache, and = the facts for the five',
      ok: detail.length === 0,
      detail: [
        `v${version}: ${TARGETS.length} endpoints against a fresh cache, ${verified.length} against the facts`,
        ...detail,
      ],
    },
    version,
  };
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

function printLoad(result: autocannon.Result, observations: Observations, loadSeconds: number) {
  console.log(
    `\nload: ${result.connections} connections for ${loadSeconds.toFixed(1)} s, ` +
      `${(observations.responses / loadSeconds).toFixed(0)} req/s over ${TARGETS.length} paths, ` +
      `latency p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, max ${result.latency.max} ms`,
  );
}

/** NOTIFY received here -> the first client answer of that version: the swap delay. */
function printSwapDelays(observations: Observations, reference: ReferenceReader): void {
  const delays: number[] = [];
  for (const [version, notified] of reference.notifiedAt) {
    const seen = observations.firstSeen.get(version);
    if (seen !== undefined) delays.push(seen - notified);
  }
  if (delays.length === 0) return;
  console.log(
    `swap delay (NOTIFY -> first client answer of that version), ${delays.length} versions: ` +
      `median ${median(delays).toFixed(0)} ms, max ${Math.max(...delays).toFixed(0)} ms`,
  );
}

function printChecks(checks: Check[]): void {
  console.log('');
  for (const check of checks) {
    console.log(`${check.ok ? 'PASS' : 'FAIL'} ${check.name}`);
    for (const line of check.detail) console.log(`     ${line}`);
  }
}

/** One line every PROGRESS_EVERY_S while the load runs, so a long soak shows signs of life. */
function startProgress(loadStart: number, observations: Observations, memory: MemorySample[]) {
  let lastCount = 0;
  const timer = setInterval(() => {
    const rate = (observations.responses - lastCount) / PROGRESS_EVERY_S;
    lastCount = observations.responses;
    const m = memory.at(-1);
    const newest = Math.max(-1, ...observations.firstSeen.keys());
    console.log(
      `  t=${seconds(loadStart).toFixed(0)} s: ${rate.toFixed(0)} req/s, newest version seen ` +
        `v${newest}, service rss ${m ? MB(m.rss) : '?'} heap ${m ? MB(m.heapUsed) : '?'}`,
    );
  }, PROGRESS_EVERY_S * 1000);
  return () => clearInterval(timer);
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

async function setUp(opts: Options) {
  build();
  const temp = await prepareTemp(
    'bench-soak-',
    opts.keep,
    'base/, import/, service.log, import.log',
  );
  const data = await generateData(opts.rows, temp);
  const databaseUrl = await createScratchDatabase(opts.adminUrl, 'bench_soak');
  const port = await freePort();
  const serviceLog = join(temp, 'service.log');
  const service = startService(port, data.baseDir, databaseUrl, serviceLog);
  const base = `http://${HOST}:${port}`;
  await waitFor200(`${base}/analytics/top-merchant`, service.child, serviceLog);
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
  pool.on('error', () => undefined); // an idle client dropped with the database at clean-up
  cleanups.push(() => pool.end());
  console.log(
    `service on ${base} is ready on the base (v${(await readDataVersion(pool)).version})`,
  );
  return { temp, data, databaseUrl, base, service, pool };
}

async function main(): Promise<boolean> {
  const opts = parseOptions(process.argv.slice(2));
  const { temp, data, databaseUrl, base, service, pool } = await setUp(opts);
  const reference = new ReferenceReader(pool);
  cleanups.push(() => reference.stop());
  await reference.start(databaseUrl);
  const baseVersion = (await readDataVersion(pool)).version;

  console.log(
    `load: ${opts.connections} connections over ${TARGETS.length} paths for ${opts.duration} s ` +
      `(load average ${loadavg()[0]?.toFixed(2)}); import of ${data.importRows} rows ` +
      `(IMPORT_BATCH_ROWS=${opts.batchRows}) after ${IMPORT_DELAY_S} s`,
  );
  const observations = new Observations();
  const loadStart = performance.now();
  const load = startLoad(base, opts.connections, observations);
  const stopProgress = startProgress(loadStart, observations, service.memory);
  const warmLive = sleep(MEMORY_WARMUP_S * 1000).then(() => liveHeap(service.child));
  await sleep(IMPORT_DELAY_S * 1000);
  const importLog = join(temp, 'import.log');
  const imported = await runImport(data.importDir, databaseUrl, opts.batchRows, importLog);
  const importSeconds = seconds(imported.startedAt, imported.endedAt);
  console.log(
    `import: exit ${imported.code} after ${importSeconds.toFixed(1)} s ` +
      `(${(data.importRows / importSeconds).toFixed(0)} rows/s under load), ` +
      `finished at t=${seconds(loadStart, imported.endedAt).toFixed(1)} s of the load`,
  );
  if (imported.code !== 0) console.log(tail(importLog));
  const loadEndAt = Math.max(loadStart + opts.duration * 1000, imported.endedAt + TAIL_S * 1000);
  await sleep(loadEndAt - performance.now());
  const live = { afterWarmUp: await warmLive, atEnd: await liveHeap(service.child) };
  const result = await load.stop();
  const loadEnd = performance.now();
  stopProgress();
  await reference.stop();

  printLoad(result, observations, seconds(loadStart, loadEnd));
  printSwapDelays(observations, reference);
  const final = await checkFinal(base, pool, observations);
  const checks: Check[] = [
    checkErrors(result, observations),
    { name: 'import: the CLI exited 0', ok: imported.code === 0, detail: [] },
    checkOverlap(observations, baseVersion, final.version),
    checkMemory(service.memory, live, loadStart, loadEnd),
    checkIdentical(observations),
    checkAgainstReference(observations, reference),
    checkAcrossEndpoints(observations),
    checkMonotonic(observations, reference),
    final.check,
  ];
  printChecks(checks);
  const ok = checks.every((c) => c.ok);
  console.log(`\n${ok ? 'PASS' : 'FAIL'}: ${checks.filter((c) => !c.ok).length} check(s) failed`);
  return ok;
}

try {
  process.exitCode = (await main()) ? 0 : 1;
} catch (error) {
  console.error(`bench:soak failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  await cleanUp();
}

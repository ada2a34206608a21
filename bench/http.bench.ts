/**
 * HTTP benchmark: every analytics endpoint of the service, with its production middleware, next to
 * a minimal Fastify app and a bare node:http server, measured in the same rounds.
 *
 * One run:
 *  1. builds; for each --rows size generates that many clean rows (bench/generate.ts), creates a
 *     scratch database and starts `node dist/server.js` on it as `npm start` does, with the rate
 *     limiter counting every request against a limit never reached and the access log at `info`
 *     (the service's stdout goes to a file); waits until /analytics/top-merchant answers 200 (the
 *     start-up import is done), then vacuums and analyses the database so that autovacuum does not
 *     run during the measurements;
 *  2. starts the two references in their own processes, both answering GET / with top-merchant's
 *     body: the same Fastify with one route and no plugins, and bare node:http;
 *  3. runs --rounds rounds; each visits every contender (the references, then every endpoint at
 *     every size), the order rotated by one each round: 1 s of unmeasured load, then --duration
 *     seconds measured, autocannon in this process with --connections connections;
 *  4. reports per contender the median req/s of the rounds, the median over the rounds of its
 *     ratio to the minimal Fastify app's run in the same round, and p99 latency: exact (nearest
 *     rank over every 2xx response's latency in a round; autocannon's own histogram keeps whole
 *     milliseconds), the median of the rounds and the worst round. PASS/FAIL per endpoint and
 *     size: >= 0.5x the minimal Fastify app, p99 <= 10 ms, every response 2xx. Writes
 *     bench/out/http-<rows>.json. It exits 0 once measured: it reports, it does not gate.
 *
 * With --breakdown, four more contenders show where a cached answer's time goes, on top-merchant
 * at the first size: the minimal Fastify app sending the service's headers, and the service with
 * the access log off (LOG_LEVEL=warn), with the rate limiter off, and with both off.
 *
 * usage: npm run bench:http -- [--rows N[,N...]] [--duration S] [--rounds R] [--connections C]
 *                              [--breakdown] [--keep] [--database-url postgres://user@host:port/admin-db]
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { createReadStream, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import pg from 'pg';
import {
  build,
  cleanUp,
  createScratchDatabase,
  median,
  positiveInt,
  prepareTemp,
  ROOT,
  startNode,
  tail,
} from './bench-kit.js';
import { generateFiles } from './generate.js';
import { freePort } from '../src/free-port.js';

const HOST = '127.0.0.1';
const SEED = 20240101;
const WARMUP_SECONDS = 1;
/** The configuration's maximum, 167 k req/s from the one client: counted, never reached. */
const RATE_LIMIT_PER_MINUTE = 10_000_000;
const MIN_RATIO = 0.5;
const MAX_P99_MS = 10;

const ENDPOINTS = [
  '/analytics/top-merchant',
  '/analytics/monthly-active-merchants',
  '/analytics/product-adoption',
  '/analytics/kyc-funnel',
  '/analytics/failure-rates',
  '/analytics/top-merchants?limit=10',
  '/analytics/failure-rates?from=2024-01&to=2024-06',
  '/analytics/product-adoption?from=2024-02&to=2024-03',
];

const MINIMAL_FASTIFY = 'minimal Fastify';
const BARE_NODE = 'bare node:http';
const FASTIFY_WITH_HEADERS = 'minimal Fastify + the service headers';
const REFERENCE_SCRIPTS: Record<string, string> = {
  [MINIMAL_FASTIFY]: `
const app = require('fastify')();
const body = process.env.BENCH_BODY;
app.get('/', async (request, reply) => reply.type('application/json; charset=utf-8').send(body));
app.listen({ port: Number(process.env.PORT), host: process.env.HOST });`,
  [FASTIFY_WITH_HEADERS]: `
const app = require('fastify')();
const body = process.env.BENCH_BODY;
const headers = JSON.parse(process.env.BENCH_HEADERS);
app.get('/', async (request, reply) => reply.headers(headers).type('application/json; charset=utf-8').send(body));
app.listen({ port: Number(process.env.PORT), host: process.env.HOST });`,
  [BARE_NODE]: `
const body = Buffer.from(process.env.BENCH_BODY);
const headers = { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length };
require('node:http')
  .createServer((request, response) => response.writeHead(200, headers).end(body))
  .listen(Number(process.env.PORT), process.env.HOST);`,
};

interface Options {
  rows: number[];
  duration: number;
  rounds: number;
  connections: number;
  breakdown: boolean;
  keep: boolean;
  adminUrl: string;
}

interface Contender {
  name: string;
  /** null for the references */
  rows: number | null;
  url: string;
}

interface Run {
  reqPerSec: number;
  p99Ms: number;
  requests: number;
  non2xx: number;
  errors: number;
  timeouts: number;
}

interface Result {
  name: string;
  rows: number | null;
  path: string;
  /** median of the rounds */
  reqPerSec: number;
  /** median over the rounds of req/s / the minimal Fastify app's req/s in the same round */
  ratio: number;
  /** exact p99 of a round's 2xx responses: the median of the rounds, and the worst round */
  p99Ms: number;
  worstP99Ms: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  verdict: 'PASS' | 'FAIL' | null;
  rounds: Run[];
}

interface Service {
  rows: number;
  base: string;
  logFile: string;
  /** what a variant of this service (--breakdown) starts on: already imported */
  env: NodeJS.ProcessEnv;
  readySeconds: number;
  importSeconds: number;
  headers: Record<string, string>;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      rows: { type: 'string', default: '1000000' },
      duration: { type: 'string', default: '3' },
      rounds: { type: 'string', default: '5' },
      connections: { type: 'string', default: '50' },
      breakdown: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      'database-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
    },
  });
  const rows = new Set(values.rows.split(',').map((n) => positiveInt('rows', n)));
  return {
    rows: [...rows].sort((a, b) => a - b),
    duration: positiveInt('duration', values.duration),
    rounds: positiveInt('rounds', values.rounds),
    connections: positiveInt('connections', values.connections),
    breakdown: values.breakdown,
    keep: values.keep,
    adminUrl: values['database-url'],
  };
}

/** 1000000 -> 1M, 20000 -> 20k */
function rowsLabel(rows: number | null): string {
  if (rows === null) return '';
  if (rows % 1_000_000 === 0) return `${rows / 1_000_000}M`;
  if (rows % 1000 === 0) return `${rows / 1000}k`;
  return String(rows);
}

/** Polls GET url every 200 ms until it answers 200; fails when the child exits first. */
async function waitFor200(url: string, child: ChildProcess, logFile: string): Promise<Response> {
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(`exited (${child.exitCode}) before ${url} answered 200:\n${tail(logFile)}`);
    }
    const response = await fetch(url).catch(() => null);
    if (response?.status === 200) return response;
    await response?.arrayBuffer(); // release the connection
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function startService(rows: number, opts: Options, temp: string): Promise<Service> {
  const dataDir = join(temp, `data-${rows}`);
  const days = Math.max(1, Math.round(rows / 100_000));
  const generated = await generateFiles({
    days,
    rowsPerDay: Math.max(1, Math.round(rows / days)),
    seed: SEED,
    outDir: dataDir,
    clean: true,
    startDate: '2024-01-01',
  });
  const databaseUrl = await createScratchDatabase(opts.adminUrl, 'bench_http');
  const port = await freePort();
  const logFile = join(temp, `service-${rows}.log`);
  const env = {
    ...process.env,
    PORT: String(port),
    HOST,
    DATA_DIR: dataDir,
    DATABASE_URL: databaseUrl,
    RATE_LIMIT_PER_MINUTE: String(RATE_LIMIT_PER_MINUTE),
    LOG_LEVEL: 'info',
  };
  const started = performance.now();
  const child = startNode(
    `service ${rowsLabel(rows)}`,
    ['--max-old-space-size=256', 'dist/server.js'],
    env,
    logFile,
  );
  ownPids.push(child.pid!);
  const base = `http://${HOST}:${port}`;
  console.log(`${rowsLabel(generated.rows)}: service on ${base}, importing ${generated.rows} rows`);
  const answer = await waitFor200(`${base}/analytics/top-merchant`, child, logFile);
  await answer.arrayBuffer();
  const readySeconds = (performance.now() - started) / 1000;
  const health = (await (await fetch(`${base}/health`)).json()) as {
    import?: { startedAt?: string | null; finishedAt?: string | null };
  };
  const importSeconds =
    (Date.parse(health.import?.finishedAt ?? '') - Date.parse(health.import?.startedAt ?? '')) /
    1000;
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  await db.query('VACUUM (ANALYZE)').finally(() => db.end());
  console.log(
    `${rowsLabel(rows)}: first 200 ${readySeconds.toFixed(1)} s after start ` +
      `(import ${importSeconds.toFixed(1)} s per /health); vacuumed`,
  );
  const skip = new Set(['date', 'connection', 'keep-alive']);
  const headers = Object.fromEntries([...answer.headers].filter(([name]) => !skip.has(name)));
  return { rows: generated.rows, base, logFile, env, readySeconds, importSeconds, headers };
}

/** The service again on the same database and files (nothing left to import), some options changed. */
async function startVariant(
  s: Service,
  label: string,
  overrides: NodeJS.ProcessEnv,
  temp: string,
): Promise<string> {
  const port = await freePort();
  const logFile = join(temp, `service-${label.replace(/\W+/g, '-')}.log`);
  const env = { ...s.env, ...overrides, PORT: String(port), WATCH_DATA_DIR: 'false' };
  const child = startNode(label, ['--max-old-space-size=256', 'dist/server.js'], env, logFile);
  ownPids.push(child.pid!);
  const base = `http://${HOST}:${port}`;
  await (await waitFor200(`${base}/analytics/top-merchant`, child, logFile)).arrayBuffer();
  return `${base}/analytics/top-merchant`;
}

/** --breakdown's contenders: what the headers, the access log and the rate limiter cost. */
async function breakdownContenders(s: Service, body: string, temp: string): Promise<Contender[]> {
  const headers = Object.fromEntries(
    Object.entries(s.headers).filter(
      ([name]) => !['content-length', 'content-type'].includes(name),
    ),
  );
  const variants: Array<[string, NodeJS.ProcessEnv]> = [
    ['top-merchant, access log off', { LOG_LEVEL: 'warn' }],
    ['top-merchant, rate limiter off', { RATE_LIMIT_PER_MINUTE: '0' }],
    ['top-merchant, both off', { LOG_LEVEL: 'warn', RATE_LIMIT_PER_MINUTE: '0' }],
  ];
  const contenders: Contender[] = [
    {
      name: FASTIFY_WITH_HEADERS,
      rows: null,
      url: await startReference(FASTIFY_WITH_HEADERS, body, temp, {
        BENCH_HEADERS: JSON.stringify(headers),
      }),
    },
  ];
  for (const [name, overrides] of variants)
    contenders.push({ name, rows: null, url: await startVariant(s, name, overrides, temp) });
  return contenders;
}

async function startReference(
  name: string,
  body: string,
  temp: string,
  extraEnv: NodeJS.ProcessEnv = {},
): Promise<string> {
  const port = await freePort();
  const logFile = join(temp, `${name.replace(/\W+/g, '-')}.log`);
  const env = { ...process.env, ...extraEnv, PORT: String(port), HOST, BENCH_BODY: body };
  const child = startNode(name, ['-e', REFERENCE_SCRIPTS[name]!], env, logFile);
  ownPids.push(child.pid!);
  const url = `http://${HOST}:${port}/`;
  const response = await waitFor200(url, child, logFile);
  if ((await response.text()) !== body) throw new Error(`${name} answered another body`);
  return url;
}

/** The nearest-rank percentile; NaN for none. */
function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
}

/** One autocannon run, with the exact p99 of its 2xx responses. */
function load(url: string, connections: number, duration: number): Promise<Run> {
  const latenciesMs: number[] = [];
  return new Promise((resolve, reject) => {
    const instance = autocannon({ url, connections, duration }, (error, result) => {
      if (error) return reject(error);
      resolve({
        reqPerSec: result.requests.average,
        p99Ms: percentile(latenciesMs, 0.99),
        requests: result.requests.total,
        non2xx: result.non2xx,
        errors: result.errors,
        timeouts: result.timeouts,
      });
    });
    instance.on('response', (_client, status, _bytes, ms) => {
      if (status >= 200 && status < 300) latenciesMs.push(ms);
    });
  });
}

/** The servers this bench started: their CPU, like this process's, is the measurement's own. */
const ownPids: number[] = [];

interface CpuSample {
  total: number;
  busy: number;
  own: number;
}

/** CPU ticks of the machine and of this process with its servers, from /proc; null without. */
function cpuSample(): CpuSample | null {
  try {
    const n = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9);
    const [user, nice, system, , , , , steal] = n.map(Number) as number[];
    let own = 0;
    for (const pid of ['self', ...ownPids]) {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      own += Number(fields[11]) + Number(fields[12]); // utime, stime
    }
    const total = n.reduce((a, b) => a + Number(b), 0);
    return { total, busy: user! + nice! + system! + steal!, own };
  } catch {
    return null;
  }
}

/**
 * The share of the machine's CPU time between two samples that other processes (or the
 * hypervisor) took: on a shared box, what tells a quiet run from a disturbed one.
 */
function othersPct(a: CpuSample | null, b: CpuSample | null): number {
  if (a === null || b === null || b.total === a.total) return Number.NaN;
  return Math.max(0, ((b.busy - a.busy - (b.own - a.own)) / (b.total - a.total)) * 100);
}

/** Every contender once per round, the order rotated by one each round. */
async function measureInRounds(contenders: Contender[], opts: Options) {
  const runs: Run[][] = contenders.map(() => []);
  const othersPctByRound: number[] = [];
  for (let round = 0; round < opts.rounds; round++) {
    const started = performance.now();
    const cpu = cpuSample();
    for (let turn = 0; turn < contenders.length; turn++) {
      const i = (round + turn) % contenders.length;
      await load(contenders[i]!.url, opts.connections, WARMUP_SECONDS);
      runs[i]!.push(await load(contenders[i]!.url, opts.connections, opts.duration));
    }
    const seconds = (performance.now() - started) / 1000;
    othersPctByRound.push(othersPct(cpu, cpuSample()));
    console.log(
      `round ${round + 1}/${opts.rounds}: ${seconds.toFixed(0)} s, other processes took ` +
        `${othersPctByRound.at(-1)!.toFixed(0)}% of the CPUs`,
    );
  }
  return { runs, othersPctByRound };
}

function summarise(contender: Contender, runs: Run[], fastifyRuns: Run[]): Result {
  const sum = (pick: (r: Run) => number) => runs.reduce((a, r) => a + pick(r), 0);
  const ratio = median(runs.map((r, i) => r.reqPerSec / fastifyRuns[i]!.reqPerSec));
  const p99Ms = median(runs.map((r) => r.p99Ms));
  const failures = { non2xx: sum((r) => r.non2xx), errors: sum((r) => r.errors) };
  const ok = ratio >= MIN_RATIO && p99Ms <= MAX_P99_MS && failures.non2xx + failures.errors === 0;
  const { pathname, search } = new URL(contender.url);
  return {
    name: contender.name,
    rows: contender.rows,
    path: pathname + search,
    reqPerSec: median(runs.map((r) => r.reqPerSec)),
    ratio,
    p99Ms,
    worstP99Ms: Math.max(...runs.map((r) => r.p99Ms)),
    ...failures,
    timeouts: sum((r) => r.timeouts),
    verdict: contender.rows === null ? null : ok ? 'PASS' : 'FAIL',
    rounds: runs,
  };
}

function printTable(results: Result[]): void {
  const lines = [
    ['contender', 'rows', 'req/s', 'x Fastify', 'p99 ms', 'worst p99', 'non-2xx/err', 'verdict'],
    ...results.map((r) => [
      r.name,
      rowsLabel(r.rows),
      r.reqPerSec.toFixed(0),
      r.ratio.toFixed(2),
      r.p99Ms.toFixed(2),
      r.worstP99Ms.toFixed(2),
      `${r.non2xx}/${r.errors}`,
      r.verdict ?? '',
    ]),
  ];
  const widths = lines[0]!.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
  for (const line of lines) {
    console.log(
      line.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '),
    );
  }
}

/** Newlines in a file, streamed: a service's access log passes 512 MB, a string's limit. */
async function countLines(file: string): Promise<number> {
  let lines = 0;
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
  }
  return lines;
}

function gitCommit(): string {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' });
  try {
    const dirty = git('status', '--porcelain', '--', 'src', 'package-lock.json').trim() !== '';
    return git('rev-parse', '--short', 'HEAD').trim() + (dirty ? ' (src/ modified)' : '');
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  const commit = gitCommit();
  build();
  const temp = await prepareTemp('bench-http-', opts.keep, 'data-*/ and the servers’ logs');
  const services: Service[] = [];
  for (const rows of opts.rows) services.push(await startService(rows, opts, temp));
  const body = await (await fetch(`${services[0]!.base}/analytics/top-merchant`)).text();
  const contenders: Contender[] = [];
  for (const name of [MINIMAL_FASTIFY, BARE_NODE]) {
    contenders.push({ name, rows: null, url: await startReference(name, body, temp) });
  }
  for (const s of services) {
    for (const path of ENDPOINTS) contenders.push({ name: path, rows: s.rows, url: s.base + path });
  }
  if (opts.breakdown) contenders.push(...(await breakdownContenders(services[0]!, body, temp)));
  const rateLimitHeaders = Object.keys(services[0]!.headers).filter((h) =>
    h.startsWith('x-ratelimit'),
  );
  console.log(
    `${opts.rounds} rounds x ${contenders.length} contenders x (${WARMUP_SECONDS} s warm-up + ` +
      `${opts.duration} s), ${opts.connections} connections; rate-limit headers on an answer: ` +
      `${rateLimitHeaders.join(', ') || 'none'}`,
  );
  const before = cpuSample();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const busyBefore = othersPct(before, cpuSample());
  if (busyBefore > 10) {
    console.log(
      `WARNING: other processes took ${busyBefore.toFixed(0)}% of the CPUs before the load`,
    );
  }

  const { runs, othersPctByRound } = await measureInRounds(contenders, opts);
  const results = contenders.map((c, i) => summarise(c, runs[i]!, runs[0]!));
  console.log('');
  printTable(results);
  const targets = results.filter((r) => r.verdict !== null);
  const failed = targets.filter((r) => r.verdict === 'FAIL');
  console.log(
    `\ntargets (>= ${MIN_RATIO}x ${MINIMAL_FASTIFY}, p99 <= ${MAX_P99_MS} ms, all 2xx, ` +
      `at every size): ${failed.length === 0 ? 'PASS' : 'FAIL'}, ` +
      `${targets.length - failed.length}/${targets.length} endpoint x size pass`,
  );
  const accessLogLines: Record<number, number> = {};
  for (const s of services) {
    const requests = results
      .filter((r) => r.rows === s.rows)
      .reduce((a, r) => a + r.rounds.reduce((b, run) => b + run.requests, 0), 0);
    const logLines = (accessLogLines[s.rows] = await countLines(s.logFile));
    console.log(
      `${rowsLabel(s.rows)}: access log ${logLines} lines for ${requests} measured requests ` +
        `(warm-ups and set-up requests come on top)`,
    );
  }

  const report = {
    date: new Date().toISOString(),
    commit,
    node: process.version,
    fastify: (
      JSON.parse(readFileSync(join(ROOT, 'node_modules/fastify/package.json'), 'utf8')) as {
        version: string;
      }
    ).version,
    cpus: cpus().length,
    options: { ...opts, adminUrl: undefined, warmupSeconds: WARMUP_SECONDS },
    service: { rateLimitPerMinute: RATE_LIMIT_PER_MINUTE, logLevel: 'info' },
    targets: { minRatio: MIN_RATIO, maxP99Ms: MAX_P99_MS, pass: failed.length === 0 },
    accessLogLines,
    othersCpuPct: { beforeLoad: busyBefore, byRound: othersPctByRound },
    services: services.map(({ base: _base, logFile: _log, env: _env, ...s }) => s),
    results,
  };
  const outDir = join(ROOT, 'bench', 'out');
  await mkdir(outDir, { recursive: true });
  const file = join(outDir, `http-${opts.rows.join('-')}.json`);
  await writeFile(file, JSON.stringify(report, null, 2) + '\n');
  console.log(`wrote ${file} (measured ${commit})`);
}

try {
  await main();
} catch (error) {
  console.error(`bench:http failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  await cleanUp();
}

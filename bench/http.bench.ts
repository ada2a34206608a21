/**
 * HTTP benchmark of the analytics service: what it costs to serve an answer, next to what Node
 * itself can serve on this machine.
 *
 * What it measures: average req/s and p99 latency of each analytics endpoint (the five plain
 * ones, the leaderboard and two month-filtered queries) under autocannon load, and the ratio of
 * each throughput to a bare node:http server that returns the same JSON bytes (the ceiling).
 *
 * How, in one run:
 *  1. build; for each --rows size: generate that many clean rows (bench/generate.ts) into a temp
 *     folder; create a scratch database; start `node dist/server.js` on it (LOG_LEVEL unset: info,
 *     the production level) and time the start-up import until /analytics/top-merchant answers
 *     200; vacuum and analyse the database, so that autovacuum does not run during the
 *     measurements. Every size gets its own service; all of them run during the measurements;
 *  2. start the bare server, also as a child process, so neither server shares the event loop
 *     of the load generator, and three reference variants of it: its twin (the same code in
 *     another process: an A/A control, whose distance from 1.00 is the harness's resolution),
 *     one sending the service's headers, one also doing the per-request work of the production
 *     middleware (request id, timing, rate limit, latency histogram) with the service's own
 *     functions;
 *  3. --rounds rounds of measured autocannon runs, each after 1 s of unmeasured load; a round
 *     visits every reference and target: a run of the bare server, then one of the target on
 *     each service, the order rotated every round (no place may favour one), all in this
 *     process with the same connections and duration; every response must be 2xx. A ratio
 *     is the median of the rounds' ratios: this machine's speed drifts by tens of percent within
 *     minutes, and a bare run measured once, minutes before a target, made ratios of identical
 *     code paths differ by 0.25; measured one target after another, a slow spell took all the
 *     rounds of one target;
 *  4. print a table (with the CPU each side spent a response), the twin's spread, the most the
 *     load generator could take from the service at its own CPU cost a response, and PASS/FAIL
 *     lines (analytics >= 0.8x bare req/s; leaderboard and filtered p99 < 5 ms); with several
 *     sizes, the change of req/s and p99 from the smallest to each larger one, measured in the
 *     same rounds (target: no more than 10% worse); write bench/out/http-<rows>.json;
 *  5. stop the servers, drop the scratch databases, remove the temp folder unless --keep.
 * It always exits 0 once measured: it reports, it does not gate.
 *
 * usage: npm run bench:http -- [--rows N[,N...]] [--duration S] [--rounds R] [--connections C] [--keep]
 *                              [--database-url postgres://user@host:port/admin-db]
 */
import { type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
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

const OUT_DIR = join(ROOT, 'bench', 'out');
const HOST = '127.0.0.1';
/**
 * Unmeasured load on a contender just before each of its runs: between two of its runs it sits
 * idle for a minute while the others run, and an idle process can have given memory back (V8's
 * memory reducer) and its caches to the others; a run should see it busy, as in production.
 */
const WARMUP_SECONDS = 1;
const POLL_MS = 200;
const SEED = 20240101;
/** idle-machine check before measuring: warn above this share of all CPUs busy */
const BUSY_WARN_PCT = 10;

/** The service's per-client limit in the benchmark: counted at full cost, never reached. */
const RATE_LIMIT_PER_MINUTE = 10_000_000;
const MIN_RATIO = 0.8;
const MAX_P99_MS = 5;
const MAX_CHANGE_PCT = 10;

interface Target {
  name: string;
  path: string;
  /** leaderboard and filtered queries: held to the p99 target */
  p99Target: boolean;
}

const BARE = 'bare node:http';
const BARE_SAME_HEADERS = 'bare node:http, same headers';
const BARE_REQUEST_WORK = 'bare node:http, same headers + per-request work';
const BARE_TWIN = 'bare node:http, a twin (A/A control)';
/** The bare server, its twin, the same headers and the per-request work: references, not targets. */
const REFERENCE_ROWS = 4;

/** The service's response headers for an answer, minus the per-connection ones. */
async function serviceHeaders(base: string): Promise<Record<string, string>> {
  const response = await fetch(`${base}/analytics/top-merchant`);
  await response.arrayBuffer();
  const skip = new Set(['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding']);
  return Object.fromEntries([...response.headers].filter(([name]) => !skip.has(name)));
}
const TARGETS: Target[] = [
  { name: 'top-merchant', path: '/analytics/top-merchant', p99Target: false },
  {
    name: 'monthly-active-merchants',
    path: '/analytics/monthly-active-merchants',
    p99Target: false,
  },
  { name: 'product-adoption', path: '/analytics/product-adoption', p99Target: false },
  { name: 'kyc-funnel', path: '/analytics/kyc-funnel', p99Target: false },
  { name: 'failure-rates', path: '/analytics/failure-rates', p99Target: false },
  {
    name: 'top-merchants (leaderboard)',
    path: '/analytics/top-merchants?limit=10',
    p99Target: true,
  },
  {
    name: 'failure-rates 2024-01..06',
    path: '/analytics/failure-rates?from=2024-01&to=2024-06',
    p99Target: true,
  },
  {
    name: 'product-adoption 2024-02..03',
    path: '/analytics/product-adoption?from=2024-02&to=2024-03',
    p99Target: true,
  },
];

/** Is a measured target (`name`, or `name @ 10M` with several sizes) held to the p99 target? */
function heldToP99(measured: string): boolean {
  return TARGETS.some(
    (t) => t.p99Target && (measured === t.name || measured.startsWith(`${t.name} @ `)),
  );
}

interface Options {
  /** the sizes, ascending: one service each, measured in the same rounds */
  rows: number[];
  duration: number;
  rounds: number;
  connections: number;
  keep: boolean;
  adminUrl: string;
}

interface Measurement {
  target: string;
  path: string;
  /** the median of the rounds */
  reqPerSec: number;
  /** the median of the rounds; each round's p99 is exact (autocannon's own keeps whole ms) */
  p99Ms: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  /** the median over the rounds of req/s of this target / req/s of the bare run of its round */
  ratio: number;
  /** each round's ratio, in the order measured */
  roundRatios: number[];
  /** req/s of this target / req/s of a bare server sending the same headers */
  ratioSameHeaders: number;
  /** CPU of the load generator (this process) and of the server, % of one core */
  clientCpuPct: number;
  serverCpuPct: number;
  /** CPU microseconds a response, of the load generator and of the server (median of the runs) */
  clientCpuUs: number;
  serverCpuUs: number;
}

/** A target's change from the smallest size to a larger one, from runs in the same rounds. */
interface SizeChange {
  target: string;
  fromRows: number;
  toRows: number;
  /** the medians of the rounds at the two sizes */
  reqPerSec: [number, number];
  p99Ms: [number, number];
  /** the median over the rounds of the change within a round, in % */
  reqPerSecChangePct: number;
  p99ChangePct: number;
  /** each round's change of req/s, in % */
  roundChangesPct: number[];
}

interface ServiceSetUp {
  rows: number;
  /** the start-up import, per /health */
  importSeconds: number;
  /** from spawning the service to the first 200 (start-up, migrations, import, cache) */
  readySeconds: number;
}

interface Report {
  rows: number[];
  durationSeconds: number;
  rounds: number;
  connections: number;
  date: string;
  node: string;
  cpus: number;
  services: ServiceSetUp[];
  results: Measurement[];
  sizeChanges: SizeChange[];
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
      duration: { type: 'string', default: '3' },
      rounds: { type: 'string', default: '8' },
      connections: { type: 'string', default: '50' },
      keep: { type: 'boolean', default: false },
      'database-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
    },
  });
  return {
    rows: [...new Set(values.rows.split(',').map((n) => positiveInt('rows', n)))].sort(
      (a, b) => a - b,
    ),
    duration: positiveInt('duration', values.duration),
    rounds: positiveInt('rounds', values.rounds),
    connections: positiveInt('connections', values.connections),
    keep: values.keep,
    adminUrl: values['database-url'],
  };
}

// ---------------------------------------------------------------------------------------------
// Set-up: build, data, database, ports, child processes
// ---------------------------------------------------------------------------------------------

async function generateData(rows: number, dir: string): Promise<number> {
  const days = Math.max(1, Math.round(rows / 100_000));
  const rowsPerDay = Math.max(1, Math.round(rows / days));
  const started = performance.now();
  const manifest = await generateFiles({
    days,
    rowsPerDay,
    seed: SEED,
    outDir: dir,
    clean: true,
    startDate: '2024-01-01',
  });
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `generated ${manifest.rows} clean rows in ${days} file(s), ` +
      `${(manifest.bytes / 1048576).toFixed(1)} MiB in ${seconds.toFixed(1)} s`,
  );
  return manifest.rows;
}

function startService(port: number, dataDir: string, databaseUrl: string, logFile: string) {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: String(port),
    HOST,
    DATA_DIR: dataDir,
    DATABASE_URL: databaseUrl,
    // The limiter runs at its full per-request cost but never trips for the one load generator.
    RATE_LIMIT_PER_MINUTE: String(RATE_LIMIT_PER_MINUTE),
  };
  delete env.LOG_LEVEL; // the default (info): what production runs with
  return startNode(
    'service',
    ['--max-old-space-size=256', 'dist/server.js'] /* as npm start */,
    env,
    logFile,
  );
}

/** The ceiling: a bare node:http server answering every request with the same bytes. */
const BARE_SERVER_SCRIPT = `
const http = require('node:http');
const body = Buffer.from(process.env.BENCH_BODY, 'utf8');
const headers = { 'content-type': 'application/json; charset=utf-8', ...JSON.parse(process.env.BENCH_HEADERS || '{}'), 'content-length': body.length };
http.createServer((req, res) => { res.writeHead(200, headers); res.end(body); })
  .listen(Number(process.env.PORT), process.env.HOST);
`;

/**
 * The floor under the service's own overhead: a bare node:http handler that sends the service's
 * headers and does the per-request work the production middleware requires, with the service's
 * own functions (request id, IPv4 client key, the rate-limit plugin's store, the service's
 * metrics with its latency histogram), and nothing else: no framework, no cache, no routing.
 */
const REQUEST_WORK_SCRIPT = `
const http = require('node:http');
const LocalStore = require('@fastify/rate-limit/store/LocalStore.js');
const dist = (file) => import(require('node:path').resolve('dist', file));
Promise.all([dist('http/hooks.js'), dist('http/rate-limit.js'), dist('modules/metrics/metrics.js')])
  .then(([{ requestIdFor }, { ipv4ClientKey }, { ServiceMetrics }]) => {
    const body = Buffer.from(process.env.BENCH_BODY, 'utf8');
    const fixed = Object.entries(JSON.parse(process.env.BENCH_HEADERS))
      .filter(([name]) => name !== 'x-request-id' && name !== 'x-process-time')
      .flat()
      .concat('content-length', String(body.length));
    const metrics = new ServiceMetrics({ pool: {}, dataVersion: () => 0 });
    const observe = metrics.requestObserver('GET', '/analytics/top-merchant', 200);
    const store = new LocalStore(false, false, 10000);
    const max = ${RATE_LIMIT_PER_MINUTE};
    http.createServer((req, res) => {
      // The lane's checks; what it would hand to Fastify is answered 400 here (never in the bench).
      if (req.headers.origin !== undefined || req.headers['if-none-match'] !== undefined)
        return void res.writeHead(400).end();
      const started = performance.now();
      const client = ipv4ClientKey(req.socket.remoteAddress);
      let allowed = false;
      store.incr(client, (_e, state) => (allowed = state !== undefined && state.current <= max), 60000, max);
      if (!allowed) return void res.writeHead(429).end();
      const id = requestIdFor(req.headers['x-request-id']);
      const elapsed = performance.now() - started;
      res.writeHead(200, [...fixed, 'x-request-id', id, 'x-process-time', elapsed.toFixed(3) + 'ms']);
      res.end(body);
      observe(elapsed / 1000);
    }).listen(Number(process.env.PORT), process.env.HOST);
  });
`;

/**
 * `headers` lets a second bare server send exactly the service's response headers (security
 * headers, ETag, request id, timing): the same bytes on the wire, so the ratio to it isolates the
 * framework and middleware cost from the cost of the headers themselves (parsed by the load
 * generator on the same two cores).
 */
function startBareServer(
  port: number,
  body: string,
  logFile: string,
  headers: Record<string, string> = {},
  script = BARE_SERVER_SCRIPT,
) {
  const env = {
    ...process.env,
    PORT: String(port),
    HOST,
    BENCH_BODY: body,
    BENCH_HEADERS: JSON.stringify(headers),
  };
  return startNode('bare server', ['-e', script], env, logFile);
}

/** A bare server (startBareServer's arguments) on a free port, once it answers 200. */
async function startReference(
  temp: string,
  logName: string,
  body: string,
  headers: Record<string, string> = {},
  script = BARE_SERVER_SCRIPT,
): Promise<{ url: string; process: ChildProcess }> {
  const port = await freePort();
  const logFile = join(temp, logName);
  const child = startBareServer(port, body, logFile, headers, script);
  const url = `http://${HOST}:${port}/`;
  await waitFor200(url, child, logFile);
  return { url, process: child };
}

/** Polls GET url every POLL_MS until it answers 200; fails when the child exits first. */
async function waitFor200(url: string, child: ChildProcess, logFile: string): Promise<string> {
  let lastReport = performance.now();
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(
        `server exited (${child.exitCode}) before ${url} answered 200:\n${tail(logFile)}`,
      );
    }
    const response = await fetch(url).catch(() => null);
    if (response?.status === 200) return response.text();
    await response?.arrayBuffer(); // release the connection
    if (performance.now() - lastReport > 15_000) {
      lastReport = performance.now();
      console.log(`  ... still waiting (last status ${response?.status ?? 'no answer'})`);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

// ---------------------------------------------------------------------------------------------
// Measurement
// ---------------------------------------------------------------------------------------------

/** CPU seconds (user + system) of a process so far, from /proc; NaN where there is no /proc. */
function processCpuSeconds(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime: USER_HZ ticks
  } catch {
    return Number.NaN;
  }
}

/** Share of all CPUs busy over the next second, from /proc/stat; NaN where there is no /proc. */
async function machineBusyPct(): Promise<number> {
  const sample = () => {
    const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
    // user nice system idle iowait irq softirq steal (guest time is already in user)
    const n = ticks.slice(0, 8).map(Number);
    return { idle: n[3]! + n[4]!, total: n.reduce((a, b) => a + b, 0) };
  };
  try {
    const a = sample();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const b = sample();
    return (1 - (b.idle - a.idle) / (b.total - a.total)) * 100;
  } catch {
    return Number.NaN;
  }
}

/** Other work on the machine skews every number: say so before measuring. */
async function warnIfBusy(): Promise<void> {
  const busy = await machineBusyPct();
  if (busy > BUSY_WARN_PCT) {
    console.log(
      `WARNING: ${busy.toFixed(0)}% of the CPUs were busy before the load started ` +
        `(other processes?): the numbers below are not reliable`,
    );
  }
}

/**
 * Vacuums and analyses the freshly imported tables before measuring, so that autovacuum does not
 * visit them (10 M inserted rows) during the measurements: in one 10 M-row run without this, the
 * whole machine was slower (the bare server's own p99 went from 2 to 6 ms).
 */
async function vacuumNow(databaseUrl: string): Promise<void> {
  const started = performance.now();
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query('VACUUM (ANALYZE)');
  } finally {
    await client.end();
  }
  console.log(`vacuumed the database in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

/**
 * One autocannon run, and the exact p99 of its 2xx responses: autocannon's own histogram keeps
 * whole milliseconds, too coarse to tell a 10% change of a 2 ms p99.
 */
function load(url: string, connections: number, duration: number) {
  const latenciesMs: number[] = [];
  return new Promise<{ result: autocannon.Result; p99Ms: number }>((resolve, reject) => {
    const instance = autocannon({ url, connections, duration }, (error, result) =>
      error ? reject(error) : resolve({ result, p99Ms: percentile(latenciesMs, 0.99) }),
    );
    instance.on('response', (_client, status, _bytes, ms) => {
      if (status >= 200 && status < 300) latenciesMs.push(ms);
    });
  });
}

/** The nearest-rank percentile; NaN for none. */
function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] as number;
}

interface Contender {
  name: string;
  url: string;
  process: ChildProcess;
}

/** One measured run (no warm-up). */
async function measure(contender: Contender, opts: Options): Promise<Measurement> {
  const cpu0 = process.cpuUsage();
  const server0 = processCpuSeconds(contender.process.pid);
  const wall0 = performance.now();
  const { result, p99Ms } = await load(contender.url, opts.connections, opts.duration);
  const wall = (performance.now() - wall0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const clientCpuSeconds = (cpu.user + cpu.system) / 1e6;
  const serverCpuSeconds = processCpuSeconds(contender.process.pid) - server0;
  const responses = result.requests.total;
  const { pathname, search } = new URL(contender.url);
  return {
    target: contender.name,
    path: pathname + search,
    reqPerSec: result.requests.average,
    p99Ms,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    ratio: Number.NaN, // set once the bare server's throughput is known
    roundRatios: [],
    ratioSameHeaders: Number.NaN,
    clientCpuPct: (clientCpuSeconds / wall) * 100,
    serverCpuPct: (serverCpuSeconds / wall) * 100,
    clientCpuUs: (clientCpuSeconds / responses) * 1e6,
    serverCpuUs: (serverCpuSeconds / responses) * 1e6,
  };
}

/**
 * Groups of contenders (each the bare server and what is compared with it) measured in rounds:
 * every round visits every group, one run per contender, the order within a group rotated every
 * round (no place may favour one), each run after a warm-up of its own. This machine has slow
 * spells of a minute or more in which every process spends up to half as much CPU again on a
 * response; measured one group after another, such a spell took all the rounds of one group and
 * the median could not set it aside.
 * Returns each group's runs per contender, in the order of the rounds.
 */
async function measureInRounds(groups: Contender[][], opts: Options): Promise<Measurement[][][]> {
  const runs: Measurement[][][] = groups.map((group) => group.map(() => []));
  for (let round = 0; round < opts.rounds; round++) {
    for (const [g, group] of groups.entries()) {
      for (let turn = 0; turn < group.length; turn++) {
        const index = (round + turn) % group.length;
        await load(group[index]!.url, opts.connections, WARMUP_SECONDS);
        runs[g]![index]!.push(await measure(group[index]!, opts));
      }
    }
  }
  return runs;
}

/** A contender's runs as one measurement, with the median of its ratios to the same rounds' bare runs. */
function relativeTo(runs: Measurement[], bareRuns: Measurement[]): Measurement {
  const ratios = runs.map((run, i) => run.reqPerSec / bareRuns[i]!.reqPerSec);
  return { ...combine(runs), ratio: median(ratios), roundRatios: ratios };
}

/** A target's change from the runs at a smaller size to those at a larger one, round by round. */
function sizeChange(
  target: string,
  [fromRows, fromRuns]: [number, Measurement[]],
  [toRows, toRuns]: [number, Measurement[]],
): SizeChange {
  const changes = (pick: (m: Measurement) => number) =>
    toRuns.map((run, i) => pct(pick(fromRuns[i]!), pick(run)));
  const rateChanges = changes((m) => m.reqPerSec);
  return {
    target,
    fromRows,
    toRows,
    reqPerSec: [median(fromRuns.map((m) => m.reqPerSec)), median(toRuns.map((m) => m.reqPerSec))],
    p99Ms: [median(fromRuns.map((m) => m.p99Ms)), median(toRuns.map((m) => m.p99Ms))],
    reqPerSecChangePct: median(rateChanges),
    p99ChangePct: median(changes((m) => m.p99Ms)),
    roundChangesPct: rateChanges,
  };
}

/** Runs of one target as one measurement: medians of rates and latencies, sums of failures. */
function combine(runs: Measurement[]): Measurement {
  const first = runs[0] as Measurement;
  const sum = (pick: (m: Measurement) => number) => runs.reduce((a, m) => a + pick(m), 0);
  return {
    ...first,
    reqPerSec: median(runs.map((m) => m.reqPerSec)),
    p99Ms: median(runs.map((m) => m.p99Ms)),
    non2xx: sum((m) => m.non2xx),
    errors: sum((m) => m.errors),
    timeouts: sum((m) => m.timeouts),
    clientCpuPct: sum((m) => m.clientCpuPct) / runs.length,
    serverCpuPct: sum((m) => m.serverCpuPct) / runs.length,
    clientCpuUs: median(runs.map((m) => m.clientCpuUs)),
    serverCpuUs: median(runs.map((m) => m.serverCpuUs)),
  };
}

// ---------------------------------------------------------------------------------------------
// Reporting
// ---------------------------------------------------------------------------------------------

function printTable(results: Measurement[]): void {
  const header = [
    'target',
    'req/s',
    'p99 ms',
    'non-2xx',
    'errors',
    'x bare',
    'x same headers',
    'rounds x bare',
    'cpu client/server',
    'cpu µs/response client/server',
  ];
  const rows = results.map((r) => [
    r.target,
    r.reqPerSec.toFixed(0),
    r.p99Ms.toFixed(1),
    String(r.non2xx),
    String(r.errors),
    r.ratio.toFixed(2),
    r.ratioSameHeaders.toFixed(2),
    r.roundRatios.length > 0 ? r.roundRatios.map((x) => x.toFixed(2)).join(' ') : '',
    `${r.clientCpuPct.toFixed(0)}% / ${r.serverCpuPct.toFixed(0)}%`,
    `${r.clientCpuUs.toFixed(1)} / ${r.serverCpuUs.toFixed(1)}`,
  ]);
  printColumns([header, ...rows]);
}

/** First column left-aligned, the others right-aligned, widths from the widest cell. */
function printColumns(lines: string[][]): void {
  const widths = lines[0]!.map((_, i) => Math.max(...lines.map((l) => (l[i] ?? '').length)));
  for (const line of lines) {
    const cells = line.map((cell, i) =>
      i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!),
    );
    console.log(cells.join('  '));
  }
}

/**
 * What the references say about the figures: how far the twin of the bare server, the same code,
 * lands from 1.00 (the harness's resolution); and the most the load generator, single-threaded,
 * could take from the service at its own CPU cost a response (it parses every header line).
 */
function printNotes(results: Measurement[]): void {
  const bare = results[0] as Measurement;
  const twin = results.find((r) => r.target === BARE_TWIN) as Measurement;
  const rounds = twin.roundRatios;
  console.log(
    `resolution: the bare server's twin (the same code, another process) measured ` +
      `${twin.ratio.toFixed(2)}x the bare server, rounds from ${Math.min(...rounds).toFixed(2)} ` +
      `to ${Math.max(...rounds).toFixed(2)}: differences of that size are noise`,
  );
  const clientUs = results.slice(REFERENCE_ROWS).map((r) => r.clientCpuUs);
  const capOf = (us: number) => 1e6 / us / bare.reqPerSec; // one core's worth of responses
  console.log(
    `load generator: ${bare.clientCpuUs.toFixed(1)} µs of CPU a response from the bare server, ` +
      `${Math.min(...clientUs).toFixed(1)}-${Math.max(...clientUs).toFixed(1)} from the service ` +
      `(its headers): on one whole core it could take no more than ` +
      `${capOf(Math.max(...clientUs)).toFixed(2)}-${capOf(Math.min(...clientUs)).toFixed(2)}x ` +
      `the bare server's measured rate from the service, however fast the service`,
  );
}

function printVerdicts(results: Measurement[]): void {
  const verdict = (ok: boolean) => (ok ? 'PASS' : 'FAIL');
  for (const r of results.slice(REFERENCE_ROWS)) {
    const ok = r.ratio >= MIN_RATIO && r.non2xx === 0 && r.errors === 0;
    console.log(
      `${verdict(ok)} ${r.target}: ${r.ratio.toFixed(2)}x bare throughput, ` +
        `${r.ratioSameHeaders.toFixed(2)}x bare with the same headers (target >= ${MIN_RATIO}x, all 2xx)`,
    );
  }
  for (const r of results.filter((m) => heldToP99(m.target))) {
    console.log(
      `${verdict(r.p99Ms < MAX_P99_MS)} ${r.target}: p99 ${r.p99Ms.toFixed(1)} ms ` +
        `(target < ${MAX_P99_MS} ms)`,
    );
  }
}

async function writeReport(report: Report): Promise<string> {
  await mkdir(OUT_DIR, { recursive: true });
  const file = join(OUT_DIR, `http-${report.rows.join('-')}.json`);
  await writeFile(file, JSON.stringify(report, null, 2) + '\n');
  return file;
}

const pct = (from: number, to: number) => (from === 0 ? Number.NaN : ((to - from) / from) * 100);
const signed = (n: number) => (Number.isNaN(n) ? 'n/a' : `${n >= 0 ? '+' : ''}${n.toFixed(1)}%`);

/** Does more data slow answers down? Each change is the median of the rounds' changes. */
function printSizeChanges(changes: SizeChange[]): void {
  if (changes.length === 0) return;
  console.log(
    `\nfrom the smallest size to the larger, in the same rounds (target: req/s and p99 no ` +
      `more than ${MAX_CHANGE_PCT}% worse)`,
  );
  const lines = [['target', 'rows', 'req/s', 'change', 'p99 ms', 'change', 'rounds', 'verdict']];
  for (const c of changes) {
    const ok = c.reqPerSecChangePct >= -MAX_CHANGE_PCT && c.p99ChangePct <= MAX_CHANGE_PCT;
    lines.push([
      c.target,
      `${rowsLabel(c.fromRows)} -> ${rowsLabel(c.toRows)}`,
      `${c.reqPerSec[0].toFixed(0)} -> ${c.reqPerSec[1].toFixed(0)}`,
      signed(c.reqPerSecChangePct),
      `${c.p99Ms[0].toFixed(2)} -> ${c.p99Ms[1].toFixed(2)}`,
      signed(c.p99ChangePct),
      c.roundChangesPct.map((x) => x.toFixed(0)).join(' '),
      ok ? 'PASS' : 'FAIL',
    ]);
  }
  printColumns(lines);
}

/** 1000000 -> 1M, 20000 -> 20k: the size in a target's name. */
function rowsLabel(rows: number): string {
  if (rows % 1_000_000 === 0) return `${rows / 1_000_000}M`;
  if (rows % 1000 === 0) return `${rows / 1000}k`;
  return String(rows);
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

/** Seconds of the start-up import proper, from the service's own /health import status. */
async function importDuration(base: string): Promise<number> {
  const health = (await (await fetch(`${base}/health`)).json()) as {
    import: { startedAt: string; finishedAt: string };
  };
  return (Date.parse(health.import.finishedAt) - Date.parse(health.import.startedAt)) / 1000;
}

/** Starts a service on `rows` fresh rows; returns it, its base URL and the top-merchant body. */
async function setUpService(rows: number, opts: Options, temp: string) {
  const dataDir = join(temp, `data-${rows}`);
  const generated = await generateData(rows, dataDir);
  const databaseUrl = await createScratchDatabase(opts.adminUrl, 'bench_http');
  const port = await freePort();
  const logFile = join(temp, `service-${rows}.log`);
  const started = performance.now();
  const service = startService(port, dataDir, databaseUrl, logFile);
  const base = `http://${HOST}:${port}`;
  console.log(`service on ${base}, importing ${generated} rows ...`);
  const body = await waitFor200(`${base}/analytics/top-merchant`, service, logFile);
  const readySeconds = (performance.now() - started) / 1000;
  const importSeconds = await importDuration(base);
  await vacuumNow(databaseUrl);
  console.log(
    `import took ${importSeconds.toFixed(1)} s (per /health); /analytics/top-merchant ` +
      `answered 200 ${readySeconds.toFixed(1)} s after the service was started`,
  );
  const setUp: ServiceSetUp = {
    rows: generated,
    importSeconds: Number(importSeconds.toFixed(2)),
    readySeconds: Number(readySeconds.toFixed(2)),
  };
  return { process: service, base, body, setUp };
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  build();
  const temp = await prepareTemp('bench-http-', opts.keep, 'data-*/ and the server logs');
  const services: Awaited<ReturnType<typeof setUpService>>[] = [];
  for (const rows of opts.rows) services.push(await setUpService(rows, opts, temp));
  const first = services[0]!;
  const sized = (name: string, rows: number) =>
    services.length > 1 ? `${name} @ ${rowsLabel(rows)}` : name;

  const bare = { name: BARE, ...(await startReference(temp, 'bare.log', first.body)) };
  console.log(
    `load: ${opts.connections} connections; ${WARMUP_SECONDS} s of warm-up before each run; ` +
      `${opts.rounds} rounds, each of ${opts.duration} s on the bare server and ${opts.duration} s ` +
      `on each of ${REFERENCE_ROWS - 1} references and ${TARGETS.length} targets at each size\n`,
  );
  await warnIfBusy();
  const headers = await serviceHeaders(first.base);
  const references = [
    { name: BARE_TWIN, ...(await startReference(temp, 'bare-twin.log', first.body)) },
    {
      name: BARE_SAME_HEADERS,
      ...(await startReference(temp, 'bare-same-headers.log', first.body, headers)),
    },
    {
      name: BARE_REQUEST_WORK,
      ...(await startReference(
        temp,
        'bare-request-work.log',
        first.body,
        headers,
        REQUEST_WORK_SCRIPT,
      )),
    },
  ];

  const atEachSize = TARGETS.map((t) =>
    services.map((s) => ({
      name: sized(t.name, s.setUp.rows),
      url: s.base + t.path,
      process: s.process,
    })),
  );
  const groups = [...references.map((r) => [r]), ...atEachSize].map((g) => [bare, ...g]);
  const bareRuns: Measurement[] = [];
  const measured: Measurement[] = [];
  const sizeChanges: SizeChange[] = [];
  const runsByGroup = await measureInRounds(groups, opts);
  for (const [bareInRounds, ...runsOfEach] of runsByGroup) {
    bareRuns.push(...bareInRounds!);
    for (const runs of runsOfEach) measured.push(relativeTo(runs, bareInRounds!));
  }
  const targetRuns = runsByGroup.slice(references.length); // in the order of TARGETS
  for (const [t, [, ...runsAtEachSize]] of targetRuns.entries()) {
    for (let i = 1; i < services.length; i++) {
      const from: [number, Measurement[]] = [first.setUp.rows, runsAtEachSize[0]!];
      const to: [number, Measurement[]] = [services[i]!.setUp.rows, runsAtEachSize[i]!];
      sizeChanges.push(sizeChange(TARGETS[t]!.name, from, to));
    }
  }
  const results = [{ ...combine(bareRuns), ratio: 1 }, ...measured];
  const sameHeadersRatio = (measured.find((m) => m.target === BARE_SAME_HEADERS) as Measurement)
    .ratio;
  for (const r of results) r.ratioSameHeaders = r.ratio / sameHeadersRatio;

  printTable(results);
  console.log('');
  printNotes(results);
  console.log('');
  printVerdicts(results);
  printSizeChanges(sizeChanges);
  const report: Report = {
    rows: services.map((s) => s.setUp.rows),
    durationSeconds: opts.duration,
    rounds: opts.rounds,
    connections: opts.connections,
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    services: services.map((s) => s.setUp),
    results,
    sizeChanges,
  };
  console.log(`\nwrote ${await writeReport(report)}`);
}

try {
  await main();
} catch (error) {
  console.error(`bench:http failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  await cleanUp();
}

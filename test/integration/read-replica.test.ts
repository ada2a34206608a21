import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnswerCache, DEFAULT_ARGS } from '../../src/modules/analytics/analytics.cache.js';
import { startService, type Service } from '../../src/service.js';
import { withAdmin } from '../../bench/bench-kit.js';
import { sleep, waitFor } from '../fault-helpers.js';
import { generatedLines, scratchDirs, testConfig, writeCsv } from '../helpers.js';
import { startPrimary, startStandby, type Cluster } from '../pg-cluster.js';
import { findServer, parseServerList } from '../../src/db/servers.js';
import { freePort } from '../../src/free-port.js';
import { openDatabase } from '../../src/db/database.js';

const scratchDir = scratchDirs();
const DATABASE = 'activities';
const TOP = '/analytics/top-merchant';

const query = <R extends pg.QueryResultRow>(url: string, sql: string): Promise<R[]> =>
  withAdmin(url, async (client) => (await client.query<R>(sql)).rows);

const versionOf = (etag: string | undefined): number => Number(/^"v(\d+)-/.exec(etag ?? '')?.[1]);

describe('when analytics, health and the ledger read from a streaming standby (DATABASE_READ_URL)', () => {
  let primary: Cluster;
  let standby: Cluster;
  let service: Service;
  let dataDir: string;
  let lines: { header: string; rows: string[] };

  beforeAll(async () => {
    primary = await startPrimary();
    await query(primary.url('postgres'), `CREATE DATABASE ${DATABASE}`);
    standby = await startStandby(primary);
    dataDir = await scratchDir();
    lines = await generatedLines(await scratchDir(), 61, 4000);
    await writeCsv(dataDir, 'activities_20240101.csv', [
      lines.header,
      ...lines.rows.slice(0, 2000),
    ]);
    service = await startService(
      testConfig({
        databaseUrl: primary.url(DATABASE),
        databaseReadUrl: standby.url(DATABASE),
        dataDir,
        watchDataDir: false,
      }),
    );
    await service.startupImport;
  }, 60_000);

  afterAll(async () => {
    await service?.close();
    await standby?.stop();
    await primary?.stop();
  });

  it('then its reads are on the standby, and a new version reaches the answers within 2 s of the primary’s commit, one body per version', async () => {
    const primaryVersion = async () =>
      Number(
        (
          await query<{ version: string }>(
            primary.url(DATABASE),
            'SELECT version FROM data_version',
          )
        )[0]?.version,
      );
    // The standby replays the start-up import's commits a moment after the primary made them.
    await waitFor(
      'the standby to serve the primary’s version',
      async () =>
        versionOf((await service.app.inject({ url: TOP })).headers.etag as string) ===
        (await primaryVersion())
          ? true
          : undefined,
      10_000,
    );
    const onStandby = await query<{ n: number }>(
      standby.url('postgres'),
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = '${DATABASE}'`,
    );
    expect(onStandby[0]?.n).toBeGreaterThan(0);
    const health = await service.app.inject({ url: '/health' });
    expect(health.json()).toMatchObject({ status: 'ok', database: { reachable: true } });

    const before = await primaryVersion();
    const file = await writeCsv(dataDir, 'activities_20240102.csv', [
      lines.header,
      ...lines.rows.slice(2000),
    ]);
    void service.imports.add([file]);

    const bodies = new Map<number, Set<string>>();
    let committedAt: number | undefined;
    let servedAt: number | undefined;
    for (const deadline = Date.now() + 30_000; servedAt === undefined && Date.now() < deadline;) {
      if (committedAt === undefined && (await primaryVersion()) > before) committedAt = Date.now();
      const answer = await service.app.inject({ url: TOP });
      expect(answer.statusCode).toBe(200);
      const version = versionOf(answer.headers.etag as string);
      if (!bodies.has(version)) bodies.set(version, new Set());
      bodies.get(version)!.add(answer.body);
      if (version > before) servedAt = Date.now();
      await sleep(20);
    }
    expect(servedAt).toBeDefined();
    expect((servedAt as number) - (committedAt ?? (servedAt as number))).toBeLessThan(2000);
    for (const seen of bodies.values()) expect(seen.size).toBe(1);

    // The answer served equals the primary's own, computed afresh.
    const pool = new pg.Pool({ connectionString: primary.url(DATABASE) });
    try {
      const fresh = await new AnswerCache(pool).get('top-merchant', DEFAULT_ARGS);
      const served = await service.app.inject({ url: TOP });
      expect(served.body).toBe(fresh.body.toString());
    } finally {
      await pool.end();
    }
  }, 60_000);

  it('then the ledger read from the standby shows the runs the primary committed', async () => {
    const ledger = await service.app.inject({ url: '/imports' });
    const names = (ledger.json() as { items: Array<{ fileName: string; status: string }> }).items
      .filter((run) => run.status === 'done')
      .map((run) => run.fileName);
    expect(names.sort()).toEqual(['activities_20240101.csv', 'activities_20240102.csv']);
  });

  it('then a multi-host URL finds the host its target_session_attrs asks for, in libpq’s order', async () => {
    const dead = await freePort();
    const hosts = (...ports: number[]): string => ports.map((p) => `127.0.0.1:${p}`).join(',');
    const url = (ports: number[], target: string): string =>
      `postgres://postgres:hunter2@${hosts(...ports)}/${DATABASE}?target_session_attrs=${target}`;
    const portOf = async (u: string): Promise<string> =>
      new URL(await findServer(parseServerList(u))).port;
    const [p, s] = [String(primary.port), String(standby.port)];
    expect(await portOf(url([dead, standby.port, primary.port], 'read-write'))).toBe(p);
    expect(await portOf(url([standby.port, primary.port], 'primary'))).toBe(p);
    expect(await portOf(url([primary.port, standby.port], 'prefer-standby'))).toBe(s);
    expect(await portOf(url([primary.port, dead], 'prefer-standby'))).toBe(p);
    expect(await portOf(url([dead, primary.port, standby.port], 'standby'))).toBe(s);
    expect(await portOf(url([primary.port, standby.port], 'read-only'))).toBe(s);
    expect(await portOf(url([dead, standby.port], 'any'))).toBe(s);

    const failure = await findServer(parseServerList(url([dead, standby.port], 'read-write'))).then(
      () => null,
      (error: unknown) => error as Error & { code?: string },
    );
    expect(failure?.code).toBe('08001'); // what the importer's retries wait out
    expect(failure?.message).toContain(`no host is read-write (127.0.0.1:${dead}: `);
    expect(failure?.message).toContain(`127.0.0.1:${s} is a standby`);
    expect(failure?.message).not.toContain('hunter2');
  });

  it('then a DATABASE_URL none of whose hosts takes writes stops the start with one line naming the variable and hosts, never the password', async () => {
    const dead = await freePort();
    const url = `postgres://postgres:hunter2@127.0.0.1:${dead},127.0.0.1:${standby.port}/${DATABASE}`;
    const error = await openDatabase({ databaseUrl: url }).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toMatch(
      new RegExp(
        `^DATABASE_URL \\(127\\.0\\.0\\.1:${dead},127\\.0\\.0\\.1:${standby.port}/${DATABASE}\\): no host is read-write`,
      ),
    );
    expect(error?.message).not.toContain('\n');
    expect(error?.message).not.toContain('hunter2');
  });
});

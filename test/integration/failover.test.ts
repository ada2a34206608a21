import { rename } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withAdmin } from '../../bench/bench-kit.js';
import { generateFiles } from '../../bench/generate.js';
import { QUERIES } from '../../src/modules/analytics/analytics.cache.js';
import { startService, type Service } from '../../src/service.js';
import {
  cleanImportFigures,
  expectConsistent,
  figuresOf,
  sleep,
  waitUntil,
} from '../fault-helpers.js';
import { scratchDirs, testConfig } from '../helpers.js';
import { startFormation, type Formation } from '../pg-auto-failover.js';
import { startPrimary, startStandby, type Cluster } from '../pg-cluster.js';

const scratchDir = scratchDirs();
const DATABASE = 'activities';
const ANSWERS = QUERIES.map((q) => `/analytics/${q}`);

const storedVersion = (url: string): Promise<number> =>
  withAdmin(url, async (c) =>
    Number((await c.query<{ v: string }>('SELECT version AS v FROM data_version')).rows[0]?.v),
  );

/** Polls every answer every 50 ms until stopped; keeps whatever was not a 200. */
function pollAnswers(base: string): { stop: () => Promise<{ polls: number; failures: string[] }> } {
  let polling = true;
  let polls = 0;
  const failures: string[] = [];
  const done = (async () => {
    while (polling) {
      for (const answer of ANSWERS) {
        const response = await fetch(base + answer).catch((error: unknown) => String(error));
        polls += 1;
        if (typeof response === 'string') failures.push(`${answer}: ${response}`);
        else {
          const body = await response.text();
          if (response.status !== 200)
            failures.push(`${answer}: ${response.status} ${body.slice(0, 200)}`);
        }
      }
      await sleep(50);
    }
  })();
  return {
    async stop() {
      polling = false;
      await done;
      return { polls, failures };
    },
  };
}

describe('when the primary dies in the middle of an import and pg_auto_failover promotes the standby', () => {
  let formation: Formation;
  let service: Service;
  let dataDir: string;
  let base: string;

  beforeAll(async () => {
    formation = await startFormation();
    const primary = (await formation.primaryPort()) as number;
    await withAdmin(formation.nodeUrl(primary, 'postgres'), (c) =>
      c.query(`CREATE DATABASE ${DATABASE}`),
    );
    dataDir = await scratchDir();
    // A first day is imported at start-up, so that answers are served before the failover.
    await generateFiles({ days: 1, rowsPerDay: 3000, seed: 24, outDir: dataDir });
    service = await startService(
      testConfig({
        databaseUrl: formation.url(DATABASE),
        dataDir,
        watchDataDir: false,
        importBatchRows: 20_000, // many commits, so that the kill lands between two of them
      }),
    );
    await service.startupImport;
    base = await service.app.listen({ port: 0, host: '127.0.0.1' });
  }, 240_000);

  afterAll(async () => {
    await service?.close();
    await formation?.stop();
  });

  it('then no answer is anything but 200, the import finishes on the new primary, and the figures equal one clean import', async () => {
    const oldPrimary = (await formation.primaryPort()) as number;
    const more = await scratchDir();
    const { files } = await generateFiles({
      days: 3,
      rowsPerDay: 200_000,
      seed: 25,
      outDir: more,
      startDate: '2024-01-02',
    });
    const incoming = files.map((f) => path.join(dataDir, f));
    await Promise.all(files.map((f, i) => rename(path.join(more, f), incoming[i] as string)));

    const poller = pollAnswers(base);
    const imported = service.imports.add(incoming);
    await waitUntil(
      'a commit of the new files on the primary',
      async () => {
        const rows = await withAdmin(formation.nodeUrl(oldPrimary, DATABASE), async (c) =>
          Number(
            (
              await c.query<{ rows: string }>(
                `SELECT coalesce(sum(rows_read), 0) AS rows FROM import_runs WHERE file_name <> ALL($1)`,
                [['activities_20240101.csv']],
              )
            ).rows[0]?.rows,
          ),
        );
        return rows > 0;
      },
      60_000,
      20,
    );
    expect(service.imports.status.state).toBe('running');
    await formation.kill(oldPrimary);

    await imported;
    const newPrimary = await formation.primaryPort();
    expect(newPrimary).not.toBe(oldPrimary);
    expect(newPrimary).not.toBeNull();
    expect(service.imports.status).toMatchObject({ state: 'done', error: null });
    expect(service.database.primaryUrl()).toContain(`:${newPrimary}/`);

    const newUrl = formation.nodeUrl(newPrimary as number, DATABASE);
    const stored = await expectConsistent(newUrl);
    // The service moves its answers to the new primary's version.
    const version = await storedVersion(newUrl);
    await waitUntil(
      'the answers of the new primary’s version',
      () => service.cache.currentVersion === version,
      10_000,
    );
    const { polls, failures } = await poller.stop();
    expect(failures).toEqual([]);
    expect(polls).toBeGreaterThan(100);

    for (const run of stored.ledger) expect(run.status, run.file_name).toBe('done');
    const clean = await cleanImportFigures(dataDir);
    expect(stored.answers).toEqual(clean.answers);
    expect(stored.factsDigest).toBe(clean.factsDigest);
    for (const query of QUERIES) {
      const served = await (await fetch(`${base}/analytics/${query}`)).text();
      expect(served, query).toBe(stored.answers[query]);
    }
  }, 300_000);
});

describe('when the standby promoted after a failover lacks the last commits (asynchronous replication)', () => {
  let primary: Cluster;
  let standby: Cluster;
  let service: Service;
  let dataDir: string;
  let later: string[];

  beforeAll(async () => {
    primary = await startPrimary();
    await withAdmin(primary.url('postgres'), (c) => c.query(`CREATE DATABASE ${DATABASE}`));
    standby = await startStandby(primary);
    dataDir = await scratchDir();
    const { files } = await generateFiles({ days: 3, rowsPerDay: 4000, seed: 26, outDir: dataDir });
    // The first day is there at start-up; the other two arrive later, and only the primary gets them.
    const elsewhere = await scratchDir();
    later = files.slice(1).map((f) => path.join(dataDir, f));
    await Promise.all(
      files.slice(1).map((f) => rename(path.join(dataDir, f), path.join(elsewhere, f))),
    );
    service = await startService(
      testConfig({
        databaseUrl: `postgres://postgres@127.0.0.1:${primary.port},127.0.0.1:${standby.port}/${DATABASE}?target_session_attrs=read-write`,
        dataDir,
        watchDataDir: false,
      }),
    );
    await service.startupImport;
    await Promise.all(
      files.slice(1).map((f) => rename(path.join(elsewhere, f), path.join(dataDir, f))),
    );
  }, 60_000);

  afterAll(async () => {
    await service?.close();
    await standby?.stop();
    await primary?.stop();
  });

  it('then the cached answers are replaced by the new primary’s, and the lost files are imported again from its ledger', async () => {
    const primaryVersion = await storedVersion(primary.url(DATABASE));
    await waitUntil(
      'the standby to replay the start-up import',
      async () => (await storedVersion(standby.url(DATABASE))) === primaryVersion,
      10_000,
    );
    // The standby stops streaming: what the primary commits from now on never reaches it.
    await withAdmin(standby.url('postgres'), async (c) => {
      await c.query(`ALTER SYSTEM SET primary_conninfo = ''`);
      await c.query('SELECT pg_reload_conf()');
    });
    await waitUntil(
      'the standby’s WAL receiver to stop',
      async () =>
        (
          await withAdmin(standby.url('postgres'), (c) =>
            c.query('SELECT 1 FROM pg_stat_wal_receiver'),
          )
        ).rowCount === 0,
      10_000,
    );
    await service.imports.add(later);
    await waitUntil(
      'the answers of the later files',
      async () => service.cache.currentVersion === (await storedVersion(primary.url(DATABASE))),
      10_000,
    );
    const lostVersion = service.cache.currentVersion;

    await primary.stop();
    await withAdmin(standby.url('postgres'), (c) => c.query('SELECT pg_promote()'));
    const promotedVersion = await storedVersion(standby.url(DATABASE));
    expect(promotedVersion).toBeLessThan(lostVersion);
    // The cache moves to the new primary's version, every answer as the new primary computes it.
    await waitUntil(
      'the cache to take the new primary’s version',
      () => service.cache.currentVersion === promotedVersion,
      10_000,
    );
    expect(service.database.primaryUrl()).toContain(`:${standby.port}/`);
    const promoted = await figuresOf(standby.url(DATABASE));
    for (const query of QUERIES) {
      const served = await service.app.inject(`/analytics/${query}`);
      expect(served.statusCode, query).toBe(200);
      expect(served.body, query).toBe(promoted.answers[query]);
    }

    // The later files' runs are not in the new primary's ledger: imported again, they end as one clean import.
    await service.imports.add(later);
    const stored = await expectConsistent(standby.url(DATABASE));
    for (const run of stored.ledger) expect(run.status, run.file_name).toBe('done');
    const clean = await cleanImportFigures(dataDir);
    expect(stored.answers).toEqual(clean.answers);
    expect(stored.factsDigest).toBe(clean.factsDigest);
  }, 120_000);
});

/**
 * Faults: a killed importer, a restarted database server, two importers at once, a file changed
 * after its import, and a statement that fails. After each, the figures must equal those of one
 * clean import of the same files into a fresh database (see figuresOf: every answer, the ledger
 * per file and a digest of the stored facts).
 */
import { chmod, copyFile, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generateFiles } from '../../bench/generate.js';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../../src/db/embedded.js';
import { migrate } from '../../src/db/migrate.js';
import { freePort } from '../../src/free-port.js';
import { QUERIES } from '../../src/modules/analytics/analytics.cache.js';
import { listImportFiles } from '../../src/modules/importer/data-file.js';
import { Importer } from '../../src/modules/importer/importer.js';
import { importWithRetries } from '../../src/modules/importer/retry.js';
import { startService, type Service } from '../../src/service.js';
import { storedMonths } from '../../src/modules/importer/month-partitions.js';
import {
  cleanImportFigures,
  cliStatuses,
  CommitGate,
  expectConsistent,
  figuresOf,
  importInto,
  importerWaits,
  killImportClis,
  runImportCli,
  sleep,
  waitFor,
  type Figures,
  type LedgerRow,
} from '../fault-helpers.js';
import { createTestDatabase, generatedLines, scratchDirs, testConfig } from '../helpers.js';

const scratchDir = scratchDirs();

afterEach(killImportClis);

/** The five answers (and the leaderboard) as the service serves them over HTTP. */
async function servedAnswers(service: Service): Promise<Array<{ status: number; body: string }>> {
  return Promise.all(
    QUERIES.map(async (q) => {
      const response = await service.app.inject(`/analytics/${q}`);
      return { status: response.statusCode, body: response.body };
    }),
  );
}

async function dataVersion(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ v: number }>(
      'SELECT version::int AS v FROM data_version',
    );
    return rows[0]?.v ?? -1;
  } finally {
    await client.end();
  }
}

/**
 * Three dirty files of 12 000 rows (duplicates within and across files, rejects, warnings). A file
 * is about 1.6 MB: two 1 MiB reads, so with IMPORT_BATCH_ROWS=1 every file is two commits, and the
 * "done" of a file rides on the next commit.
 */
let threeFiles: { dir: string; files: string[]; clean: Figures };
beforeAll(async () => {
  const dir = await scratchDir();
  await generateFiles({ days: 3, rowsPerDay: 12_000, seed: 21, outDir: dir, duplicateRate: 0.05 });
  threeFiles = { dir, files: await listImportFiles(dir), clean: await cleanImportFigures(dir) };
});

interface Crash {
  at: string;
  when: string;
  /** Import batches committed before the kill (the data version), when deterministic. */
  committed?: number;
  then?: (partial: Figures, files: string[], url: string) => Promise<void>;
}

const CRASHES: Crash[] = [
  {
    at: 'commit-begin:1',
    when: 'before the first commit',
    committed: 0,
    then: async (partial) => {
      expect(partial.factsDigest).toBe('no facts');
      for (const run of partial.ledger)
        expect(run).toMatchObject({ status: 'running', rows_read: 0 });
    },
  },
  {
    at: 'partition-attached:1',
    when: "while a month's new partition is attached, before its first rows",
    committed: 0,
    then: async (partial, _files, url) => {
      expect(partial.factsDigest).toBe('no facts');
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        expect(await storedMonths(client)).toEqual([]); // the schema the migrations made
      } finally {
        await client.end();
      }
    },
  },
  { at: 'copy-midstream:3', when: 'inside a COPY, half its rows sent', committed: 2 },
  {
    at: 'registry-sealed:2',
    when: "while the id registry's newest generation is sealed and the next begun",
    committed: 2,
  },
  {
    at: 'ledger-pending:2',
    when: 'after a batch wrote its facts and rollups but not yet its ledger progress',
    committed: 1,
  },
  {
    at: 'committed:2',
    when: "after the last batch of a file committed but before the file's run is done",
    committed: 2,
    then: async (partial, files) => {
      const first = partial.ledger[0];
      expect(first?.status).toBe('running');
      expect(first?.bytes_committed).toBe((await stat(files[0] as string)).size);
    },
  },
  {
    at: 'file-start:2',
    when: 'between two files',
    then: async (partial, files) => {
      expect(partial.ledger.map((r) => r.file_name)).toEqual(
        files.slice(0, 2).map((f) => path.basename(f)),
      );
    },
  },
];

describe('when the importing process is killed (SIGKILL) at a point of a multi-file import', () => {
  it.each(CRASHES)(
    'then, killed $when ($at), the data stays consistent and the next run ends with the figures of one clean import',
    async ({ at, committed, then }) => {
      const db = await createTestDatabase();
      try {
        // Generations of one id: the registry's newest is sealed after every commit.
        const env = {
          DATABASE_URL: db.url,
          IMPORT_BATCH_ROWS: '1',
          IMPORT_REGISTRY_GENERATION_IDS: '1',
        };
        const killed = await runImportCli(threeFiles.dir, { ...env, IMPORTER_CRASH_AT: at });
        expect(killed.signal, killed.stderr).toBe('SIGKILL');

        const partial = await expectConsistent(db.url);
        expect(partial.ledger.filter((r) => r.status === 'done').length).toBeLessThan(3);
        if (committed !== undefined) expect(await dataVersion(db.url)).toBe(committed);
        await then?.(partial, threeFiles.files, db.url);

        const resumed = await runImportCli(threeFiles.dir, env);
        expect(resumed.code, resumed.stderr).toBe(0);
        expect(await figuresOf(db.url)).toEqual(threeFiles.clean);
      } finally {
        await db.drop();
      }
    },
  );
});

/** Points of a bulk load (ids staged unkeyed, merged into the registry at the end) to kill it at. */
const BULK_CRASHES = [
  { at: 'copy-midstream:3', when: 'inside a COPY, half its rows sent' },
  { at: 'committed:6', when: 'after the last commit, rows left pending', pending: true },
  { at: 'file-start:3', when: 'between two files' },
  { at: 'bulk-settle:1', when: 'while staged ids are merged and pending rows settled' },
];

describe('when a bulk load is killed (SIGKILL) part way', () => {
  it.each(BULK_CRASHES)(
    'then, killed $when ($at), the registry keeps its key, the data stays consistent, and the next run ends with the figures of one clean import',
    async ({ at, pending }) => {
      const db = await createTestDatabase();
      try {
        const env = {
          DATABASE_URL: db.url,
          IMPORT_BATCH_ROWS: '1',
          IMPORT_BULK_LOAD: 'always',
          IMPORT_REGISTRY_GENERATION_IDS: '1',
        };
        const killed = await runImportCli(threeFiles.dir, { ...env, IMPORTER_CRASH_AT: at });
        expect(killed.signal, killed.stderr).toBe('SIGKILL');
        const { staged, ...left } = await registryState(db.url);
        expect(left).toEqual(MIGRATED_REGISTRY);
        expect(staged).toBeGreaterThan(0);
        const partial = await expectConsistent(db.url);
        if (pending) expect(partial.ledger.some((r) => r.rows_pending > 0)).toBe(true);

        // The next run finishes the bulk load even when it is asked for a keyed one.
        const resumed = await runImportCli(threeFiles.dir, { ...env, IMPORT_BULK_LOAD: 'never' });
        expect(resumed.code, resumed.stderr).toBe(0);
        expect(await registryState(db.url)).toEqual({ ...MIGRATED_REGISTRY, staged: 0 });
        const figures = await figuresOf(db.url);
        expect(figures).toEqual(threeFiles.clean);
        expect(figures.ledger.every((r) => r.rows_pending === 0)).toBe(true);
      } finally {
        await db.drop();
      }
    },
  );
});

/** The registry as the migrations and id-registry.ts make it: each generation keyed, staging not. */
const MIGRATED_REGISTRY = {
  indexes: ['CREATE UNIQUE INDEX event_ids_N_pkey ON public.event_ids_N USING btree (event_id)'],
  unkeyedGenerations: 0,
  sealedWithoutFilter: 0,
};

/**
 * The indexes of the registry's generations (numbers written N) and of its staging table, the
 * generations without a unique key, the sealed ones whose filter does not cover their ids, and
 * how many ids a bulk load left staged.
 */
async function registryState(url: string): Promise<typeof MIGRATED_REGISTRY & { staged: number }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<typeof MIGRATED_REGISTRY & { staged: number }>(
      `WITH generations AS (
         SELECT c.relname AS name, substring(c.relname FROM '\\d+$')::int AS generation
         FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'event_ids'::regclass)
       SELECT
         (SELECT array_agg(DISTINCT regexp_replace(indexdef, 'event_ids_\\d+', 'event_ids_N', 'g'))
          FROM pg_indexes WHERE tablename IN (SELECT name FROM generations UNION SELECT 'event_ids_staged'))
           AS indexes,
         (SELECT count(*)::int FROM generations g WHERE NOT EXISTS
            (SELECT 1 FROM pg_indexes x WHERE x.tablename = g.name AND x.indexdef LIKE 'CREATE UNIQUE%'))
           AS "unkeyedGenerations",
         (SELECT count(*)::int FROM generations g
          WHERE g.generation < (SELECT max(generation) FROM generations)
            AND (SELECT count(*) FROM event_ids e WHERE e.generation = g.generation)
              <> (SELECT coalesce(sum(ids), 0) FROM event_id_filters f WHERE f.generation = g.generation))
           AS "sealedWithoutFilter",
         (SELECT count(*)::int FROM event_ids_staged) AS staged`,
    );
    return rows[0] as typeof MIGRATED_REGISTRY & { staged: number };
  } finally {
    await client.end();
  }
}

describe('when the same files are imported by two processes at the same time', () => {
  it('then they are imported once: one process imports them, the other waits and reports them skipped', async () => {
    const db = await createTestDatabase();
    let gate: CommitGate | undefined;
    try {
      await migrate(db.url);
      // Hold the first commit so that both processes are certainly running at once.
      gate = await CommitGate.close(db.url);
      const gateAdmin = gate.admin;
      const env = { DATABASE_URL: db.url, IMPORT_BATCH_ROWS: '1' };
      const both = [runImportCli(threeFiles.dir, env), runImportCli(threeFiles.dir, env)];
      // One holds the import lock and waits at the gate, the other waits for the import lock.
      await waitFor('both importers', async () =>
        (await importerWaits(gateAdmin)).join() === 'advisory,relation' ? true : undefined,
      );
      await gate.open();
      const runs = await Promise.all(both);
      for (const run of runs) expect(run.code, run.stderr).toBe(0);

      const names = threeFiles.files.map((f) => path.basename(f));
      const reported = runs
        .map((run) => cliStatuses(run.stdout))
        .sort((a, b) => String(a[names[0] as string]).localeCompare(String(b[names[0] as string])));
      expect(reported).toEqual([
        Object.fromEntries(names.map((n) => [n, 'done'])),
        Object.fromEntries(names.map((n) => [n, 'skipped'])),
      ]);
      expect(await figuresOf(db.url)).toEqual(threeFiles.clean);
    } finally {
      await gate?.open();
      await db.drop();
    }
  });
});

/**
 * A changed file's two runs against one clean import of `file` (old content, then new): the same
 * answers and facts, and ledger totals that add up (the runs themselves differ in number).
 */
async function expectFiguresOfOneCleanImport(figures: Figures, file: string): Promise<void> {
  const clean = await cleanImportFigures(file);
  expect(figures.answers).toEqual(clean.answers);
  expect(figures.factsDigest).toBe(clean.factsDigest);
  expect(ledgerTotals(figures)).toEqual(ledgerTotals(clean));
}

/** Sums of the ledger over all runs: what a changed file's two runs must add up to. */
function ledgerTotals(figures: Figures): Record<string, number> {
  const sum = (key: 'rows_read' | 'rows_inserted' | 'rows_duplicate' | 'rows_rejected') =>
    figures.ledger.reduce((total, run) => total + run[key], 0);
  return {
    read: sum('rows_read'),
    inserted: sum('rows_inserted'),
    duplicate: sum('rows_duplicate'),
    rejected: sum('rows_rejected'),
  };
}

describe('when a file changes after it was imported', () => {
  it('then the new content is imported as a second run, its already-known rows counted as duplicates', async () => {
    const original = await generatedLines(await scratchDir(), 31, 400);
    const added = (await generatedLines(await scratchDir(), 32, 80)).rows;
    // Same event_id, different figures: if such a row were taken, the top merchant would change.
    const altered = original.rows.slice(100, 150).map((line) =>
      line
        .split(',')
        .map((f, i) => (i === 5 ? '99999999.99' : i === 6 ? 'SUCCESS' : f))
        .join(','),
    );
    const changed = [...original.rows.slice(0, 100), ...altered, ...added];

    const dir = await scratchDir();
    const file = path.join(dir, 'activities_20240105.csv');
    const db = await createTestDatabase();
    try {
      const importFile = () => importInto(db.url, [file], 1);
      await writeFile(file, [original.header, ...original.rows, ''].join('\n'));
      await importFile();
      await writeFile(file, [original.header, ...changed, ''].join('\n'));
      const [second] = await importFile();
      expect(second).toMatchObject({
        status: 'done',
        rowsRead: changed.length,
        rowsInserted: added.length,
        rowsDuplicate: 150,
        rowsRejected: 0,
      });

      const figures = await expectConsistent(db.url);
      expect(figures.ledger.map((r) => r.status)).toEqual(['done', 'done']);
      expect(new Set(figures.ledger.map((r) => r.file_hash)).size).toBe(2);
      // One clean import of the first content followed by the second gives the same figures.
      const both = path.join(await scratchDir(), 'activities_20240105.csv');
      await writeFile(both, [original.header, ...original.rows, ...changed, ''].join('\n'));
      await expectFiguresOfOneCleanImport(figures, both);
    } finally {
      await db.drop();
    }
  });

  /** Imports `file`'s folder with the CLI, killed right after its first commit; the run left. */
  async function importKilledAfterFirstCommit(dbUrl: string, file: string): Promise<LedgerRow> {
    const killed = await runImportCli(path.dirname(file), {
      DATABASE_URL: dbUrl,
      IMPORT_BATCH_ROWS: '1',
      IMPORTER_CRASH_AT: 'committed:1',
    });
    expect(killed.signal).toBe('SIGKILL');
    const [stale] = (await expectConsistent(dbUrl)).ledger;
    expect(stale?.status).toBe('running');
    return stale as LedgerRow;
  }

  it('then a file that grew after an interrupted import is continued by the same run, with the figures of one clean import', async () => {
    const original = await generatedLines(await scratchDir(), 33, 15_000);
    const added = (await generatedLines(await scratchDir(), 34, 50)).rows;
    const dir = await scratchDir();
    const file = path.join(dir, 'activities_20240106.csv');
    await writeFile(file, [original.header, ...original.rows, ''].join('\n'));
    const db = await createTestDatabase();
    try {
      const stale = await importKilledAfterFirstCommit(db.url, file);
      expect(stale.rows_read).toBeGreaterThan(0);
      expect(stale.rows_read).toBeLessThan(original.rows.length);

      const grownRows = [...original.rows, ...added];
      await writeFile(file, [original.header, ...grownRows, ''].join('\n'));
      await importInto(db.url, [file], 1);

      const figures = await expectConsistent(db.url);
      expect(figures.ledger).toMatchObject([
        { status: 'done', rows_read: grownRows.length, rows_duplicate: 0 },
      ]);
      await expectFiguresOfOneCleanImport(figures, file);
    } finally {
      await db.drop();
    }
  });

  it('then a file whose committed part was rewritten after an interrupted import keeps the committed rows, and a new run counts them as duplicates', async () => {
    const original = await generatedLines(await scratchDir(), 33, 15_000);
    const added = (await generatedLines(await scratchDir(), 34, 50)).rows;
    const dir = await scratchDir();
    const file = path.join(dir, 'activities_20240106.csv');
    const originalText = [original.header, ...original.rows, ''].join('\n');
    await writeFile(file, originalText);
    const db = await createTestDatabase();
    try {
      const stale = await importKilledAfterFirstCommit(db.url, file);
      const prefixBytes = stale.bytes_committed;
      const committedRows = stale.rows_read;

      // The first row goes: the file no longer starts with the bytes the run committed.
      const changedRows = [...original.rows.slice(1), ...added];
      await writeFile(file, [original.header, ...changedRows, ''].join('\n'));
      await importInto(db.url, [file], 1);

      const figures = await expectConsistent(db.url);
      expect(figures.ledger).toMatchObject([
        { status: 'changed', rows_read: committedRows, message: expect.stringMatching(/run \d+/) },
        { status: 'done', rows_read: changedRows.length, rows_duplicate: committedRows - 1 },
      ]);
      // Equal to one clean import of what the first run committed followed by the new content.
      const both = path.join(await scratchDir(), 'activities_20240106.csv');
      await writeFile(both, originalText.slice(0, prefixBytes) + [...changedRows, ''].join('\n'));
      await expectFiguresOfOneCleanImport(figures, both);
    } finally {
      await db.drop();
    }
  });
});

describe('when the database server restarts during imports', () => {
  let pgDir: string;
  let port: number;
  let server: EmbeddedDatabase | undefined;
  let service: Service | undefined;
  let allDays: string;
  let firstDays: string;

  /** Stops the server (fast shutdown: sessions end with 57P01), leaves it down, starts it again. */
  async function restartServer(downMs = 700): Promise<void> {
    await server?.stop();
    server = undefined;
    await sleep(downMs);
    server = await startEmbeddedPostgres(path.join(pgDir, 'data'), { port });
  }

  beforeAll(async () => {
    pgDir = await scratchDir();
    await chmod(pgDir, 0o755); // as root, the server runs as the postgres user and must reach it
    port = await freePort();
    server = await startEmbeddedPostgres(path.join(pgDir, 'data'), { port });
    await migrate(server.url);
    allDays = await scratchDir();
    await generateFiles({
      days: 4,
      rowsPerDay: 12_000,
      seed: 9,
      outDir: allDays,
      duplicateRate: 0.05,
    });
    firstDays = await scratchDir();
    for (const file of (await listImportFiles(allDays)).slice(0, 2))
      await copyFile(file, path.join(firstDays, path.basename(file)));
  });

  afterAll(async () => {
    await service?.close();
    await server?.stop();
  });

  it('then the start-up import retries, resumes from its last commit and ends with the figures of one clean import', async () => {
    const url = (server as EmbeddedDatabase).url;
    const gate = await CommitGate.close(url);
    service = await startService(
      testConfig({ databaseUrl: url, dataDir: firstDays, importBatchRows: 1, watchDataDir: false }),
    );
    let runsBefore: pg.QueryResult;
    try {
      // Let one batch commit, hold the second just before its COMMIT, and restart under it.
      await gate.importerWaiting();
      await gate.letOneThrough();
      await gate.importerWaiting();
      expect(await dataVersion(url)).toBe(1);
      runsBefore = await service.database.pool.query('SELECT id, file_name FROM import_runs');
      await restartServer();
    } finally {
      await gate.open();
    }
    // Still retrying, not given up; and during the start-up import nothing partial is served.
    expect((await service.app.inject('/health')).json().import.state).toBe('running');
    expect((await service.app.inject('/analytics/top-merchant')).statusCode).toBe(503);

    await service.startupImport;
    expect((await service.app.inject('/health')).json().import).toMatchObject({
      state: 'done',
      error: null,
    });
    const figures = await expectConsistent(url);
    expect(figures).toEqual(await cleanImportFigures(firstDays));
    // Resumed, not started over: the runs begun before the restart are the ones that finished.
    const runsAfter = await service.database.pool.query('SELECT id, file_name FROM import_runs');
    expect(runsAfter.rows).toEqual(expect.arrayContaining(runsBefore.rows));
    expect(runsAfter.rows).toHaveLength(2);
    for (const answer of await servedAnswers(service)) expect(answer.status).toBe(200);
  }, 60_000);

  it('then a later import retries with back-off while the service answers every request from committed data', async () => {
    expect(service, 'the service of the previous test').toBeDefined();
    const live = service as Service;
    const url = (server as EmbeddedDatabase).url;
    const before = await servedAnswers(live);

    const gate = await CommitGate.close(url);
    const retries: Array<{ error: string; waitMs: number }> = [];
    const importing = importWithRetries(
      async () =>
        new Importer(live.database.pool, url, { batchRows: 1, settleMs: 0 }).importFiles(
          await listImportFiles(allDays),
        ),
      (error, waitMs) => retries.push({ error: String(error), waitMs }),
    );
    // Ask the service all along: every answer must be a 200 from some committed version.
    const seen: Array<{ status: number; body: string }> = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        seen.push(...(await servedAnswers(live)));
        await sleep(20);
      }
    })();
    try {
      await gate.importerWaiting();
      await gate.letOneThrough();
      await gate.importerWaiting();
      await restartServer();
      const outcomes = await importing;
      expect(outcomes.map((o) => o.status)).toEqual([
        ...Array(2).fill('skipped'),
        ...Array(2).fill('done'),
      ]);
    } finally {
      polling = false;
      await poller;
      await gate.open();
    }

    expect(retries.length, JSON.stringify(retries)).toBeGreaterThan(0);
    expect(retries.map((r) => r.waitMs)).toEqual([500, 1000, 2000, 4000].slice(0, retries.length));
    expect(seen.filter((s) => s.status !== 200)).toEqual([]);
    expect(seen.slice(0, before.length)).toEqual(before);
    const clean = await cleanImportFigures(allDays);
    expect(await expectConsistent(url)).toEqual(clean);
    // The service finds the new version after the restart (its LISTEN connection was lost).
    await waitFor('the service to serve the new figures', async () => {
      const now = await servedAnswers(live);
      return now.every((a, i) => a.body === clean.answers[QUERIES[i] as string]) ? true : undefined;
    });
  }, 60_000);
});

interface Fault {
  name: string;
  message: RegExp;
  /** SQL that makes a batch of the second file fail. */
  install: (secondFile: string) => Promise<string>;
  remove: string;
}

const FAULTS: Fault[] = [
  {
    name: 'a statement error (a CHECK constraint refuses a row of the second file)',
    message: /violates check constraint "injected_fault"/,
    install: async (secondFile) => {
      const lines = (await readFile(secondFile, 'utf8')).split('\n').filter((l) => l !== '');
      const lastId = (lines[lines.length - 1] as string).split(',')[0];
      return `ALTER TABLE activities ADD CONSTRAINT injected_fault CHECK (event_id <> '${lastId}')`;
    },
    remove: 'ALTER TABLE activities DROP CONSTRAINT injected_fault',
  },
  {
    name: 'a full disk (SQLSTATE 53100 while the rollups of the second file are written)',
    message: /No space left on device/,
    install: async () => `
      CREATE FUNCTION injected_fault() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'could not extend file "base/1/2": No space left on device'
          USING ERRCODE = 'disk_full';
      END $$;
      CREATE TRIGGER injected_fault BEFORE INSERT ON merchant_month_volume
        FOR EACH ROW WHEN (NEW.month = 202402) EXECUTE FUNCTION injected_fault()`,
    remove: 'DROP TRIGGER injected_fault ON merchant_month_volume; DROP FUNCTION injected_fault()',
  },
];

describe('when a statement fails inside an import', () => {
  let dir: string;
  let files: string[];
  let clean: Figures;

  beforeAll(async () => {
    // Days 2024-01-31, 02-01, 02-02: only the second and third file have February rows.
    dir = await scratchDir();
    await generateFiles({
      days: 3,
      rowsPerDay: 12_000,
      seed: 17,
      outDir: dir,
      clean: true,
      startDate: '2024-01-31',
    });
    files = await listImportFiles(dir);
    clean = await cleanImportFigures(dir);
  });

  it.each(FAULTS)(
    'then, on $name, the import is marked failed with the reason, nothing of the batch is visible and the service answers',
    async ({ message, install, remove }) => {
      const db = await createTestDatabase();
      const admin = new pg.Client({ connectionString: db.url });
      let service: Service | undefined;
      try {
        await migrate(db.url);
        await admin.connect();
        await admin.query(await install(files[1] as string));
        service = await startService(
          testConfig({
            databaseUrl: db.url,
            dataDir: dir,
            importBatchRows: 1,
            watchDataDir: false,
          }),
        );
        await service.startupImport;

        const health = await service.app.inject('/health');
        expect(health.statusCode).toBe(200);
        expect(health.json().import.state).toBe('failed');
        expect(health.json().import.error).toMatch(message);
        const partial = await expectConsistent(db.url);
        const second = partial.ledger.find(
          (r) => r.file_name === path.basename(files[1] as string),
        );
        expect(second?.status).toBe('failed');
        expect(second?.message).toMatch(message);
        expect(partial.ledger.filter((r) => r.status === 'running')).toEqual([]);
        // The first file was wholly committed before the fault: done, even when the failed
        // batch was the one that would have carried its 'done'.
        expect(partial.ledger[0]).toEqual(clean.ledger[0]);
        expect(partial.factsDigest).not.toBe(clean.factsDigest);
        // The service stays up and serves the last committed version: what the ledger says is in.
        const served = await servedAnswers(service);
        expect(served.map((a) => a.status)).toEqual(QUERIES.map(() => 200));
        expect(served.map((a) => a.body)).toEqual(QUERIES.map((q) => partial.answers[q]));

        // With the fault gone, the next import resumes the failed run and finishes the job.
        await admin.query(remove);
        await new Importer(service.database.pool, db.url, {
          batchRows: 1,
          settleMs: 0,
        }).importFiles(files);
        expect(await figuresOf(db.url)).toEqual(clean);
        const live = service;
        await waitFor('the service to serve the completed figures', async () =>
          (await servedAnswers(live)).every(
            (a, i) => a.body === clean.answers[QUERIES[i] as string],
          )
            ? true
            : undefined,
        );
      } finally {
        await service?.close();
        await admin.end();
        await db.drop();
      }
    },
  );
});

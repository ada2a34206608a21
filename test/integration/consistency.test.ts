import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateFiles } from '../../bench/generate.js';
import { openDatabase, type Database } from '../../src/db/database.js';

import { AnswerCache } from '../../src/modules/analytics/analytics.cache.js';
import { verifyAnswers } from '../../src/modules/analytics/verify.js';
import { IMPORTER_APPLICATION_NAME, Importer } from '../../src/modules/importer/importer.js';
import { listImportFiles } from '../../src/modules/importer/data-file.js';
import type {
  FileOutcome,
  ImportOptions,
  ImportProgress,
} from '../../src/modules/importer/import-types.js';
import { startService } from '../../src/service.js';
import { FILE_1, FILE_2 } from '../fixtures/hand-worked.js';
import { answersOf } from '../fault-helpers.js';
import { createTestDatabase, HEADER, tempDir, testConfig, uuid, writeCsv } from '../helpers.js';

async function importAll(
  database: Database,
  dir: string,
  batchRows = 5000,
  more: Partial<ImportOptions> = {},
) {
  return new Importer(database.pool, database.url, { batchRows, settleMs: 0, ...more }).importFiles(
    await listImportFiles(dir),
  );
}

describe('when dirty generated data is imported in small batches', () => {
  let dbHandle: { url: string; drop: () => Promise<void> };
  let database: Database;
  let dataDir: string;

  beforeAll(async () => {
    dbHandle = await createTestDatabase();
    database = await openDatabase({ databaseUrl: dbHandle.url });
    dataDir = await tempDir();
    await generateFiles({
      days: 4,
      rowsPerDay: 4000,
      seed: 7,
      outDir: dataDir,
      duplicateRate: 0.1,
      anomalyRate: 0.03,
    });
    await writeCsv(dataDir, 'activities_20231231.csv', FILE_1);
    await writeCsv(dataDir, 'activities_20240001.csv', FILE_2);
  });

  afterAll(async () => {
    await database?.close();
    await dbHandle?.drop();
  });

  it('then read = inserted + duplicates + rejected for every file and verify finds the rollups equal to the facts', async () => {
    const outcomes = await importAll(database, dataDir, 3000);
    for (const o of outcomes) {
      expect(o.status).toBe('done');
      expect(o.rowsRead).toBe(o.rowsInserted + o.rowsDuplicate + o.rowsRejected);
    }
    expect(outcomes.some((o) => o.rowsDuplicate > 0)).toBe(true);
    const results = await verifyAnswers(database.pool, new AnswerCache(database.pool));
    for (const r of results) expect(r.served, r.query).toBe(r.recomputed);
  });

  it.each([
    ['keyed', 'never'],
    ['bulk', 'always'],
  ] as const)(
    'then, each file copied on its own in transactions of several files (%s load), the figures and per-file counts are the same',
    async (_, bulkLoad) => {
      const other = await createTestDatabase();
      const split = await openDatabase({ databaseUrl: other.url });
      try {
        const outcomes = await importAll(split, dataDir, 6000, { copyBatchRows: 1, bulkLoad });
        expect(await answersOf(split.pool)).toEqual(await answersOf(database.pool));
        const counts = (runs: FileOutcome[]) =>
          runs.map(({ fileName, rowsRead, rowsInserted, rowsDuplicate, rowsRejected }) => ({
            fileName,
            rowsRead,
            rowsInserted,
            rowsDuplicate,
            rowsRejected,
          }));
        // Imported again, the first database skips every file and reports its committed counts.
        expect(counts(outcomes)).toEqual(counts(await importAll(database, dataDir)));
      } finally {
        await split.close();
        await other.drop();
      }
    },
  );

  it('then the figures equal those of one import in a single big batch', async () => {
    const other = await createTestDatabase();
    const single = await openDatabase({ databaseUrl: other.url });
    try {
      await importAll(single, dataDir, 1_000_000);
      expect(await answersOf(single.pool)).toEqual(await answersOf(database.pool));
    } finally {
      await single.close();
      await other.drop();
    }
  });
});

describe('when a later transaction of an import meets events stored by an earlier import', () => {
  const row = (n: number, day: number): string =>
    `${uuid(n)},MRC-${String(n % 5).padStart(6, '0')},2024-02-0${day}T10:00:00Z,POS,CARD_TRANSACTION,${n}.00,SUCCESS,POS,LAGOS,STARTER`;
  const rows = (from: number, to: number, day: number): string[] =>
    Array.from({ length: to - from }, (_, k) => row(from + k, day));

  it('then that transaction rolls back, its files go on from their last commit, and every count is exact', async () => {
    const handle = await createTestDatabase();
    const reference = await createTestDatabase();
    const database = await openDatabase({ databaseUrl: handle.url });
    const single = await openDatabase({ databaseUrl: reference.url });
    const [earlier, later, both] = [await tempDir(), await tempDir(), await tempDir()];
    const files: Array<[string, string, string[]]> = [
      [earlier, 'activities_20240201.csv', [HEADER, ...rows(1, 41, 1)]],
      [later, 'activities_20240202.csv', [HEADER, ...rows(101, 161, 2)]],
      [later, 'activities_20240203.csv', ['not,a,header', row(1, 3)]],
      // Ids 11 to 20 were stored by the earlier import. They arrive in this import's third
      // transaction (25 rows each), which also holds the last rows of the first file: that file
      // is read again from its last commit, and the rejected one is passed again.
      [later, 'activities_20240204.csv', [HEADER, ...rows(11, 21, 4), ...rows(201, 241, 4)]],
      [later, 'activities_20240205.csv', [HEADER, ...rows(301, 321, 5)]],
    ];
    for (const [dir, name, lines] of files) {
      await writeCsv(dir, name, lines);
      await writeCsv(both, name, lines);
    }
    try {
      await importAll(database, earlier, 1000);
      let progress: ImportProgress | undefined;
      const outcomes = await importAll(database, later, 25, {
        copyBatchRows: 10,
        onProgress: (p) => (progress = p),
      });
      expect(progress).toMatchObject({ filesTotal: 4, filesDone: 4 });
      expect(outcomes.map((o) => [o.fileName, o.status, o.rowsInserted, o.rowsDuplicate])).toEqual([
        ['activities_20240202.csv', 'done', 60, 0],
        ['activities_20240203.csv', 'rejected', 0, 0],
        ['activities_20240204.csv', 'done', 40, 10],
        ['activities_20240205.csv', 'done', 20, 0],
      ]);
      const ledger = await database.pool.query(
        `SELECT file_name, status, rows_read::int AS read, rows_inserted::int AS inserted,
                rows_duplicate::int AS duplicate FROM import_runs ORDER BY id`,
      );
      expect(ledger.rows).toEqual([
        {
          file_name: 'activities_20240201.csv',
          status: 'done',
          read: 40,
          inserted: 40,
          duplicate: 0,
        },
        {
          file_name: 'activities_20240202.csv',
          status: 'done',
          read: 60,
          inserted: 60,
          duplicate: 0,
        },
        {
          file_name: 'activities_20240203.csv',
          status: 'rejected',
          read: 0,
          inserted: 0,
          duplicate: 0,
        },
        {
          file_name: 'activities_20240204.csv',
          status: 'done',
          read: 50,
          inserted: 40,
          duplicate: 10,
        },
        {
          file_name: 'activities_20240205.csv',
          status: 'done',
          read: 20,
          inserted: 20,
          duplicate: 0,
        },
      ]);
      const stored = await database.pool.query<{ facts: number; ids: number }>(
        `SELECT (SELECT count(*)::int FROM activities) AS facts,
                (SELECT count(*)::int FROM event_ids) AS ids`,
      );
      expect(stored.rows[0]).toEqual({ facts: 160, ids: 160 });
      await importAll(single, both, 1_000_000);
      expect(await answersOf(database.pool)).toEqual(await answersOf(single.pool));
    } finally {
      await database.close();
      await single.close();
      await handle.drop();
      await reference.drop();
    }
  });
});

describe('when two instances serve one database', () => {
  it('then a commit by one is seen by the other within a second', async () => {
    const db = await createTestDatabase();
    const emptyDir = await tempDir();
    const first = await startService(testConfig({ databaseUrl: db.url, dataDir: emptyDir }));
    const second = await startService(testConfig({ databaseUrl: db.url, dataDir: emptyDir }));
    try {
      await Promise.all([first.startupImport, second.startupImport]);
      expect((await second.app.inject('/analytics/top-merchant')).statusCode).toBe(404);
      const dataDir = await tempDir();
      await writeCsv(dataDir, 'activities_20240101.csv', FILE_1);
      await importAll(first.database, dataDir);
      const committedAt = Date.now();
      let seenAfter = Infinity;
      while (Date.now() - committedAt < 3000) {
        const response = await second.app.inject('/analytics/top-merchant');
        if (response.statusCode === 200) {
          seenAfter = Date.now() - committedAt;
          expect(response.body).toBe('{"merchant_id":"MRC-000003","total_volume":350.50}');
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(seenAfter).toBeLessThan(1000);
    } finally {
      await first.close();
      await second.close();
      await db.drop();
    }
  });
});

describe('when the importing process is killed part way through a large file', () => {
  it('then the next run resumes from the last committed batch and the figures equal one clean import', async () => {
    const dataDir = await tempDir();
    await generateFiles({
      days: 1,
      rowsPerDay: 150_000,
      seed: 11,
      outDir: dataDir,
      duplicateRate: 0.05,
    });
    const killed = await createTestDatabase();
    const clean = await createTestDatabase();
    const cli = path.resolve('src/modules/importer/importer.cli.ts');
    const run = (url: string) =>
      spawn(process.execPath, ['--import', 'tsx', cli, dataDir], {
        env: { ...process.env, DATABASE_URL: url, IMPORT_BATCH_ROWS: '10000' },
        stdio: 'ignore',
      });
    const admin = new pg.Client({ connectionString: killed.url });
    try {
      const victim = run(killed.url);
      await admin.connect();
      // Wait until a few batches are committed, then kill without warning.
      for (;;) {
        const { rows } = await admin
          .query<{ bytes: string }>(
            `SELECT bytes_committed AS bytes FROM import_runs WHERE status = 'running'`,
          )
          .catch(() => ({ rows: [] as Array<{ bytes: string }> }));
        if (rows.length > 0 && Number(rows[0]?.bytes) > 3_000_000) break;
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      victim.kill('SIGKILL');
      await once(victim, 'exit');
      const partial = await admin.query<{ status: string; read: string }>(
        `SELECT status, rows_read AS read FROM import_runs`,
      );
      expect(partial.rows[0]?.status).toBe('running');
      expect(Number(partial.rows[0]?.read)).toBeLessThan(150_000);

      for (const url of [killed.url, clean.url]) {
        const [code] = await once(run(url), 'exit');
        expect(code).toBe(0);
      }
      const [a, b] = [
        await openDatabase({ databaseUrl: killed.url }),
        await openDatabase({ databaseUrl: clean.url }),
      ];
      try {
        expect(await answersOf(a.pool)).toEqual(await answersOf(b.pool));
        const ledger = await a.pool.query(
          `SELECT status, rows_read::int AS read, rows_inserted + rows_duplicate + rows_rejected AS total FROM import_runs`,
        );
        expect(ledger.rows).toEqual([{ status: 'done', read: 150_000, total: '150000' }]);
        const facts = await a.pool.query<{ n: string }>('SELECT count(*) AS n FROM activities');
        const cleanFacts = await b.pool.query<{ n: string }>(
          'SELECT count(*) AS n FROM activities',
        );
        expect(facts.rows[0]?.n).toBe(cleanFacts.rows[0]?.n);
      } finally {
        await a.close();
        await b.close();
      }
    } finally {
      await admin.end();
      await killed.drop();
      await clean.drop();
    }
  }, 120_000);
});

describe('when the database connection of the start-up import is cut part way', () => {
  it('then the service retries, resumes, and ends with the figures of one clean import', async () => {
    const dataDir = await tempDir();
    await generateFiles({
      days: 2,
      rowsPerDay: 60_000,
      seed: 5,
      outDir: dataDir,
      duplicateRate: 0.05,
    });
    const cut = await createTestDatabase();
    const clean = await createTestDatabase();
    const service = await startService(
      testConfig({ databaseUrl: cut.url, dataDir, importBatchRows: 5000 }),
    );
    const admin = new pg.Client({ connectionString: cut.url });
    try {
      await admin.connect();
      for (;;) {
        const { rows } = await admin.query<{ n: string }>(
          `SELECT count(*) AS n FROM import_runs WHERE bytes_committed > 1000000`,
        );
        if (Number(rows[0]?.n) > 0) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const killed = await admin.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()`,
        [IMPORTER_APPLICATION_NAME],
      );
      expect(killed.rowCount).toBe(1);
      await service.startupImport;
      expect((await service.app.inject('/health')).json().import.state).toBe('done');
      const single = await openDatabase({ databaseUrl: clean.url });
      try {
        await importAll(single, dataDir, 1_000_000);
        expect(await answersOf(service.database.pool)).toEqual(await answersOf(single.pool));
        const ledger = await service.database.pool.query(
          `SELECT status, count(*)::int AS n FROM import_runs GROUP BY status ORDER BY status`,
        );
        expect(ledger.rows).toEqual([{ status: 'done', n: 2 }]);
      } finally {
        await single.close();
      }
    } finally {
      await admin.end();
      await service.close();
      await cut.drop();
      await clean.drop();
    }
  }, 120_000);
});

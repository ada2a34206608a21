import { execFile } from 'node:child_process';
import { open, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../src/db/database.js';
import { Importer } from '../../src/modules/importer/importer.js';
import { HEADER, createTestDatabase, tempDir, uuid } from '../helpers.js';

const MB = 1024 * 1024;

const row = (id: string, region = 'LAGOS'): string =>
  `${id},MRC-000001,2024-01-05T10:00:00Z,POS,TRANSFER,1.00,SUCCESS,POS,${region},STARTER`;

/**
 * Writes `head`, then `megabytes` MiB made of `unit` repeated, then `tail`, through one reused
 * 1 MiB buffer: the test itself never holds the big record in memory.
 */
async function writeWithHugeRecord(
  file: string,
  head: string,
  unit: string,
  megabytes: number,
  tail: string,
): Promise<void> {
  const handle = await open(file, 'w');
  try {
    await handle.write(head);
    const block = Buffer.from(unit.repeat(MB / unit.length));
    for (let i = 0; i < megabytes; i++) await handle.write(block);
    await handle.write(tail);
  } finally {
    await handle.close();
  }
}

/** Runs `work` while sampling the resident set size; returns its result and the peak growth. */
async function measuringRss<T>(work: () => Promise<T>): Promise<{ result: T; growth: number }> {
  const before = process.memoryUsage().rss;
  let peak = before;
  const sample = (): void => {
    peak = Math.max(peak, process.memoryUsage().rss);
  };
  const timer = setInterval(sample, 5);
  try {
    const result = await work();
    sample();
    return { result, growth: peak - before };
  } finally {
    clearInterval(timer);
  }
}

describe('a single record of 100 MB', () => {
  let db: { url: string; drop: () => Promise<void> };
  let database: Database;
  let dir: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    database = await openDatabase({ databaseUrl: db.url });
    dir = await tempDir('activities-huge-');
  });

  afterAll(async () => {
    await database?.close();
    await db?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const rejectsOf = async (runId: number) =>
    (
      await database.pool.query(
        'SELECT line::int, reason, raw FROM import_rejects WHERE run_id = $1 ORDER BY line',
        [runId],
      )
    ).rows;

  it('when a 100 MB line sits between valid rows, then it is one record_too_long reject, the rows around it are imported and RSS grows less than 150 MB', async () => {
    const file = path.join(dir, 'activities_20240105.csv');
    const hugeStart = `${row(uuid(1))}\n${uuid(2)},MRC-000002,2024-01-05T10:00:00Z,POS,TRANSFER,1.00,SUCCESS,POS,`;
    await writeWithHugeRecord(
      file,
      `${HEADER}\n${hugeStart}`,
      'x',
      100,
      `,STARTER\r\n${row(uuid(3))}\n`,
    );

    const { result, growth } = await measuringRss(() =>
      new Importer(database.pool, db.url, { batchRows: 1000, settleMs: 0 }).importFiles([file]),
    );

    expect(growth).toBeLessThan(150 * MB);
    expect(result[0]).toMatchObject({
      status: 'done',
      rowsRead: 3,
      rowsInserted: 2,
      rowsDuplicate: 0,
      rowsRejected: 1,
      rejectsByReason: { record_too_long: 1 },
    });
    const rejects = await rejectsOf(result[0]?.runId as number);
    expect(rejects).toEqual([
      {
        line: 3,
        reason: 'record_too_long',
        raw: (hugeStart.split('\n')[1] as string).padEnd(1024, 'x'),
      },
    ]);
    const ids = await database.pool.query('SELECT event_id::text AS id FROM activities ORDER BY 1');
    expect(ids.rows.map((r) => r.id)).toEqual([uuid(1), uuid(3)]);
  });

  it('when a quote opened in a 20 MB record never closes, then the rest of the file is that one rejected record and memory stays bounded', async () => {
    const file = path.join(dir, 'activities_20240106.csv');
    // Line breaks inside the open quote belong to the field: the rows after it are swallowed too.
    await writeWithHugeRecord(
      file,
      `${HEADER}\n${row(uuid(11))}\n${uuid(12)},"`,
      'abc,\n"" ',
      20,
      `\n${row(uuid(13))}\n${row(uuid(14))}\n`,
    );

    const { result, growth } = await measuringRss(() =>
      new Importer(database.pool, db.url, { batchRows: 1000, settleMs: 0 }).importFiles([file]),
    );

    expect(growth).toBeLessThan(150 * MB);
    expect(result[0]).toMatchObject({
      status: 'done',
      rowsRead: 2,
      rowsInserted: 1,
      rowsRejected: 1,
      rejectsByReason: { record_too_long: 1 },
    });
    const rejects = await rejectsOf(result[0]?.runId as number);
    expect(rejects).toMatchObject([{ line: 3, reason: 'record_too_long' }]);
  });
});

describe('a file of half a million one-character lines', () => {
  it('when every line is a record of one field, then the import ends done under a 64 MB heap, each line a column_count reject', async () => {
    const db = await createTestDatabase();
    const dir = await tempDir('activities-short-lines-');
    try {
      await writeWithHugeRecord(
        path.join(dir, 'activities_20240107.csv'),
        `${HEADER}\n`,
        'a\n',
        1,
        '',
      );
      const lines = MB / 2; // 1 MiB of "a\n"
      // The CLI in a process of its own, its heap capped as `npm start` caps the service's (256
      // MB) but tighter: memory per record must not depend on how short the lines are.
      const cli = await execNode(['--max-old-space-size=64', '--import', 'tsx', CLI, dir], {
        DATABASE_URL: db.url,
        IMPORT_BATCH_ROWS: '1000000',
      });
      expect(cli.stderr).not.toMatch(/heap/i);
      expect(cli.code).toBe(0);
      const database = await openDatabase({ databaseUrl: db.url });
      try {
        const runs = await database.pool.query(
          `SELECT status, rows_read::int, rows_rejected::int, rejects_by_reason,
                  (SELECT count(*)::int FROM import_rejects) AS stored FROM import_runs`,
        );
        expect(runs.rows).toEqual([
          {
            status: 'done',
            rows_read: lines,
            rows_rejected: lines,
            rejects_by_reason: { column_count: lines },
            stored: lines,
          },
        ]);
      } finally {
        await database.close();
      }
    } finally {
      await db.drop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

const CLI = fileURLToPath(new URL('../../src/modules/importer/importer.cli.ts', import.meta.url));

function execNode(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { env: { ...process.env, ...env } }, (error, _out, stderr) => {
      if (error && typeof error.code !== 'number') reject(error);
      else resolve({ code: typeof error?.code === 'number' ? error.code : 0, stderr });
    });
  });
}

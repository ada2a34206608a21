import { mkdir, readdir, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config.js';
import { sweepUploads } from '../../src/modules/importer/upload-sweeper.js';
import { startService, type Service } from '../../src/service.js';
import { EXPECTED_LEDGER, FILE_1, FILE_2 } from '../fixtures/hand-worked.js';
import { createTestDatabase, tempDir, testConfig, writeCsv } from '../helpers.js';

const TOKEN = 'uploads-admin-token-0123456789';
const NAME = 'activities_20240102.csv';

/** Polls `check` until it returns true, for at most `ms`. */
async function eventually(check: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

interface Context {
  service: Service;
  uploadDir: string;
  databaseUrl: string;
  /** Drops the database only (after the service was closed). */
  drop: () => Promise<void>;
  close: () => Promise<void>;
}

/** A service over FILE_1, with the admin token, and its upload folder. */
async function serviceWithFirstFile(overrides: Partial<Config> = {}): Promise<Context> {
  const database = await createTestDatabase();
  const dataDir = await tempDir();
  await writeCsv(dataDir, 'activities_20240101.csv', FILE_1);
  const config = testConfig({
    databaseUrl: database.url,
    dataDir,
    adminToken: TOKEN,
    ...overrides,
  });
  const service = await startService(config);
  await service.startupImport;
  return {
    service,
    uploadDir: config.uploadDir,
    databaseUrl: database.url,
    drop: database.drop,
    close: async () => {
      await service.close();
      await database.drop();
    },
  };
}

function upload(service: Service, content = FILE_2) {
  return service.app.inject({
    method: 'POST',
    url: `/imports?name=${NAME}`,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'text/csv' },
    payload: content,
  });
}

async function runsOf(service: Service): Promise<Array<Record<string, unknown>>> {
  const items = (await service.app.inject('/imports')).json().items as Array<
    Record<string, unknown>
  >;
  return items.filter((run) => run.fileName === NAME);
}

const storedUploads = (uploadDir: string): Promise<string[]> => readdir(uploadDir).catch(() => []);

describe('when five identical uploads arrive at once', () => {
  let ctx: Context;
  beforeAll(async () => {
    ctx = await serviceWithFirstFile();
  });
  afterAll(() => ctx?.close());

  it('then they make one run, answered to all five, imported once, with one stored copy', async () => {
    const responses = await Promise.all([1, 2, 3, 4, 5].map(() => upload(ctx.service)));
    const ids = new Set(responses.map((r) => r.json().id as number));
    expect(ids.size).toBe(1);
    const [id] = [...ids];
    for (const response of responses) {
      expect([200, 202]).toContain(response.statusCode);
      expect(response.headers.location).toBe(`/imports/${id}`);
    }
    expect(await runsOf(ctx.service)).toHaveLength(1);
    expect(await storedUploads(ctx.uploadDir)).toHaveLength(1);
    await eventually(async () => (await runsOf(ctx.service))[0]?.status === 'done');
    expect((await runsOf(ctx.service))[0]).toMatchObject(EXPECTED_LEDGER[NAME]);
  });

  it('then the same content again answers 200 with that run, and different content makes a new one', async () => {
    const [run] = await runsOf(ctx.service);
    const again = await upload(ctx.service);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual({ id: run?.id, status: 'done', fileName: NAME });
    const changed = await upload(ctx.service, `${FILE_2}\n`);
    expect(changed.statusCode).toBe(202);
    expect(changed.json().id).not.toBe(run?.id);
  });
});

describe('when UPLOAD_RETENTION_HOURS is 0', () => {
  it('then a stored upload is removed as soon as its run is done', async () => {
    const ctx = await serviceWithFirstFile({ uploadRetentionHours: 0 });
    try {
      const response = await upload(ctx.service);
      expect(response.statusCode).toBe(202);
      await eventually(async () => (await runsOf(ctx.service))[0]?.status === 'done');
      await eventually(async () => (await storedUploads(ctx.uploadDir)).length === 0);
      expect((await runsOf(ctx.service))[0]).toMatchObject(EXPECTED_LEDGER[NAME]);
    } finally {
      await ctx.close();
    }
  });
});

describe('when UPLOAD_RETENTION_HOURS is 24', () => {
  let ctx: Context;
  beforeAll(async () => {
    ctx = await serviceWithFirstFile({ uploadRetentionHours: 24 });
  });
  afterAll(() => ctx?.close());

  const backdate = (hours: number) =>
    ctx.service.database.pool.query(
      `UPDATE import_runs SET finished_at = now() - make_interval(hours => $1)
       WHERE file_name = $2`,
      [hours, NAME],
    );

  it('then a finished upload is kept for 24 hours, then swept; uploads not finished stay', async () => {
    await upload(ctx.service);
    await eventually(async () => (await runsOf(ctx.service))[0]?.status === 'done');
    const [kept] = await storedUploads(ctx.uploadDir);
    // An upload being stored (a .part file) and a stored file with no run yet.
    await mkdir(path.join(ctx.uploadDir, 'arriving'));
    await writeFile(path.join(ctx.uploadDir, 'arriving', `${NAME}.part`), 'event_id');
    await mkdir(path.join(ctx.uploadDir, 'no-run-yet'));
    await writeCsv(path.join(ctx.uploadDir, 'no-run-yet'), NAME, FILE_1);
    const pool = ctx.service.database.pool;
    await backdate(23);
    expect(await sweepUploads(pool, ctx.uploadDir, 24)).toEqual([]);
    await backdate(25);
    expect(await sweepUploads(pool, ctx.uploadDir, 24)).toEqual([kept]);
    expect(await storedUploads(ctx.uploadDir)).toHaveLength(2);
  });

  it('then a folder an upload cut off by a crash left is removed after a day untouched', async () => {
    const folder = path.join(ctx.uploadDir, 'arriving');
    const twoDaysAgo = new Date(Date.now() - 48 * 3_600_000);
    await utimes(path.join(folder, `${NAME}.part`), twoDaysAgo, twoDaysAgo);
    await utimes(folder, twoDaysAgo, twoDaysAgo);
    expect(await sweepUploads(ctx.service.database.pool, ctx.uploadDir, 24)).toEqual(['arriving']);
  });
});

describe('when the service starts with uploads whose retention has passed', () => {
  it('then it removes them once its start-up import has run', async () => {
    const first = await serviceWithFirstFile({ uploadRetentionHours: 1 });
    const config = testConfig({
      databaseUrl: first.databaseUrl,
      dataDir: path.dirname(first.uploadDir),
      adminToken: TOKEN,
      uploadRetentionHours: 1,
    });
    let second: Service | undefined;
    try {
      await upload(first.service);
      await eventually(async () => (await runsOf(first.service))[0]?.status === 'done');
      await first.service.database.pool.query(
        `UPDATE import_runs SET finished_at = now() - interval '2 hours'`,
      );
      await first.service.close();
      expect(await storedUploads(first.uploadDir)).toHaveLength(1);
      second = await startService(config);
      await second.startupImport;
      await eventually(async () => (await storedUploads(first.uploadDir)).length === 0);
    } finally {
      await second?.close();
      await first.drop();
    }
  });
});

describe('when an upload ends inside its last line (no line break) and FILE_SETTLE_MS is long', () => {
  it('then its last row is imported at once: an accepted upload is whole', async () => {
    const ctx = await serviceWithFirstFile({ fileSettleMs: 60_000 });
    try {
      const started = Date.now();
      const response = await upload(ctx.service, FILE_2.trimEnd());
      expect(response.statusCode).toBe(202);
      await eventually(async () => (await runsOf(ctx.service))[0]?.status === 'done', 20_000);
      expect(Date.now() - started).toBeLessThan(20_000);
      const [run] = await runsOf(ctx.service);
      // The last line (an unparseable amount, kept with a warning) is read, not left waiting.
      expect(run).toMatchObject({ rowsRead: 5, rowsRejected: 1 });
    } finally {
      await ctx.close();
    }
  });
});

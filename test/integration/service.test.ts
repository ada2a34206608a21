import { copyFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/database.js';
import { freePort } from '../../src/free-port.js';
import { startService, type Service } from '../../src/service.js';
import { EXPECTED, EXPECTED_LEDGER, FILE_1, FILE_2 } from '../fixtures/hand-worked.js';
import { createTestDatabase, tempDir, testConfig, writeCsv } from '../helpers.js';

describe('when the service imports the hand-worked fixture', () => {
  let service: Service;
  let dataDir: string;
  let database: { url: string; drop: () => Promise<void> };

  const get = async (url: string, headers: Record<string, string> = {}) =>
    service.app.inject({ method: 'GET', url, headers });

  beforeAll(async () => {
    database = await createTestDatabase();
    dataDir = await tempDir();
    await writeCsv(dataDir, 'activities_20240101.csv', FILE_1);
    await writeCsv(dataDir, 'activities_20240102.csv', FILE_2);
    await writeCsv(dataDir, 'notes.txt', 'not an activities file');
    service = await startService(testConfig({ databaseUrl: database.url, dataDir }));
    await service.startupImport;
  });

  afterAll(async () => {
    await service?.close();
    await database?.drop();
  });

  for (const [query, body] of Object.entries(EXPECTED)) {
    it(`then GET /analytics/${query} answers exactly ${body}`, async () => {
      const response = await get(`/analytics/${query}`);
      expect(response.statusCode).toBe(200);
      expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(response.body).toBe(body);
    });
  }

  it('then the ledger accounts for every row of every file', async () => {
    const response = await get('/imports');
    const runs = response.json().items as Array<Record<string, unknown>>;
    expect(runs).toHaveLength(2);
    for (const run of runs) {
      const expected = EXPECTED_LEDGER[run.fileName as keyof typeof EXPECTED_LEDGER];
      expect(run).toMatchObject({ status: 'done', ...expected });
      expect(run.rowsRead).toBe(
        Number(run.rowsInserted) + Number(run.rowsDuplicate) + Number(run.rowsRejected),
      );
    }
    const second = runs.find((r) => r.fileName === 'activities_20240102.csv');
    expect(second?.warningsByKind).toEqual({ invalid_amount: 1 });
    expect(second?.rejectsByReason).toEqual({ column_count: 1 });
  });

  it('then every rejected row can be looked up with its line, reason and raw text', async () => {
    const runs = (await get('/imports')).json().items as Array<{ id: number; fileName: string }>;
    const first = runs.find((r) => r.fileName === 'activities_20240101.csv');
    const response = await get(`/imports/${first?.id}/rejects`);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      runId: first?.id,
      reasonCounts: { invalid_merchant_id: 1 },
      items: [
        {
          line: 11,
          reason: 'invalid_merchant_id',
          raw: 'a0000000-0000-4000-8000-000000000010,MERCHANT-1,2024-01-10T10:00:00Z,POS,CARD_TRANSACTION,5.00,SUCCESS,POS,LAGOS,STARTER',
        },
      ],
      nextAfter: null,
    });
    const filtered = await get(`/imports/${first?.id}/rejects?reason=column_count`);
    expect(filtered.json().items).toEqual([]);
  });

  it('then an unknown import run is a 404 with the error body', async () => {
    const response = await get('/imports/999999/rejects');
    expect(response.statusCode).toBe(404);
    expect(response.json().error.code).toBe('not_found');
  });

  it('then answers carry an ETag and a matching If-None-Match gets 304', async () => {
    const first = await get('/analytics/kyc-funnel');
    const etag = first.headers.etag as string;
    expect(etag).toMatch(/^"v\d+-/);
    expect(first.headers['cache-control']).toContain('must-revalidate');
    const again = await get('/analytics/kyc-funnel', { 'if-none-match': etag });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
  });

  it('then importing the same content again under a new name changes no figure', async () => {
    const before = await Promise.all(
      Object.keys(EXPECTED).map(async (q) => (await get(`/analytics/${q}`)).body),
    );
    await copyFile(
      path.join(dataDir, 'activities_20240102.csv'),
      path.join(dataDir, 'activities_20240103.csv'),
    );
    const { Importer } = await import('../../src/modules/importer/importer.js');
    const { listImportFiles } = await import('../../src/modules/importer/data-file.js');
    const importer = new Importer(service.database.pool, service.database.url, {
      batchRows: 1000,
      settleMs: 0,
    });
    const outcomes = await importer.importFiles(await listImportFiles(dataDir));
    expect(outcomes.map((o) => o.status)).toEqual(['skipped', 'skipped', 'done']);
    expect(outcomes[2]).toMatchObject({
      rowsRead: 5,
      rowsInserted: 0,
      rowsDuplicate: 4,
      rowsRejected: 1,
    });
    await service.cache.refresh();
    const after = await Promise.all(
      Object.keys(EXPECTED).map(async (q) => (await get(`/analytics/${q}`)).body),
    );
    expect(after).toEqual(before);
  });
});

describe('when the service restarts on the same database', () => {
  it('then nothing is imported again and the answers are the same', async () => {
    const database = await createTestDatabase();
    const dataDir = await tempDir();
    await writeCsv(dataDir, 'activities_20240101.csv', FILE_1);
    await writeCsv(dataDir, 'activities_20240102.csv', FILE_2);
    try {
      const first = await startService(testConfig({ databaseUrl: database.url, dataDir }));
      await first.startupImport;
      const firstAnswer = (await first.app.inject('/analytics/top-merchant')).body;
      const firstRuns = (await first.app.inject('/imports')).json().items;
      await first.close();

      const second = await startService(testConfig({ databaseUrl: database.url, dataDir }));
      await second.startupImport;
      expect((await second.app.inject('/analytics/top-merchant')).body).toBe(firstAnswer);
      expect((await second.app.inject('/imports')).json().items).toEqual(firstRuns);
      await second.close();
    } finally {
      await database.drop();
    }
  });
});

describe('when a file lacks a required column', () => {
  it('then that file is rejected as a whole with a clear message and the others are imported', async () => {
    const database = await createTestDatabase();
    const dataDir = await tempDir();
    await writeCsv(dataDir, 'activities_20240101.csv', [
      'event_id,merchant_id,event_timestamp,product,event_type,amount,status,channel,region',
      'a0000000-0000-4000-8000-000000000001,MRC-000001,2024-01-10T10:00:00Z,POS,CARD_TRANSACTION,100.00,SUCCESS,POS,LAGOS',
    ]);
    await writeCsv(dataDir, 'activities_20240102.csv', FILE_2);
    const service = await startService(testConfig({ databaseUrl: database.url, dataDir }));
    try {
      await service.startupImport;
      const runs = (await service.app.inject('/imports')).json().items as Array<
        Record<string, unknown>
      >;
      const rejected = runs.find((r) => r.fileName === 'activities_20240101.csv');
      expect(rejected).toMatchObject({ status: 'rejected', rowsRead: 0, rowsInserted: 0 });
      expect(rejected?.message).toBe('missing required column(s): merchant_tier');
      expect(runs.find((r) => r.fileName === 'activities_20240102.csv')).toMatchObject({
        status: 'done',
        rowsInserted: 4,
      }); // its first row is no longer a duplicate
      expect((await service.app.inject('/analytics/top-merchant')).body).toBe(
        '{"merchant_id":"MRC-000001","total_volume":250.50}',
      );
    } finally {
      await service.close();
      await database.drop();
    }
  });
});

describe('when nothing has succeeded yet', () => {
  it('then top-merchant is a 404 with the error body and the other answers are empty', async () => {
    const database = await createTestDatabase();
    const dataDir = await tempDir();
    const service = await startService(testConfig({ databaseUrl: database.url, dataDir }));
    try {
      await service.startupImport;
      const top = await service.app.inject('/analytics/top-merchant');
      expect(top.statusCode).toBe(404);
      expect(top.json()).toEqual({
        error: {
          code: 'not_found',
          message: expect.any(String),
          requestId: top.headers['x-request-id'],
        },
      });
      expect((await service.app.inject('/analytics/monthly-active-merchants')).body).toBe('{}');
      expect((await service.app.inject('/analytics/product-adoption')).body).toBe('{}');
      expect((await service.app.inject('/analytics/failure-rates')).body).toBe('[]');
      expect((await service.app.inject('/analytics/kyc-funnel')).body).toBe(
        '{"documents_submitted":0,"verifications_completed":0,"tier_upgrades":0}',
      );
    } finally {
      await service.close();
      await database.drop();
    }
  });
});

describe('when DATABASE_URL names a server that cannot be used', () => {
  it('then the start fails with one line naming DATABASE_URL and the server, never the password', async () => {
    const url = `postgres://someone:hunter2@127.0.0.1:${await freePort()}/nowhere`;
    const error = await openDatabase({ databaseUrl: url }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toMatch(/^DATABASE_URL \(127\.0\.0\.1:\d+\/nowhere\): .*ECONNREFUSED/);
    expect(error?.message).not.toContain('hunter2');
    expect(error?.message).not.toContain('\n');
  });

  it('then a DATABASE_READ_URL that cannot be used fails the start with one line naming it', async () => {
    const db = await createTestDatabase();
    try {
      const readUrl = `postgres://someone:hunter2@127.0.0.1:${await freePort()}/standby`;
      const error = await openDatabase({ databaseUrl: db.url, databaseReadUrl: readUrl }).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(error?.message).toMatch(/^DATABASE_READ_URL \(127\.0\.0\.1:\d+\/standby\): /);
      expect(error?.message).not.toContain('hunter2');
    } finally {
      await db.drop();
    }
  });
});

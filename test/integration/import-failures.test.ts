import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type Service } from '../../src/service.js';
import { FILE_1, FILE_2 } from '../fixtures/hand-worked.js';
import { createTestDatabase, tempDir, testConfig, writeCsv } from '../helpers.js';

describe('when one file of an import fails (it is gone by the time its turn comes)', () => {
  let service: Service;
  let dataDir: string;
  let database: { url: string; drop: () => Promise<void> };

  beforeAll(async () => {
    database = await createTestDatabase();
    dataDir = await tempDir();
    service = await startService(
      testConfig({ databaseUrl: database.url, dataDir, watchDataDir: false }),
    );
    await service.startupImport;
    const first = await writeCsv(dataDir, 'activities_20240101.csv', FILE_1);
    const last = await writeCsv(dataDir, 'activities_20240103.csv', FILE_2);
    const missing = path.join(dataDir, 'activities_20240102.csv');
    await service.imports.add([first, missing, last]);
  });

  afterAll(async () => {
    await service?.close();
    await database?.drop();
  });

  it('then the files after it are imported all the same', async () => {
    const runs = (await service.app.inject('/imports')).json().items as Array<{
      fileName: string;
      status: string;
    }>;
    expect(runs.map((r) => [r.fileName, r.status]).sort()).toEqual([
      ['activities_20240101.csv', 'done'],
      ['activities_20240103.csv', 'done'],
    ]);
  });

  it('then /health says degraded, still 200, with the failure naming the file but no path', async () => {
    const health = await service.app.inject('/health');
    expect(health.statusCode).toBe(200);
    const body = health.json();
    expect(body.status).toBe('degraded');
    expect(body.import.state).toBe('failed');
    expect(body.import.error).toMatch(/activities_20240102\.csv/);
    expect(body.import.error).not.toContain(dataDir);
    expect(body.import.error).not.toMatch(/\/tmp\//);
  });
});

import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { openDatabase, type Database } from '../../src/db/database.js';
import { AnswerCache } from '../../src/modules/analytics/analytics.cache.js';
import { ImportQueue, type ImportStatus } from '../../src/modules/importer/import-queue.js';
import { ServiceMetrics } from '../../src/modules/metrics/metrics.js';
import { createTestDatabase, tempDir, testConfig } from '../helpers.js';

const IMPORTING: ImportStatus = {
  state: 'running',
  filesTotal: 3,
  filesDone: 1,
  rowsRead: 42,
  currentFile: 'activities_20240102.csv',
  startedAt: null,
  finishedAt: null,
  error: null,
};

describe('HTTP hygiene', () => {
  let db: { url: string; drop: () => Promise<void> };
  let database: Database;
  let app: FastifyInstance;
  let ready = false;

  beforeAll(async () => {
    db = await createTestDatabase();
    database = await openDatabase({ databaseUrl: db.url });
    const cache = new AnswerCache(database.pool);
    await cache.refresh();
    const config = testConfig({
      databaseUrl: db.url,
      dataDir: await tempDir(),
      corsOrigins: ['https://dashboard.example.com'],
    });
    const log = pino({ level: 'silent' });
    const imports = new ImportQueue({
      databaseUrl: db.url,
      batchRows: 1000,
      settleMs: 0,
      log,
    });
    Object.assign(imports.status, IMPORTING);
    app = await buildApp({
      config,
      log,
      pool: database.pool,
      cache,
      version: '9.9.9',
      isReady: () => ready,
      imports,
      metrics: new ServiceMetrics({ pool: database.pool, dataVersion: () => cache.currentVersion }),
    });
  });

  afterAll(async () => {
    await app?.close();
    await database?.close();
    await db?.drop();
  });

  it('when the start-up import is running, then analytics answer 503 with Retry-After and the error body', async () => {
    ready = false;
    const response = await app.inject('/analytics/failure-rates');
    expect(response.statusCode).toBe(503);
    expect(response.headers['retry-after']).toBe('5');
    expect(response.json()).toEqual({
      error: {
        code: 'not_ready',
        message: expect.any(String),
        requestId: response.headers['x-request-id'],
      },
    });
    const health = await app.inject('/health');
    expect(health.json()).toMatchObject({
      status: 'starting',
      version: '9.9.9',
      import: { filesDone: 1, filesTotal: 3, rowsRead: 42 },
    });
    ready = true;
  });

  it('when an answer is served, then it carries the security, request id and timing headers', async () => {
    const response = await app.inject('/analytics/kyc-funnel');
    expect(response.statusCode).toBe(200);
    expect(response.headers['strict-transport-security']).toContain('max-age=31536000');
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    expect(response.headers['x-frame-options']).toBe('DENY');
    expect(response.headers['referrer-policy']).toBe('no-referrer');
    expect(response.headers['content-security-policy']).toContain("default-src 'none'");
    expect(response.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(response.headers['x-process-time']).toMatch(/^\d+\.\d{3}ms$/);
  });

  it('when the dashboard, the docs or the API answer, then each carries its own plugin’s CSP', async () => {
    const dashboard = await app.inject('/');
    expect(dashboard.statusCode).toBe(200);
    expect(dashboard.headers['content-security-policy']).toContain("script-src 'self'");
    expect(dashboard.headers['content-security-policy']).not.toContain('unsafe-inline');
    expect(dashboard.headers['cross-origin-opener-policy']).toBe('same-origin');
    const docs = await app.inject('/redoc');
    expect(docs.headers['content-security-policy']).toContain("script-src 'self' 'unsafe-inline'");
    for (const url of ['/health', '/analytics/kyc-funnel', '/no/such/page']) {
      const response = await app.inject(url);
      expect(response.headers['content-security-policy'], url).toBe(
        "default-src 'none'; frame-ancestors 'none'",
      );
      expect(response.headers['cross-origin-opener-policy'], url).toBeUndefined();
      expect(response.headers['x-content-type-options'], url).toBe('nosniff');
    }
  });

  it('when a caller sends a sane X-Request-Id, then it is kept; an insane one is replaced', async () => {
    const kept = await app.inject({ url: '/health', headers: { 'x-request-id': 'trace-123' } });
    expect(kept.headers['x-request-id']).toBe('trace-123');
    const replaced = await app.inject({
      url: '/health',
      headers: { 'x-request-id': 'bad id with spaces' },
    });
    expect(replaced.headers['x-request-id']).not.toBe('bad id with spaces');
  });

  it('when a route does not exist, then 404 with the error body and no stack', async () => {
    const response = await app.inject('/analytics/nothing-here?x=1');
    expect(response.statusCode).toBe(404);
    expect(response.json()).toEqual({
      error: {
        code: 'not_found',
        message: 'no route for GET /analytics/nothing-here',
        requestId: response.headers['x-request-id'],
      },
    });
  });

  it('when requests are answered, then the latency histogram labels them by route pattern, unknown URLs under one label', async () => {
    await app.inject('/imports/7');
    await app.inject('/no/such/path');
    await app.inject('/another/unknown');
    const text = (await app.inject('/metrics')).body;
    expect(text).toMatch(
      /http_request_duration_seconds_count\{method="GET",route="\/imports\/:id",status="404"\} [1-9]/,
    );
    expect(text).toMatch(
      /http_request_duration_seconds_count\{method="GET",route="unmatched",status="404"\} [1-9]/,
    );
    expect(text).not.toContain('/no/such/path');
  });

  it.each([
    ['/analytics/failure-rates?from=2024-13', 'from'],
    ['/analytics/failure-rates?to=24-01', 'to'],
    ['/analytics/top-merchants?limit=101', 'limit'],
    ['/analytics/top-merchants?limit=abc', 'limit'],
    ['/analytics/kyc-funnel?from=2024-05&to=2024-04', 'from'],
    ['/analytics/kyc-funnel?month=2024-05', 'month'],
    ['/imports/0/rejects', 'id'],
    ['/imports/1/rejects?reason=bogus', 'reason'],
  ])('when %s is asked, then 400 names the parameter %s', async (url, name) => {
    const response = await app.inject(url);
    expect(response.statusCode).toBe(400);
    const body = response.json();
    expect(body.error.code).toBe('bad_request');
    expect(body.error.message).toContain(name);
    expect(JSON.stringify(body)).not.toMatch(/at .*\.(js|ts):\d+|SELECT|node_modules/);
  });

  it('when CORS_ORIGINS lists an origin, then it is allowed and others are not', async () => {
    const allowed = await app.inject({
      url: '/health',
      headers: { origin: 'https://dashboard.example.com' },
    });
    expect(allowed.headers['access-control-allow-origin']).toBe('https://dashboard.example.com');
    const other = await app.inject({
      url: '/health',
      headers: { origin: 'https://evil.example.com' },
    });
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('when the docs are asked for, then Swagger UI, ReDoc and the OpenAPI document are served', async () => {
    const spec = (await app.inject('/openapi.json')).json();
    for (const path of [
      '/analytics/top-merchant',
      '/analytics/top-merchants',
      '/analytics/monthly-active-merchants',
      '/analytics/product-adoption',
      '/analytics/kyc-funnel',
      '/analytics/failure-rates',
      '/health',
      '/imports',
      '/imports/{id}',
      '/imports/{id}/rejects',
    ]) {
      expect(spec.paths[path]?.get, path).toBeDefined();
    }
    const docs = await app.inject('/docs/');
    expect(docs.statusCode).toBe(200);
    expect(docs.headers['content-security-policy']).toContain("script-src 'self'");
    const redoc = await app.inject('/redoc');
    expect(redoc.statusCode).toBe(200);
    expect(redoc.body).toContain('/openapi.json');
    expect((await app.inject('/redoc/redoc.standalone.js')).statusCode).toBe(200);
  });
});

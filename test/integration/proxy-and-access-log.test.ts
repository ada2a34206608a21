import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { openDatabase, type Database } from '../../src/db/database.js';
import { AnswerCache } from '../../src/modules/analytics/analytics.cache.js';
import { ImportQueue } from '../../src/modules/importer/import-queue.js';
import { ServiceMetrics } from '../../src/modules/metrics/metrics.js';
import { createTestDatabase, tempDir, testConfig } from '../helpers.js';

const PROXY = '10.0.0.9';
const URL = '/analytics/kyc-funnel';

describe('TRUST_PROXY, the rate limiter and the access log', () => {
  let db: { url: string; drop: () => Promise<void> };
  let database: Database;
  let cache: AnswerCache;
  const apps: FastifyInstance[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    database = await openDatabase({ databaseUrl: db.url });
    cache = new AnswerCache(database.pool);
    await cache.refresh();
  });

  afterAll(async () => {
    for (const app of apps) await app.close();
    await database?.close();
    await db?.drop();
  });

  /** The app as the service builds it from this environment, its log lines collected. */
  async function appWith(env: NodeJS.ProcessEnv) {
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    });
    const { trustProxy, rateLimitPerMinute, logLevel } = loadConfig(env);
    const config = testConfig({
      databaseUrl: db.url,
      dataDir: await tempDir(),
      trustProxy,
      rateLimitPerMinute,
      logLevel,
    });
    const log = pino({ level: config.logLevel }, sink);
    const app = await buildApp({
      config,
      log,
      pool: database.pool,
      cache,
      version: '1.0.0',
      isReady: () => true,
      imports: new ImportQueue({ databaseUrl: db.url, batchRows: 1000, settleMs: 0, log }),
      metrics: new ServiceMetrics({ pool: database.pool, dataVersion: () => cache.currentVersion }),
    });
    apps.push(app);
    const from = (client: string) =>
      app.inject({ url: URL, remoteAddress: PROXY, headers: { 'x-forwarded-for': client } });
    return { app, lines, from };
  }

  it('when TRUST_PROXY=1, then two clients behind the proxy get a bucket each, and the log shows their address', async () => {
    const { lines, from } = await appWith({ TRUST_PROXY: '1', RATE_LIMIT_PER_MINUTE: '2' });
    const first = await from('203.0.113.1');
    expect(first.statusCode).toBe(200);
    expect(first.headers['x-ratelimit-limit']).toBe('2');
    expect(first.headers['x-ratelimit-remaining']).toBe('1');
    expect((await from('203.0.113.1')).statusCode).toBe(200);
    expect((await from('198.51.100.7, 203.0.113.2')).statusCode).toBe(200);
    const limited = await from('203.0.113.1');
    expect(limited.statusCode).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(limited.json().error).toMatchObject({ code: 'rate_limited' });

    const access = lines.filter((line) => line.msg === 'request completed');
    expect(access.map((line) => [line.ip, line.statusCode])).toEqual([
      ['203.0.113.1', 200],
      ['203.0.113.1', 200],
      ['203.0.113.2', 200],
      ['203.0.113.1', 429],
    ]);
    expect(access[0]).toMatchObject({
      level: 30,
      reqId: first.headers['x-request-id'],
      method: 'GET',
      url: URL,
      route: URL,
      responseTime: expect.any(Number),
    });
    // one line per request: nothing else at info or above names these requests
    const ids = new Set(access.map((line) => line.reqId));
    expect(lines.filter((line) => ids.has(line.reqId))).toHaveLength(4);
  });

  it('when TRUST_PROXY is unset, then every client behind the proxy shares its bucket', async () => {
    const { lines, from } = await appWith({ RATE_LIMIT_PER_MINUTE: '2' });
    expect((await from('203.0.113.1')).statusCode).toBe(200);
    expect((await from('203.0.113.1')).statusCode).toBe(200);
    expect((await from('203.0.113.2')).statusCode).toBe(429);
    expect(lines.map((line) => line.ip)).toEqual([PROXY, PROXY, PROXY]);
  });

  it('when TRUST_PROXY lists the proxy address, then the client behind it is believed; another sender is not', async () => {
    const { app, lines, from } = await appWith({
      TRUST_PROXY: `${PROXY}, 127.0.0.1/32`,
      RATE_LIMIT_PER_MINUTE: '1',
    });
    expect((await from('203.0.113.1')).statusCode).toBe(200);
    expect((await from('203.0.113.2')).statusCode).toBe(200);
    const spoofed = await app.inject({
      url: URL,
      remoteAddress: '192.0.2.50',
      headers: { 'x-forwarded-for': '203.0.113.3' },
    });
    expect(spoofed.statusCode).toBe(200);
    expect(lines.map((line) => line.ip)).toEqual(['203.0.113.1', '203.0.113.2', '192.0.2.50']);
  });

  it('when the router refuses a URL, then its one line is a client error at info', async () => {
    const { app, lines } = await appWith({});
    const response = await app.inject('/imports/%zz');
    expect(response.statusCode).toBe(400);
    expect(lines).toEqual([
      expect.objectContaining({
        level: 30,
        msg: 'client error',
        reqId: response.headers['x-request-id'],
        url: '/imports/%zz',
      }),
    ]);
  });

  it('when RATE_LIMIT_PER_MINUTE=0, then nothing is limited and no X-RateLimit header is sent', async () => {
    const { from } = await appWith({ RATE_LIMIT_PER_MINUTE: '0' });
    for (let i = 0; i < 5; i++) {
      const response = await from('203.0.113.1');
      expect(response.statusCode).toBe(200);
      expect(response.headers['x-ratelimit-limit']).toBeUndefined();
    }
  });

  it('when LOG_LEVEL=warn, then requests, 404s and 429s write no line', async () => {
    const { app, lines, from } = await appWith({ LOG_LEVEL: 'warn', RATE_LIMIT_PER_MINUTE: '1' });
    expect((await from('203.0.113.1')).statusCode).toBe(200);
    expect((await from('203.0.113.1')).statusCode).toBe(429);
    expect((await app.inject('/nothing-here')).statusCode).toBe(404);
    expect(lines).toEqual([]);
  });
});

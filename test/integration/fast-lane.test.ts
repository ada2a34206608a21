import { request as httpRequest, type OutgoingHttpHeaders } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { AnswerFastLane } from '../../src/modules/analytics/analytics.fast-lane.js';
import { startService, type Service } from '../../src/service.js';
import { EXPECTED, FILE_1, FILE_2 } from '../fixtures/hand-worked.js';
import { createTestDatabase, tempDir, testConfig, writeCsv } from '../helpers.js';

/** Set per request, so they differ between any two responses. */
const PER_REQUEST = ['date', 'x-request-id', 'x-process-time'];

interface Seen {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** true: the fast lane answered; false: Fastify did */
  byFastLane: boolean;
}

describe('the analytics fast lane, in front of Fastify on a listening server', () => {
  const serve = vi.spyOn(AnswerFastLane.prototype, 'serve');
  let database: { url: string; drop: () => Promise<void> };
  let dataDir: string;
  let service: Service;
  let base: string;

  async function get(path: string, headers: Record<string, string> = {}, at = base): Promise<Seen> {
    const calls = serve.mock.results.length;
    const response = await fetch(`${at}${path}`, { headers });
    const body = await response.text();
    const result = serve.mock.results[calls];
    expect(serve.mock.results.length).toBe(calls + 1);
    return {
      status: response.status,
      headers: Object.fromEntries(response.headers),
      body,
      byFastLane: result?.type === 'return' && result.value === true,
    };
  }

  const withoutPerRequest = (headers: Record<string, string>) =>
    Object.fromEntries(Object.entries(headers).filter(([name]) => !PER_REQUEST.includes(name)));

  async function listen(target: Service): Promise<string> {
    await target.app.listen({ port: 0, host: '127.0.0.1' });
    return `http://127.0.0.1:${(target.app.server.address() as AddressInfo).port}`;
  }

  beforeAll(async () => {
    database = await createTestDatabase();
    dataDir = await tempDir();
    await writeCsv(dataDir, 'activities_20240101.csv', FILE_1);
    service = await startService(
      testConfig({
        databaseUrl: database.url,
        dataDir,
        corsOrigins: ['https://dashboard.example.com'],
      }),
    );
    await service.startupImport;
    base = await listen(service);
  });

  afterEach(() => serve.mockClear());

  afterAll(async () => {
    await service?.close();
    await database?.drop();
    serve.mockRestore();
  });

  const PATHS = [
    ...new Set([
      ...Object.keys(EXPECTED).map((name) => `/analytics/${name}`),
      '/analytics/top-merchants?limit=2',
      '/analytics/failure-rates?from=2024-01&to=2024-01',
    ]),
  ];

  it('when a URL is asked again, then the lane replays Fastify’s answer: same status, headers and body', async () => {
    for (const path of PATHS) {
      const first = await get(path);
      const again = await get(path);
      expect([path, first.status, first.byFastLane, again.byFastLane]).toEqual([
        path,
        200,
        false,
        true,
      ]);
      expect(again.body).toBe(first.body);
      expect(again.status).toBe(first.status);
      expect(withoutPerRequest(again.headers)).toEqual(withoutPerRequest(first.headers));
      expect(again.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      expect(again.headers['x-request-id']).not.toBe(first.headers['x-request-id']);
      expect(again.headers['x-process-time']).toMatch(/^\d+\.\d{3}ms$/);
    }
  });

  it('when a caller sends a sane X-Request-Id, then the lane echoes it as Fastify does', async () => {
    await get('/analytics/kyc-funnel');
    const again = await get('/analytics/kyc-funnel', { 'x-request-id': 'caller-42' });
    expect(again.byFastLane).toBe(true);
    expect(again.headers['x-request-id']).toBe('caller-42');
  });

  it('when the lane answers, then /metrics counts its requests under the route', async () => {
    const count = async (): Promise<number> => {
      const text = await (await fetch(`${base}/metrics`)).text();
      const line = text
        .split('\n')
        .find((l) =>
          l.startsWith(
            'http_request_duration_seconds_count{method="GET",route="/analytics/product-adoption",status="200"}',
          ),
        );
      return Number(line?.split(' ')[1] ?? 0);
    };
    const before = await count();
    const seen = [];
    for (let i = 0; i < 5; i++) seen.push((await get('/analytics/product-adoption')).byFastLane);
    expect(seen.filter(Boolean).length).toBeGreaterThanOrEqual(4);
    expect((await count()) - before).toBe(5);
  });

  it('when an Origin or If-None-Match header is sent, then Fastify answers (CORS headers, 304)', async () => {
    const path = '/analytics/failure-rates';
    const plain = await get(path);
    const cors = await get(path, { origin: 'https://dashboard.example.com' });
    expect(cors.byFastLane).toBe(false);
    expect(cors.headers['access-control-allow-origin']).toBe('https://dashboard.example.com');
    const conditional = await get(path, { 'if-none-match': plain.headers.etag as string });
    expect([conditional.byFastLane, conditional.status]).toEqual([false, 304]);
    expect((await get(path)).byFastLane).toBe(true); // and the plain request still is replayed
  });

  /** GET with node:http, which sends header names in the case given and arrays as repeated lines. */
  async function rawGet(path: string, headers: OutgoingHttpHeaders) {
    const calls = serve.mock.results.length;
    const response = await new Promise<{ status: number; requestId: unknown }>(
      (resolve, reject) => {
        httpRequest(`${base}${path}`, { headers }, (res) => {
          res.resume();
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, requestId: res.headers['x-request-id'] }),
          );
        })
          .on('error', reject)
          .end();
      },
    );
    const result = serve.mock.results[calls];
    return { ...response, byFastLane: result?.type === 'return' && result.value === true };
  }

  it('when header names come in any case, or X-Request-Id twice, then the lane judges them as Fastify would', async () => {
    const path = '/analytics/monthly-active-merchants';
    const plain = await get(path);
    const etag = plain.headers.etag as string;
    expect(await rawGet(path, { 'X-Request-ID': 'Mixed.Case-1' })).toEqual({
      status: 200,
      requestId: 'Mixed.Case-1',
      byFastLane: true,
    });
    expect(await rawGet(path, { 'If-None-Match': etag })).toMatchObject({
      status: 304,
      byFastLane: false,
    });
    expect(await rawGet(path, { ORIGIN: 'https://dashboard.example.com' })).toMatchObject({
      status: 200,
      byFastLane: false,
    });
    // Fastify sees "one, two", which is not a sane id, so the answer gets a new one.
    const twice = await rawGet(path, { 'X-Request-Id': ['one', 'two'] });
    expect(twice).toMatchObject({ status: 200, byFastLane: false });
    expect(twice.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  /** Writes `requests` on one connection (the last one must close it) and reads all it answers. */
  function exchange(requests: string): Promise<string> {
    const { hostname, port } = new URL(base);
    return new Promise((resolve, reject) => {
      const socket = connect(Number(port), hostname, () => socket.write(requests));
      let text = '';
      socket.setEncoding('latin1');
      socket.setTimeout(5000, () => socket.destroy(new Error('the server kept the socket open')));
      socket.on('data', (chunk: string) => (text += chunk));
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
    });
  }

  /** Each response's head lines, with the per-request values blanked. */
  const heads = (text: string) =>
    text
      .split('HTTP/1.1 ')
      .slice(1)
      .map((response) =>
        (response.split('\r\n\r\n')[0] as string)
          .split('\r\n')
          .map((line) => line.replace(/^(x-request-id|x-process-time|Date): .*/, '$1: …')),
      );

  it('when the lane answers, then its head is Fastify’s line for line, and node:http still decides keep-alive', async () => {
    const path = '/analytics/top-merchants?limit=3';
    const request = `GET ${path} HTTP/1.1\r\nHost: x\r\n`;
    const closing = `${request}Connection: close\r\n\r\n`;
    const calls = serve.mock.results.length;
    const [fastify] = heads(await exchange(closing));
    // Pipelined: node:http hands both requests over at once, after Fastify's answer was learned.
    const [kept, closed] = heads(await exchange(`${request}\r\n${closing}`));
    const [old] = heads(await exchange(`GET ${path} HTTP/1.0\r\n\r\n`));
    const byLane = serve.mock.results.slice(calls).map((result) => result.value as boolean);
    expect(byLane).toEqual([false, true, true, true]);
    expect(fastify).toContain('Connection: close');
    expect(closed).toEqual(fastify);
    expect(old).toEqual(fastify); // HTTP/1.0 without keep-alive: closed after the answer
    expect(kept?.slice(0, -1)).toEqual([
      ...(fastify ?? []).filter((line) => line !== 'Connection: close'),
      'Connection: keep-alive',
    ]);
    expect(kept?.at(-1)).toMatch(/^Keep-Alive: timeout=\d+$/);
  });

  it('when an import commits a new version, then the old answer is not replayed and the new one is', async () => {
    const path = '/analytics/top-merchant';
    await get(path);
    const old = await get(path);
    expect(old.byFastLane).toBe(true);
    const file = await writeCsv(dataDir, 'activities_20240102.csv', FILE_2);
    await service.imports.add([file]);
    await service.cache.refresh();
    const fresh = await get(path);
    expect(fresh.byFastLane).toBe(false);
    expect(fresh.body).toBe(EXPECTED['top-merchant']); // both files' answer
    expect(fresh.headers.etag).not.toBe(old.headers.etag);
    const replayed = await get(path);
    expect([replayed.byFastLane, replayed.headers.etag]).toEqual([true, fresh.headers.etag]);
  });

  it('when a client passes the rate limit, then requests the lane answered count too: 429 from Fastify', async () => {
    const limited = await startService(
      testConfig({ databaseUrl: database.url, dataDir: await tempDir(), rateLimitPerMinute: 4 }),
    );
    try {
      await limited.startupImport;
      const at = await listen(limited);
      const seen: Seen[] = [];
      for (let i = 0; i < 5; i++) seen.push(await get('/analytics/kyc-funnel', {}, at));
      expect(seen.map((s) => [s.status, s.byFastLane])).toEqual([
        [200, false],
        [200, true],
        [200, true],
        [200, true],
        [429, false],
      ]);
      expect(JSON.parse(seen[4]?.body ?? '')).toMatchObject({ error: { code: 'rate_limited' } });
    } finally {
      await limited.close();
    }
  });
});

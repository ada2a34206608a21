import { appendFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config.js';
import { startService, type Service } from '../../src/service.js';
import { EXPECTED, EXPECTED_LEDGER, FILE_1, FILE_2 } from '../fixtures/hand-worked.js';
import { createTestDatabase, tempDir, testConfig, writeCsv } from '../helpers.js';

const TOKEN = 'test-admin-token-0123456789';
const AUTH = { authorization: `Bearer ${TOKEN}` };

/** Polls `check` until it returns true, for at most `ms`. */
async function eventually(check: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A service over FILE_1 only, so that adding FILE_2 by any route must give EXPECTED. */
async function serviceWithFirstFile(
  overrides: Partial<Config> = {},
): Promise<{ service: Service; dataDir: string; close: () => Promise<void> }> {
  const database = await createTestDatabase();
  const dataDir = await tempDir();
  await writeCsv(dataDir, 'activities_20240101.csv', FILE_1);
  const service = await startService(
    testConfig({ databaseUrl: database.url, dataDir, adminToken: TOKEN, ...overrides }),
  );
  await service.startupImport;
  return {
    service,
    dataDir,
    close: async () => {
      await service.close();
      await database.drop();
    },
  };
}

async function expectAllAnswers(service: Service): Promise<void> {
  for (const [query, body] of Object.entries(EXPECTED)) {
    const response = await service.app.inject(`/analytics/${query}`);
    expect(response.body, query).toBe(body);
  }
}

/** Answers move to a new version once its import commits (LISTEN/NOTIFY), not at once. */
async function expectAnswersOfBothFiles(service: Service): Promise<void> {
  await eventually(async () => {
    const body = (await service.app.inject('/analytics/top-merchant')).body;
    return body === EXPECTED['top-merchant'];
  });
  await expectAllAnswers(service);
}

async function runStatus(service: Service, id: number): Promise<Record<string, unknown>> {
  return (await service.app.inject(`/imports/${id}`)).json();
}

function multipart(fileName: string, content: string): { payload: string; contentType: string } {
  const boundary = '----activities-test-boundary';
  const payload =
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${fileName}"\r\n` +
    `Content-Type: text/csv\r\n\r\n${content}\r\n--${boundary}--\r\n`;
  return { payload, contentType: `multipart/form-data; boundary=${boundary}` };
}

describe('when a CSV file is uploaded with the admin token', () => {
  let ctx: Awaited<ReturnType<typeof serviceWithFirstFile>>;
  beforeAll(async () => {
    ctx = await serviceWithFirstFile();
  });
  afterAll(() => ctx?.close());

  it('then it answers 202 with the run and a Location, and the run ends done with every row accounted', async () => {
    const response = await ctx.service.app.inject({
      method: 'POST',
      url: '/imports?name=activities_20240102.csv',
      headers: { ...AUTH, 'content-type': 'text/csv' },
      payload: FILE_2,
    });
    expect(response.statusCode).toBe(202);
    const { id, status, fileName } = response.json() as {
      id: number;
      status: string;
      fileName: string;
    };
    expect({ status, fileName }).toEqual({ status: 'queued', fileName: 'activities_20240102.csv' });
    expect(response.headers.location).toBe(`/imports/${id}`);
    await eventually(async () => (await runStatus(ctx.service, id)).status === 'done');
    expect(await runStatus(ctx.service, id)).toMatchObject({
      ...EXPECTED_LEDGER['activities_20240102.csv'],
      progress: 1,
    });
    await expectAnswersOfBothFiles(ctx.service);
  });

  it('then the same content uploaded again answers 200 with the earlier run and imports nothing', async () => {
    const before = (await ctx.service.app.inject('/imports')).json().items.length as number;
    const { payload, contentType } = multipart('activities_20240102.csv', FILE_2);
    const response = await ctx.service.app.inject({
      method: 'POST',
      url: '/imports',
      headers: { ...AUTH, 'content-type': contentType },
      payload,
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ status: 'done', fileName: 'activities_20240102.csv' });
    expect((await ctx.service.app.inject('/imports')).json().items).toHaveLength(before);
    await expectAllAnswers(ctx.service);
  });

  it('then a multipart upload of new content is imported, its known event ids counting as duplicates', async () => {
    const { payload, contentType } = multipart('activities_20240103.csv', `${FILE_1}`);
    const response = await ctx.service.app.inject({
      method: 'POST',
      url: '/imports',
      headers: { ...AUTH, 'content-type': contentType },
      payload,
    });
    expect(response.statusCode).toBe(202);
    const { id } = response.json() as { id: number };
    await eventually(async () => (await runStatus(ctx.service, id)).status === 'done');
    const run = await runStatus(ctx.service, id);
    const first = EXPECTED_LEDGER['activities_20240101.csv'];
    expect(run.rowsRead).toBe(first.rowsRead);
    expect(run.rowsInserted).toBe(0);
    await expectAllAnswers(ctx.service);
  });

  it('then a file name that is not an activities file is refused with 400 and nothing is kept', async () => {
    const response = await ctx.service.app.inject({
      method: 'POST',
      url: '/imports?name=../../etc/passwd',
      headers: { ...AUTH, 'content-type': 'text/csv' },
      payload: FILE_2,
    });
    expect(response.statusCode).toBe(400);
    expect(response.json().error).toMatchObject({ code: 'bad_request' });
  });

  it('then a body that is not CSV or multipart is refused with 415', async () => {
    const response = await ctx.service.app.inject({
      method: 'POST',
      url: '/imports',
      headers: { ...AUTH, 'content-type': 'application/json' },
      payload: '{"rows":[]}',
    });
    expect(response.statusCode).toBe(415);
    expect(response.json().error.code).toBe('unsupported_media_type');
  });

  it('then a body to another endpoint is capped at 1 MiB (413)', async () => {
    const response = await ctx.service.app.inject({
      method: 'POST',
      url: '/imports/rescan',
      headers: { ...AUTH, 'content-type': 'application/json' },
      payload: JSON.stringify({ padding: 'x'.repeat(2 * 1024 * 1024) }),
    });
    expect(response.statusCode).toBe(413);
    expect(response.json().error.code).toBe('payload_too_large');
  });

  it('then a wrong or missing token answers 401 with WWW-Authenticate and imports nothing', async () => {
    const before = (await ctx.service.app.inject('/imports')).json().items.length as number;
    for (const authorization of [undefined, 'Bearer wrong-token-0123456789', `Basic ${TOKEN}`]) {
      const response = await ctx.service.app.inject({
        method: 'POST',
        url: '/imports?name=activities_20240109.csv',
        headers: { 'content-type': 'text/csv', ...(authorization ? { authorization } : {}) },
        payload: FILE_2,
      });
      expect(response.statusCode).toBe(401);
      expect(response.headers['www-authenticate']).toBe('Bearer');
      expect(response.json().error.code).toBe('unauthorized');
    }
    expect((await ctx.service.app.inject('/imports')).json().items).toHaveLength(before);
  });

  it('then GET /metrics reports requests by route and status and the ledger totals', async () => {
    await ctx.service.app.inject('/analytics/kyc-funnel');
    const response = await ctx.service.app.inject('/metrics');
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toContain('text/plain');
    let text = response.body;
    const runs = (await ctx.service.app.inject('/imports')).json().items as Array<
      Record<string, number>
    >;
    const sum = (key: string): number => runs.reduce((total, run) => total + Number(run[key]), 0);
    expect(text).toContain(`import_rows{outcome="inserted"} ${sum('rowsInserted')}`);
    expect(text).toContain(`import_rows{outcome="duplicate"} ${sum('rowsDuplicate')}`);
    expect(text).toContain(`import_rows{outcome="rejected"} ${sum('rowsRejected')}`);
    expect(text).toMatch(
      /http_request_duration_seconds_count\{method="GET",route="\/analytics\/kyc-funnel",status="200"\} [1-9]/,
    );
    // The last upload's commit reaches the cache by NOTIFY, maybe between the request and this
    // line: the gauge must show the version served at the time, read again until it holds still.
    await eventually(async () => {
      const served = ctx.service.cache.currentVersion;
      text = (await ctx.service.app.inject('/metrics')).body;
      return served === ctx.service.cache.currentVersion;
    });
    expect(text).toContain(`data_version ${ctx.service.cache.currentVersion}`);
    expect(text).toMatch(/import_rejected_rows\{reason="[a-z_]+"\} [1-9]/);
    expect(text).toMatch(/import_duration_seconds_count [1-9]/);
    expect(text).toMatch(/db_pool_connections\{state="total"\} \d/);
    expect(text).toMatch(/nodejs_eventloop_lag_seconds \d/);
  });
});

describe('when a file is written into DATA_DIR while the service runs', () => {
  it('then it is imported once, whole, after it stops growing', async () => {
    const ctx = await serviceWithFirstFile();
    try {
      const file = path.join(ctx.dataDir, 'activities_20240102.csv');
      const half = Math.floor(FILE_2.length / 2);
      await writeFile(file, FILE_2.slice(0, half));
      await new Promise((resolve) => setTimeout(resolve, 400)); // still being written
      await appendFile(file, FILE_2.slice(half));
      await eventually(async () => {
        const runs = (await ctx.service.app.inject('/imports')).json().items as Array<{
          fileName: string;
          status: string;
        }>;
        return runs.some((r) => r.fileName === 'activities_20240102.csv' && r.status === 'done');
      });
      const runs = (await ctx.service.app.inject('/imports')).json().items as Array<
        Record<string, unknown>
      >;
      const second = runs.filter((r) => r.fileName === 'activities_20240102.csv');
      expect(second).toHaveLength(1);
      expect(second[0]).toMatchObject(EXPECTED_LEDGER['activities_20240102.csv']);
      await expectAnswersOfBothFiles(ctx.service);
    } finally {
      await ctx.close();
    }
  });
});

describe('when the DATA_DIR watcher is off and a rescan is asked for', () => {
  it('then the new file is imported', async () => {
    const ctx = await serviceWithFirstFile({ watchDataDir: false });
    try {
      await writeCsv(ctx.dataDir, 'activities_20240102.csv', FILE_2);
      const response = await ctx.service.app.inject({
        method: 'POST',
        url: '/imports/rescan',
        headers: AUTH,
      });
      expect(response.statusCode).toBe(202);
      expect(response.json()).toEqual({ files: 2 });
      await expectAnswersOfBothFiles(ctx.service);
    } finally {
      await ctx.close();
    }
  });
});

describe('when ADMIN_TOKEN is not set', () => {
  it('then the write endpoints answer 403 and nothing is stored', async () => {
    const ctx = await serviceWithFirstFile({ adminToken: undefined });
    try {
      for (const url of ['/imports?name=activities_20240102.csv', '/imports/rescan']) {
        const response = await ctx.service.app.inject({
          method: 'POST',
          url,
          headers: { ...AUTH, 'content-type': 'text/csv' },
          payload: FILE_2,
        });
        expect(response.statusCode).toBe(403);
        expect(response.json().error.code).toBe('writes_disabled');
      }
      expect(await readdir(ctx.dataDir)).toEqual(['activities_20240101.csv']);
    } finally {
      await ctx.close();
    }
  });
});

describe('when an upload is larger than UPLOAD_MAX_BYTES', () => {
  it('then it answers 413 and keeps nothing, for text/csv and multipart bodies', async () => {
    const ctx = await serviceWithFirstFile({ uploadMaxBytes: 100 });
    try {
      const { payload, contentType } = multipart('activities_20240102.csv', FILE_2);
      for (const [type, body] of [
        ['text/csv', FILE_2],
        [contentType, payload],
      ] as const) {
        const response = await ctx.service.app.inject({
          method: 'POST',
          url: '/imports?name=activities_20240102.csv',
          headers: { ...AUTH, 'content-type': type },
          payload: body,
        });
        expect(response.statusCode, type).toBe(413);
        expect(response.json().error.code).toBe('payload_too_large');
      }
      const uploads = path.join(ctx.dataDir, 'uploads');
      expect(await readdir(uploads).catch(() => [])).toEqual([]);
      expect((await ctx.service.app.inject('/imports')).json().items).toHaveLength(1);
    } finally {
      await ctx.close();
    }
  });
});

describe('when a client goes over RATE_LIMIT_PER_MINUTE', () => {
  it('then it gets 429 with Retry-After and the error body, while /health stays open', async () => {
    const ctx = await serviceWithFirstFile({ rateLimitPerMinute: 3 });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++)
        statuses.push((await ctx.service.app.inject('/analytics/top-merchant')).statusCode);
      expect(statuses).toEqual([200, 200, 200, 429]);
      const limited = await ctx.service.app.inject('/analytics/failure-rates');
      expect(limited.statusCode).toBe(429);
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
      expect(limited.json().error).toMatchObject({ code: 'rate_limited' });
      expect(limited.json().error.requestId).toBe(limited.headers['x-request-id']);
      const other = await ctx.service.app.inject({
        url: '/analytics/top-merchant',
        remoteAddress: '10.0.0.2',
      });
      expect(other.statusCode).toBe(200);
      expect((await ctx.service.app.inject('/health')).statusCode).toBe(200);
    } finally {
      await ctx.close();
    }
  });
});

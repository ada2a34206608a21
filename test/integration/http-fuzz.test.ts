import { rm } from 'node:fs/promises';
import path from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import fc from 'fast-check';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type Service } from '../../src/service.js';
import { FILE_1, FILE_2 } from '../fixtures/hand-worked.js';
import { HEADER, createTestDatabase, tempDir, testConfig, uuid, writeCsv } from '../helpers.js';
import { byteSoup } from '../property/csv-arbitraries.js';
import { runs } from '../property/fast-check-settings.js';
import { relayTo, type Relay } from '../tcp-relay.js';

/**
 * Fuzzes every route and method of the service's own OpenAPI document (whatever routes it lists
 * when the test runs) with valid, invalid and hostile parameters, headers, methods and bodies.
 * Promises checked on every answer: no 5xx; a status the document declares for the route (404 or
 * 405 for routes and methods it does not declare, 304 only to If-None-Match); JSON that matches the
 * declared schema; errors in the contract's shape; no stack trace, SQL or file path in any body.
 */

const ADMIN_TOKEN = 'fuzz-admin-token-0123456789';
const UPLOAD_MAX_BYTES = 4096;
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
const ODD_METHODS = ['TRACE', 'PROPFIND', 'SEARCH', 'LOCK', 'MKCOL'] as const;
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

type Schema = Record<string, unknown>;
interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  schema?: Schema;
}
interface Operation {
  parameters?: Parameter[];
  security?: unknown[];
  responses?: Record<string, { content?: Record<string, { schema?: Schema }> }>;
}
type OpenApi = { paths: Record<string, Record<string, Operation>> };
type Request = InjectOptions & { method: string; url: string; headers: Record<string, string> };
type Body = { type: string | null; payload: string | Buffer } | null;

/** Any of these in a body is a leak: a stack frame, SQL or PostgreSQL errors, a file path. */
const LEAKS: Array<[string, RegExp]> = [
  ['stack trace', / {4}at /],
  ['SQL', /\b(SELECT|INSERT|UPDATE|DELETE)\b[\s\S]*\b(FROM|INTO|SET|WHERE)\b/],
  ['PostgreSQL error', /\brelation "|syntax error at or near|violates .* constraint/],
  ['file path', /\/work\/|\/tmp\/|node_modules|\.ts:\d/],
];

const ERROR_BODY: Schema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message', 'requestId'],
      properties: {
        code: { type: 'string', minLength: 1 },
        message: { type: 'string', minLength: 1 },
        requestId: { type: 'string', minLength: 1 },
      },
    },
  },
};

/*
 * Inputs that once found bugs (each fixed, each kept by a test in 'inputs that once failed' below
 * and mixed into the generated requests).
 */
const ONCE_FAILED = {
  /**
   * Malformed percent-encoding in the path (Fastify's own 400 body without a request id) and a
   * path parameter over maxParamLength (200: its own undeclared 414), until app.ts passed
   * `frameworkErrors: handleFrameworkError` to Fastify.
   */
  badPercent: ['%', '%zz', '%E0%A4%A'],
  longParam: 'x'.repeat(201),
  /** Non-finite numbers pass ajv's integer coercion and minimum/maximum, then reached SQL: 500. */
  nonFinite: ['Infinity', '-Infinity', '1e309'],
};

/** Values no parameter schema should choke on: huge, negative, fractional, unicode, hostile. */
const HOSTILE = fc.constantFrom(
  '',
  '0',
  '-1',
  '-0',
  '1.5',
  '1e3',
  '99999999999999999999999999999999',
  '2147483648',
  '-2147483649',
  'NaN',
  '0x1F',
  ' 1',
  'true',
  'null',
  '[]',
  '{}',
  "1' OR '1'='1",
  '1; DROP TABLE activities',
  '../../etc/passwd',
  '%00',
  'ü',
  '😀',
  '\u202Eevil',
  'x'.repeat(150),
  ...ONCE_FAILED.nonFinite,
  ONCE_FAILED.longParam,
  '2024-13',
  '0000-00',
  '9999-12',
);

const anyText = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'grapheme', maxLength: 10 }),
  HOSTILE,
);

/** Header values as HTTP can carry them: visible ASCII, spaces, tabs, and latin1 bytes. */
const headerText = fc.string({
  unit: fc.oneof(
    fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
    fc.constant('\t'),
    fc.integer({ min: 0xa0, max: 0xff }).map((c) => String.fromCharCode(c)),
  ),
  maxLength: 40,
});

/** Valid values for a parameter schema (with the ids that really exist for integer ids). */
function validValue(schema: Schema | undefined, knownIds: number[]): fc.Arbitrary<string> {
  if (!schema) return anyText;
  const choices = [
    ...((schema.enum as unknown[]) ?? []),
    ...((schema.anyOf as Schema[] | undefined) ?? []).flatMap((s) => (s.enum as unknown[]) ?? []),
  ];
  if (choices.length > 0) return fc.constantFrom(...choices.map(String));
  if (schema.type === 'integer' || schema.type === 'number') {
    const min = typeof schema.minimum === 'number' ? schema.minimum : -1_000_000;
    const max = typeof schema.maximum === 'number' ? schema.maximum : 1_000_000;
    const inRange = fc.integer({ min: Math.max(min, -(2 ** 31)), max: Math.min(max, 2 ** 31 - 1) });
    const known = knownIds.filter((id) => id >= min && id <= max);
    return (known.length > 0 ? fc.oneof(inRange, fc.constantFrom(...known)) : inRange).map(String);
  }
  if (typeof schema.pattern === 'string') return fc.stringMatching(new RegExp(schema.pattern));
  if (schema.type === 'boolean') return fc.constantFrom('true', 'false');
  const maxLength = typeof schema.maxLength === 'number' ? schema.maxLength : 30;
  return fc.string({ maxLength: Math.min(maxLength, 30) });
}

/** A query string from the declared parameters: each omitted, valid, hostile or repeated. */
function queryString(params: Parameter[], knownIds: number[]): fc.Arbitrary<string> {
  const hostile = anyText;
  const parts = params.map((p) =>
    fc
      .record({
        how: fc.constantFrom('omit', 'omit', 'valid', 'valid', 'valid', 'hostile', 'array'),
        valid: validValue(p.schema, knownIds),
        hostile,
        raw: fc.boolean(), // unencoded: raw unicode, '%' and '&' as they come
      })
      .map(({ how, valid, hostile: bad, raw }) => {
        const key = encodeURIComponent(p.name);
        const encode = (v: string): string => (raw ? v : encodeURIComponent(v));
        if (how === 'omit') return [];
        if (how === 'array') return [`${key}=${encode(valid)}`, `${key}=${encode(bad)}`];
        return [`${key}=${encode(how === 'valid' ? valid : bad)}`];
      }),
  );
  const extra = fc
    .tuple(
      fc.oneof(
        fc.constantFrom('__proto__', 'constructor', 'toString', '', 'a[b]', 'limit[]', 'x'),
        fc.string({ maxLength: 8 }),
      ),
      hostile,
    )
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
  const undeclared = fc.oneof(
    { weight: 3, arbitrary: fc.constant([]) },
    { weight: 1, arbitrary: fc.array(extra, { minLength: 1, maxLength: 2 }) },
  );
  const generated = fc.tuple(fc.tuple(...parts), undeclared).map(([declared, more]) => {
    const all = [...declared.flat(), ...more];
    return all.length > 0 ? `?${all.join('&')}` : '';
  });
  return fc.oneof(fc.constant(''), generated, generated);
}

/** The path with each {param} replaced by a valid, hostile or empty value. */
function concretePath(template: string, params: Parameter[], knownIds: number[]) {
  const names = [...template.matchAll(/\{([^}]+)\}/g)].map((m) => m[1] as string);
  const values = names.map((name) => {
    const schema = params.find((p) => p.in === 'path' && p.name === name)?.schema;
    const hostile = anyText;
    return fc.oneof(
      { weight: 3, arbitrary: validValue(schema, knownIds).map(encodeURIComponent) },
      { weight: 2, arbitrary: hostile.map(encodeURIComponent) },
      // Raw, not encoded again.
      {
        weight: 1,
        arbitrary: fc.constantFrom('..', '.', '%2F', '%20', '%00', '', ...ONCE_FAILED.badPercent),
      },
    );
  });
  return fc
    .tuple(...values)
    .map((vs) => names.reduce((p, name, i) => p.replace(`{${name}}`, vs[i] as string), template));
}

/**
 * Headers: If-None-Match (often this route's real ETag), X-Request-Id junk, Authorization (mostly
 * the admin token where the document asks for one), Accept.
 */
function headers(etags: string[], secured: boolean): fc.Arbitrary<Record<string, string>> {
  const optional = (arb: fc.Arbitrary<string>, freq = 2) => fc.option(arb, { freq });
  const adminToken = fc.constantFrom(`Bearer ${ADMIN_TOKEN}`, `bearer  ${ADMIN_TOKEN} `);
  return fc
    .record({
      'if-none-match': optional(
        fc.oneof(
          { weight: 3, arbitrary: fc.constantFrom(...etags, '*') },
          fc.constantFrom(...etags.map((e) => `W/${e}`), `"x", ${etags[0] ?? '"y"'}`, 'W/"0"', ''),
          headerText,
        ),
      ),
      'x-request-id': optional(
        fc.oneof(
          fc.constantFrom('trace-123', 'a'.repeat(129), '../x', 'id with spaces'),
          headerText,
        ),
      ),
      authorization: optional(
        fc.oneof(
          { weight: secured ? 12 : 1, arbitrary: adminToken },
          fc.constantFrom(
            'Bearer',
            'Bearer ',
            `Basic ${Buffer.from('admin:admin').toString('base64')}`,
          ),
          headerText.map((t) => `Bearer ${t}`),
          headerText,
        ),
        secured ? 8 : 2,
      ),
      accept: optional(fc.constantFrom('*/*', 'text/html', 'application/xml', 'application/json')),
    })
    .map((h) => {
      const present = Object.entries(h).filter((e): e is [string, string] => e[1] !== null);
      return Object.fromEntries(present);
    });
}

/** CSV a client might upload: a valid row, hostile bytes, or more than the upload limit. */
const csv = fc.oneof(
  fc.constant(
    `${HEADER}\n${uuid(900)},MRC-000001,2024-05-01T00:00:00Z,POS,TRANSFER,1.00,SUCCESS,POS,LAGOS,STARTER\n`,
  ),
  byteSoup(60).map((soup) => Buffer.concat([Buffer.from(`${HEADER}\n`), soup])),
  fc.constant(Buffer.alloc(UPLOAD_MAX_BYTES + 1, 'x')),
);

/** A body and its Content-Type: CSV, multipart (complete or cut short), JSON, junk, or none. */
const body = (often: boolean): fc.Arbitrary<Body> =>
  fc.oneof(
    { weight: often ? 1 : 4, arbitrary: fc.constant(null) },
    { weight: 2, arbitrary: csv.map((payload) => ({ type: 'text/csv', payload })) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(csv, fc.constantFrom('file', 'note'), fc.boolean())
        .map(([content, field, complete]) => ({
          type: 'multipart/form-data; boundary=fuzz',
          payload: multipart(content, field, complete),
        })),
    },
    {
      weight: 1,
      arbitrary: fc
        .jsonValue({ maxDepth: 3 })
        .map((v) => ({ type: 'application/json', payload: JSON.stringify(v) ?? 'null' })),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        type: fc.option(
          fc.oneof(
            fc.constantFrom(
              'application/json',
              'text/csv; charset=latin1',
              'application/x-www-form-urlencoded',
              'application/octet-stream',
              'text/plain; charset=utf-16',
            ),
            headerText,
          ),
        ),
        payload: fc.oneof(
          fc.string({ maxLength: 200 }),
          fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
        ),
      }),
    },
  );

function multipart(content: string | Buffer, field: string, closed: boolean): Buffer {
  return Buffer.concat([
    Buffer.from(
      `--fuzz\r\nContent-Disposition: form-data; name="${field}"; filename="activities_fuzz.csv"\r\n` +
        'Content-Type: text/csv\r\n\r\n',
    ),
    Buffer.from(content),
    Buffer.from(closed ? '\r\n--fuzz--\r\n' : ''),
  ]);
}

/** The operation the router serves for a method and URL: static segments first; a parameter may be empty. */
function operationFor(spec: OpenApi, method: string, url: string): Operation | null {
  return routeFor(spec, method, url)?.operation ?? null;
}

function routeFor(
  spec: OpenApi,
  method: string,
  url: string,
): { key: string; operation: Operation } | null {
  const pathname = url.split('?')[0] as string;
  const templates = Object.keys(spec.paths).sort(
    (a, b) => (a.match(/\{/g)?.length ?? 0) - (b.match(/\{/g)?.length ?? 0),
  );
  for (const template of templates) {
    const pattern = template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]*');
    if (!new RegExp(`^${pattern}$`).test(pathname)) continue;
    const methods = spec.paths[template] as Record<string, Operation>;
    const operation =
      methods[method.toLowerCase()] ?? (method === 'HEAD' ? methods.get : undefined);
    if (operation) return { key: `${method === 'HEAD' ? 'GET' : method} ${template}`, operation };
  }
  return null;
}

function decodeSafely(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

describe('HTTP fuzzing from the OpenAPI document', () => {
  let service: Service;
  let db: { url: string; drop: () => Promise<void> };
  /** Between the service and its database, so that the last test can take the database away. */
  let relay: Relay;
  let dataDir: string;
  let spec: OpenApi;
  let knownIds: number[] = [];
  const etags: Record<string, string[]> = {};
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats.default(ajv);
  const validators = new Map<Schema, ValidateFunction>();

  beforeAll(async () => {
    db = await createTestDatabase();
    const relayed = await relayTo(db.url);
    relay = relayed.relay;
    dataDir = await tempDir('activities-fuzz-');
    await writeCsv(dataDir, 'activities_20240101.csv', FILE_1);
    await writeCsv(dataDir, 'activities_20240102.csv', FILE_2);
    service = await startService(
      testConfig({
        databaseUrl: relayed.url,
        dataDir,
        adminToken: ADMIN_TOKEN,
        uploadDir: path.join(dataDir, 'uploads'),
        uploadMaxBytes: UPLOAD_MAX_BYTES,
        watchDataDir: false,
      }),
    );
    await service.startupImport;
    spec = (await service.app.inject('/openapi.json')).json() as OpenApi;
    const ledger = (await service.app.inject('/imports')).json() as {
      items: Array<{ id: number }>;
    };
    knownIds = ledger.items.map((r) => r.id);
    for (const [route, methods] of Object.entries(spec.paths)) {
      if (!methods.get || route.includes('{')) continue;
      const etag = (await service.app.inject(route)).headers.etag;
      if (typeof etag === 'string') etags[route] = [etag];
    }
  });

  afterAll(async () => {
    await relay?.restore().catch(() => undefined);
    await service?.close();
    await relay?.close();
    await db?.drop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  /** Requests for every route and method the document declares, and for routes it does not. */
  function requests(): fc.Arbitrary<Request> {
    const declared = Object.entries(spec.paths).flatMap(([route, methods]) =>
      Object.entries(methods).map(([method, operation]) => {
        const params = operation.parameters ?? [];
        const queryParams = params.filter((p) => p.in === 'query');
        const refusesBodies = Object.keys(operation.responses ?? {}).includes('415');
        const secured = (operation.security ?? []).length > 0;
        return fc
          .record({
            path: concretePath(route, params, knownIds),
            query: queryString(queryParams, knownIds),
            headers: headers(etags[route] ?? [], secured),
            body: body(refusesBodies),
            // Now and then the same URL with another method, declared or not.
            method: fc.oneof(
              { weight: 4, arbitrary: fc.constant(method.toUpperCase()) },
              { weight: 1, arbitrary: fc.constantFrom(...METHODS, ...ODD_METHODS) },
            ),
          })
          .map(({ path: p, query, headers: h, body: b, method: verb }): Request => {
            // A body goes to operations whose document admits refusing one (415), to methods that
            // do not read bodies, and where no route answers.
            const target = operationFor(spec, verb, p);
            const mayRefuse = Object.keys(target?.responses ?? {}).includes('415');
            const sendBody = b !== null && (!target || mayRefuse || !BODY_METHODS.has(verb));
            if (!sendBody) return { method: verb, url: p + query, headers: h };
            const type: Record<string, string> = b.type ? { 'content-type': b.type } : {};
            return { method: verb, url: p + query, headers: { ...h, ...type }, payload: b.payload };
          });
      }),
    );
    const undeclaredRoute = fc
      .tuple(
        fc.constantFrom(...Object.keys(spec.paths)),
        fc.string({ unit: fc.constantFrom(...'abz09-_~.'), minLength: 1, maxLength: 12 }),
        fc.constantFrom(...METHODS, ...ODD_METHODS),
        headers([], false),
        body(false),
      )
      .map(([route, junk, method, h, b]): Request => ({
        method,
        url: `/zz-${junk}${route.replace(/\{[^}]+\}/g, '1')}`,
        headers: b?.type ? { ...h, 'content-type': b.type } : h,
        ...(b ? { payload: b.payload } : {}),
      }));
    return fc.oneof(...declared, undeclaredRoute);
  }

  function validatorFor(schema: Schema): ValidateFunction {
    let validate = validators.get(schema);
    if (!validate) {
      validate = ajv.compile(schema);
      validators.set(schema, validate);
    }
    return validate;
  }

  const decodable = (url: string): boolean => {
    try {
      decodeURIComponent(url.split('?')[0] as string);
      return true;
    } catch {
      return false;
    }
  };

  /** Everything wrong with one answer; empty when it keeps every promise. */
  function problemsOf(request: Request, response: LightMyRequestResponse): string[] {
    const problems: string[] = [];
    const status = response.statusCode;
    const operation = operationFor(spec, request.method, request.url);
    const declared = operation?.responses ?? {};
    const allowed = new Set(Object.keys(declared));
    if (!operation) ['404', '405'].forEach((s) => allowed.add(s));
    // A URL that cannot be decoded is refused before routing, whatever the method.
    if (!decodable(request.url)) allowed.add('400');
    if (operation && 'if-none-match' in request.headers) allowed.add('304');
    if (status >= 500) problems.push(`server error ${status}`);
    if (
      !allowed.has(String(status)) &&
      !allowed.has(`${String(status)[0]}XX`) &&
      !allowed.has('default')
    )
      problems.push(`status ${status} is not declared (declared: ${[...allowed].join(', ')})`);

    const text = response.body;
    if ((request.method === 'HEAD' || status === 304) && text !== '')
      problems.push(`a ${request.method} ${status} answer has a body`);
    const requestText = decodeSafely(JSON.stringify(request));
    for (const [what, pattern] of LEAKS) {
      // A caller's own text may come back in an error message: that is not a leak.
      if (pattern.test(text) && !pattern.test(requestText)) problems.push(`${what} in the body`);
    }

    const type = String(response.headers['content-type'] ?? '');
    if (text === '' || !type.includes('json')) return problems;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return [...problems, `content-type ${type} but the body is not JSON`];
    }
    const schemas = [declared[String(status)]?.content?.['application/json']?.schema];
    if (status >= 400) schemas.push(ERROR_BODY);
    for (const schema of schemas) {
      if (!schema) continue;
      const validate = validatorFor(schema);
      if (!validate(json)) problems.push(`body off its schema: ${ajv.errorsText(validate.errors)}`);
    }
    const requestId = (json as { error?: { requestId?: unknown } } | null)?.error?.requestId;
    if (status >= 400 && requestId !== response.headers['x-request-id'])
      problems.push('error.requestId differs from the X-Request-Id header');
    return problems;
  }

  async function problemsFor(request: Request): Promise<string[]> {
    return problemsOf(request, await service.app.inject(request));
  }

  it('when the document is read, then it declares routes to fuzz, each with its responses', () => {
    const operations = Object.values(spec.paths).flatMap((m) => Object.values(m));
    expect(operations.length).toBeGreaterThan(5);
    for (const op of operations) expect(Object.keys(op.responses ?? {}).length).toBeGreaterThan(0);
  });

  it('when every declared route and method gets valid, invalid and hostile requests (and undeclared ones too), then no answer is a 5xx, undeclared, off-schema or leaky', async () => {
    const statuses = new Set<number>();
    const exercised = new Set<string>();
    await fc.assert(
      fc.asyncProperty(requests(), async (request) => {
        const response = await service.app.inject(request);
        statuses.add(response.statusCode);
        const key = routeFor(spec, request.method, request.url)?.key;
        if (key) exercised.add(key);
        const summary = `${request.method} ${request.url} → ${response.statusCode} ${response.body.slice(0, 300)}`;
        expect(problemsOf(request, response), summary).toEqual([]);
      }),
      runs(400),
    );
    // Every declared operation was reached, and both answers that worked and answers that refused.
    const declared = Object.entries(spec.paths).flatMap(([route, methods]) =>
      Object.keys(methods).map((m) => `${m.toUpperCase()} ${route}`),
    );
    expect(declared.filter((d) => !exercised.has(d))).toEqual([]);
    expect([...statuses].some((s) => s < 300)).toBe(true);
    expect([...statuses].some((s) => s >= 400)).toBe(true);
  });

  it('when the uploads the fuzzing sent have been imported, then every run is done or rejected and accounts for every row', async () => {
    type Run = {
      id: number;
      status: string;
      rowsRead: number;
      rowsInserted: number;
      rowsDuplicate: number;
      rowsRejected: number;
    };
    let items: Run[] = [];
    // Generous: the suite runs other files (a failover formation among them) on the same cores.
    for (let waited = 0; waited < 60_000; waited += 100) {
      items = ((await service.app.inject('/imports?limit=500')).json() as { items: Run[] }).items;
      if (items.every((r) => r.status !== 'queued' && r.status !== 'running')) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(items.length).toBeGreaterThanOrEqual(2); // the fixture files, and the uploads that got in
    for (const run of items) {
      const queue = JSON.stringify(service.imports.status);
      expect(['done', 'rejected'], `run ${run.id}; the queue: ${queue}`).toContain(run.status);
      expect(run.rowsRead).toBe(run.rowsInserted + run.rowsDuplicate + run.rowsRejected);
    }
  }, 90_000);

  it('when a method no route serves carries a body nothing can parse, then it is a 404, not a 415 or 400', async () => {
    for (const [type, payload] of [
      ['application/xml', '<x/>'],
      ['application/json', '{bad'],
    ]) {
      const request = {
        method: 'PATCH',
        url: '/imports',
        headers: { 'content-type': type },
        payload,
      };
      const response = await service.app.inject(request);
      expect(response.statusCode, type).toBe(404);
      expect(response.json().error.code).toBe('not_found');
    }
  });

  it('when the database is away, then the cached answers are still 200 and every 5xx is a declared 503 database_unavailable', async () => {
    const answers = Object.keys(spec.paths).filter((p) => p.startsWith('/analytics/'));
    expect(answers.length).toBeGreaterThanOrEqual(5);
    await relay.cut();
    try {
      const away = new Set<string>();
      await fc.assert(
        fc.asyncProperty(requests(), async (request) => {
          const response = await service.app.inject(request);
          const summary = `${request.method} ${request.url} → ${response.statusCode} ${response.body.slice(0, 300)}`;
          let problems = problemsOf(request, response);
          if (response.statusCode === 503) {
            away.add(routeFor(spec, request.method, request.url)?.key ?? request.url);
            // A HEAD answer has no body to name its code; its status must still be declared.
            const code =
              request.method === 'HEAD'
                ? 'database_unavailable'
                : (JSON.parse(response.body) as { error?: { code?: string } }).error?.code;
            if (code === 'database_unavailable')
              problems = problems.filter((p) => p !== 'server error 503');
          }
          expect(problems, summary).toEqual([]);
        }),
        runs(200),
      );
      expect(away.size).toBeGreaterThan(0); // the database was really away
      for (const answer of answers) {
        const response = await service.app.inject(answer);
        expect(response.statusCode, answer).toBe(200);
      }
    } finally {
      await relay.restore();
    }
  });

  describe('inputs that once failed', () => {
    it.each(ONCE_FAILED.badPercent)(
      'when a path holds malformed percent-encoding (%s), then 400 has the contract error body',
      async (bad) => {
        expect(await problemsFor({ method: 'GET', url: `/imports/${bad}`, headers: {} })).toEqual(
          [],
        );
      },
    );

    it('when a path parameter is over 200 characters, then the answer is declared and in the contract shape', async () => {
      const url = `/imports/${ONCE_FAILED.longParam}`;
      expect(await problemsFor({ method: 'GET', url, headers: {} })).toEqual([]);
    });

    it.each(ONCE_FAILED.nonFinite)(
      'when an integer parameter is %s, then it is a 400, not a 500',
      async (value) => {
        for (const url of [
          `/imports/${value}`,
          `/imports?limit=${value}`,
          `/analytics/top-merchants?limit=${value}`,
        ])
          expect(await problemsFor({ method: 'GET', url, headers: {} }), url).toEqual([]);
      },
    );

    it('when a multipart upload ends without its closing boundary, then it is a 400, not a 500', async () => {
      const request: Request = {
        method: 'POST',
        url: '/imports',
        headers: {
          authorization: `Bearer ${ADMIN_TOKEN}`,
          'content-type': 'multipart/form-data; boundary=fuzz',
        },
        payload: multipart(`${HEADER}\n`, 'file', false),
      };
      expect(await problemsFor(request)).toEqual([]);
    });

    it('when POST /imports/rescan gets a body it cannot parse, then the status is one its document declares', async () => {
      const request: Request = {
        method: 'POST',
        url: '/imports/rescan',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/xml' },
        payload: '<rescan/>',
      };
      expect(await problemsFor(request)).toEqual([]);
    });
  });
});

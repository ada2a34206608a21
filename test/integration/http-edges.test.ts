import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type Service } from '../../src/service.js';
import { createTestDatabase, tempDir, testConfig } from '../helpers.js';

const TOKEN = 'edges-admin-token-0123456789';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

interface Exchange {
  /** Everything the server wrote before it closed the connection. */
  text: string;
  /** Milliseconds from the first byte of the answer to the close; null if it stayed open. */
  closedAfterMs: number | null;
}

/**
 * Writes `head` on a fresh connection, then `drip` one byte at a time every `dripMs` (a client
 * sending its body slowly), and reports what came back and when the server closed the connection.
 */
function exchange(port: number, head: string, drip = '', dripMs = 200, waitMs = 3000) {
  return new Promise<Exchange>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    let answeredAt: number | null = null;
    let rest = drip;
    const timer = setInterval(() => {
      if (rest === '' || socket.destroyed) return;
      socket.write(rest.slice(0, 1));
      rest = rest.slice(1);
    }, dripMs);
    const finish = (closed: boolean) => {
      clearInterval(timer);
      clearTimeout(deadline);
      socket.destroy();
      const closedAfterMs = closed && answeredAt !== null ? Date.now() - answeredAt : null;
      resolve({ text, closedAfterMs });
    };
    const deadline = setTimeout(() => finish(false), waitMs);
    socket.on('data', (chunk) => {
      answeredAt ??= Date.now();
      text += chunk.toString('latin1');
    });
    socket.on('error', () => undefined); // a reset while dripping is a close too
    socket.on('close', () => finish(true));
    socket.write(head);
  });
}

/** Status, lower-cased headers and the JSON body of a raw HTTP/1.1 answer. */
function parse(text: string) {
  const [head = '', body = ''] = text.split('\r\n\r\n');
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers = Object.fromEntries(
    lines.map((line) => {
      const colon = line.indexOf(':');
      return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()];
    }),
  );
  return { status: Number(statusLine.split(' ')[1]), headers, body };
}

describe('HTTP edges: parser errors, refusals and timeouts', () => {
  let db: { url: string; drop: () => Promise<void> };
  let service: Service;
  let app: FastifyInstance;
  let port: number;

  beforeAll(async () => {
    db = await createTestDatabase();
    const config = testConfig({ databaseUrl: db.url, dataDir: await tempDir(), adminToken: TOKEN });
    service = await startService(config);
    await service.startupImport;
    app = service.app;
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = (app.server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await service?.close();
    await db?.drop();
  });

  function expectErrorBody(
    response: { statusCode: number; headers: Record<string, unknown>; body: string },
    status: number,
    code: string,
  ): void {
    expect(response.statusCode, response.body).toBe(status);
    const requestId = response.headers['x-request-id'];
    expect(JSON.parse(response.body)).toEqual({
      error: { code, message: expect.any(String), requestId },
    });
  }

  it('when rejects are asked for after a line beyond any bigint, then it is a 400 with the error body, not a 500', async () => {
    const response = await app.inject('/imports/1/rejects?after=99999999999999999999');
    expectErrorBody(response, 400, 'bad_request');
    expect(response.json().error.message).toContain('after');
  });

  it('when a multipart upload has no boundary, then it is a 400 with the error body, not a 500', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/imports',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'multipart/form-data' },
      payload: 'no parts here',
    });
    expectErrorBody(response, 400, 'bad_request');
  });

  it('when a header is larger than node:http accepts, then the 431 carries the error body and a request id, and the connection closes', async () => {
    const head = `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(100 * 1024)}\r\n\r\n`;
    const { text, closedAfterMs } = await exchange(port, head);
    const { status, headers, body } = parse(text);
    expect(status).toBe(431);
    expect(headers['content-type']).toContain('application/json');
    expect(headers['x-request-id']).toMatch(UUID);
    expect(headers['x-content-type-options']).toBe('nosniff');
    expect(JSON.parse(body)).toEqual({
      error: {
        code: 'headers_too_large',
        message: expect.any(String),
        requestId: headers['x-request-id'],
      },
    });
    expect(closedAfterMs).not.toBeNull();
  });

  it('when the request line is malformed, then the 400 carries the error body, and the connection closes', async () => {
    const { text, closedAfterMs } = await exchange(port, 'NOT HTTP AT ALL\r\n\r\n');
    const { status, headers, body } = parse(text);
    expect(status).toBe(400);
    expect(JSON.parse(body)).toEqual({
      error: {
        code: 'bad_request',
        message: expect.any(String),
        requestId: headers['x-request-id'],
      },
    });
    expect(closedAfterMs).not.toBeNull();
  });

  it('when an unauthenticated upload drips its body, then the connection closes right after the 401', async () => {
    const head =
      'POST /imports?name=activities_20240101.csv HTTP/1.1\r\nHost: x\r\n' +
      'Content-Type: text/csv\r\nContent-Length: 1000\r\n\r\ne';
    const { text, closedAfterMs } = await exchange(port, head, 'x'.repeat(100));
    const { status, headers } = parse(text);
    expect(status).toBe(401);
    expect(headers.connection).toBe('close');
    expect(closedAfterMs).not.toBeNull();
    expect(closedAfterMs).toBeLessThan(1000);
  });

  it('when a refusal needs no body to be read, then the connection is kept for the next request', async () => {
    const head = 'GET /nope HTTP/1.1\r\nHost: x\r\n\r\n';
    const { text, closedAfterMs } = await exchange(port, head, '', 200, 500);
    expect(parse(text).status).toBe(404);
    expect(parse(text).headers.connection).toBe('keep-alive');
    expect(closedAfterMs).toBeNull();
  });

  it('when the server listens, then a request must arrive within REQUEST_TIMEOUT_SECONDS and a silent connection is closed after a minute', () => {
    expect(app.server.requestTimeout).toBe(300_000);
    expect(app.server.timeout).toBe(60_000);
  });
});

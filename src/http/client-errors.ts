import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyBaseLogger, FastifyReply } from 'fastify';
import { API_HEADERS } from './security.js';

type Answer = readonly [status: number, code: string, message: string];

/** Node's own answers to these (431, 408, 413) keep their status; anything else is a 400. */
const PARSER_ERRORS: Record<string, Answer> = {
  HPE_HEADER_OVERFLOW: [431, 'headers_too_large', 'the request headers are too large'],
  HPE_CHUNK_EXTENSIONS_OVERFLOW: [413, 'payload_too_large', 'the chunk extensions are too large'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'request_timeout', 'the request did not arrive in time'],
};

function answerFor(code: string | undefined): Answer {
  return (
    PARSER_ERRORS[code ?? ''] ?? [
      400,
      'bad_request',
      `the request is not valid HTTP${code ? ` (${code})` : ''}`,
    ]
  );
}

/** A whole HTTP/1.1 response in the contract's shape, written straight to the socket. */
function rawResponse([status, code, message]: Answer, requestId: string): string {
  const body = JSON.stringify({ error: { code, message, requestId } });
  const headers = {
    ...API_HEADERS,
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    'x-request-id': requestId,
    connection: 'close',
  };
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
  return `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${lines.join('')}\r\n${body}`;
}

/**
 * For Fastify's `clientErrorHandler` option: requests node:http's parser refuses (a header over
 * its limit, a malformed request line, a request timeout) never reach Fastify, and Fastify's
 * default answers them with a body of its own. These get the contract's error body, then the
 * socket is closed, as node:http and Fastify do: the rest of the stream cannot be trusted.
 */
export function clientErrorHandler(log: FastifyBaseLogger) {
  return (error: Error & { code?: string }, socket: Socket): void => {
    // A reset connection is gone: there is no one to answer.
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    const answer = answerFor(error.code);
    const requestId = randomUUID(); // no request object exists, so no id was made for one
    // Not the error object: node:http hangs the raw bytes on it, headers (and tokens) included.
    log.info({ code: error.code, requestId, status: answer[0] }, 'client error');
    if (socket.writable) socket.write(rawResponse(answer, requestId));
    socket.destroy();
  };
}

const hasBody = (raw: IncomingMessage): boolean =>
  raw.headers['transfer-encoding'] !== undefined || (raw.headers['content-length'] ?? '0') !== '0';

/**
 * For error answers (a 401, a 413...) made before the request's body was read: close the
 * connection after them. Otherwise node:http reads and discards that body to reuse the
 * connection, so a client dripping a body kept an unauthenticated connection open at will.
 */
export function closeIfBodyUnread(raw: IncomingMessage, reply: FastifyReply): void {
  if (!raw.complete && hasBody(raw)) reply.header('connection', 'close');
}

import { Type } from '@sinclair/typebox';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isDatabaseAway } from '../db/database-away.js';
import { AppError } from '../errors.js';
import { closeIfBodyUnread } from './client-errors.js';
import { API_HEADERS } from './security.js';

/** The schema of the contract's error body, for the OpenAPI document of every route. */
export const ErrorBody = Type.Object({
  error: Type.Object({ code: Type.String(), message: Type.String(), requestId: Type.String() }),
});

/** What a route that needs the database answers while it is away (a restart, a failover). */
export const DatabaseUnavailable = {
  description:
    'The database is unavailable (code database_unavailable); retry after Retry-After seconds',
  ...ErrorBody,
};

/** The contract's error body; never a stack trace or SQL text. */
export function sendError(
  reply: FastifyReply,
  request: FastifyRequest,
  status: number,
  code: string,
  message: string,
): FastifyReply {
  return reply
    .code(status)
    .type('application/json; charset=utf-8')
    .send(JSON.stringify({ error: { code, message, requestId: request.id } }));
}

function describeValidation(error: FastifyError): string {
  const first = error.validation?.[0];
  if (!first) return 'invalid request';
  const where = error.validationContext ?? 'request';
  const name =
    first.instancePath.replace(/^\//, '') ||
    (typeof first.params?.missingProperty === 'string' ? first.params.missingProperty : '') ||
    (typeof first.params?.additionalProperty === 'string' ? first.params.additionalProperty : '');
  return `${where} parameter ${name ? `'${name}' ` : ''}${first.message ?? 'is invalid'}`;
}

const DATABASE_RETRY_AFTER_SECONDS = '5';

const CLIENT_ERROR_CODES: Record<number, string> = {
  404: 'not_found',
  405: 'method_not_allowed',
  406: 'not_acceptable',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'rate_limited',
};

/** 404 for a method and path no route serves. */
const sendNotFound = (request: FastifyRequest, reply: FastifyReply): FastifyReply =>
  sendError(
    reply,
    request,
    404,
    'not_found',
    `no route for ${request.method} ${request.url.split('?')[0]}`,
  );

const FRAMEWORK_REFUSALS: Record<string, string> = {
  FST_ERR_BAD_URL: 'the URL is not valid (malformed percent-encoding)',
  FST_ERR_MAX_PARAM_LENGTH: 'a path parameter is too long',
};

/**
 * For Fastify's `frameworkErrors` option (set where the app is built): requests the router cannot
 * read, which reach neither the error handler nor the onSend hooks. Without it Fastify answers them
 * with its own body and no request id or security headers: 400 for malformed percent-encoding,
 * 414 for a path parameter over maxParamLength.
 */
export function handleFrameworkError(
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  reply.headers(API_HEADERS).header('x-request-id', request.id);
  closeIfBodyUnread(request.raw, reply); // every answer here is an error
  const refusal = FRAMEWORK_REFUSALS[error.code];
  if (refusal) {
    // No access line is written for these: this is their line.
    request.log.info({ code: error.code, url: request.url, ip: request.ip }, 'client error');
    sendError(reply, request, 400, 'bad_request', refusal);
  } else {
    request.log.error({ err: error }, 'request failed');
    sendError(reply, request, 500, 'internal_error', 'internal server error');
  }
}

export function registerErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof AppError)
      return sendError(reply, request, error.statusCode, error.code, error.message);
    if (error.validation)
      return sendError(reply, request, 400, 'bad_request', describeValidation(error));
    const status = error.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      // Without a route the 404 handler still parses the body: "no such route" must win over
      // what is wrong with a body nothing would read (an unknown Content-Type, bad JSON).
      if (request.is404) return sendNotFound(request, reply);
      // Framework-level client errors (bad JSON, body too large, unsupported media type...).
      const code = CLIENT_ERROR_CODES[status] ?? 'bad_request';
      return sendError(reply, request, status, code, error.message);
    }
    if (isDatabaseAway(error)) {
      // Cached answers are still served; what needs the database waits for it (or a failover).
      request.log.warn({ err: error }, 'database unavailable');
      reply.header('retry-after', DATABASE_RETRY_AFTER_SECONDS);
      return sendError(
        reply,
        request,
        503,
        'database_unavailable',
        'the database is unavailable; retry shortly',
      );
    }
    request.log.error({ err: error }, 'request failed');
    return sendError(reply, request, 500, 'internal_error', 'internal server error');
  });
  app.setNotFoundHandler(sendNotFound);
}

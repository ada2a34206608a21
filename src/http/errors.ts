import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../errors.js';

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

const CLIENT_ERROR_CODES: Record<number, string> = {
  404: 'not_found',
  405: 'method_not_allowed',
  406: 'not_acceptable',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'rate_limited',
};

export function registerErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof AppError)
      return sendError(reply, request, error.statusCode, error.code, error.message);
    if (error.validation)
      return sendError(reply, request, 400, 'bad_request', describeValidation(error));
    const status = error.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      // Framework-level client errors (bad JSON, body too large, unsupported media type...).
      const code = CLIENT_ERROR_CODES[status] ?? 'bad_request';
      return sendError(reply, request, status, code, error.message);
    }
    request.log.error({ err: error }, 'request failed');
    return sendError(reply, request, 500, 'internal_error', 'internal server error');
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(
      reply,
      request,
      404,
      'not_found',
      `no route for ${request.method} ${request.url.split('?')[0]}`,
    ),
  );
}

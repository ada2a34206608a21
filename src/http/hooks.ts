import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { closeIfBodyUnread } from './client-errors.js';
import { securityHeaders } from './security.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** A caller's X-Request-Id is kept when it is sane, so logs can be joined across services. */
export function requestIdFor(given: string | string[] | undefined): string {
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

/**
 * On every response: the security headers, X-Request-Id and X-Process-Time (Fastify's own
 * request timer). Error responses are logged where they are made (http/errors.ts); a line for
 * every request is logged only at debug level, because a hook and a log line per request cost a
 * large share of the throughput of cached answers.
 */
export function registerRequestHooks(app: FastifyInstance): void {
  const apiHeaders = securityHeaders('api');
  const docsHeaders = securityHeaders('docs');
  const dashboardHeaders = securityHeaders('dashboard');
  app.addHook('onSend', (request, reply, payload, done) => {
    const url = request.url;
    reply.headers(
      url.startsWith('/docs') || url.startsWith('/redoc')
        ? docsHeaders
        : url === '/' || url.startsWith('/?') || url.startsWith('/index.html')
          ? dashboardHeaders // the dashboard page (its assets are fine with the API's headers)
          : apiHeaders,
    );
    reply.header('x-request-id', request.id);
    reply.header('x-process-time', `${reply.elapsedTime.toFixed(3)}ms`);
    if (reply.statusCode >= 400) closeIfBodyUnread(request.raw, reply);
    done(null, payload);
  });
  if (!['debug', 'trace'].includes(app.log.level)) return;
  app.addHook('onResponse', (request, reply, done) => {
    const line = {
      method: request.method,
      url: request.url,
      status: reply.statusCode,
      ms: Number(reply.elapsedTime.toFixed(3)),
    };
    request.log.debug(line, 'request completed');
    done();
  });
}

import type { FastifyInstance } from 'fastify';
import { securityHeaders } from './security.js';

/**
 * On every response: the security headers, X-Request-Id and X-Process-Time (Fastify's own
 * request timer). One access log line per request: at info for 4xx, warn for 5xx and slow
 * requests, debug for the rest (a line per request at info would cost a large share of the
 * throughput of cached answers).
 */
export function registerRequestHooks(app: FastifyInstance): void {
  const apiHeaders = securityHeaders('api');
  const docsHeaders = securityHeaders('docs');
  const logEveryRequest = ['debug', 'trace'].includes(app.log.level);
  app.addHook('onSend', (request, reply, payload, done) => {
    const url = request.url;
    reply.headers(url.startsWith('/docs') || url.startsWith('/redoc') ? docsHeaders : apiHeaders);
    reply.header('x-request-id', request.id);
    reply.header('x-process-time', `${reply.elapsedTime.toFixed(3)}ms`);
    done(null, payload);
  });
  app.addHook('onResponse', (request, reply, done) => {
    const status = reply.statusCode;
    const ms = reply.elapsedTime;
    if (status >= 400 || ms > 1000 || logEveryRequest) {
      const line = { method: request.method, url: request.url, status, ms: Number(ms.toFixed(3)) };
      if (status >= 500 || ms > 1000) request.log.warn(line, 'request completed');
      else if (status >= 400) request.log.info(line, 'request completed');
      else request.log.debug(line, 'request completed');
    }
    done();
  });
}

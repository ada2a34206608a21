import type { FastifyInstance } from 'fastify';

const START = Symbol('requestStart');

/**
 * X-Request-Id and X-Process-Time on every response, and one access log line per request:
 * at info level for errors and slow requests, at debug for the rest (a log line per request at
 * info would cost a large share of the throughput of cached answers).
 */
export function registerRequestHooks(app: FastifyInstance): void {
  app.addHook('onRequest', (request, _reply, done) => {
    (request as unknown as Record<symbol, bigint>)[START] = process.hrtime.bigint();
    done();
  });
  app.addHook('onSend', (request, reply, payload, done) => {
    const started =
      (request as unknown as Record<symbol, bigint>)[START] ?? process.hrtime.bigint();
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    reply.header('x-request-id', request.id);
    reply.header('x-process-time', `${ms.toFixed(3)}ms`);
    done(null, payload);
  });
  app.addHook('onResponse', (request, reply, done) => {
    const ms = reply.elapsedTime;
    const line = {
      method: request.method,
      url: request.url,
      status: reply.statusCode,
      ms: Number(ms.toFixed(3)),
    };
    if (reply.statusCode >= 500 || ms > 1000) request.log.warn(line, 'request completed');
    else if (reply.statusCode >= 400) request.log.info(line, 'request completed');
    else request.log.debug(line, 'request completed');
    done();
  });
}

import { randomUUID } from 'node:crypto';
import {
  LogController,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import type { ServiceMetrics } from '../modules/metrics/metrics.js';
import { closeIfBodyUnread } from './client-errors.js';
import { API_HEADERS } from './security.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** A caller's X-Request-Id is kept when it is sane, so logs can be joined across services. */
export function requestIdFor(given: string | string[] | undefined): string {
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

/**
 * The access log: Fastify's two lines per request ("incoming request", "request completed") as
 * one line at info when the response is done, with what an operator looks for in it.
 */
export class AccessLog extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    const line = {
      method: request.method,
      url: request.url,
      route: request.routeOptions.url,
      statusCode: reply.statusCode,
      ip: request.ip,
      responseTime: reply.elapsedTime,
    };
    if (error) reply.log.error({ ...line, err: error }, 'request errored');
    else reply.log.info(line, 'request completed');
  }
}

/**
 * For every answer: the API's security headers (the docs and dashboard plugins set their own over
 * them), X-Request-Id, X-Process-Time, and a latency observation by route pattern. Both times are
 * Fastify's own request timer, from the request's arrival.
 */
export function registerRequestHooks(app: FastifyInstance, metrics: ServiceMetrics): void {
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.headers(API_HEADERS);
    reply.header('x-request-id', request.id);
    reply.header('x-process-time', `${reply.elapsedTime.toFixed(3)}ms`);
    if (reply.statusCode >= 400) closeIfBodyUnread(request.raw, reply);
    done(null, payload);
  });
  app.addHook('onResponse', (request, reply, done) => {
    // The pattern, not the URL, keeps label sets bounded; URLs no route serves share one label.
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.observeRequest(request.method, route, reply.statusCode, reply.elapsedTime / 1000);
    done();
  });
}

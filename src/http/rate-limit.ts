import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import { AppError } from '../errors.js';

/**
 * RATE_LIMIT_PER_MINUTE per client over a one-minute window, in memory, on every route
 * registered after this (routes opt out with `config: { rateLimit: false }`: /health, /metrics).
 * The client is request.ip, so behind a load balancer TRUST_PROXY decides what that is. Answers
 * carry the plugin's X-RateLimit-* headers; over the limit: 429 with Retry-After and the
 * contract's error body. 0 switches it off.
 */
export async function registerRateLimit(app: FastifyInstance, perMinute: number): Promise<void> {
  if (perMinute === 0) return;
  await app.register(rateLimit, {
    max: perMinute,
    timeWindow: 60_000,
    errorResponseBuilder: (_request, context) =>
      new AppError(
        'rate_limited',
        429,
        `more than ${context.max} requests a minute from this client; retry in ${context.after}`,
      ),
  });
}

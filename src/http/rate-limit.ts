import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import { AppError } from '../errors.js';

/**
 * Per-client (remote address) limit over a one-minute window, in memory. Over the limit: 429 with
 * Retry-After and the contract's error body. Allowed responses carry no X-RateLimit-* headers: the
 * analytics answers are tiny and three more headers each cost measurable throughput.
 * `/health` and `/metrics` opt out so probes and scrapers are never throttled.
 */
export async function registerRateLimit(app: FastifyInstance, perMinute: number): Promise<void> {
  if (perMinute === 0) return;
  await app.register(rateLimit, {
    max: perMinute,
    timeWindow: 60_000,
    cache: 10_000,
    addHeadersOnExceeding: {
      'x-ratelimit-limit': false,
      'x-ratelimit-remaining': false,
      'x-ratelimit-reset': false,
    },
    addHeaders: {
      'x-ratelimit-limit': true,
      'x-ratelimit-remaining': true,
      'x-ratelimit-reset': true,
      'retry-after': true,
    },
    errorResponseBuilder: (_request, context) =>
      new AppError(
        'rate_limited',
        429,
        `more than ${context.max} requests a minute from this client; retry in ${context.after}`,
      ),
  });
}

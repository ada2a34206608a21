import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import { AppError } from '../errors.js';

/**
 * RATE_LIMIT_PER_MINUTE per request.ip (see TRUST_PROXY) on every route registered after this, but
 * those with `config: { rateLimit: false }`; over it, 429 in the contract's shape. 0: off.
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

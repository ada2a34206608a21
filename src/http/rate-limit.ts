import { isIPv4 } from 'node:net';
import rateLimit from '@fastify/rate-limit';
import LocalStore from '@fastify/rate-limit/store/LocalStore.js';
import type { FastifyInstance } from 'fastify';
import { AppError } from '../errors.js';

const WINDOW_MS = 60_000;

/** Counts a request of a client against the limit that the Fastify routes apply too. */
export interface ClientLimiter {
  /** Counts one request; false once the client is over the limit. */
  allow(client: string): boolean;
}

/**
 * The plugin's key for an IPv4 client (plain or IPv4-mapped IPv6); null for an IPv6 client, whose
 * key the plugin derives from its subnet, so such a client is left to the Fastify routes.
 */
export function ipv4ClientKey(remoteAddress: string | undefined): string | null {
  if (remoteAddress === undefined) return null;
  if (isIPv4(remoteAddress)) return remoteAddress;
  const mapped = remoteAddress.startsWith('::ffff:') ? remoteAddress.slice(7) : '';
  return isIPv4(mapped) ? mapped : null;
}

/**
 * Per-client (remote address) limit over a one-minute window, in memory. Over the limit: 429 with
 * Retry-After and the contract's error body. Allowed responses carry no X-RateLimit-* headers: the
 * analytics answers are tiny and three more headers each cost measurable throughput.
 * `/health` and `/metrics` opt out so probes and scrapers are never throttled.
 * Returns the plugin's own counter, for requests answered before Fastify (analytics fast lane).
 */
export async function registerRateLimit(
  app: FastifyInstance,
  perMinute: number,
): Promise<ClientLimiter | null> {
  if (perMinute === 0) return null;
  let shared: LocalStore | undefined;
  class SharedStore extends LocalStore {
    constructor() {
      super(false, false, 10_000); // the plugin's defaults: no continueExceeding, no backoff
      shared = this; // eslint-disable-line @typescript-eslint/no-this-alias
    }
  }
  await app.register(rateLimit, {
    max: perMinute,
    timeWindow: WINDOW_MS,
    store: SharedStore,
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
  const store = shared;
  if (!store) throw new Error('@fastify/rate-limit did not create its store');
  return {
    allow(client) {
      let allowed = false;
      // LocalStore answers synchronously.
      store.incr(
        client,
        (_error, state) => (allowed = state !== undefined && state.current <= perMinute),
        WINDOW_MS,
        perMinute,
      );
      return allowed;
    },
  };
}

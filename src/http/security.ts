import cors from '@fastify/cors';
import type { FastifyInstance } from 'fastify';

/**
 * The security headers of every answer, fixed, so they are written out here rather than computed
 * per request: HTTPS only (HSTS), no MIME sniffing, no framing, no referrer, readable by this
 * origin only, and a CSP under which a JSON answer loads nothing.
 */
export const API_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'cross-origin-resource-policy': 'same-origin',
  'referrer-policy': 'no-referrer',
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
};

/** The docs pages: Swagger UI and ReDoc need inline scripts and styles and blob: workers. */
export const DOCS_CSP =
  "default-src 'self'; base-uri 'self'; connect-src 'self'; font-src 'self' data:; " +
  "form-action 'self'; frame-ancestors 'none'; img-src 'self' data: blob:; object-src 'none'; " +
  "script-src 'self' 'unsafe-inline' blob:; script-src-attr 'none'; " +
  "style-src 'self' 'unsafe-inline'; worker-src 'self' blob:";

/** The dashboard: its own scripts, styles and icon, fetches to the API on the same origin. */
export const DASHBOARD_CSP =
  "default-src 'none'; base-uri 'none'; connect-src 'self'; form-action 'self'; " +
  "frame-ancestors 'none'; img-src 'self'; script-src 'self'; style-src 'self'";

/**
 * For an encapsulated plugin that serves HTML pages: its own CSP and the browser headers helmet
 * sets by default for pages, over the API's (its onSend hook runs after the app's).
 */
export function pageHeaders(app: FastifyInstance, csp: string): void {
  const headers = {
    'content-security-policy': csp,
    'cross-origin-opener-policy': 'same-origin',
    'origin-agent-cluster': '?1',
    'x-dns-prefetch-control': 'off',
    'x-download-options': 'noopen',
    'x-permitted-cross-domain-policies': 'none',
    'x-xss-protection': '0',
  };
  app.addHook('onSend', (_request, reply, payload, done) => {
    reply.headers(headers);
    done(null, payload);
  });
}

export async function registerCors(
  app: FastifyInstance,
  corsOrigins: readonly string[],
): Promise<void> {
  if (corsOrigins.length === 0) return; // no CORS headers at all: same-origin only
  await app.register(cors, {
    origin: corsOrigins.includes('*') ? '*' : [...corsOrigins],
    methods: ['GET', 'HEAD', 'POST', 'OPTIONS'],
    exposedHeaders: [
      'x-request-id',
      'x-process-time',
      'etag',
      'retry-after',
      'x-ratelimit-limit',
      'x-ratelimit-remaining',
      'x-ratelimit-reset',
    ],
  });
}

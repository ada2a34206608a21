import type { FastifyInstance } from 'fastify';
import cors from '@fastify/cors';
import helmet from 'helmet';

type HelmetOptions = NonNullable<Parameters<typeof helmet>[0]>;

/** For the docs pages: a CSP under which Swagger UI and ReDoc (inline styles, blob workers) work. */
const DOCS_OPTIONS: HelmetOptions = {
  contentSecurityPolicy: {
    directives: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'", "'unsafe-inline'", 'blob:'],
      styleSrc: ["'self'", "'unsafe-inline'"],
      imgSrc: ["'self'", 'data:', 'blob:'],
      fontSrc: ["'self'", 'data:'],
      workerSrc: ["'self'", 'blob:'],
      connectSrc: ["'self'"],
      objectSrc: ["'none'"],
      frameAncestors: ["'none'"],
      baseUri: ["'self'"],
      formAction: ["'self'"],
      // Served over plain HTTP on a laptop too: upgrading would break the docs pages there.
      upgradeInsecureRequests: null,
    },
  },
  strictTransportSecurity: { maxAge: 31_536_000, includeSubDomains: true },
  xFrameOptions: { action: 'deny' },
  referrerPolicy: { policy: 'no-referrer' },
};

/**
 * For the dashboard page (GET /): its own scripts, styles and icon from 'self' only (no inline
 * script or style, no CDN), fetches to the API on the same origin, nothing else.
 */
const DASHBOARD_OPTIONS: HelmetOptions = {
  contentSecurityPolicy: {
    useDefaults: false,
    directives: {
      defaultSrc: ["'none'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'"],
      imgSrc: ["'self'"],
      connectSrc: ["'self'"],
      frameAncestors: ["'none'"],
      baseUri: ["'none'"],
      formAction: ["'self'"],
    },
  },
  strictTransportSecurity: { maxAge: 31_536_000, includeSubDomains: true },
  xFrameOptions: { action: 'deny' },
  referrerPolicy: { policy: 'no-referrer' },
};

/**
 * For JSON answers: the headers that matter to an API (HSTS, nosniff, frame denial, referrer
 * policy, a CSP that allows nothing), without the legacy browser ones (each header costs
 * throughput on the hottest path).
 */
const API_OPTIONS: HelmetOptions = {
  strictTransportSecurity: { maxAge: 31_536_000, includeSubDomains: true },
  xFrameOptions: { action: 'deny' },
  referrerPolicy: { policy: 'no-referrer' },
  contentSecurityPolicy: {
    useDefaults: false,
    directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] },
  },
  crossOriginOpenerPolicy: false,
  originAgentCluster: false,
  xDnsPrefetchControl: false,
  xDownloadOptions: false,
  xPermittedCrossDomainPolicies: false,
  xXssProtection: false,
};

/**
 * The security headers helmet sets, computed once. @fastify/helmet rebuilds them (parsing the CSP)
 * on every request, which measured as two thirds of the cost of serving a cached answer; the
 * headers are the same for every response, so helmet runs once here and its output is reused.
 */
export function securityHeaders(kind: 'api' | 'docs' | 'dashboard'): Record<string, string> {
  const headers: Record<string, string> = {};
  const response = {
    setHeader: (name: string, value: string) => {
      headers[name.toLowerCase()] = value;
    },
    removeHeader: (name: string) => {
      delete headers[name.toLowerCase()];
    },
  };
  const options = { api: API_OPTIONS, docs: DOCS_OPTIONS, dashboard: DASHBOARD_OPTIONS }[kind];
  helmet(options)({} as never, response as never, () => undefined);
  return headers;
}

export async function registerCors(
  app: FastifyInstance,
  corsOrigins: readonly string[],
): Promise<void> {
  if (corsOrigins.length === 0) return; // no CORS headers at all: same-origin only
  await app.register(cors, {
    origin: corsOrigins.includes('*') ? '*' : [...corsOrigins],
    methods: ['GET', 'HEAD', 'POST', 'OPTIONS'],
    exposedHeaders: ['x-request-id', 'x-process-time', 'etag', 'retry-after'],
  });
}

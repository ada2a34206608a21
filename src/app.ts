import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type pg from 'pg';
import type { Config } from './config.js';
import { clientErrorHandler } from './http/client-errors.js';
import { docsRoutes, registerOpenApi } from './http/docs.js';
import { handleFrameworkError, registerErrorHandlers } from './http/errors.js';
import { refuseNonFiniteNumbers } from './http/finite-numbers.js';
import { AccessLog, registerRequestHooks, requestIdFor } from './http/hooks.js';
import { registerRateLimit } from './http/rate-limit.js';
import { registerCors } from './http/security.js';
import type { AnswerCache } from './modules/analytics/analytics.cache.js';
import { analyticsRoutes } from './modules/analytics/analytics.routes.js';
import { dashboardRoutes } from './modules/dashboard/dashboard.routes.js';
import { healthRoutes } from './modules/health/health.routes.js';
import type { ImportQueue } from './modules/importer/import-queue.js';
import { importRoutes } from './modules/importer/importer.routes.js';
import { uploadRoutes } from './modules/importer/upload.routes.js';
import { metricsRoutes, type ServiceMetrics } from './modules/metrics/metrics.js';

export interface AppDeps {
  config: Config;
  log: FastifyBaseLogger;
  pool: pg.Pool;
  /** Where the ledger and health read (DATABASE_READ_URL); the writes' pool when unset. */
  readPool?: pg.Pool;
  cache: AnswerCache;
  version: string;
  isReady: () => boolean;
  imports: ImportQueue;
  metrics: ServiceMetrics;
}

/** No byte either way for this long closes a connection (Node's socket timeout). */
const IDLE_CONNECTION_MS = 60_000;

/**
 * TRUST_PROXY as Fastify's trustProxy. Fastify trusts nothing for a bare number, so a hop count
 * becomes its documented trust function: the operator vouches for the nearest n hops.
 */
function trustProxyOption(trust: Config['trustProxy']) {
  if (typeof trust === 'number') return (_address: string, hop: number) => hop < trust;
  return typeof trust === 'boolean' ? trust : [...trust];
}

/** Builds the whole HTTP application; server.ts listens with it, tests use app.inject. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config } = deps;
  const app = Fastify({
    loggerInstance: deps.log,
    logController: new AccessLog(),
    genReqId: (request) => requestIdFor(request.headers['x-request-id']),
    // request.ip (rate limiting, the access log) is X-Forwarded-For's client behind these proxies.
    trustProxy: trustProxyOption(config.trustProxy),
    // Requests the router cannot read (bad percent-encoding, an over-long path parameter) get the
    // contract's error body too, not Fastify's own.
    frameworkErrors: handleFrameworkError,
    // And so do requests node:http's parser refuses (431, a malformed request line: 400).
    clientErrorHandler: clientErrorHandler(deps.log),
    // A whole request, body included, must arrive within REQUEST_TIMEOUT_SECONDS (408), and a
    // connection silent for a minute is closed: a dripped or stalled body cannot hold one open.
    requestTimeout: config.requestTimeoutSeconds * 1000,
    connectionTimeout: IDLE_CONNECTION_MS,
    bodyLimit: 1024 * 1024,
    routerOptions: { maxParamLength: 200 },
    ajv: {
      customOptions: {
        coerceTypes: true,
        removeAdditional: false,
        useDefaults: true,
        allErrors: false,
      },
    },
  });
  // What applies to every route comes first; then each module's routes, an encapsulated plugin
  // with its own hooks.
  registerErrorHandlers(app);
  refuseNonFiniteNumbers(app);
  registerRequestHooks(app, deps.metrics);
  await registerRateLimit(app, config.rateLimitPerMinute);
  await registerCors(app, config.corsOrigins);
  await registerOpenApi(app, deps.version);
  const { pool, cache, isReady } = deps;
  const readPool = deps.readPool ?? pool;
  await app.register(docsRoutes);
  await app.register(dashboardRoutes);
  await app.register(analyticsRoutes, { cache, isReady });
  await app.register(importRoutes, { pool: readPool });
  await app.register(uploadRoutes, { pool, queue: deps.imports, config });
  await app.register(healthRoutes, {
    pool: readPool,
    version: deps.version,
    importStatus: () => ({ ...deps.imports.status }),
    dataVersion: () => cache.currentVersion,
    isReady,
  });
  await app.register(metricsRoutes, { metrics: deps.metrics });
  await app.ready();
  return app;
}

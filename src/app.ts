import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type pg from 'pg';
import type { Config } from './config.js';
import { registerDocs } from './http/docs.js';
import { clientErrorHandler } from './http/client-errors.js';
import { handleFrameworkError, registerErrorHandlers } from './http/errors.js';
import { refuseNonFiniteNumbers } from './http/finite-numbers.js';
import { registerRequestHooks, requestIdFor } from './http/hooks.js';
import { registerCors } from './http/security.js';
import type { AnswerCache } from './modules/analytics/analytics.cache.js';
import { registerAnalyticsRoutes } from './modules/analytics/analytics.routes.js';
import { registerHealthRoutes } from './modules/health/health.routes.js';
import type { ImportQueue } from './modules/importer/import-queue.js';
import { registerImportRoutes } from './modules/importer/importer.routes.js';
import { registerUploadRoutes } from './modules/importer/upload.routes.js';
import { registerMetricsRoutes, type ServiceMetrics } from './modules/metrics/metrics.js';
import { registerRateLimit } from './http/rate-limit.js';

export interface AppDeps {
  config: Pick<
    Config,
    | 'logLevel'
    | 'corsOrigins'
    | 'adminToken'
    | 'dataDir'
    | 'uploadDir'
    | 'uploadMaxBytes'
    | 'uploadRetentionHours'
    | 'requestTimeoutSeconds'
    | 'rateLimitPerMinute'
  >;
  log: FastifyBaseLogger;
  pool: pg.Pool;
  cache: AnswerCache;
  version: string;
  isReady: () => boolean;
  imports: ImportQueue;
  metrics: ServiceMetrics;
}

/** No byte either way for this long closes a connection (Node's socket timeout). */
const IDLE_CONNECTION_MS = 60_000;

/** Builds the whole HTTP application; server.ts listens with it, tests use app.inject. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.log,
    // hooks.ts logs one line per request, at a level that fits it.
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: (request) => requestIdFor(request.headers['x-request-id']),
    // Requests the router cannot read (bad percent-encoding, an over-long path parameter) get the
    // contract's error body too, not Fastify's own.
    frameworkErrors: handleFrameworkError,
    // And so do requests node:http's parser refuses (431, a malformed request line: 400).
    clientErrorHandler: clientErrorHandler(deps.log),
    // A whole request, body included, must arrive within REQUEST_TIMEOUT_SECONDS (408), and a
    // connection silent for a minute is closed: a dripped or stalled body cannot hold one open.
    requestTimeout: deps.config.requestTimeoutSeconds * 1000,
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
  registerErrorHandlers(app);
  refuseNonFiniteNumbers(app);
  registerRequestHooks(app);
  registerMetricsRoutes(app, deps.metrics);
  await registerRateLimit(app, deps.config.rateLimitPerMinute);
  await registerCors(app, deps.config.corsOrigins);
  await registerDocs(app, deps.version);
  await app.register(import('./modules/dashboard/dashboard.routes.js')); // GET /: the dashboard
  registerAnalyticsRoutes(app, { cache: deps.cache, isReady: deps.isReady });
  registerImportRoutes(app, deps.pool);
  await registerUploadRoutes(app, { pool: deps.pool, queue: deps.imports, config: deps.config });
  registerHealthRoutes(app, {
    pool: deps.pool,
    version: deps.version,
    importStatus: () => ({ ...deps.imports.status }),
    dataVersion: () => deps.cache.currentVersion,
    isReady: deps.isReady,
  });
  await app.ready();
  return app;
}

import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type pg from 'pg';
import type { Config } from './config.js';
import { registerDocs } from './http/docs.js';
import { registerErrorHandlers } from './http/errors.js';
import { registerRequestHooks } from './http/hooks.js';
import { registerCors } from './http/security.js';
import type { AnswerCache } from './modules/analytics/analytics.cache.js';
import { registerAnalyticsRoutes } from './modules/analytics/analytics.routes.js';
import { registerHealthRoutes, type ImportStatus } from './modules/health/health.routes.js';
import { registerImportRoutes } from './modules/importer/importer.routes.js';

export interface AppDeps {
  config: Pick<Config, 'logLevel' | 'corsOrigins'>;
  pool: pg.Pool;
  cache: AnswerCache;
  version: string;
  isReady: () => boolean;
  importStatus: () => ImportStatus;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Builds the whole HTTP application; server.ts listens with it, tests use app.inject. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    logger: { level: deps.config.logLevel },
    // hooks.ts logs one line per request, at a level that fits it.
    logController: new LogController({ disableRequestLogging: true }),
    // A caller's X-Request-Id is kept when it is sane, so logs can be joined across services.
    genReqId: (request) => {
      const given = request.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
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
  registerRequestHooks(app);
  await registerCors(app, deps.config.corsOrigins);
  await registerDocs(app, deps.version);
  registerAnalyticsRoutes(app, { cache: deps.cache, isReady: deps.isReady });
  registerImportRoutes(app, deps.pool);
  registerHealthRoutes(app, {
    pool: deps.pool,
    version: deps.version,
    importStatus: deps.importStatus,
    dataVersion: () => deps.cache.currentVersion,
    isReady: deps.isReady,
  });
  await app.ready();
  return app;
}

import { existsSync, readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { buildApp } from './app.js';
import type { Config } from './config.js';
import { openDatabase, type Database } from './db/database.js';
import { AnswerCache } from './modules/analytics/analytics.cache.js';
import { watchDataVersion } from './modules/analytics/version-watcher.js';
import { watchDataDir } from './modules/importer/data-dir-watcher.js';
import { ImportQueue } from './modules/importer/import-queue.js';
import { listImportFiles } from './modules/importer/data-file.js';
import { listStoredUploads } from './modules/importer/uploads.js';
import { startUploadSweeper } from './modules/importer/upload-sweeper.js';
import { ServiceMetrics } from './modules/metrics/metrics.js';

export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;

export interface Service {
  app: FastifyInstance;
  database: Database;
  cache: AnswerCache;
  imports: ImportQueue;
  /** Resolves when the start-up import has finished (or failed) and answers are served. */
  startupImport: Promise<void>;
  /** What close() is waiting for, while it runs: a shutdown that times out names it. */
  closingStep: string | null;
  close(): Promise<void>;
}

/** DATA_DIR's files, then stored uploads (an upload accepted before a restart is imported now). */
async function startupFiles(config: Config): Promise<string[]> {
  const data = existsSync(config.dataDir) ? await listImportFiles(config.dataDir) : [];
  return [...data, ...(await listStoredUploads(config.uploadDir))];
}

/** Opens the database, builds the app, and imports DATA_DIR in the background. Does not listen. */
export async function startService(config: Config): Promise<Service> {
  const log = pino({ level: config.logLevel });
  const database = await openDatabase(config, (message) => log.warn(message));
  const cache = new AnswerCache(database.readPool);
  const metrics = new ServiceMetrics({
    pool: database.pool,
    dataVersion: () => cache.currentVersion,
  });
  const imports = new ImportQueue({
    databaseUrl: database.url,
    batchRows: config.importBatchRows,
    bulkLoad: config.importBulkLoad,
    registryGenerationIds: config.importRegistryGenerationIds,
    settleMs: config.fileSettleMs,
    log,
    onImported: (seconds) => metrics.observeImport(seconds),
  });
  let ready = false;
  const app = await buildApp({
    config,
    log,
    pool: database.pool,
    readPool: database.readPool,
    cache,
    version: VERSION,
    isReady: () => ready,
    imports,
    metrics,
  });
  const stops: Array<() => Promise<void>> = [];

  const startupImport = (async () => {
    // Watching starts before the listing: a file that arrives while the start-up import runs is
    // queued behind it instead of falling between the listing and the watcher.
    if (config.watchDataDir && existsSync(config.dataDir)) {
      stops.push(
        await watchDataDir(
          config.dataDir,
          (file) => void imports.add([file]),
          (error) => log.warn({ err: error }, 'watching DATA_DIR failed'),
        ),
      );
    }
    const files = await startupFiles(config);
    if (files.length === 0)
      log.warn({ dataDir: config.dataDir }, 'no activities_*.csv files to import');
    await imports.add(files);
    await cache
      .refresh()
      .catch((error: unknown) => log.error({ err: error }, 'cache refresh failed'));
    ready = true;
    stops.push(startUploadSweeper(database.pool, config, log)); // not sooner: that import reads them
    // Only now: while the start-up import runs nothing is served, so rebuilding answers per batch
    // would only take time from the import.
    stops.push(
      watchDataVersion(
        database.readHostUrl,
        cache,
        (error) => log.warn({ err: error }, 'cache refresh failed'),
        { listen: database.readUrl === database.url },
      ),
    );
  })();

  const service: Service = {
    app,
    database,
    cache,
    imports,
    startupImport,
    closingStep: null,
    async close() {
      const step = async (name: string, work: Promise<unknown>): Promise<void> => {
        service.closingStep = name;
        await work;
      };
      // New requests are refused while the import stops at its next chunk; committed batches stay.
      await step(
        'stopping the import and answering the requests in flight',
        Promise.all([imports.stop(), app.close()]),
      );
      await step(
        'ending the start-up import',
        startupImport.catch(() => undefined),
      );
      await step('stopping the watchers', Promise.all(stops.map((stop) => stop())));
      await step('closing the database', database.close());
      service.closingStep = null;
    },
  };
  return service;
}

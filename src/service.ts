import { existsSync, readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.js';
import type { Config } from './config.js';
import { openDatabase, type Database } from './db/database.js';
import { AnswerCache } from './modules/analytics/analytics.cache.js';
import { watchDataVersion } from './modules/analytics/version-watcher.js';
import type { ImportStatus } from './modules/health/health.routes.js';
import { Importer, listImportFiles, type FileOutcome } from './modules/importer/importer.js';
import { importWithRetries } from './modules/importer/retry.js';

export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;

export interface Service {
  app: FastifyInstance;
  database: Database;
  cache: AnswerCache;
  /** Resolves when the start-up import has finished (or failed) and answers are served. */
  startupImport: Promise<void>;
  close(): Promise<void>;
}

/** Opens the database, builds the app, and imports DATA_DIR in the background. Does not listen. */
export async function startService(config: Config): Promise<Service> {
  const database = await openDatabase(config);
  const cache = new AnswerCache(database.pool);
  const status: ImportStatus = {
    state: 'idle',
    filesTotal: 0,
    filesDone: 0,
    rowsRead: 0,
    currentFile: null,
    startedAt: null,
    finishedAt: null,
    error: null,
  };
  let ready = false;
  const app = await buildApp({
    config,
    pool: database.pool,
    cache,
    version: VERSION,
    isReady: () => ready,
    importStatus: () => ({ ...status }),
  });
  let importer: Importer | null = null;
  let stopWatching = async (): Promise<void> => undefined;

  const startupImport = (async () => {
    status.state = 'running';
    status.startedAt = new Date().toISOString();
    try {
      const files = existsSync(config.dataDir) ? await listImportFiles(config.dataDir) : [];
      if (files.length === 0)
        app.log.warn({ dataDir: config.dataDir }, 'no activities_*.csv files to import');
      const attempt = (): Promise<FileOutcome[]> => {
        // A fresh importer per attempt: it resumes from the ledger, not from in-memory state.
        importer = new Importer(database.pool, database.url, {
          batchRows: config.importBatchRows,
          onProgress: (p) =>
            Object.assign(status, {
              filesTotal: p.filesTotal,
              filesDone: p.filesDone,
              rowsRead: p.rowsRead,
              currentFile: p.currentFile,
            }),
        });
        return importer.importFiles(files);
      };
      const outcomes = await importWithRetries(attempt, (error, waitMs) =>
        app.log.warn(
          { err: error, retryInMs: waitMs },
          'import interrupted by a database error; resuming',
        ),
      );
      for (const o of outcomes) app.log.info({ import: o }, `import ${o.status}: ${o.fileName}`);
      status.state = 'done';
    } catch (error) {
      status.state = 'failed';
      status.error = error instanceof Error ? error.message : String(error);
      app.log.error({ err: error }, 'start-up import failed; serving the last committed data');
    } finally {
      status.currentFile = null;
      status.finishedAt = new Date().toISOString();
    }
    await cache
      .refresh()
      .catch((error: unknown) => app.log.error({ err: error }, 'cache refresh failed'));
    ready = true;
    // Only now: while the start-up import runs nothing is served, so rebuilding answers per batch
    // would only take time from the import.
    stopWatching = watchDataVersion(database.url, cache, (error) =>
      app.log.warn({ err: error }, 'cache refresh failed'),
    );
  })();

  return {
    app,
    database,
    cache,
    startupImport,
    async close() {
      importer?.stop();
      await app.close();
      await startupImport.catch(() => undefined);
      await stopWatching();
      await database.close();
    },
  };
}

/**
 * Worker thread entry: runs one import (import-queue.ts starts it) and reports back. The service
 * imports here, not on its main thread, so that the event loop keeps answering while files load,
 * and so that the importer's hot code does not share (and slow) the main thread's JIT state.
 */
import { parentPort } from 'node:worker_threads';
import pg from 'pg';
import { keepClientErrorsHandled } from '../../db/pool.js';
import { serverUrl } from '../../db/servers.js';
import type { BulkLoadMode } from '../../config.js';
import { Importer } from './importer.js';
import type { FileOutcome, ImportProgress } from './import-types.js';

export interface ImportRequest {
  type: 'import';
  databaseUrl: string;
  files: string[];
  batchRows: number;
  bulkLoad?: BulkLoadMode;
  registryGenerationIds?: number;
  settleMs: number;
}

export type ToImportThread = ImportRequest | { type: 'stop' };

export type FromImportThread =
  | { type: 'progress'; progress: ImportProgress }
  | { type: 'done'; outcomes: FileOutcome[] }
  | { type: 'failed'; message: string; code?: string };

const port = parentPort;
if (!port) throw new Error('import-thread.ts runs as a worker thread');
const post = (message: FromImportThread): void => port.postMessage(message);
let importer: Importer | null = null;

port.on('message', (message: ToImportThread) => {
  if (message.type === 'stop') importer?.stop();
  else void run(message);
});

async function run(request: ImportRequest): Promise<void> {
  let pool: pg.Pool | null = null;
  try {
    // The writable host now, chosen once for the pool and the importer's own connection: after
    // a failover, the next attempt (a new thread) finds the new primary.
    const url = await serverUrl(request.databaseUrl);
    pool = new pg.Pool({ connectionString: url, max: 2 });
    keepClientErrorsHandled(pool); // a lost connection: the import reports it
    importer = new Importer(pool, url, {
      batchRows: request.batchRows,
      bulkLoad: request.bulkLoad,
      registryGenerationIds: request.registryGenerationIds,
      settleMs: request.settleMs,
      onProgress: (progress) => post({ type: 'progress', progress }),
    });
    post({ type: 'done', outcomes: await importer.importFiles(request.files) });
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    post({
      type: 'failed',
      message: error instanceof Error ? error.message : String(error),
      ...(typeof code === 'string' ? { code } : {}),
    });
  } finally {
    await pool?.end().catch(() => undefined);
  }
}

import type { Worker } from 'node:worker_threads';
import type { FastifyBaseLogger } from 'fastify';
import type { BulkLoadMode } from '../../config.js';
import type { FromImportThread, ImportRequest, ToImportThread } from './import-thread.js';
import type { FileOutcome, ImportProgress } from './importer.js';
import { importWithRetries } from './retry.js';
import { startThread } from './threads.js';

export interface ImportStatus {
  state: 'idle' | 'running' | 'done' | 'failed';
  filesTotal: number;
  filesDone: number;
  rowsRead: number;
  currentFile: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  error: string | null;
}

export interface ImportQueueOptions {
  databaseUrl: string;
  batchRows: number;
  bulkLoad?: BulkLoadMode;
  log: FastifyBaseLogger;
  /** Called when an import has finished, with its duration. */
  onImported?: (seconds: number) => void;
}

/**
 * The one way this process imports: the start-up scan, files that appear in DATA_DIR and uploads
 * all go through it, one import at a time (other processes are held off by the ledger's advisory
 * lock). A file added while an import runs is taken by the next one.
 */
export class ImportQueue {
  readonly status: ImportStatus = {
    state: 'idle',
    filesTotal: 0,
    filesDone: 0,
    rowsRead: 0,
    currentFile: null,
    startedAt: null,
    finishedAt: null,
    error: null,
  };
  private readonly pending = new Set<string>();
  private draining: Promise<void> | null = null;
  private thread: Worker | null = null;
  private stopped = false;

  constructor(private readonly options: ImportQueueOptions) {}

  /** Queues files (already queued ones once); resolves when the queue has run empty. */
  add(files: readonly string[]): Promise<void> {
    if (this.stopped) return Promise.resolve();
    for (const file of files) this.pending.add(file);
    this.draining ??= this.drain().finally(() => {
      this.draining = null;
    });
    return this.draining;
  }

  /** Stops at the next chunk; committed batches stay and the rest resumes on the next start. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.thread?.postMessage({ type: 'stop' } satisfies ToImportThread);
    await this.draining;
  }

  private async drain(): Promise<void> {
    while (this.pending.size > 0 && !this.stopped) {
      const files = [...this.pending];
      this.pending.clear();
      await this.importNow(files);
    }
  }

  private async importNow(files: string[]): Promise<void> {
    const { log } = this.options;
    const started = process.hrtime.bigint();
    Object.assign(this.status, {
      state: 'running',
      filesTotal: files.length,
      filesDone: 0,
      rowsRead: 0,
      startedAt: new Date().toISOString(),
      finishedAt: null,
      error: null,
    });
    try {
      const outcomes = await importWithRetries(
        () => this.attempt(files),
        (error, waitMs) =>
          log.warn(
            { err: error, retryInMs: waitMs },
            'import interrupted by a database error; resuming',
          ),
      );
      for (const outcome of outcomes)
        log.info({ import: outcome }, `import ${outcome.status}: ${outcome.fileName}`);
      this.status.filesDone = outcomes.length; // progress is last reported before the last file ends
      this.status.state = 'done';
    } catch (error) {
      this.status.state = 'failed';
      this.status.error = error instanceof Error ? error.message : String(error);
      log.error({ err: error }, 'import failed; serving the last committed data');
    } finally {
      this.status.currentFile = null;
      this.status.finishedAt = new Date().toISOString();
      this.options.onImported?.(Number(process.hrtime.bigint() - started) / 1e9);
    }
  }

  /** One import on a thread of its own (import-thread.ts): it resumes from the ledger. */
  private async attempt(files: string[]): Promise<FileOutcome[]> {
    // The same young generation as `npm run import` (--max-semi-space-size=4).
    const thread = startThread('import-thread', { maxYoungGenerationSizeMb: 12 });
    this.thread = thread;
    try {
      return await new Promise<FileOutcome[]>((resolve, reject) => {
        thread.on('message', (message: FromImportThread) => {
          if (message.type === 'progress') this.showProgress(message.progress);
          else if (message.type === 'done') resolve(message.outcomes);
          else reject(Object.assign(new Error(message.message), { code: message.code }));
        });
        thread.on('error', reject);
        thread.on('exit', (code) =>
          reject(new Error(`the import thread stopped (exit code ${code})`)),
        );
        const { databaseUrl, batchRows, bulkLoad } = this.options;
        const request: ImportRequest = { type: 'import', databaseUrl, files, batchRows, bulkLoad };
        thread.postMessage(request);
        if (this.stopped) thread.postMessage({ type: 'stop' } satisfies ToImportThread);
      });
    } finally {
      this.thread = null;
      thread.removeAllListeners('exit');
      await thread.terminate();
    }
  }

  private showProgress(p: ImportProgress): void {
    Object.assign(this.status, {
      filesTotal: p.filesTotal,
      filesDone: p.filesDone,
      rowsRead: p.rowsRead,
      currentFile: p.currentFile,
    });
  }
}

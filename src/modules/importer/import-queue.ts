import path from 'node:path';
import type { Worker } from 'node:worker_threads';
import type { FastifyBaseLogger } from 'fastify';
import type { BulkLoadMode } from '../../config.js';
import type { FromImportThread, ImportRequest, ToImportThread } from './import-thread.js';
import type { FileOutcome, ImportProgress } from './import-types.js';
import { failAbandonedRuns } from './importer.repository.js';
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
  registryGenerationIds?: number;
  /** Config.fileSettleMs: how long a file ending inside a line must stay unchanged. */
  settleMs: number;
  log: FastifyBaseLogger;
  /** Called when an import has finished, with its duration. */
  onImported?: (seconds: number) => void;
}

/** A file that changed while it was imported is looked at again after this long. */
const CHANGED_RECHECK_MS = 2000;

/** An error message for /health: file names only, the full text goes to the log. */
export function withoutPaths(message: string): string {
  return message.replace(/(?:[A-Za-z]:)?[\\/](?:[^\s'"\\/]+[\\/])+([^\s'"\\/]+)/g, '$1');
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
  private failedInDrain = false;
  private readonly rechecks = new Set<NodeJS.Timeout>();
  /** Aborted by stop(): ends a wait between retries. */
  private readonly stopping = new AbortController();

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
    this.stopping.abort();
    for (const timer of this.rechecks) clearTimeout(timer);
    this.thread?.postMessage({ type: 'stop' } satisfies ToImportThread);
    await this.draining;
  }

  private async drain(): Promise<void> {
    this.failedInDrain = false;
    this.status.error = null;
    while (this.pending.size > 0 && !this.stopped) {
      const files = [...this.pending];
      this.pending.clear();
      await this.importNow(files);
    }
    // A failure earlier in this drain stays visible after the files behind it were imported.
    if (this.failedInDrain) this.status.state = 'failed';
  }

  /** Files that changed under their import: looked at again once they had time to settle. */
  private recheckLater(files: string[]): void {
    if (files.length === 0 || this.stopped) return;
    const timer = setTimeout(() => {
      this.rechecks.delete(timer);
      void this.add(files);
    }, CHANGED_RECHECK_MS);
    timer.unref();
    this.rechecks.add(timer);
  }

  /**
   * One file's failure must not hold back the files after it: the import goes on without it, and
   * a run its dead thread left 'running' is marked failed.
   */
  private async setAside(files: string[], fileName: string | null, message: string): Promise<void> {
    if (fileName === null) return;
    await failAbandonedRuns(this.options.databaseUrl, fileName, message).catch((error: unknown) =>
      this.options.log.warn({ err: error }, 'could not mark the run failed'),
    );
    const rest = files.filter((f) => path.basename(f) !== fileName);
    if (rest.length < files.length) for (const file of rest) this.pending.add(file);
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
    });
    try {
      const outcomes = await importWithRetries(
        () => this.attempt(files),
        (error, waitMs) =>
          log.warn(
            { err: error, retryInMs: waitMs },
            'import interrupted by a database error; resuming',
          ),
        this.stopping.signal,
      );
      for (const outcome of outcomes)
        log.info({ import: outcome }, `import ${outcome.status}: ${outcome.fileName}`);
      this.status.filesDone = outcomes.length; // progress is last reported before the last file ends
      this.status.state = 'done';
      const changed = new Set(
        outcomes.filter((o) => o.status === 'changed').map((o) => o.fileName),
      );
      this.recheckLater(files.filter((f) => changed.has(path.basename(f))));
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const failedFile = this.status.currentFile;
      this.status.state = 'failed';
      this.status.error = withoutPaths(failedFile ? `${failedFile}: ${message}` : message);
      this.failedInDrain = true;
      log.error({ err: error, file: failedFile }, 'import failed; serving the last committed data');
      if (!this.stopped) await this.setAside(files, failedFile, `import failed: ${message}`);
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
        const { databaseUrl, batchRows, bulkLoad, registryGenerationIds, settleMs } = this.options;
        const request: ImportRequest = {
          type: 'import',
          databaseUrl,
          files,
          batchRows,
          bulkLoad,
          registryGenerationIds,
          settleMs,
        };
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

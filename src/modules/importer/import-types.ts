import type { BulkLoadMode } from '../../config.js';
import type { RunCounts } from './importer.repository.js';

/** The types an import is driven and reported with (importer.ts, its thread, queue and CLI). */

export interface FileOutcome extends RunCounts {
  runId: number | null;
  fileName: string;
  status: 'done' | 'rejected' | 'failed' | 'skipped' | 'changed';
  message: string | null;
}

export interface ImportProgress {
  filesTotal: number;
  filesDone: number;
  currentFile: string | null;
  rowsRead: number;
  bytesRead: number;
  bytesTotal: number;
}

export interface ImportOptions {
  /** Rows per committed transaction: a checkpoint of the ledger. */
  batchRows: number;
  /** Rows per COPY batch inside a transaction (default 50 000, at most batchRows). */
  copyBatchRows?: number;
  /** Ids in a generation of the id registry before it is sealed (id-registry.ts); tests make it small. */
  registryGenerationIds?: number;
  /** Default auto: a bulk load when the files are large next to the stored facts. */
  bulkLoad?: BulkLoadMode;
  /**
   * How long a file that ends inside a line must stay unchanged before that line is taken: until
   * then it may be a writer's pause, and a cut row must never be stored (Config.fileSettleMs).
   */
  settleMs: number;
  onProgress?: (progress: ImportProgress) => void;
  /** Called at each ImportCheckpoint; the fault-injection tests kill the process there. */
  checkpoint?: (point: ImportCheckpoint) => Promise<void>;
}

/** Points of an import where a crash leaves a distinct state, for the fault-injection tests. */
export type ImportCheckpoint =
  | 'file-start' // between two files
  | 'commit-begin' // a batch sealed, nothing of it sent
  | 'partition-attached' // a new month's partition attached, its first rows not copied
  | 'copy-midstream' // half a batch handed to the socket, inside the COPY
  | 'ledger-pending' // facts and rollups written, ledger not
  | 'committed' // committed, this process not told yet
  | 'bulk-settle' // a bulk load's settling done but its commit
  | 'registry-sealed'; // the id registry's newest generation sealed and the next begun, not committed

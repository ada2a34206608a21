import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import { isUtf8 } from 'node:buffer';
import path from 'node:path';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import type { Writable } from 'node:stream';
import pg from 'pg';
import { BinaryCopyEncoder } from './binary-copy.js';
import { BatchRows, computeRollupDelta, type RollupDelta } from './batch-rollups.js';
import {
  CsvRecordSplitter,
  cutToBytes,
  MAX_RECORD_BYTES,
  splitFirstRecord,
  type RecordSink,
} from './csv-records.js';
import { inTransaction } from '../../db/pool.js';
import * as repo from './importer.repository.js';
import {
  judgeRow,
  resolveHeader,
  WARNING_KINDS,
  type ColumnMap,
  type RejectReason,
  type WarningKind,
} from './row-rules.js';

export const FILE_PATTERN = /^activities_.*\.csv$/;
const READ_CHUNK_BYTES = 1 << 20;
const COPY_FLUSH_BYTES = 512 * 1024;
const MAX_PENDING_REJECT_BYTES = 8 << 20;

export interface FileOutcome {
  runId: number | null;
  fileName: string;
  status: 'done' | 'rejected' | 'failed' | 'skipped';
  rowsRead: number;
  rowsInserted: number;
  rowsDuplicate: number;
  rowsRejected: number;
  rejectsByReason: Record<string, number>;
  warningsByKind: Record<string, number>;
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
  batchRows: number;
  onProgress?: (progress: ImportProgress) => void;
  /** Called after every committed batch with the new data version. */
  onCommit?: (version: number) => void;
}

/** The `activities_*.csv` files of a folder in file-name order, or the one file given. */
export async function listImportFiles(target: string): Promise<string[]> {
  const info = await stat(target);
  if (info.isFile()) return [path.resolve(target)];
  const names = (await readdir(target)).filter((n) => FILE_PATTERN.test(n)).sort();
  return names.map((n) => path.resolve(target, n));
}

async function hashFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: READ_CHUNK_BYTES }))
    hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** One file's run: counters as committed, plus the pending part of the open batch. */
class RunState implements repo.RunProgress {
  status: repo.RunStatus = 'running';
  rowsRead = 0;
  rowsInserted = 0;
  rowsDuplicate = 0;
  rowsRejected = 0;
  rejectsByReason: Record<string, number> = {};
  warningsByKind: Record<string, number> = {};
  bytesCommitted = 0;
  nextLine = 2;
  message: string | null = null;

  constructor(
    readonly id: number,
    readonly fileName: string,
  ) {}

  static resume(run: repo.RunRecord): RunState {
    const state = new RunState(run.id, run.fileName);
    Object.assign(state, {
      rowsRead: run.rowsRead,
      rowsInserted: run.rowsInserted,
      rowsDuplicate: run.rowsDuplicate,
      rowsRejected: run.rowsRejected,
      rejectsByReason: { ...run.rejectsByReason },
      warningsByKind: { ...run.warningsByKind },
      bytesCommitted: run.bytesCommitted,
      nextLine: run.nextLine,
    });
    return state;
  }

  snapshot(): repo.RunProgress {
    return {
      ...this,
      rejectsByReason: { ...this.rejectsByReason },
      warningsByKind: { ...this.warningsByKind },
    };
  }

  outcome(status: FileOutcome['status']): FileOutcome {
    return {
      runId: this.id,
      fileName: this.fileName,
      status,
      rowsRead: this.rowsRead,
      rowsInserted: this.rowsInserted,
      rowsDuplicate: this.rowsDuplicate,
      rowsRejected: this.rowsRejected,
      rejectsByReason: this.rejectsByReason,
      warningsByKind: this.warningsByKind,
      message: this.message,
    };
  }
}

function increment(counts: Record<string, number>, key: string, by = 1): void {
  counts[key] = (counts[key] ?? 0) + by;
}

/** Remembers rollup presence keys this process has committed, to skip re-inserting them. */
class KnownPresence {
  private readonly sets = new Map<string, Set<number>>();
  private static readonly LIMIT = 2_000_000; // entries per set; cleared past it (only an optimisation)

  filter(name: string, keys: Set<number>): Set<number> {
    const known = this.sets.get(name);
    if (!known) return keys;
    const fresh = new Set<number>();
    for (const k of keys) if (!known.has(k)) fresh.add(k);
    return fresh;
  }

  remember(name: string, keys: Set<number>): void {
    let known = this.sets.get(name);
    if (!known || known.size + keys.size > KnownPresence.LIMIT) {
      known = new Set();
      this.sets.set(name, known);
    }
    for (const k of keys) known.add(k);
  }
}

type PresenceField =
  'productMerchants' | 'productMonthMerchants' | 'kycMerchants' | 'kycMonthMerchants';
const PRESENCE_FIELDS: PresenceField[] = [
  'productMerchants',
  'productMonthMerchants',
  'kycMerchants',
  'kycMonthMerchants',
];

/**
 * Imports files in order through one connection that holds the import lock. Rows are parsed and
 * validated here, streamed to PostgreSQL in binary COPY while parsing goes on, and committed in
 * batches that span files: each commit carries the facts, the rollup deltas, the rejects and the
 * ledger progress of every file in the batch, so an interruption leaves everything consistent and
 * the next run resumes after the last commit.
 */
export class Importer implements RecordSink {
  private client!: pg.Client;
  private readonly rows: BatchRows;
  private readonly encoder = new BinaryCopyEncoder();
  private readonly batchIds = new Set<string>();
  private readonly known = new KnownPresence();
  private batchRuns: RunState[] = [];
  private rejects: repo.RejectRecord[] = [];
  private rejectBytes = 0;
  private copy: Writable | null = null;
  private copyError: Error | null = null;
  private stopRequested = false;
  private current: { run: RunState; slot: number; columns: ColumnMap } | null = null;
  private progress: ImportProgress = {
    filesTotal: 0,
    filesDone: 0,
    currentFile: null,
    rowsRead: 0,
    bytesRead: 0,
    bytesTotal: 0,
  };

  constructor(
    private readonly pool: pg.Pool,
    private readonly databaseUrl: string,
    private readonly options: ImportOptions,
  ) {
    this.rows = new BatchRows(options.batchRows);
  }

  /** Asks a running import to stop at the next chunk; committed batches stay, the rest resumes later. */
  stop(): void {
    this.stopRequested = true;
  }

  async importFiles(files: string[]): Promise<FileOutcome[]> {
    this.client = new pg.Client({ connectionString: this.databaseUrl });
    this.client.on('error', (error) => {
      this.copyError ??= error;
    });
    await this.client.connect();
    try {
      await repo.acquireImportLock(this.client);
      await repo.prepareImportSession(this.client);
      const sizes = await Promise.all(files.map(async (f) => (await stat(f)).size));
      this.progress = {
        ...this.progress,
        filesTotal: files.length,
        bytesTotal: sizes.reduce((a, b) => a + b, 0),
      };
      const outcomes: Array<FileOutcome | RunState> = [];
      for (const file of files) outcomes.push(await this.importOne(file));
      await this.commitBatch();
      return outcomes.map((o) => (o instanceof RunState ? o.outcome('done') : o));
    } catch (error) {
      await this.abandonBatch(error);
      throw error;
    } finally {
      await this.client.end().catch(() => undefined);
    }
  }

  private async importOne(file: string): Promise<FileOutcome | RunState> {
    const fileName = path.basename(file);
    this.progress.currentFile = fileName;
    this.report();
    const info = await stat(file);
    const runs = await repo.runsForFile(this.pool, fileName);
    const unchanged = runs.find(
      (r) =>
        (r.status === 'done' || r.status === 'rejected') &&
        r.fileSize === info.size &&
        r.fileMtime?.getTime() === info.mtime.getTime(),
    );
    const skip = (run: repo.RunRecord): FileOutcome => {
      this.progress.filesDone += 1;
      this.progress.bytesRead += info.size;
      return {
        ...RunState.resume(run).outcome('skipped'),
        message: `unchanged since run ${run.id}`,
      };
    };
    if (unchanged) return skip(unchanged);
    const hash = await hashFile(file);
    const sameContent = runs.find(
      (r) => r.fileHash === hash && (r.status === 'done' || r.status === 'rejected'),
    );
    if (sameContent) return skip(sameContent);

    const header = await readHeader(file);
    const resumable = runs.find(
      (r) => r.fileHash === hash && (r.status === 'running' || r.status === 'failed'),
    );
    for (const stale of runs.filter((r) => r.status === 'running' && r !== resumable)) {
      await repo.setRunStatus(
        this.pool,
        stale.id,
        'failed',
        'file changed before this run finished',
      );
    }
    if (!header.ok) {
      const id = await repo.createRun(this.pool, {
        fileName,
        fileSize: info.size,
        fileMtime: info.mtime,
        fileHash: hash,
        status: 'rejected',
        bytesCommitted: 0,
        nextLine: 1,
        message: header.message,
      });
      this.progress.filesDone += 1;
      this.progress.bytesRead += info.size;
      return { ...new RunState(id, fileName).outcome('rejected'), message: header.message };
    }
    let run: RunState;
    if (resumable) {
      run = RunState.resume(resumable);
      await repo.setRunStatus(this.pool, run.id, 'running', null);
    } else {
      const id = await repo.createRun(this.pool, {
        fileName,
        fileSize: info.size,
        fileMtime: info.mtime,
        fileHash: hash,
        status: 'running',
        bytesCommitted: header.bytes,
        nextLine: header.nextLine,
      });
      run = new RunState(id, fileName);
      run.bytesCommitted = header.bytes;
      run.nextLine = header.nextLine;
    }
    await this.streamFile(file, run, header.columns);
    this.progress.filesDone += 1;
    this.report();
    return run;
  }

  private async streamFile(file: string, run: RunState, columns: ColumnMap): Promise<void> {
    this.batchRuns.push(run);
    this.current = { run, slot: this.batchRuns.length - 1, columns };
    const base = run.bytesCommitted;
    const splitter = new CsvRecordSplitter(this, run.nextLine);
    const input = createReadStream(file, { start: base, highWaterMark: READ_CHUNK_BYTES });
    for await (const chunk of input) {
      await this.ensureCopy();
      splitter.push(chunk as Buffer);
      this.progress.bytesRead += (chunk as Buffer).length;
      await this.writeEncoded(false);
      if (splitter.atRecordBoundary) {
        run.bytesCommitted = base + splitter.consumedBytes;
        run.nextLine = splitter.line;
        if (this.rows.full || this.rejectBytes > MAX_PENDING_REJECT_BYTES) {
          await this.commitBatch();
          this.batchRuns.push(run);
          this.current = { run, slot: 0, columns };
        }
      }
      this.report();
    }
    await this.ensureCopy();
    splitter.end();
    run.bytesCommitted = base + splitter.consumedBytes;
    run.nextLine = splitter.line;
    run.status = 'done';
    this.current = null;
  }

  // RecordSink: called synchronously by the splitter for every record of the current file.
  record(fields: string[], line: number, raw: string): void {
    const { run, slot, columns } = this.current as {
      run: RunState;
      slot: number;
      columns: ColumnMap;
    };
    run.rowsRead += 1;
    this.progress.rowsRead += 1;
    const verdict = judgeRow(fields, columns);
    if (!verdict.ok) {
      this.reject(run, verdict.reason, line, raw);
      return;
    }
    const row = verdict.row;
    if (this.batchIds.has(row.eventId)) {
      run.rowsDuplicate += 1;
      return;
    }
    this.batchIds.add(row.eventId);
    let mask = 0;
    for (const w of row.warnings) mask |= 1 << WARNING_KINDS.indexOf(w);
    const ord = this.rows.add(row, mask, slot);
    this.encoder.row(ord, row, run.id);
  }

  problem(reason: RejectReason, line: number, raw: string): void {
    const { run } = this.current as { run: RunState };
    run.rowsRead += 1;
    this.progress.rowsRead += 1;
    this.reject(run, reason, line, raw);
  }

  private reject(run: RunState, reason: RejectReason, line: number, raw: string): void {
    run.rowsRejected += 1;
    increment(run.rejectsByReason, reason);
    const cut = cutToBytes(raw);
    this.rejects.push({ runId: run.id, line, reason, raw: cut });
    this.rejectBytes += cut.length + 32;
  }

  private async ensureCopy(): Promise<void> {
    if (this.stopRequested)
      throw new Error('import stopped by shutdown; it resumes on the next start');
    if (this.copyError) throw this.copyError;
    if (this.copy) return;
    await this.client.query('BEGIN');
    this.copy = repo.openStageCopy(this.client);
    this.copy.on('error', (error: Error) => {
      this.copyError ??= error;
    });
    this.encoder.header();
  }

  private async writeEncoded(final: boolean): Promise<void> {
    const copy = this.copy;
    if (!copy) return;
    if (final) this.encoder.trailer();
    if (this.encoder.length < COPY_FLUSH_BYTES && !final) return;
    if (!copy.write(this.encoder.take()))
      await Promise.race([once(copy, 'drain'), once(copy, 'error')]);
    if (this.copyError) throw this.copyError;
  }

  /** Ends the COPY, merges, applies rollups, saves rejects and ledger progress, and commits. */
  private async commitBatch(): Promise<void> {
    if (!this.copy) {
      if (this.batchRuns.length > 0) await this.commitLedgerOnly();
      return;
    }
    await this.writeEncoded(true);
    const copy = this.copy;
    copy.end();
    await finished(copy);
    if (this.copyError) throw this.copyError;
    this.copy = null;
    const duplicates = await repo.mergeStage(this.client, this.rows.count);
    for (const ord of duplicates) this.rows.duplicate[ord] = 1;
    this.countStagedRows();
    const delta = computeRollupDelta(this.rows);
    const fresh = this.freshPresence(delta);
    await repo.applyRollups(this.client, fresh);
    await repo.insertRejects(this.client, this.rejects);
    for (const run of this.batchRuns) await repo.saveRunProgress(this.client, run.snapshot());
    const version = await repo.bumpDataVersion(this.client);
    await this.client.query('COMMIT');
    for (const field of PRESENCE_FIELDS) this.known.remember(field, fresh[field]);
    this.resetBatch();
    this.options.onCommit?.(version);
  }

  private async commitLedgerOnly(): Promise<void> {
    await inTransaction(this.client, async () => {
      for (const run of this.batchRuns) await repo.saveRunProgress(this.client, run.snapshot());
    });
    this.resetBatch();
  }

  private freshPresence(delta: RollupDelta): RollupDelta {
    const fresh = { ...delta };
    for (const field of PRESENCE_FIELDS) fresh[field] = this.known.filter(field, delta[field]);
    return fresh;
  }

  /** Splits the staged rows of the batch between inserted and duplicate, per file, with warnings. */
  private countStagedRows(): void {
    const rows = this.rows;
    for (let i = 0; i < rows.count; i++) {
      const run = this.batchRuns[rows.fileSlot[i] as number] as RunState;
      if (rows.duplicate[i] === 1) {
        run.rowsDuplicate += 1;
        continue;
      }
      run.rowsInserted += 1;
      const mask = rows.warnings[i] as number;
      if (mask === 0) continue;
      WARNING_KINDS.forEach((kind: WarningKind, bit) => {
        if (mask & (1 << bit)) increment(run.warningsByKind, kind);
      });
    }
  }

  private resetBatch(): void {
    this.rows.reset();
    this.batchIds.clear();
    this.rejects = [];
    this.rejectBytes = 0;
    this.batchRuns = [];
  }

  /** On failure the open transaction rolls back; the ledger keeps the last committed progress. */
  private async abandonBatch(error: unknown): Promise<void> {
    this.copy?.destroy();
    this.copy = null;
    await this.client.query('ROLLBACK').catch(() => undefined);
    const message = error instanceof Error ? error.message : String(error);
    for (const run of this.batchRuns) {
      await repo
        .setRunStatus(this.pool, run.id, 'failed', `import failed: ${message}`)
        .catch(() => undefined);
    }
    this.resetBatch();
  }

  private report(): void {
    this.options.onProgress?.({ ...this.progress });
  }
}

type HeaderResult =
  | { ok: true; columns: ColumnMap; bytes: number; nextLine: number }
  | { ok: false; message: string };

/** Reads the header record (after a BOM and blank lines) and finds where the data starts. */
export async function readHeader(file: string): Promise<HeaderResult> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(MAX_RECORD_BYTES + 4096);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    let bytes = buffer.subarray(0, bytesRead);
    const bom = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
    bytes = bytes.subarray(bom);
    const atEnd = bytesRead < buffer.length;
    // Decode only up to the last complete line, so a multi-byte character is never cut.
    const lastNewline = bytes.lastIndexOf(10);
    const usable = atEnd ? bytes : bytes.subarray(0, lastNewline + 1);
    const first = splitFirstRecord(usable.toString('latin1'), atEnd);
    if (!first) {
      return {
        ok: false,
        message: atEnd
          ? 'the file is empty: no header line'
          : 'the header line is longer than 64 KiB',
      };
    }
    if (!isUtf8(usable.subarray(0, first.end)))
      return { ok: false, message: 'the header is not valid UTF-8' };
    const header = splitFirstRecord(usable.subarray(0, first.end).toString('utf8'), true);
    const verdict = resolveHeader(header?.fields ?? []);
    if (!verdict.ok)
      return { ok: false, message: `missing required column(s): ${verdict.missing.join(', ')}` };
    return { ok: true, columns: verdict.columns, bytes: bom + first.end, nextLine: first.line + 1 };
  } finally {
    await handle.close();
  }
}

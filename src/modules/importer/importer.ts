import type { Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { serverUrl } from '../../db/servers.js';
import { UUID_OFFSET_IN_ROW } from './binary-copy.js';
import {
  addCounts,
  Batch,
  countWarnings,
  findUnchangedRun,
  increment,
  KnownPresence,
  OpenTransaction,
  PRESENCE_FIELDS,
  RunState,
  UnregisteredIds,
  type CurrentFile,
  type RunSlice,
} from './import-state.js';
import { UuidBloom, UuidSet } from './uuid-set.js';
import { MonthPartitions } from './month-partitions.js';
import { emptyRowFacts, type RowFacts } from './batch-rollups.js';
import { cutToBytes } from './csv-records.js';
import * as repo from './importer.repository.js';
import { FileParser } from './file-parser.js';
import { expectedIds, settleBulkLoad, shouldBulkLoad, startBulkLoad } from './bulk-load.js';
import { DEFAULT_GENERATION_IDS, IdRegistry } from './id-registry.js';
import { loadFacts, type ParsedChunk } from './parsed-chunk.js';
import { hashFile, judgeEnd, readHeader, statOrNull, type ChunkPosition } from './data-file.js';
import type { FileOutcome, ImportOptions, ImportProgress } from './import-types.js';
import { judgeRow, WARNING_KINDS, type ColumnMap, type RejectReason } from './row-rules.js';

const RECENT_BATCHES = 4;
/** The most ids a transaction holds back from the registry before a registry pass. */
const REGISTRY_PASS_IDS = 1_000_000;
/**
 * Rows a batch buffers before its COPY; a transaction (a checkpoint, ImportOptions.batchRows)
 * takes several batches. The buffers are the importer's largest (~12 MB a batch).
 */
const COPY_BATCH_ROWS = 50_000;
/**
 * Sealed batches that may wait for the database while the next one fills, so that the parser and
 * this thread keep working while a commit's rollup upserts hold the connection.
 */
const WRITE_AHEAD_BATCHES = 3;
/** A held reject's heap cost beyond its text (object, strings' headers): bounds a batch of short lines. */
const REJECT_OVERHEAD_BYTES = 128;
/** Runs that did not reach the end of their file: the next import of the file may continue one. */
const UNFINISHED: repo.RunStatus[] = ['running', 'failed', 'changed'];
const STOPPED_MESSAGE = 'import stopped by shutdown; it resumes on the next start';
/** Names the importer's session in pg_stat_activity (operators and tests can find it). */
export const IMPORTER_APPLICATION_NAME = 'activities-importer';

type RunCounts = repo.RunCounts;

/**
 * Imports files in order through one connection that holds the import lock. A parser thread
 * (FileParser) reads, splits and encodes the rows; this thread admits them in file order
 * (duplicates, rows the general rules must judge) into batches that are copied while the next
 * is filled. Batches (spanning small files, or cutting big ones) are committed in transactions of
 * `batchRows` rows: the facts, their ids (one sorted pass into the registry's newest generation),
 * the rollup deltas, the rejects and the ledger progress of every file in them. An interruption
 * leaves everything consistent and the next run resumes after the last commit. Large imports are
 * bulk loads: ids staged unkeyed, keyed as the registry's next generation at the end.
 */
export class Importer {
  private client!: pg.Client;
  private batch: Batch;
  /** Batches ready to be filled again. */
  private readonly free: Batch[];
  /**
   * Sealed batches not written yet, oldest first, each with the end of its write. Writes run one
   * after another, in the order batches were sealed; a failed one stays here, for abandon().
   */
  private readonly writing: Array<{ batch: Batch; written: Promise<void> }> = [];
  /**
   * Event ids of the open batch ([0]) and the last few sealed ones: catches duplicates of
   * recent rows in memory, so the database rarely has to refuse one (which costs a second COPY).
   */
  private readonly recentIds: UuidSet[];
  /** Every id admitted while files are read (importFiles sizes it); null once they all are. */
  private staged: UuidBloom | null = null;
  private readonly known = new KnownPresence();
  private readonly unregistered = new UnregisteredIds();
  private registry!: IdRegistry;
  private readonly partitions: MonthPartitions;
  private connectionError: Error | null = null;
  private expectStoredDuplicates = false;
  private bulk = false;
  /** Batches written but not committed yet. */
  private open: OpenTransaction | null = null;
  private stopRequested = false;
  private current: CurrentFile | null = null;
  private parser: FileParser | null = null;
  private readonly copyBatchRows: number;
  private readonly chunkFacts = emptyRowFacts();
  /** The 'copy-midstream' checkpoint, when a test asked for checkpoints. */
  private readonly midstream: (() => Promise<void>) | undefined;
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
    this.copyBatchRows = Math.min(options.batchRows, options.copyBatchRows ?? COPY_BATCH_ROWS);
    const checkpoint = options.checkpoint;
    this.midstream = checkpoint && (() => checkpoint('copy-midstream'));
    this.partitions = new MonthPartitions(checkpoint && (() => checkpoint('partition-attached')));
    this.batch = new Batch(this.copyBatchRows);
    this.free = Array.from({ length: WRITE_AHEAD_BATCHES }, () => new Batch(this.copyBatchRows));
    this.recentIds = Array.from({ length: RECENT_BATCHES }, () => new UuidSet(0));
  }

  /** Asks a running import to stop at the next chunk; committed batches stay, the rest resumes later. */
  stop(): void {
    this.stopRequested = true;
    this.parser?.cancel(new Error(STOPPED_MESSAGE)); // it may be waiting for a file to settle
  }

  async importFiles(files: string[]): Promise<FileOutcome[]> {
    this.client = new pg.Client({
      connectionString: await serverUrl(this.databaseUrl),
      application_name: IMPORTER_APPLICATION_NAME,
    });
    this.client.on('error', (error) => {
      this.connectionError ??= error;
    });
    await this.client.connect();
    try {
      await repo.acquireImportLock(this.client);
      await repo.prepareImportSession(this.client);
      this.registry = await IdRegistry.open(
        this.client,
        this.pool,
        this.options.registryGenerationIds ?? DEFAULT_GENERATION_IDS,
      );
      // A file gone since it was listed fails on its own turn, not before the others.
      const sizes = await Promise.all(files.map(async (f) => (await statOrNull(f))?.size ?? 0));
      this.progress = {
        ...this.progress,
        filesTotal: files.length,
        bytesTotal: sizes.reduce((a, b) => a + b, 0),
      };
      this.bulk = await shouldBulkLoad(this.client, this.pool, files, sizes, this.options.bulkLoad);
      this.staged = new UuidBloom(this.bulk ? await expectedIds(this.client, sizes) : 0);
      if (this.bulk) await startBulkLoad(this.client, this.staged);
      const outcomes = await this.importAll(files);
      this.staged = null; // up to 64 MiB, not needed to settle and seal
      if (this.bulk) {
        const settled = await settleBulkLoad(
          this.client,
          this.registry,
          this.partitions,
          this.copyBatchRows,
          this.options.checkpoint,
        );
        this.bulk = false;
        await this.sealRegistryIfFull();
        for (const o of outcomes) {
          const delta = settled.get(o instanceof RunState ? o.id : (o.runId ?? -1));
          if (delta) addCounts(o instanceof RunState ? o.committed : o, delta);
        }
      }
      return outcomes.map((o) => (o instanceof RunState ? endOutcome(o) : o));
    } catch (error) {
      await this.abandon(error);
      throw error;
    } finally {
      await this.parser?.close();
      this.parser = null;
      await this.client.end().catch(() => undefined);
    }
  }

  /**
   * Imports the files in order. When a transaction's registry pass finds an id stored (an event
   * stored by an earlier import, which this one had no reason to look up), that transaction rolls
   * back and its files continue from their last commit, every id now looked up before it is
   * copied.
   */
  private async importAll(files: string[]): Promise<Array<FileOutcome | RunState>> {
    const opened: Array<FileOutcome | OpenedRun> = [];
    const progressAt: ImportProgress[] = [];
    /** What each file passed over (skipped, header rejected) added to the progress's bytes. */
    const passedBytes: number[] = [];
    const outcomes: Array<FileOutcome | RunState> = [];
    for (;;) {
      try {
        for (let i = outcomes.length; i < files.length; i++) {
          const file = files[i] as string;
          progressAt[i] ??= { ...this.progress };
          const again = opened[i] !== undefined;
          const one = (opened[i] ??= await this.openRun(file));
          if (!(one instanceof OpenedRun)) {
            passedBytes[i] ??=
              this.progress.bytesRead - (progressAt[i] as ImportProgress).bytesRead;
            if (again) {
              this.progress.filesDone += 1;
              this.progress.bytesRead += passedBytes[i] as number;
            }
            outcomes.push(one);
            continue;
          }
          await this.streamRun(file, one);
          outcomes.push(one.run);
        }
        // Every file is read: the parser thread is not kept through the last commit (a refusal
        // there starts a new one).
        await this.parser?.close();
        this.parser = null;
        await this.sealBatch(true);
        await this.lastWrite();
        return outcomes;
      } catch (error) {
        if (!(error instanceof RegistryRefusedId) || this.expectStoredDuplicates) throw error;
        await this.rollBackToLookUpEveryId();
        const unfinished = outcomes.findIndex((o) => o instanceof RunState && !o.done);
        if (unfinished >= 0) outcomes.length = unfinished;
        this.progress = { ...(progressAt[outcomes.length] ?? this.progress) };
      }
    }
  }

  /**
   * After a refusal at a registry pass: the open transaction rolled back, the batches and parser
   * dropped, and from now on every id looked up before it is copied.
   */
  private async rollBackToLookUpEveryId(): Promise<void> {
    await Promise.allSettled(this.writing.map((w) => w.written));
    await this.client.query('ROLLBACK');
    this.partitions.afterRollback();
    this.open = null;
    this.unregistered.clear();
    for (const { batch } of this.writing.splice(0)) this.free.push(batch);
    this.batch.reset();
    for (const ids of this.recentIds) ids.clear();
    await this.parser?.close();
    this.parser = null;
    this.current = null;
    this.expectStoredDuplicates = true;
  }

  /** Checks the file against the ledger: an outcome when it is not to be read, else its run. */
  private async openRun(file: string): Promise<FileOutcome | OpenedRun> {
    const fileName = path.basename(file);
    this.progress.currentFile = fileName;
    this.report();
    const info = await stat(file);
    const finish = (outcome: FileOutcome): FileOutcome => {
      this.progress.filesDone += 1;
      this.progress.bytesRead += info.size;
      return outcome;
    };
    if (!info.isFile()) {
      const skipped = new RunState(0, fileName).outcome('skipped', 'not a regular file: not read');
      return finish({ ...skipped, runId: null });
    }
    const runs = await repo.runsForFile(this.pool, fileName);
    const skip = (run: repo.RunRecord): FileOutcome =>
      finish(RunState.resume(run).outcome('skipped', `unchanged since run ${run.id}`));
    // A queued upload was accepted with its own ledger row: it is imported even when the same
    // content arrived before (its rows then count as duplicates), so every accepted upload ends.
    const queued = runs.some((r) => r.status === 'queued');
    const unchanged = findUnchangedRun(runs, info);
    if (unchanged && !queued) return skip(unchanged);
    const hash = await hashFile(file);
    const finished = (r: repo.RunRecord): boolean => r.status === 'done' || r.status === 'rejected';
    const queuedRun = runs.find((r) => r.fileHash === hash && r.status === 'queued');
    const sameContent = runs.find((r) => r.fileHash === hash && finished(r));
    if (sameContent && !queuedRun) return skip(sameContent);

    const header = await readHeader(file);
    const identity = { fileName, fileSize: info.size, fileMtime: info.mtime, fileHash: hash };
    if (!header.ok) {
      const id =
        queuedRun?.id ??
        (await repo.createRun(this.pool, {
          ...identity,
          status: 'rejected',
          bytesCommitted: 0,
          nextLine: 1,
          message: header.message,
        }));
      if (queuedRun) await repo.setRunStatus(this.pool, id, 'rejected', header.message);
      return finish(new RunState(id, fileName).outcome('rejected', header.message));
    }
    const resumable = queuedRun ?? (await this.findResumableRun(file, runs, hash, header.bytes));
    let run: RunState;
    if (resumable) {
      run = RunState.resume(resumable);
      await repo.setRunStatus(this.pool, run.id, 'running', null);
    } else {
      const id = await repo.createRun(this.pool, {
        ...identity,
        status: 'running',
        bytesCommitted: header.bytes,
        nextLine: header.nextLine,
      });
      run = new RunState(id, fileName);
    }
    // Nothing but the header committed yet (a queued upload, or one interrupted before its
    // first commit): the data starts after the header.
    if (run.bytesCommitted < header.bytes) {
      run.bytesCommitted = header.bytes;
      run.nextLine = header.nextLine;
      run.committedHash = null;
    }
    await this.markSuperseded(runs, resumable, run.id);
    await this.options.checkpoint?.('file-start');
    // An accepted upload is whole (the service wrote it): a last line without its line break is
    // read at once, not after FILE_SETTLE_MS.
    const settleMs = queuedRun ? 0 : this.options.settleMs;
    return new OpenedRun(run, header.columns, { info, hash }, settleMs);
  }

  /** Reads the run's file from its last commit on. */
  private async streamRun(file: string, opened: OpenedRun): Promise<void> {
    this.progress.currentFile = opened.run.fileName;
    await this.streamFile(file, opened.run, opened.columns, opened.before, opened.settleMs);
    this.progress.filesDone += 1;
    this.report();
  }

  /**
   * The unfinished run of this file to continue: the latest one whose committed bytes the file
   * still starts with (a writer that appended, or rewrote the same content). Runs from before
   * committed_hash existed are matched by the whole file's hash, as they were.
   */
  private async findResumableRun(
    file: string,
    runs: repo.RunRecord[],
    hash: string,
    headerBytes: number,
  ): Promise<repo.RunRecord | undefined> {
    const latest = runs.find((r) => UNFINISHED.includes(r.status));
    if (!latest) return undefined;
    if (latest.bytesCommitted <= headerBytes) return latest;
    if (latest.committedHash === null) return latest.fileHash === hash ? latest : undefined;
    const prefix = await hashFile(file, latest.bytesCommitted);
    return prefix === latest.committedHash ? latest : undefined;
  }

  /** Unfinished runs of the file not continued: their rows stay, the ledger says what replaced them. */
  private async markSuperseded(
    runs: repo.RunRecord[],
    continued: repo.RunRecord | undefined,
    runId: number,
  ): Promise<void> {
    const message = `the file changed after this run committed part of it; run ${runId} imports it anew`;
    for (const stale of runs) {
      if (stale === continued || !UNFINISHED.includes(stale.status)) continue;
      await repo.setRunStatus(this.pool, stale.id, 'changed', message);
    }
  }

  private async streamFile(
    file: string,
    run: RunState,
    columns: ColumnMap,
    before: { info: Stats; hash: string },
    settleMs: number,
  ): Promise<void> {
    this.current = { run, columns };
    const base = run.bytesCommitted;
    const markEnd = (at: Omit<ChunkPosition, 'shrank'>, endsFile: boolean): void => {
      const slice = this.batch.slice(run);
      slice.endBytes = base + at.consumedBytes;
      slice.endHash = at.digest;
      slice.endLine = at.line;
      slice.endsFile = endsFile;
    };
    markEnd({ consumedBytes: 0, line: run.nextLine, digest: run.committedHash ?? '' }, false);
    this.parser ??= new FileParser();
    const request = {
      file,
      start: base,
      line: run.nextLine,
      columns,
      runId: run.id,
      settleMs,
    };
    let last: ChunkPosition | null = null;
    for await (const chunk of this.parser.chunks(request)) {
      this.checkHealthy();
      this.takeChunk(chunk);
      this.progress.bytesRead += chunk.bytesRead;
      if (chunk.final) last = chunk;
      if (chunk.final || !chunk.atRecordBoundary) continue;
      markEnd(chunk, false);
      if (this.batch.full) {
        await this.sealBatch();
        markEnd(chunk, false);
      }
      this.report();
    }
    const end = last as ChunkPosition;
    run.ending = await judgeEnd(file, before, base + end.consumedBytes, end);
    markEnd(end, true);
    this.current = null;
  }

  private checkHealthy(): void {
    if (this.stopRequested) throw new Error(STOPPED_MESSAGE);
    if (this.connectionError) throw this.connectionError;
  }

  /** A parsed chunk's records in file order: canonical rows as encoded, the others judged here. */
  private takeChunk(chunk: ParsedChunk): void {
    let row = 0;
    for (const other of chunk.others) {
      if (other.at > row) this.takeCanonicalRows(chunk, row, other.at);
      row = other.at;
      if ('fields' in other) this.record(other.fields, other.line, other.raw);
      else this.problem(other.reason, other.line, other.raw, other.fieldCount);
    }
    if (chunk.rows > row) this.takeCanonicalRows(chunk, row, chunk.rows);
  }

  /**
   * Canonical rows [from, to) of a chunk: copied into the batch in one go, then admitted in
   * order, the rows not kept squeezed out.
   */
  private takeCanonicalRows(chunk: ParsedChunk, from: number, to: number): void {
    const counts = this.batch.slice((this.current as CurrentFile).run).counts;
    counts.rowsRead += to - from;
    this.progress.rowsRead += to - from;
    const encoder = this.batch.encoder;
    const endOf = (i: number): number => (i < 0 ? 0 : (chunk.rowEnds[i] as number));
    const shift = encoder.length - endOf(from - 1);
    encoder.append(chunk.encoded, endOf(from - 1), endOf(to - 1));
    const buffer = encoder.buffer;
    const facts = this.chunkFacts;
    let write = endOf(from - 1) + shift;
    for (let i = from; i < to; i++) {
      const start = endOf(i - 1) + shift;
      const length = endOf(i) + shift - start;
      if (write !== start) buffer.copyWithin(write, start, start + length);
      loadFacts(chunk.facts, i, facts);
      if (this.admit(counts, write, write + length, facts, 0)) write += length;
    }
    encoder.truncate(write);
  }

  /** A record the fast path declined: judged by the rules, then encoded and admitted. */
  private record(fields: string[], line: number, raw: string): void {
    const { run, columns } = this.current as CurrentFile;
    const counts = this.batch.slice(run).counts;
    counts.rowsRead += 1;
    this.progress.rowsRead += 1;
    const verdict = judgeRow(fields, columns);
    if (!verdict.ok) {
      this.reject(run, verdict.reason, line, raw);
      return;
    }
    const row = verdict.row;
    const encoder = this.batch.encoder;
    const start = encoder.length;
    encoder.row(row, run.id);
    let mask = 0;
    for (const w of row.warnings) mask |= 1 << WARNING_KINDS.indexOf(w);
    if (!this.admit(counts, start, encoder.length, row, mask)) encoder.truncate(start);
  }

  /**
   * Decides on the row encoded at `[start, end)` of the open batch: true when it stays there;
   * false when it is a duplicate or (bulk loads) set aside as pending, and is to be dropped.
   */
  private admit(counts: RunCounts, start: number, end: number, facts: RowFacts, mask: number) {
    const batch = this.batch;
    const buffer = batch.encoder.buffer;
    const idOffset = start + UUID_OFFSET_IN_ROW;
    if (this.bulk) return this.stageForBulkLoad(counts, start, end, facts, mask);
    // The filter holds every id of the recent batches: an id it has never seen needs no lookup.
    if (!this.filter.add(buffer, idOffset)) (this.recentIds[0] as UuidSet).add(buffer, idOffset);
    else if (this.seenRecently(buffer, idOffset)) {
      counts.rowsDuplicate += 1;
      return false;
    } else batch.maybeStored.push(batch.rowStarts.length);
    batch.rowStarts.push(start);
    batch.rows.add(facts, mask, batch.slices.length - 1);
    return true;
  }

  /**
   * Bulk loads: a row whose id the filter has never seen is new for sure and stays, bound for
   * activities; any other is a duplicate when its id is in a recent batch, and otherwise (an
   * older duplicate, or a rare false positive) waits in activities_pending for the merged registry
   * to settle it.
   */
  private stageForBulkLoad(
    counts: RunCounts,
    start: number,
    end: number,
    facts: RowFacts,
    mask: number,
  ): boolean {
    const batch = this.batch;
    const buffer = batch.encoder.buffer;
    const idOffset = start + UUID_OFFSET_IN_ROW;
    if (this.filter.add(buffer, idOffset)) {
      // A repeat of a row of the last few batches is a duplicate for sure, whatever that row
      // turns out to be: only the others need the merged registry.
      if (this.seenRecently(buffer, idOffset)) {
        counts.rowsDuplicate += 1;
        return false;
      }
      batch.pending.rowWithWarnings(buffer, start, end, mask);
      batch.pendingCount += 1;
      counts.rowsPending += 1;
      return false;
    }
    (this.recentIds[0] as UuidSet).add(buffer, idOffset);
    batch.rowStarts.push(start);
    batch.rows.add(facts, mask, batch.slices.length - 1);
    return true;
  }

  private get filter(): UuidBloom {
    if (!this.staged) throw new Error('no file is being read: the import filter is gone');
    return this.staged;
  }

  /** True when the id is in a recent batch; otherwise records it in the open batch's set. */
  private seenRecently(bytes: Buffer, offset: number): boolean {
    for (let k = 1; k < this.recentIds.length; k++) {
      if ((this.recentIds[k] as UuidSet).has(bytes, offset)) return true;
    }
    return !(this.recentIds[0] as UuidSet).add(bytes, offset);
  }

  private problem(reason: RejectReason, line: number, raw: string, fieldCount?: number): void {
    const { run, columns } = this.current as CurrentFile;
    if (fieldCount !== undefined && fieldCount !== columns.width) reason = 'column_count';
    this.batch.slice(run).counts.rowsRead += 1;
    this.progress.rowsRead += 1;
    this.reject(run, reason, line, raw);
  }

  private reject(run: RunState, reason: RejectReason, line: number, raw: string): void {
    const counts = this.batch.slice(run).counts;
    counts.rowsRejected += 1;
    increment(counts.rejectsByReason, reason);
    const cut = cutToBytes(raw);
    this.batch.rejects.push({ runId: run.id, line, reason, raw: cut });
    this.batch.rejectBytes += cut.length + REJECT_OVERHEAD_BYTES;
  }

  /**
   * Queues the filled batch for the database (written after the batches sealed before it) and
   * starts a new one; waits first when every batch is sealed and waiting.
   */
  private async sealBatch(last = false): Promise<void> {
    if (this.free.length === 0) await (this.writing[0] as { written: Promise<void> }).written;
    const sealed = this.batch;
    const oldest = this.recentIds.pop() as UuidSet;
    oldest.clear();
    this.recentIds.unshift(oldest);
    this.batch = this.free.pop() as Batch;
    this.batch.reset();
    const empty = sealed.slices.length === 0 && sealed.rejects.length === 0;
    if (empty && !(last && this.open)) {
      this.free.push(sealed);
      return;
    }
    const previous = this.lastWrite();
    const written = (async () => {
      await previous;
      await this.write(sealed, last);
      this.writing.shift();
      this.free.push(sealed);
    })();
    // Surface a failure at the next await, not as an unhandled rejection.
    written.catch(() => undefined);
    this.writing.push({ batch: sealed, written });
  }

  /** The end of the last write queued (every earlier one ends before it). */
  private lastWrite(): Promise<void> | undefined {
    return this.writing.at(-1)?.written;
  }

  /**
   * Writes a batch into the open transaction (beginning one if none is open): its facts, pending
   * rows and rejects. The transaction commits, with the rollups and ledger progress of all its
   * batches, once it holds `batchRows` rows, and on the last batch: buffers stay small while
   * commits, with their rollup upserts, stay few.
   */
  private async write(batch: Batch, last: boolean): Promise<void> {
    if (!this.open) {
      await this.options.checkpoint?.('commit-begin');
      await this.client.query('BEGIN');
      this.open = new OpenTransaction();
    }
    if (this.bulk) {
      await this.copyBulkBatch(batch);
    } else if (batch.rows.count > 0) {
      await this.markStoredSuspects(batch);
      await this.copyBatch(batch);
    }
    this.open.rollups.add(batch.rows); // the rows marked duplicate left out
    this.countStagedRows(batch);
    await repo.insertRejects(this.client, batch.rejects);
    this.open.add(batch);
    if (last || this.open.rows >= this.options.batchRows) await this.commit(this.open);
  }

  /**
   * The registry pass, rollups, ledger progress and data version of the open transaction's
   * batches, then COMMIT.
   */
  private async commit(open: OpenTransaction): Promise<void> {
    if (!this.bulk) await this.registerIds();
    const fresh = open.rollups.delta();
    for (const field of PRESENCE_FIELDS) fresh[field] = this.known.filter(field, fresh[field]);
    await repo.applyRollups(this.client, fresh);
    await this.options.checkpoint?.('ledger-pending');
    for (const slice of open.slices) {
      const totals = {
        ...slice.run.committed,
        rejectsByReason: { ...slice.run.committed.rejectsByReason },
        warningsByKind: { ...slice.run.committed.warningsByKind },
      };
      addCounts(totals, slice.counts);
      const ending = slice.endsFile ? slice.run.ending : null;
      await repo.saveRunProgress(this.client, {
        id: slice.run.id,
        status: ending?.status ?? 'running',
        ...totals,
        bytesCommitted: slice.endBytes,
        committedHash: slice.endHash,
        nextLine: slice.endLine,
        message: ending?.message ?? null,
        identity: ending?.identity ?? undefined,
      });
    }
    await repo.bumpDataVersion(this.client);
    await this.client.query('COMMIT');
    this.open = null;
    this.partitions.afterCommit();
    await this.options.checkpoint?.('committed');
    for (const field of PRESENCE_FIELDS) this.known.remember(field, fresh[field]);
    for (const slice of open.slices) {
      addCounts(slice.run.committed, slice.counts);
      slice.run.bytesCommitted = slice.endBytes;
      slice.run.committedHash = slice.endHash;
      slice.run.nextLine = slice.endLine;
      slice.run.done = slice.endsFile;
    }
    if (!this.bulk) await this.sealRegistryIfFull();
  }

  /** Copies the batch's kept rows into activities; their ids wait for the registry pass. */
  private async copyBatch(batch: Batch): Promise<void> {
    const kept = batch.keptRows();
    await this.partitions.ensure(this.client, batch.keptMonths());
    await repo.copyActivities(this.client, batch.factsOf(kept), this.midstream);
    if (this.unregistered.count + kept.length > REGISTRY_PASS_IDS) await this.registerIds();
    this.unregistered.addSortedRun(batch.encoder.buffer, batch.idOffsetsInOrder(kept));
  }

  /**
   * The open transaction's new ids into the registry's newest generation, in one sorted pass,
   * while the sealed generations' filters screen them (the few flagged are looked up). After a
   * refusal every id is looked up before its copy, so the screening is skipped.
   */
  private async registerIds(): Promise<void> {
    if (this.unregistered.count === 0) return;
    const screen = !this.expectStoredDuplicates;
    if (!(await this.registry.register(this.client, this.unregistered, screen)))
      throw new RegistryRefusedId();
    this.unregistered.clear();
  }

  private async sealRegistryIfFull(): Promise<void> {
    const checkpoint = this.options.checkpoint;
    await this.registry.sealIfFull(
      this.client,
      checkpoint && (() => checkpoint('registry-sealed')),
    );
  }

  /** A bulk batch: ids into the registry's staging table, then the facts. */
  private async copyBulkBatch(batch: Batch): Promise<void> {
    if (batch.rows.count > 0) {
      const kept = batch.keptRows();
      await repo.stageIds(this.client, batch.idsOf(kept));
      await this.partitions.ensure(this.client, batch.keptMonths());
      await repo.copyActivities(this.client, batch.factsOf(kept), this.midstream);
    }
    if (batch.pendingCount > 0) await repo.copyIntoPending(this.client, batch.pending.finish());
  }

  /**
   * Looks up the ids this importer may have copied before (Bloom filter), and every id once the
   * registry has refused one, and marks the rows whose id is stored as duplicates.
   */
  private async markStoredSuspects(batch: Batch): Promise<void> {
    const suspects = this.expectStoredDuplicates
      ? batch.rowStarts.map((_, i) => i)
      : batch.maybeStored;
    if (suspects.length > 0) await this.markStored(batch, suspects);
  }

  /**
   * Marks as duplicates the given rows whose event ids are already stored: copied earlier in this
   * transaction, or in the registry.
   */
  private async markStored(batch: Batch, rows: number[]): Promise<void> {
    const buffer = batch.encoder.buffer;
    const unresolved = rows.filter((i) => {
      if (!this.unregistered.has(buffer, batch.uuidOffset(i))) return true;
      batch.rows.duplicate[i] = 1;
      return false;
    });
    if (unresolved.length === 0) return;
    const ids = batch.ids(unresolved);
    // Sorted, the probes walk the unique index in order instead of jumping around it.
    const stored = new Set(await repo.findStoredIds(this.client, [...ids].sort()));
    ids.forEach((id, k) => {
      if (stored.has(id)) batch.rows.duplicate[unresolved[k] as number] = 1;
    });
  }

  /** Splits the batch's rows between inserted and duplicate, per file, and counts their warnings. */
  private countStagedRows(batch: Batch): void {
    const rows = batch.rows;
    for (let i = 0; i < rows.count; i++) {
      const counts = (batch.slices[rows.fileSlot[i] as number] as RunSlice).counts;
      if (rows.duplicate[i] === 1) {
        counts.rowsDuplicate += 1;
        continue;
      }
      counts.rowsInserted += 1;
      countWarnings(counts.warningsByKind, rows.warnings[i] as number);
    }
  }

  /** On failure the open transaction rolls back; the ledger keeps the last committed progress. */
  private async abandon(error: unknown): Promise<void> {
    await this.lastWrite()?.catch(() => undefined);
    await this.client.query('ROLLBACK').catch(() => undefined);
    this.partitions.afterRollback();
    this.unregistered.clear();
    const message = error instanceof Error ? error.message : String(error);
    const sealed = this.writing.flatMap((w) => w.batch.slices);
    const pending = [...this.batch.slices, ...sealed, ...(this.open?.slices ?? [])];
    this.open = null;
    const unfinished = new Set(pending.map((s) => s.run).filter((r) => !r.done));
    for (const run of unfinished) {
      // Read to its end with every byte committed, a file only lacks the 'done' that rides on
      // the next batch: record it rather than call a fully imported file failed.
      const complete = pending.some(
        (s) => s.run === run && s.endsFile && s.endBytes === run.bytesCommitted,
      );
      const ending = run.ending;
      await (
        complete && ending
          ? repo.saveRunProgress(this.pool, {
              id: run.id,
              status: ending.status,
              ...run.committed,
              bytesCommitted: run.bytesCommitted,
              committedHash: run.committedHash,
              nextLine: run.nextLine,
              message: ending.message,
              identity: ending.identity ?? undefined,
            })
          : repo.setRunStatus(this.pool, run.id, 'failed', `import failed: ${message}`)
      ).catch(() => undefined);
    }
  }

  private report(): void {
    this.options.onProgress?.({ ...this.progress });
  }
}

/** A file to read: its run, its header's columns, and the file as found when the run began. */
class OpenedRun {
  constructor(
    readonly run: RunState,
    readonly columns: ColumnMap,
    readonly before: { info: Stats; hash: string },
    readonly settleMs: number,
  ) {}
}

/**
 * A registry pass found an id stored before this import began: a sealed generation holds it, or
 * the newest generation's key refused it.
 */
class RegistryRefusedId extends Error {
  constructor() {
    super('an event id copied in this transaction was stored already');
  }
}

function endOutcome(run: RunState): FileOutcome {
  return run.outcome(run.ending?.status ?? 'done', run.ending?.message ?? null);
}

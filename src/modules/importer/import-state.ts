import type { FileOutcome } from './import-types.js';
import {
  BinaryCopyEncoder,
  COPY_HEADER,
  COPY_HEADER_BYTES,
  COPY_TRAILER,
  UUID_OFFSET_IN_ROW,
  UUID_ROW_BYTES,
} from './binary-copy.js';
import { BatchRows, MERCHANT_NUMBERS, RollupDeltaBuilder, splitPair } from './batch-rollups.js';
import type * as repo from './importer.repository.js';
import { WARNING_KINDS, type ColumnMap, type WarningKind } from './row-rules.js';
import { uuidText, viewOf } from './uuid-set.js';

/**
 * The importer's state in memory (importer.ts): the runs of the files being imported, the batch
 * being filled, the transaction not yet committed, and the rollup keys already stored.
 */

const MAX_PENDING_REJECT_BYTES = 8 << 20;
/**
 * Sorting by id packs a row's index under 32 bits of its UUID in one double: 32 + 21 bits fill the
 * 53 exact bits of a float64, so a batch holds fewer than 2^21 rows.
 */
const ROW_INDEX_SPAN = 2 ** 21;

/** 16 bytes as four words: a Buffer.copy call costs several times more for so few. */
function copyId(from: DataView, at: number, to: DataView, toAt: number): void {
  to.setUint32(toAt, from.getUint32(at));
  to.setUint32(toAt + 4, from.getUint32(at + 4));
  to.setUint32(toAt + 8, from.getUint32(at + 8));
  to.setUint32(toAt + 12, from.getUint32(at + 12));
}

type RunCounts = repo.RunCounts;

/** The finished run of this very file (same size and modification time), if any. */
export function findUnchangedRun(
  runs: repo.RunRecord[],
  info: { size: number; mtime: Date },
): repo.RunRecord | undefined {
  return runs.find(
    (r) =>
      (r.status === 'done' || r.status === 'rejected') &&
      r.fileSize === info.size &&
      r.fileMtime?.getTime() === info.mtime.getTime(),
  );
}

export function countWarnings(into: Record<string, number>, mask: number): void {
  if (mask === 0) return;
  WARNING_KINDS.forEach((kind: WarningKind, bit) => {
    if (mask & (1 << bit)) increment(into, kind);
  });
}

export const ZERO_COUNTS = (): RunCounts => ({
  rowsRead: 0,
  rowsInserted: 0,
  rowsDuplicate: 0,
  rowsRejected: 0,
  rowsPending: 0,
  rejectsByReason: {},
  warningsByKind: {},
});

export function increment(counts: Record<string, number>, key: string, by = 1): void {
  counts[key] = (counts[key] ?? 0) + by;
}

export function addCounts(into: RunCounts, delta: RunCounts): void {
  into.rowsRead += delta.rowsRead;
  into.rowsInserted += delta.rowsInserted;
  into.rowsDuplicate += delta.rowsDuplicate;
  into.rowsRejected += delta.rowsRejected;
  into.rowsPending += delta.rowsPending;
  for (const [k, v] of Object.entries(delta.rejectsByReason)) increment(into.rejectsByReason, k, v);
  for (const [k, v] of Object.entries(delta.warningsByKind)) increment(into.warningsByKind, k, v);
}

/** How a run ends once its file is read: done, or changed under the reader (importer.ts). */
export interface RunEnding {
  status: 'done' | 'changed';
  message: string | null;
  /** The file as read to its end; kept in the ledger when the run is done. */
  identity: repo.FileIdentity | null;
}

/** One file's run as committed: counters and how far into the file committed batches got. */
export class RunState {
  committed: RunCounts = ZERO_COUNTS();
  bytesCommitted = 0;
  committedHash: string | null = null;
  nextLine = 2;
  done = false;
  ending: RunEnding | null = null;

  constructor(
    readonly id: number,
    readonly fileName: string,
  ) {}

  static resume(run: repo.RunRecord): RunState {
    const state = new RunState(run.id, run.fileName);
    state.committed = {
      rowsRead: run.rowsRead,
      rowsInserted: run.rowsInserted,
      rowsDuplicate: run.rowsDuplicate,
      rowsRejected: run.rowsRejected,
      rowsPending: run.rowsPending,
      rejectsByReason: { ...run.rejectsByReason },
      warningsByKind: { ...run.warningsByKind },
    };
    state.bytesCommitted = run.bytesCommitted;
    state.committedHash = run.committedHash;
    state.nextLine = run.nextLine;
    return state;
  }

  outcome(status: FileOutcome['status'], message: string | null = null): FileOutcome {
    return { runId: this.id, fileName: this.fileName, status, ...this.committed, message };
  }
}

/** What one batch adds to one run, and where in the file the batch ends. */
export interface RunSlice {
  run: RunState;
  counts: RunCounts;
  endBytes: number;
  /** SHA-256 of the file's first endBytes bytes as read. */
  endHash: string | null;
  endLine: number;
  endsFile: boolean;
}

export type PresenceField =
  'productMerchants' | 'productMonthMerchants' | 'kycMerchants' | 'kycMonthMerchants';
export const PRESENCE_FIELDS: PresenceField[] = [
  'productMerchants',
  'productMonthMerchants',
  'kycMerchants',
  'kycMonthMerchants',
];

/**
 * Remembers rollup presence keys this process has committed, to skip re-inserting them (only an
 * optimisation: forgetting costs an upsert that does nothing). Every presence key ends with the
 * merchant number, so a key is a bit in a bitset over merchants, one bitset per field and prefix
 * (product, stage, month). At most MAX_BITSETS are kept, the least recently used dropped: a few MB
 * whatever the data size, where a Set of keys grew with it.
 */
export class KnownPresence {
  private readonly bitsets = new Map<number, Uint8Array>();
  private static readonly MAX_BITSETS = 48; // x 125 KB

  filter(field: PresenceField, keys: Set<number>): Set<number> {
    const fresh = new Set<number>();
    for (const key of keys) {
      const [prefix, merchant] = splitPair(key);
      const bits = this.bitsets.get(this.slot(field, prefix));
      if (bits === undefined || ((bits[merchant >> 3] as number) & (1 << (merchant & 7))) === 0)
        fresh.add(key);
    }
    return fresh;
  }

  remember(field: PresenceField, keys: Set<number>): void {
    for (const key of keys) {
      const [prefix, merchant] = splitPair(key);
      const bits = this.bitsetFor(this.slot(field, prefix));
      bits[merchant >> 3] = (bits[merchant >> 3] as number) | (1 << (merchant & 7));
    }
  }

  private slot(field: PresenceField, prefix: number): number {
    return prefix * PRESENCE_FIELDS.length + PRESENCE_FIELDS.indexOf(field);
  }

  private bitsetFor(slot: number): Uint8Array {
    let bits = this.bitsets.get(slot);
    if (bits !== undefined)
      this.bitsets.delete(slot); // re-inserted below: most recent last
    else {
      bits = new Uint8Array(MERCHANT_NUMBERS / 8);
      if (this.bitsets.size === KnownPresence.MAX_BITSETS)
        this.bitsets.delete(this.bitsets.keys().next().value as number);
    }
    this.bitsets.set(slot, bits);
    return bits;
  }
}

/** Batches written in one transaction, not committed yet: their rows, rollups and file slices. */
export class OpenTransaction {
  rows = 0;
  readonly rollups = new RollupDeltaBuilder();
  /** A slice per run in order: the batches' counts added up, the ends of the latest. */
  readonly slices: RunSlice[] = [];

  /** Adds a written batch; its rollups went into `rollups` already. */
  add(batch: Batch): void {
    this.rows += batch.rows.count + batch.pendingCount;
    for (const slice of batch.slices) {
      let merged = this.slices[this.slices.length - 1];
      if (merged?.run !== slice.run) {
        merged = { ...slice, counts: ZERO_COUNTS() };
        this.slices.push(merged);
      }
      addCounts(merged.counts, slice.counts);
      merged.endBytes = slice.endBytes;
      merged.endHash = slice.endHash;
      merged.endLine = slice.endLine;
      merged.endsFile = slice.endsFile;
    }
  }
}

/**
 * Ids of the rows copied into activities that the registry (event_ids) has not taken yet. They
 * enter its newest generation in one sorted pass a transaction (Importer.registerIds): each pass
 * into a unique index sweeps most of its leaves, so one pass a transaction instead of one a batch.
 * Held as sorted runs, one a batch, for lookups.
 */
export class UnregisteredIds {
  private bytes = Buffer.alloc(0);
  private view = viewOf(this.bytes);
  /** Where each sorted run ends, in ids. */
  private runEnds: number[] = [];
  private static readonly CHUNK_IDS = 8192;
  count = 0;

  /** A batch's ids: 16 bytes at each offset of `source`, in the order of their first 32 bits. */
  addSortedRun(source: Buffer, offsets: number[]): void {
    const n = offsets.length;
    if (this.bytes.length < (this.count + n) * 16) {
      const grown = Buffer.allocUnsafe(Math.max((this.count + n) * 16, this.bytes.length * 2));
      this.bytes.copy(grown, 0, 0, this.count * 16);
      this.bytes = grown;
      this.view = viewOf(grown);
    }
    const from = viewOf(source);
    for (let k = 0; k < n; k++)
      copyId(from, offsets[k] as number, this.view, (this.count + k) * 16);
    this.count += n;
    this.runEnds.push(this.count);
  }

  has(id: Buffer, offset: number): boolean {
    const prefix = id.readUInt32BE(offset);
    let runStart = 0;
    for (const runEnd of this.runEnds) {
      // Runs are sorted by the first 32 bits only: find the first id with that prefix, then
      // compare whole ids among those sharing it.
      let lo = runStart;
      let hi = runEnd;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (this.bytes.readUInt32BE(mid * 16) < prefix) lo = mid + 1;
        else hi = mid;
      }
      for (let k = lo; k < runEnd && this.bytes.readUInt32BE(k * 16) === prefix; k++) {
        if (id.compare(this.bytes, k * 16, k * 16 + 16, offset, offset + 16) === 0) return true;
      }
      runStart = runEnd;
    }
    return false;
  }

  /**
   * Every id, by its first 32 bits, as a COPY body of one-uuid rows in chunks of CHUNK_IDS (the
   * whole body at once would be the largest buffer an import holds).
   */
  *sortedChunks(): Generator<Buffer> {
    if (this.count >= ROW_INDEX_SPAN)
      throw new RangeError(`at most ${ROW_INDEX_SPAN - 1} ids wait for the registry`);
    const keys = new Float64Array(this.count);
    for (let k = 0; k < this.count; k++) keys[k] = this.view.getUint32(k * 16) * ROW_INDEX_SPAN + k;
    keys.sort();
    for (let from = 0; from < this.count; from += UnregisteredIds.CHUNK_IDS) {
      const to = Math.min(this.count, from + UnregisteredIds.CHUNK_IDS);
      const chunk = Buffer.allocUnsafe(
        (from === 0 ? COPY_HEADER_BYTES : 0) + (to - from) * UUID_ROW_BYTES + 2,
      );
      let at = from === 0 ? COPY_HEADER.copy(chunk) : 0;
      const rows = viewOf(chunk);
      for (let i = from; i < to; i++, at += UUID_ROW_BYTES) {
        rows.setInt16(at, 1); // one field, of 16 bytes
        rows.setInt32(at + 2, 16);
        copyId(this.view, ((keys[i] as number) % ROW_INDEX_SPAN) * 16, rows, at + 6);
      }
      if (to === this.count) at += COPY_TRAILER.copy(chunk, at);
      yield chunk.subarray(0, at);
    }
  }

  /** The ids, 16 bytes each, in the order they were added. */
  packed(): Buffer {
    return this.bytes.subarray(0, this.count * 16);
  }

  clear(): void {
    this.count = 0;
    this.runEnds = [];
  }
}

/** The file being read: its run and its header's columns. */
export interface CurrentFile {
  run: RunState;
  columns: ColumnMap;
}

/** One batch being filled by the parser, then committed as one transaction. */
export class Batch {
  readonly rows: BatchRows;
  /** The batch's rows for COPY; sized for typical rows (~115 bytes), it grows for longer ones. */
  readonly encoder: BinaryCopyEncoder;
  /** Bulk loads: rows whose id may be stored already, bound for activities_pending. */
  readonly pending = new BinaryCopyEncoder(1 << 20);
  pendingCount = 0;
  rowStarts: number[] = [];
  /** Rows whose id the Bloom filter has seen before: the only ones looked up before the COPY. */
  maybeStored: number[] = [];
  private body = Buffer.alloc(0); // reused between batches: the kept rows' facts
  private idsBody = Buffer.alloc(0);
  slices: RunSlice[] = [];
  rejects: repo.RejectRecord[] = [];
  rejectBytes = 0;

  constructor(target: number) {
    if (!Number.isInteger(target) || target < 1 || target >= ROW_INDEX_SPAN)
      throw new RangeError(`a batch holds 1 to ${ROW_INDEX_SPAN - 1} rows, not ${target}`);
    this.rows = new BatchRows(target);
    this.encoder = new BinaryCopyEncoder(Math.max(1 << 16, target * 128));
    this.encoder.header();
    this.pending.header();
  }

  uuidOffset(i: number): number {
    return (this.rowStarts[i] as number) + UUID_OFFSET_IN_ROW;
  }

  ids(rows: number[] = this.rowStarts.map((_, i) => i)): string[] {
    return rows.map((i) => uuidText(this.encoder.buffer, this.uuidOffset(i)));
  }

  slice(run: RunState): RunSlice {
    const last = this.slices[this.slices.length - 1];
    if (last?.run === run) return last;
    const slice = {
      run,
      counts: ZERO_COUNTS(),
      endBytes: run.bytesCommitted,
      endHash: run.committedHash,
      endLine: run.nextLine,
      endsFile: false,
    };
    this.slices.push(slice);
    return slice;
  }

  get full(): boolean {
    return (
      this.rows.count + this.pendingCount >= this.rows.target ||
      this.rejectBytes > MAX_PENDING_REJECT_BYTES
    );
  }

  /** The months (yyyymm) of the rows not marked duplicate. */
  keptMonths(): Set<number> {
    const months = new Set<number>();
    for (let i = 0; i < this.rows.count; i++)
      if (this.rows.duplicate[i] !== 1) months.add(this.rows.month[i] as number);
    return months;
  }

  /** The rows not marked duplicate, in arrival order. */
  keptRows(): number[] {
    const kept: number[] = [];
    for (let i = 0; i < this.rows.count; i++) if (this.rows.duplicate[i] !== 1) kept.push(i);
    return kept;
  }

  /** The facts of the kept rows, in arrival order, as a COPY body for activities. */
  factsOf(kept: number[]): Buffer {
    if (kept.length === this.rows.count) return this.encoder.finish();
    if (this.body.length < this.encoder.length + 2)
      this.body = Buffer.allocUnsafe(Math.ceil(this.encoder.length * 1.25) + 2);
    const source = this.encoder.buffer;
    let offset = source.copy(this.body, 0, 0, COPY_HEADER_BYTES);
    for (const i of kept)
      offset += source.copy(
        this.body,
        offset,
        this.rowStarts[i],
        this.rowStarts[i + 1] ?? this.encoder.length,
      );
    offset += COPY_TRAILER.copy(this.body, offset);
    return this.body.subarray(0, offset);
  }

  /** The ids of the kept rows, as they came, as a COPY body (a bulk load stages them). */
  idsOf(kept: number[]): Buffer {
    const idsLength = COPY_HEADER_BYTES + kept.length * UUID_ROW_BYTES + COPY_TRAILER.length;
    if (this.idsBody.length < idsLength) this.idsBody = Buffer.allocUnsafe(idsLength);
    const source = this.encoder.buffer;
    const ids = this.idsBody;
    let idsOffset = source.copy(ids, 0, 0, COPY_HEADER_BYTES);
    for (const i of kept) {
      const start = this.rowStarts[i] as number;
      idsOffset = ids.writeInt16BE(1, idsOffset); // one field, then event_id's length and bytes
      idsOffset += source.copy(ids, idsOffset, start + 2, start + UUID_OFFSET_IN_ROW + 16);
    }
    idsOffset += COPY_TRAILER.copy(ids, idsOffset);
    return ids.subarray(0, idsOffset);
  }

  /**
   * Where the kept rows' ids start in `encoder.buffer`, by their first 32 bits (UnregisteredIds
   * keeps each batch's as a sorted run).
   */
  idOffsetsInOrder(kept: number[]): number[] {
    const source = viewOf(this.encoder.buffer);
    const keys = new Float64Array(kept.length);
    for (let k = 0; k < kept.length; k++) {
      const i = kept[k] as number;
      keys[k] = source.getUint32(this.uuidOffset(i)) * ROW_INDEX_SPAN + i;
    }
    keys.sort();
    const offsets = new Array<number>(keys.length);
    for (let k = 0; k < keys.length; k++)
      offsets[k] = this.uuidOffset((keys[k] as number) % ROW_INDEX_SPAN);
    return offsets;
  }

  reset(): void {
    this.rows.reset();
    this.encoder.reset();
    this.encoder.header();
    this.pending.reset();
    this.pending.header();
    this.pendingCount = 0;
    this.rowStarts = [];
    this.maybeStored = [];
    this.slices = [];
    this.rejects = [];
    this.rejectBytes = 0;
  }
}

import type { FileOutcome } from './import-types.js';
import {
  BinaryCopyEncoder,
  COPY_HEADER_BYTES,
  COPY_TRAILER,
  UUID_OFFSET_IN_ROW,
  UUID_ROW_BYTES,
} from './binary-copy.js';
import { BatchRows, MERCHANT_NUMBERS, RollupDeltaBuilder, splitPair } from './batch-rollups.js';
import type * as repo from './importer.repository.js';
import { WARNING_KINDS, type ColumnMap, type WarningKind } from './row-rules.js';
import { uuidText } from './uuid-set.js';

/**
 * The importer's state in memory (importer.ts): the runs of the files being imported, the batch
 * being filled, the transaction not yet committed, and the rollup keys already stored.
 */

const MAX_PENDING_REJECT_BYTES = 8 << 20;
/**
 * copyBodies packs a row's index under 32 bits of its UUID in one double: 32 + 21 bits fill the
 * 53 exact bits of a float64, so a batch holds fewer than 2^21 rows.
 */
const ROW_INDEX_SPAN = 2 ** 21;

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
  private body = Buffer.alloc(0); // reused between batches: the COPY bodies in event_id order
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

  /**
   * The COPY bodies of the rows not marked duplicate: their facts (for activities) and their ids
   * alone (for the registry event_ids). `sorted`: in event_id order, so that the registry's unique
   * index takes them in sequence instead of at random, which is much cheaper; a bulk load, whose
   * ids go to an unkeyed staging table, keeps arrival order and copies the facts as encoded.
   */
  copyBodies(sorted: boolean): { facts: Buffer; ids: Buffer } {
    const order = sorted ? this.keptInIdOrder() : this.rowStarts.map((_, i) => i);
    const idsLength = COPY_HEADER_BYTES + order.length * UUID_ROW_BYTES + COPY_TRAILER.length;
    if (this.idsBody.length < idsLength) this.idsBody = Buffer.allocUnsafe(idsLength);
    const source = this.encoder.buffer;
    const ids = this.idsBody;
    let idsOffset = source.copy(ids, 0, 0, COPY_HEADER_BYTES);
    for (const i of order) {
      const start = this.rowStarts[i] as number;
      idsOffset = ids.writeInt16BE(1, idsOffset); // one field, then event_id's length and bytes
      idsOffset += source.copy(ids, idsOffset, start + 2, start + UUID_OFFSET_IN_ROW + 16);
    }
    idsOffset += COPY_TRAILER.copy(ids, idsOffset);
    const facts = sorted ? this.factsInOrder(order) : this.encoder.finish();
    return { facts, ids: ids.subarray(0, idsOffset) };
  }

  /** The rows not marked duplicate, by the first 32 bits of their UUID (enough for page locality). */
  private keptInIdOrder(): number[] {
    const source = this.encoder.buffer;
    const keys = new Float64Array(this.rows.count);
    let kept = 0;
    for (let i = 0; i < this.rows.count; i++) {
      if (this.rows.duplicate[i] === 1) continue;
      keys[kept++] = source.readUInt32BE(this.uuidOffset(i)) * ROW_INDEX_SPAN + i;
    }
    return Array.from(keys.subarray(0, kept).sort(), (key) => key % ROW_INDEX_SPAN);
  }

  private factsInOrder(order: number[]): Buffer {
    if (this.body.length < this.encoder.length + 2)
      this.body = Buffer.allocUnsafe(Math.ceil(this.encoder.length * 1.25) + 2);
    const source = this.encoder.buffer;
    let offset = source.copy(this.body, 0, 0, COPY_HEADER_BYTES);
    for (const i of order)
      offset += source.copy(
        this.body,
        offset,
        this.rowStarts[i],
        this.rowStarts[i + 1] ?? this.encoder.length,
      );
    offset += COPY_TRAILER.copy(this.body, offset);
    return this.body.subarray(0, offset);
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

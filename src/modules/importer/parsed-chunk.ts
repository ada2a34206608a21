import type { RowFacts } from './batch-rollups.js';
import type { ColumnMap, RejectReason } from './row-rules.js';

/**
 * What the parsing thread (parser-thread.ts) sends the importing thread for each chunk of a file,
 * in file order. Canonical rows come encoded for COPY, with their rollup columns; every other
 * record comes as the splitter gave it, to be judged by the general rules on the importing side.
 */
export interface ParsedChunk {
  /** Canonical rows in this chunk. */
  rows: number;
  /** The rows, encoded one after another (ACTIVITY_COLUMNS, no COPY header). */
  encoded: Uint8Array;
  /** End offset in `encoded` of each row. */
  rowEnds: Int32Array;
  /** FACTS_PER_ROW numbers per row (storeFacts, loadFacts). */
  facts: Float64Array;
  /** Every other record, in order: `at` is the number of canonical rows before it in the chunk. */
  others: OtherRecord[];
  /** Bytes of the file read for this chunk (progress). */
  bytesRead: number;
  /** Relative to the start offset: bytes up to the end of the last complete record. */
  consumedBytes: number;
  /** Line number of the next record. */
  line: number;
  /** False while the tail of an over-long record is being skipped: not a checkpoint. */
  atRecordBoundary: boolean;
  /** SHA-256 (hex) of the file's first `start + consumedBytes` bytes as read: a checkpoint's fingerprint. */
  digest: string;
  /** The file's last chunk. */
  final: boolean;
  /** Final chunk only: the file shrank under the reader, which stopped at its last complete record. */
  shrank: boolean;
}

export type OtherRecord =
  | { at: number; fields: string[]; line: number; raw: string }
  | { at: number; reason: RejectReason; line: number; raw: string; fieldCount?: number };

/** The rollup columns of a canonical row in ParsedChunk.facts. */
export const FACTS_PER_ROW = 6;

/** Writes row `row`'s rollup columns into `facts` (the parser thread's side). */
export function storeFacts(facts: Float64Array, row: number, from: RowFacts): void {
  const at = row * FACTS_PER_ROW;
  facts[at] = from.merchant;
  facts[at + 1] = from.month;
  facts[at + 2] = from.product;
  facts[at + 3] = from.status;
  facts[at + 4] = from.kycStage;
  facts[at + 5] = from.amountKobo;
}

/** Reads row `row`'s rollup columns from `facts` into `into` (the importing thread's side). */
export function loadFacts(facts: Float64Array, row: number, into: RowFacts): void {
  const at = row * FACTS_PER_ROW;
  into.merchant = facts[at] as number;
  into.month = facts[at + 1] as number;
  into.product = facts[at + 2] as number;
  into.status = facts[at + 3] as number;
  into.kycStage = facts[at + 4] as number;
  into.amountKobo = facts[at + 5] as number;
}

export interface ParseRequest {
  type: 'file';
  file: string;
  /** Byte offset to start at: a record boundary (after the header, or a committed checkpoint). */
  start: number;
  line: number;
  columns: ColumnMap;
  runId: number;
  /** An unterminated last line is taken only once the file has not changed for this long. */
  settleMs: number;
}

/**
 * A chunk's buffers, handed back to the parsing thread once their rows are taken: it fills them
 * again, as new ones per chunk left freed chunks scattered over the allocator's arenas (RSS grew).
 */
export interface ChunkBuffers {
  encoded: ArrayBuffer;
  rowEnds: ArrayBuffer;
  facts: ArrayBuffer;
}

/** The importing thread took a chunk: one more may be sent, into these buffers. */
export interface CreditMessage {
  type: 'credit';
  buffers: ChunkBuffers;
}

export type ParserMessage =
  { type: 'chunk'; chunk: ParsedChunk } | { type: 'error'; message: string };

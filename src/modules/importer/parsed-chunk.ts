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
  /** FACT_FIELDS numbers per row. */
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
  /** The file's last chunk. */
  final: boolean;
}

export type OtherRecord =
  | { at: number; fields: string[]; line: number; raw: string }
  | { at: number; reason: RejectReason; line: number; raw: string; fieldCount?: number };

/** The rollup columns of a canonical row in ParsedChunk.facts, in this order. */
export const FACT_FIELDS = [
  'merchant',
  'month',
  'product',
  'status',
  'kycStage',
  'amountKobo',
] as const;

export interface ParseRequest {
  type: 'file';
  file: string;
  /** Byte offset to start at: a record boundary (after the header, or a committed checkpoint). */
  start: number;
  line: number;
  columns: ColumnMap;
  runId: number;
}

export type ParserMessage =
  { type: 'chunk'; chunk: ParsedChunk } | { type: 'error'; message: string };

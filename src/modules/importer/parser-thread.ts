/**
 * The parsing thread of an import (started by file-parser.ts): reads a file from an offset, splits
 * its records and encodes the canonical ones for COPY, and sends the importing thread each chunk's
 * results. Everything that depends on order (duplicates, batches, commits) stays there.
 */
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { parentPort } from 'node:worker_threads';
import { BinaryCopyEncoder } from './binary-copy.js';
import { CanonicalRowEncoder } from './canonical-row.js';
import { CsvRecordSplitter, type RecordSink } from './csv-records.js';
import {
  FACTS_PER_ROW,
  type ChunkBuffers,
  type CreditMessage,
  storeFacts,
  type OtherRecord,
  type ParsedChunk,
  type ParseRequest,
  type ParserMessage,
} from './parsed-chunk.js';
import { openRegularFile } from './regular-file.js';
import type { RejectReason } from './row-rules.js';

/**
 * 896 KiB, so that a chunk plus the carried partial record (<= 64 KiB) decodes to a latin1 string
 * below Node's external-string threshold (~1,007 KiB): smaller strings live on V8's heap, larger
 * ones in a malloc'd block per chunk, which the allocator kept as RSS.
 */
const READ_CHUNK_BYTES = 896 * 1024;
/** Chunks sent and not yet taken: the parser stays at most this far ahead (bounded memory). */
export const CHUNKS_AHEAD = 4;
/** The splitter is fed this much at a time, so that a chunk's record objects stay few. */
const SLICE_BYTES = 16 * 1024;
/** Records for the general rules per chunk: with CHUNKS_AHEAD, a few MB whatever the line shape. */
const MAX_OTHERS_PER_CHUNK = 4096;
/** How often the size of a file that ends inside a record is checked while it settles. */
const SETTLE_POLL_MS = 100;

/**
 * Collects one chunk's records as the splitter hands them over. One collector serves every file
 * of the thread (`startFile`), so its buffers are allocated once rather than per file.
 */
class ChunkCollector implements RecordSink {
  private encoder = new BinaryCopyEncoder(2 << 20);
  private rowEnds = new Int32Array(16_384);
  private facts = new Float64Array(16_384 * FACTS_PER_ROW);
  private others: OtherRecord[] = [];
  private rows = 0;
  private runId = 0;
  private canonical: CanonicalRowEncoder | null = null;

  startFile(request: ParseRequest): void {
    this.runId = request.runId;
    this.canonical = new CanonicalRowEncoder(request.columns);
    this.encoder.reset();
    this.rows = 0;
    this.others = [];
  }

  plainRecord(text: string, source: Buffer, start: number, stop: number): boolean {
    const { encoder, canonical } = this;
    if (!canonical?.encode(text, source, start, stop, encoder, this.runId)) return false;
    if (this.rows === this.rowEnds.length) this.grow();
    storeFacts(this.facts, this.rows, canonical.facts);
    this.rowEnds[this.rows++] = encoder.length;
    return true;
  }

  get otherCount(): number {
    return this.others.length;
  }

  record(fields: string[], line: number, raw: string): void {
    this.others.push({ at: this.rows, fields, line, raw });
  }

  problem(reason: RejectReason, line: number, raw: string, fieldCount?: number): void {
    this.others.push({ at: this.rows, reason, line, raw, fieldCount });
  }

  /** The chunk so far (copied into returned buffers, to be transferred), and a fresh start. */
  take(): Pick<ParsedChunk, 'rows' | 'encoded' | 'rowEnds' | 'facts' | 'others'> {
    const { rows, encoder } = this;
    const spare = returned.pop();
    const encoded = new Uint8Array(fitting(spare?.encoded, encoder.length), 0, encoder.length);
    encoded.set(encoder.buffer.subarray(0, encoder.length));
    const rowEnds = new Int32Array(fitting(spare?.rowEnds, rows * 4), 0, rows);
    rowEnds.set(this.rowEnds.subarray(0, rows));
    const facts = new Float64Array(
      fitting(spare?.facts, rows * FACTS_PER_ROW * 8),
      0,
      rows * FACTS_PER_ROW,
    );
    facts.set(this.facts.subarray(0, rows * FACTS_PER_ROW));
    const chunk = { rows, encoded, rowEnds, facts, others: this.others };
    this.encoder.reset();
    this.rows = 0;
    this.others = [];
    return chunk;
  }

  private grow(): void {
    const rowEnds = new Int32Array(this.rowEnds.length * 2);
    rowEnds.set(this.rowEnds);
    this.rowEnds = rowEnds;
    const facts = new Float64Array(this.facts.length * 2);
    facts.set(this.facts);
    this.facts = facts;
  }
}

/** Buffers of chunks the importing thread has taken, to be filled again. */
const returned: ChunkBuffers[] = [];

/** `buffer` when it holds `bytes`, or a new one with room to spare (chunks vary a little in size). */
function fitting(buffer: ArrayBuffer | undefined, bytes: number): ArrayBuffer {
  return buffer !== undefined && buffer.byteLength >= bytes
    ? buffer
    : new ArrayBuffer(Math.ceil(bytes * 1.25));
}

let credits = CHUNKS_AHEAD;
let creditArrived: (() => void) | null = null;

async function sendInTurn(chunk: ParsedChunk): Promise<void> {
  while (credits === 0) await new Promise<void>((resolve) => (creditArrived = resolve));
  credits -= 1;
  const message: ParserMessage = { type: 'chunk', chunk };
  parentPort?.postMessage(message, [
    chunk.encoded.buffer as ArrayBuffer,
    chunk.rowEnds.buffer as ArrayBuffer,
    chunk.facts.buffer as ArrayBuffer,
  ]);
}

/**
 * The thread's reading state, kept from file to file: one read buffer filled again and again, one
 * collector, one splitter. New ones per read or per file (as a read stream does) left their freed
 * buffers scattered over the allocator's arenas, and the importer's RSS grew with the import.
 */
const buffer = Buffer.allocUnsafe(READ_CHUNK_BYTES);
const collector = new ChunkCollector();
const splitter = new CsvRecordSplitter(collector);
/** Files are parsed one at a time: the importing thread asks for the next once it has the last. */
let parsing = false;

async function parseFile(request: ParseRequest): Promise<void> {
  if (parsing) throw new Error('a file was asked for while another was being parsed');
  parsing = true;
  try {
    await parseWholeFile(request);
  } finally {
    parsing = false;
  }
}

/**
 * SHA-256 of the bytes up to the splitter's last complete record. Bytes read past it (a partial
 * record, at most one record long) wait in `tail` until a line break completes them.
 */
class PrefixHash {
  private readonly hash = createHash('sha256');
  private tail = Buffer.alloc(0);
  private hashedTo: number;

  constructor(start: number) {
    this.hashedTo = start;
  }

  /** Up to `start` bytes read from the file before parsing begins (a resumed run). */
  updateSkipped(bytes: Buffer): void {
    this.hash.update(bytes);
  }

  /** `bytes` were just read; the complete records now end at absolute offset `consumedTo`. */
  advance(bytes: Buffer, consumedTo: number): void {
    const n = consumedTo - this.hashedTo;
    if (n <= this.tail.length) {
      this.hash.update(this.tail.subarray(0, n));
      this.tail = Buffer.concat([this.tail.subarray(n), bytes]);
    } else {
      this.hash.update(this.tail);
      this.hash.update(bytes.subarray(0, n - this.tail.length));
      this.tail = Buffer.from(bytes.subarray(n - this.tail.length)); // a copy: `bytes` is reused
    }
    this.hashedTo = consumedTo;
  }

  digest(): string {
    return this.hash.copy().digest('hex');
  }
}

/** Hashes the file's first `end` bytes into `prefix` (a resumed run's committed part). */
async function hashSkipped(handle: FileHandle, end: number, prefix: PrefixHash): Promise<void> {
  for (let at = 0; at < end;) {
    const want = Math.min(buffer.length, end - at);
    const { bytesRead } = await handle.read(buffer, 0, want, at);
    if (bytesRead === 0) return; // shorter than before: the final check sees the change
    prefix.updateSkipped(buffer.subarray(0, bytesRead));
    at += bytesRead;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * At the end of the bytes: 'end' when the file is complete as read, 'grew' when there is more
 * to read, 'shrank' when it was cut under the reader. A last line without its line break may be
 * a writer's pause, so it is taken only once the file has stayed the same for `settleMs`.
 */
async function atEndOfFile(
  handle: FileHandle,
  readTo: number,
  settleMs: number,
): Promise<'end' | 'grew' | 'shrank'> {
  let seen = await handle.stat();
  let unchangedSince = Date.now();
  for (;;) {
    if (seen.size > readTo) return 'grew';
    if (seen.size < readTo) return 'shrank';
    if (!splitter.inRecord) return 'end';
    const now = Date.now();
    if (now - seen.mtimeMs >= settleMs || now - unchangedSince >= settleMs) return 'end';
    await sleep(Math.min(SETTLE_POLL_MS, settleMs));
    const next = await handle.stat();
    if (next.mtimeMs !== seen.mtimeMs || next.size !== seen.size) unchangedSince = Date.now();
    seen = next;
  }
}

async function parseWholeFile(request: ParseRequest): Promise<void> {
  collector.startFile(request);
  splitter.restart(request.line);
  const prefix = new PrefixHash(request.start);
  let unsent = 0;
  const send = async (final: boolean, shrank = false): Promise<void> => {
    const position = {
      consumedBytes: splitter.consumedBytes,
      line: splitter.line,
      atRecordBoundary: splitter.atRecordBoundary,
      digest: prefix.digest(),
    };
    await sendInTurn({ ...collector.take(), ...position, bytesRead: unsent, final, shrank });
    unsent = 0;
  };
  const handle = await openRegularFile(request.file);
  try {
    await hashSkipped(handle, request.start, prefix);
    for (let at = request.start; ;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, at);
      if (bytesRead === 0) {
        const state = await atEndOfFile(handle, at, request.settleMs);
        if (state === 'grew') continue;
        if (state === 'shrank') return await send(true, true);
        break;
      }
      at += bytesRead;
      await pushInSlices(buffer.subarray(0, bytesRead), request.start, prefix, () => send(false));
      unsent += bytesRead;
      await send(false);
    }
  } finally {
    await handle.close();
  }
  splitter.end();
  prefix.advance(Buffer.alloc(0), request.start + splitter.consumedBytes);
  await send(true);
}

/**
 * Feeds the splitter in slices and sends a chunk early once it holds many records the fast path
 * declined: each is an object on the heap, and a read of short lines holds hundreds of thousands.
 */
async function pushInSlices(
  bytes: Buffer,
  start: number,
  prefix: PrefixHash,
  sendEarly: () => Promise<void>,
): Promise<void> {
  for (let from = 0; from < bytes.length; from += SLICE_BYTES) {
    const slice = bytes.subarray(from, Math.min(bytes.length, from + SLICE_BYTES));
    splitter.push(slice);
    prefix.advance(slice, start + splitter.consumedBytes);
    if (collector.otherCount >= MAX_OTHERS_PER_CHUNK) await sendEarly();
  }
}

parentPort?.on('message', (message: ParseRequest | CreditMessage) => {
  if (message.type === 'credit') {
    returned.push(message.buffers);
    credits += 1;
    creditArrived?.();
    creditArrived = null;
    return;
  }
  parseFile(message).catch((error: unknown) => {
    const reply: ParserMessage = {
      type: 'error',
      message: error instanceof Error ? error.message : String(error),
    };
    parentPort?.postMessage(reply);
  });
});

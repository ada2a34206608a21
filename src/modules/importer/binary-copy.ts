import type { ActivityRow } from './row-rules.js';

/**
 * Encodes rows in PostgreSQL's binary COPY format, so the server skips text-to-type conversion
 * (the main cost of a text COPY). Column order is ACTIVITY_COLUMNS.
 */
export const ACTIVITY_COLUMNS = [
  'event_id',
  'merchant_id',
  'event_at',
  'product',
  'event_type',
  'amount_kobo',
  'status',
  'channel',
  'region',
  'merchant_tier',
  'run_id',
] as const;

/** Where a row's UUID bytes start: after the field count (2) and the field length (4). */
export const UUID_OFFSET_IN_ROW = 6;

/** The COPY trailer: a field count of -1. */
export const COPY_TRAILER = Buffer.from([0xff, 0xff]);

/** The COPY header: signature, flags (4, zero) and header extension length (4, zero). */
export const COPY_HEADER = Buffer.concat([
  Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'),
  Buffer.alloc(8),
]);
export const COPY_HEADER_BYTES = COPY_HEADER.length;
/** A row of one uuid column: field count (2), field length (4), the 16 bytes. */
export const UUID_ROW_BYTES = 2 + 4 + 16;
/** Seconds between 1970-01-01 and PostgreSQL's epoch, 2000-01-01. */
const PG_EPOCH_SECONDS = 946_684_800;
const TWO_32 = 4_294_967_296;

const HEX = new Int8Array(128).fill(-1);
for (let i = 0; i < 10; i++) HEX[48 + i] = i;
for (let i = 0; i < 6; i++) {
  HEX[65 + i] = 10 + i;
  HEX[97 + i] = 10 + i;
}
/** Byte → its value as a lower-case hex digit, or -1 (upper case included: not canonical). */
const LOWER_HEX = new Int8Array(256).fill(-1);
for (let i = 0; i < 10; i++) LOWER_HEX[48 + i] = i;
for (let i = 0; i < 6; i++) LOWER_HEX[97 + i] = 10 + i;

/** UTF-8 length; equal to the string length exactly when every char is ASCII. */
function utf8Length(value: string): number {
  for (let i = 0; i < value.length; i++) {
    if (value.charCodeAt(i) > 127) return Buffer.byteLength(value);
  }
  return value.length;
}

export class BinaryCopyEncoder {
  private buf: Buffer;
  private off = 0;

  constructor(capacity = 1 << 20) {
    this.buf = Buffer.allocUnsafe(capacity);
  }

  get length(): number {
    return this.off;
  }

  header(): void {
    this.ensure(COPY_HEADER_BYTES);
    this.off += COPY_HEADER.copy(this.buf, this.off);
  }

  reset(): void {
    this.off = 0;
  }

  /** Drops everything written after `offset` (a row that turned out to be a duplicate). */
  truncate(offset: number): void {
    this.off = offset;
  }

  /** The buffer rows are written to (for reading back the UUID bytes of a row). */
  get buffer(): Buffer {
    return this.buf;
  }

  /** Appends rows encoded elsewhere: `source[start, end)`. */
  append(source: Uint8Array, start: number, end: number): void {
    this.ensure(end - start);
    this.buf.set(source.subarray(start, end), this.off);
    this.off += end - start;
  }

  /** The COPY body written so far, with its trailer (nothing is written after it until reset). */
  finish(): Buffer {
    this.ensure(COPY_TRAILER.length);
    COPY_TRAILER.copy(this.buf, this.off);
    return this.buf.subarray(0, this.off + COPY_TRAILER.length);
  }

  /** Copies an encoded row (`source[start, end)`) with one more field: its warnings mask. */
  rowWithWarnings(source: Buffer, start: number, end: number, warnings: number): void {
    this.ensure(end - start + 6);
    this.buf.writeInt16BE(ACTIVITY_COLUMNS.length + 1, this.off);
    source.copy(this.buf, this.off + 2, start + 2, end);
    this.off += end - start;
    this.int2(warnings);
  }

  /**
   * Starts a row written field by field, in ACTIVITY_COLUMNS order, with room for `maxBytes` of
   * fields: the field writers below do not check for room. Returns where the row starts.
   */
  beginRow(maxBytes: number): number {
    this.ensure(maxBytes + 2);
    const start = this.off;
    this.buf[start] = 0; // the field count, int16 (well below 256)
    this.buf[start + 1] = ACTIVITY_COLUMNS.length;
    this.off += 2;
    return start;
  }

  row(row: ActivityRow, runId: number): void {
    const typeBytes = utf8Length(row.eventType);
    const regionBytes = row.region === null ? 0 : utf8Length(row.region);
    this.beginRow(12 * 4 + 4 + 16 + 4 + 8 + 2 + typeBytes + 8 + 2 + 2 + regionBytes + 2 + 4 + 32);
    this.uuid(row.eventId);
    this.int4(row.merchant);
    this.timestamp(row.epochSeconds, row.micros);
    this.int2(row.product);
    this.text(row.eventType, typeBytes);
    this.int8(row.amountKobo);
    this.int2(row.status);
    this.nullableInt2(row.channel);
    if (row.region === null) this.nullField();
    else this.text(row.region, regionBytes);
    this.nullableInt2(row.tier);
    this.int4(runId);
  }

  private ensure(bytes: number): void {
    if (this.off + bytes <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.off + bytes));
    this.buf.copy(bigger, 0, 0, this.off);
    this.buf = bigger;
  }

  nullField(): void {
    this.put32(-1, this.off);
    this.off += 4;
  }

  int2(value: number): void {
    this.put32(2, this.off);
    this.buf[this.off + 4] = value >> 8;
    this.buf[this.off + 5] = value;
    this.off += 6;
  }

  nullableInt2(value: number | null): void {
    if (value === null) this.nullField();
    else this.int2(value);
  }

  int4(value: number): void {
    this.put32(4, this.off);
    this.put32(value, this.off + 4);
    this.off += 8;
  }

  /** An exact integer up to 2^53 as int8, without a BigInt per row. */
  int8(value: number): void {
    const high = Math.floor(value / TWO_32);
    this.put32(8, this.off);
    this.put32(high, this.off + 4);
    this.put32(value - high * TWO_32, this.off + 8);
    this.off += 12;
  }

  /**
   * The 32 bits of `value` (signed or not), big-endian. Buffer#writeInt32BE checks its range and
   * offset on every call, a cost on the hot path; beginRow/ensure have made room already, and
   * every caller passes a 32-bit integer.
   */
  private put32(value: number, at: number): void {
    const b = this.buf;
    b[at] = value >>> 24;
    b[at + 1] = value >>> 16;
    b[at + 2] = value >>> 8;
    b[at + 3] = value;
  }

  timestamp(epochSeconds: number, micros: number): void {
    const value = (epochSeconds - PG_EPOCH_SECONDS) * 1_000_000 + micros;
    if (Number.isSafeInteger(value)) {
      this.int8(value);
      return;
    }
    // Beyond about ±285 years from 2000 a double is no longer exact.
    this.buf.writeInt32BE(8, this.off);
    this.buf.writeBigInt64BE(
      BigInt(epochSeconds - PG_EPOCH_SECONDS) * 1_000_000n + BigInt(micros),
      this.off + 4,
    );
    this.off += 12;
  }

  private text(value: string, byteLength: number): void {
    const b = this.buf;
    this.put32(byteLength, this.off);
    const start = this.off + 4;
    if (byteLength === value.length) {
      // ASCII: a byte per char; a loop beats Buffer#write for these short values.
      for (let i = 0; i < byteLength; i++) b[start + i] = value.charCodeAt(i);
    } else b.write(value, start, byteLength, 'utf8');
    this.off = start + byteLength;
  }

  /**
   * Writes the canonical lower-case UUID (8-4-4-4-12) at `source[s, s + 36)` as its 16 bytes.
   * Returns false, with the row to be truncated, when those bytes are anything else.
   */
  uuidHex(source: Buffer, s: number): boolean {
    const b = this.buf;
    this.put32(16, this.off);
    let o = this.off + 4;
    for (let i = 0; i < 36; i += 2) {
      if (i === 8 || i === 13 || i === 18 || i === 23) {
        if (source[s + i] !== 45) return false;
        i += 1;
      }
      const high = LOWER_HEX[source[s + i] as number] as number;
      const low = LOWER_HEX[source[s + i + 1] as number] as number;
      if ((high | low) < 0) return false;
      b[o++] = (high << 4) | low;
    }
    this.off += 20;
    return true;
  }

  /** A text field of the bytes `source[s, e)` (valid UTF-8). */
  textBytes(source: Buffer, s: number, e: number): void {
    const b = this.buf;
    this.put32(e - s, this.off);
    // A loop: Buffer#copy costs more per call than these few bytes take to copy.
    for (let i = s, o = this.off + 4; i < e; i++, o++) b[o] = source[i] as number;
    this.off += 4 + e - s;
  }

  /** Writes a validated canonical UUID (8-4-4-4-12 hex) as its 16 bytes. */
  private uuid(id: string): void {
    const b = this.buf;
    b.writeInt32BE(16, this.off);
    let o = this.off + 4;
    for (let i = 0; i < 36; i += 2) {
      if (i === 8 || i === 13 || i === 18 || i === 23) i += 1;
      b[o++] = ((HEX[id.charCodeAt(i)] as number) << 4) | (HEX[id.charCodeAt(i + 1)] as number);
    }
    this.off += 20;
  }
}

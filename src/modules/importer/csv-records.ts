import { isAscii, isUtf8 } from 'node:buffer';

/**
 * Streaming RFC 4180 record splitter.
 *
 * Written by hand rather than taken from udsv/papaparse because the contract needs things those
 * parsers do not give: the physical line number of each record, its raw text, a per-record UTF-8
 * check (a bad byte rejects one row, not the file), a 64 KiB cap that keeps memory bounded even on
 * a 100 MB line, and the byte offset of the last complete record (for resumable imports).
 * It decodes each chunk to a string once, so writing it by hand costs no speed on clean data.
 */

export const MAX_RECORD_BYTES = 64 * 1024;
export const MAX_RAW_BYTES = 1024;

export type RecordProblem = 'record_too_long' | 'invalid_encoding';

/**
 * Text PostgreSQL can store: valid UTF-8 without NUL. NUL is valid UTF-8, but a text column
 * refuses it, so a record holding one is rejected as invalid_encoding instead of failing the batch.
 */
function isStorableText(bytes: Buffer): boolean {
  return isUtf8(bytes) && bytes.indexOf(0) === -1;
}

export interface RecordSink {
  /** A record that was split into fields. `raw` is the record's text without its line break. */
  record(fields: string[], line: number, raw: string): void;
  /**
   * A record that could not be decoded: too long or not UTF-8. `raw` is cut at 1 KiB. For a record
   * that is not UTF-8, `fieldCount` is its number of fields (commas and quotes are ASCII), so that
   * a wrong field count can win over the encoding, as the contract orders the reasons.
   */
  problem(reason: RecordProblem, line: number, raw: string, fieldCount?: number): void;
  /**
   * Offered first, an unquoted record of at most 64 KiB in place: `[start, stop)` of both its
   * bytes `source` and their latin1 `text`, without its line break. Its bytes are not checked
   * yet: a sink takes only what it can judge alone (the fast path takes plain ASCII only). True
   * when the sink took it; false to have it checked, split and passed to record() as usual.
   */
  plainRecord?(text: string, source: Buffer, start: number, stop: number, line: number): boolean;
}

const NEWLINE = 10;
const QUOTE_CHAR = '"';

/**
 * The raw text of a record over the cap from its first bytes. Decoding a few bytes past 1 KiB
 * gives the same text as decoding the whole record and cutting it, so the raw text does not depend
 * on where a chunk ended (a character across the cut is dropped, not shown as U+FFFD).
 */
function rawOfLongRecord(bytes: Buffer): string {
  return cutToBytes(displayText(bytes.subarray(0, MAX_RAW_BYTES + 4)));
}

/** Cuts text to at most `maxBytes` UTF-8 bytes without splitting a character. */
export function cutToBytes(text: string, maxBytes = MAX_RAW_BYTES): string {
  if (text.length * 3 <= maxBytes || Buffer.byteLength(text) <= maxBytes) return text;
  const bytes = Buffer.from(text).subarray(0, maxBytes);
  return new TextDecoder().decode(bytes, { stream: true });
}

/** Decodes bytes for display: invalid sequences become U+FFFD, NUL (which PostgreSQL text refuses) too. */
export function displayText(bytes: Buffer): string {
  return bytes.toString('utf8').replace(/\u0000/g, '\uFFFD');
}

/** A blank line holds nothing but spaces and tabs (ASCII only: 0xA0 from a bad byte is not blank). */
function isBlank(text: string): boolean {
  if (text.length === 0) return true;
  const first = text.charCodeAt(0);
  return (first === 32 || first === 9) && /^[ \t]*$/.test(text);
}

/** Where the scan of an over-long record stands inside RFC 4180 quoting, kept across chunks. */
const enum Quoting {
  FieldStart,
  Unquoted,
  Quoted,
  QuoteInQuoted,
}

/**
 * Scans bytes of a record being skipped, honouring quotes exactly as the splitter does, and
 * returns the index of the line break that ends it (or -1) plus the new state and newlines passed.
 */
function scanSkipped(
  bytes: Buffer,
  from: number,
  start: Quoting,
): { end: number; state: Quoting; newlines: number } {
  let state = start;
  let newlines = 0;
  for (let i = from; i < bytes.length; i++) {
    const c = bytes[i] as number;
    if (c === NEWLINE) {
      if (state !== Quoting.Quoted) return { end: i, state, newlines };
      newlines += 1;
      continue;
    }
    switch (state) {
      case Quoting.FieldStart:
        if (c === 34) state = Quoting.Quoted;
        else if (c !== 32 && c !== 9 && c !== 44) state = Quoting.Unquoted;
        break;
      case Quoting.Unquoted:
        if (c === 44) state = Quoting.FieldStart;
        break;
      case Quoting.Quoted:
        if (c === 34) state = Quoting.QuoteInQuoted;
        break;
      case Quoting.QuoteInQuoted:
        state = c === 34 ? Quoting.Quoted : c === 44 ? Quoting.FieldStart : Quoting.Unquoted;
        break;
    }
  }
  return { end: -1, state, newlines };
}

export class CsvRecordSplitter {
  private carry: Buffer = Buffer.alloc(0);
  /** The carry and the next chunk, joined: one buffer filled again for every chunk. */
  private joined: Buffer = Buffer.alloc(0);
  /** Set while the rest of an over-long record is skipped (not kept in memory). */
  private skipping: Quoting | null = null;
  private bytesFed = 0;
  /** Physical line number of the next record (1 = first line of the file). */
  line: number;

  constructor(
    private readonly sink: RecordSink,
    startLine = 1,
  ) {
    this.line = startLine;
  }

  /** Starts a new input at `startLine`, keeping the join buffer (one splitter for many files). */
  restart(startLine = 1): void {
    this.carry = Buffer.alloc(0);
    this.skipping = null;
    this.bytesFed = 0;
    this.line = startLine;
  }

  /** Byte offset, relative to the first pushed byte, just after the last complete record. */
  get consumedBytes(): number {
    return this.bytesFed - this.carry.length;
  }

  /** True while the tail of an over-long record is being skipped: not a safe checkpoint. */
  get atRecordBoundary(): boolean {
    return this.skipping === null;
  }

  /** True when the input so far ends inside a record (no line break after it yet). */
  get inRecord(): boolean {
    return this.carry.length > 0 || this.skipping !== null;
  }

  push(chunk: Buffer): void {
    this.bytesFed += chunk.length;
    this.consume(chunk);
  }

  private consume(chunk: Buffer): void {
    let data = this.carry.length > 0 ? this.join(this.carry, chunk) : chunk;
    this.carry = Buffer.alloc(0);
    if (this.skipping !== null) {
      const scan = scanSkipped(data, 0, this.skipping);
      this.line += scan.newlines;
      if (scan.end === -1) {
        this.skipping = scan.state;
        return;
      }
      this.skipping = null;
      this.line += 1;
      data = data.subarray(scan.end + 1);
    }
    const lastNewline = data.lastIndexOf(NEWLINE);
    if (lastNewline === -1) {
      this.keepPartial(data);
      return;
    }
    const rest = this.splitRegion(data.subarray(0, lastNewline + 1));
    this.keepPartial(Buffer.concat([rest, data.subarray(lastNewline + 1)]));
  }

  /**
   * `carry` then `chunk` in one buffer. A new buffer for every chunk (Buffer.concat) came to the
   * size of the file in allocations, which the allocator kept as the importer's RSS grew.
   */
  private join(carry: Buffer, chunk: Buffer): Buffer {
    const length = carry.length + chunk.length;
    if (this.joined.length < length) this.joined = Buffer.allocUnsafe(Math.ceil(length * 1.25));
    carry.copy(this.joined, 0);
    chunk.copy(this.joined, carry.length);
    return this.joined.subarray(0, length);
  }

  /** Flushes the last record when the input has no trailing line break. */
  end(): void {
    if (this.skipping !== null || this.carry.length === 0) return;
    const data = this.carry;
    this.carry = Buffer.alloc(0);
    const rest = this.splitRegion(Buffer.concat([data, Buffer.from('\n')]));
    if (rest.length > 0) this.emitFinalUnterminated(rest);
  }

  private keepPartial(partial: Buffer): void {
    // One byte of slack: a record of exactly 64 KiB may be followed by the CR of its CRLF.
    if (partial.length <= MAX_RECORD_BYTES + 1) {
      this.carry = Buffer.from(partial); // a copy: the reader fills the pushed buffer again
      return;
    }
    // The record already exceeds the cap: report it, then skip it without keeping it in memory.
    this.sink.problem('record_too_long', this.line, rawOfLongRecord(partial));
    const scan = scanSkipped(partial, 0, Quoting.FieldStart);
    this.line += scan.newlines;
    if (scan.end === -1) {
      this.skipping = scan.state;
      return;
    }
    this.line += 1;
    this.consume(partial.subarray(scan.end + 1));
  }

  /** A record left open by an unterminated quote at the end of the file (`rest` ends with end()'s LF). */
  private emitFinalUnterminated(rest: Buffer): void {
    let stop = rest.length - 1;
    if (stop > 0 && rest[stop - 1] === 13) stop -= 1;
    const record = rest.subarray(0, stop);
    // The carry may hold 64 KiB and one byte (room for a CR): without its CR that is over the cap.
    if (record.length > MAX_RECORD_BYTES) {
      this.sink.problem('record_too_long', this.line, rawOfLongRecord(record));
    } else if (!isStorableText(record)) {
      const fieldCount = splitQuotedFields(record.toString('latin1')).length;
      this.sink.problem('invalid_encoding', this.line, cutToBytes(displayText(record)), fieldCount);
    } else {
      const text = record.toString('utf8');
      this.sink.record(splitQuotedFields(text), this.line, cutToBytes(text));
    }
    this.line += countNewlines(rest, 0, rest.length);
  }

  /**
   * Splits every complete record in `region` (which ends with a line break) and returns the bytes of
   * an incomplete trailing record (a quoted field still open), to be completed by the next chunk.
   */
  private splitRegion(region: Buffer): Buffer {
    // Decoded as latin1, one char per byte, so string offsets are byte offsets: quotes, commas and
    // line breaks are ASCII, never part of a multi-byte UTF-8 character. `storable` means every
    // record of the region can be stored as it is (ASCII, so valid UTF-8, and free of NUL);
    // otherwise each record is checked, and decoded as UTF-8, on its own.
    const storable = isAscii(region) && region.indexOf(0) === -1;
    const text = region.toString('latin1');
    let pos = 0;
    let nextQuote = text.indexOf(QUOTE_CHAR);
    const end = text.length;
    while (pos < end) {
      const nl = text.indexOf('\n', pos);
      if (nextQuote !== -1 && nextQuote < pos) nextQuote = text.indexOf(QUOTE_CHAR, pos);
      if (nextQuote === -1 || nextQuote > nl) {
        this.emitLine(text, pos, nl, storable, region);
        pos = nl + 1;
        continue;
      }
      const recordEnd = findQuotedRecordEnd(text, pos);
      if (recordEnd === -1) return region.subarray(pos);
      this.emitQuoted(text, pos, recordEnd, storable, region);
      pos = recordEnd + 1;
    }
    return Buffer.alloc(0);
  }

  private emitLine(
    text: string,
    start: number,
    nl: number,
    storable: boolean,
    region: Buffer,
  ): void {
    const line = this.line;
    this.line += 1;
    let stop = nl;
    if (stop > start && text.charCodeAt(stop - 1) === 13) stop -= 1;
    if (
      stop - start <= MAX_RECORD_BYTES &&
      this.sink.plainRecord?.(text, region, start, stop, line)
    )
      return;
    const record = text.slice(start, stop);
    if (stop - start <= MAX_RECORD_BYTES && isBlank(record)) return;
    if (this.rejectedForSizeOrEncoding(record, start, stop, storable, region, line)) return;
    const decoded = storable ? record : region.toString('utf8', start, stop);
    this.sink.record(decoded.split(','), line, decoded);
  }

  private emitQuoted(
    text: string,
    start: number,
    recordEnd: number,
    storable: boolean,
    region: Buffer,
  ): void {
    const line = this.line;
    this.line += countChar(text, '\n', start, recordEnd) + 1;
    let stop = recordEnd;
    if (stop > start && text.charCodeAt(stop - 1) === 13) stop -= 1;
    const record = text.slice(start, stop);
    if (this.rejectedForSizeOrEncoding(record, start, stop, storable, region, line)) return;
    const decoded = storable ? record : region.toString('utf8', start, stop);
    this.sink.record(splitQuotedFields(decoded), line, decoded);
  }

  /** `record` is the latin1 text of `region[start, stop)`: one char per byte. */
  private rejectedForSizeOrEncoding(
    record: string,
    start: number,
    stop: number,
    storable: boolean,
    region: Buffer,
    line: number,
  ): boolean {
    if (stop - start > MAX_RECORD_BYTES) {
      const raw = storable ? record : displayText(region.subarray(start, stop));
      this.sink.problem('record_too_long', line, cutToBytes(raw));
      return true;
    }
    if (
      !storable &&
      (record.includes('\u0000') || (hasHighBytes(record) && !isUtf8(region.subarray(start, stop))))
    ) {
      this.sink.problem(
        'invalid_encoding',
        line,
        cutToBytes(displayText(region.subarray(start, stop))),
        splitQuotedFields(record).length,
      );
      return true;
    }
    return false;
  }
}

function hasHighBytes(latin1: string): boolean {
  return /[\x80-\xff]/.test(latin1);
}

function countNewlines(buf: Buffer, from: number, to: number): number {
  let count = 0;
  let i = buf.indexOf(NEWLINE, from);
  while (i !== -1 && i < to) {
    count += 1;
    i = buf.indexOf(NEWLINE, i + 1);
  }
  return count;
}

function countChar(text: string, ch: string, from: number, to: number): number {
  let count = 0;
  let i = text.indexOf(ch, from);
  while (i !== -1 && i < to) {
    count += 1;
    i = text.indexOf(ch, i + 1);
  }
  return count;
}

/**
 * Index of the line break that ends the record starting at `start`, honouring quoted fields, or -1
 * when the record is still open at the end of `text`. A quote opens a quoted field only at the start
 * of a field (after optional spaces); elsewhere it is an ordinary character.
 */
function findQuotedRecordEnd(text: string, start: number): number {
  let i = start;
  let atFieldStart = true;
  const end = text.length;
  while (i < end) {
    const c = text.charCodeAt(i);
    if (atFieldStart && (c === 32 || c === 9)) {
      i += 1;
      continue;
    }
    if (atFieldStart && c === 34) {
      i = skipQuoted(text, i + 1);
      if (i === -1) return -1;
      atFieldStart = false;
      continue;
    }
    if (c === 10) return i;
    atFieldStart = c === 44;
    i += 1;
  }
  return -1;
}

/** Returns the index just after the closing quote of a quoted field, or -1 when it is not closed. */
function skipQuoted(text: string, from: number): number {
  let i = from;
  for (;;) {
    const q = text.indexOf('"', i);
    if (q === -1) return -1;
    if (text.charCodeAt(q + 1) === 34) {
      i = q + 2;
      continue;
    }
    return q + 1;
  }
}

/** Splits one record (without its line break) into fields, unquoting quoted ones. */
export function splitQuotedFields(record: string): string[] {
  const fields: string[] = [];
  let i = 0;
  const end = record.length;
  for (;;) {
    let j = i;
    while (j < end && (record.charCodeAt(j) === 32 || record.charCodeAt(j) === 9)) j += 1;
    if (j < end && record.charCodeAt(j) === 34) {
      let value = '';
      let k = j + 1;
      for (;;) {
        const q = record.indexOf('"', k);
        if (q === -1) {
          value += record.slice(k);
          k = end;
          break;
        }
        value += record.slice(k, q);
        if (record.charCodeAt(q + 1) === 34) {
          value += '"';
          k = q + 2;
          continue;
        }
        k = q + 1;
        break;
      }
      const comma = record.indexOf(',', k);
      const trailing = record.slice(k, comma === -1 ? end : comma);
      fields.push(trailing.trim().length === 0 ? value : value + trailing);
      if (comma === -1) return fields;
      i = comma + 1;
    } else {
      const comma = record.indexOf(',', i);
      if (comma === -1) {
        fields.push(record.slice(i));
        return fields;
      }
      fields.push(record.slice(i, comma));
      i = comma + 1;
    }
  }
}

/**
 * Finds the first non-blank record of `text` (the start of a file, BOM removed). Returns its fields,
 * its line number and the index just past its line break, or null when no complete record is in
 * `text` (unless `atEnd`, in which case the rest of the text is the record).
 */
export function splitFirstRecord(
  text: string,
  atEnd: boolean,
): { fields: string[]; line: number; nextLine: number; end: number } | null {
  let pos = 0;
  let line = 1;
  while (pos < text.length) {
    let nl = findQuotedRecordEnd(text, pos);
    if (nl === -1) {
      if (!atEnd) return null;
      nl = text.length;
    }
    const record = text.slice(pos, nl).replace(/\r$/, '');
    const nextLine = line + countChar(text, '\n', pos, nl) + 1;
    if (!isBlank(record)) {
      return {
        fields: splitQuotedFields(record),
        line,
        nextLine,
        end: Math.min(nl + 1, text.length),
      };
    }
    line = nextLine;
    pos = nl + 1;
  }
  return null;
}

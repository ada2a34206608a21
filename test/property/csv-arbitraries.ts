import fc from 'fast-check';

/**
 * Generators of hostile CSV bytes, shared by the splitter properties and the end-to-end imports.
 * Each "piece" is one physical record whose fate the contract fixes, so a generated input comes
 * with the events it must produce; the byte soups have no such model and only check invariants.
 */

export const MAX_RECORD_BYTES = 64 * 1024;
const MAX_RAW_BYTES = 1024;
export const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/** Byte sequences that are not UTF-8 whatever ASCII byte (or the end) follows them. */
export const NOT_UTF8: readonly Buffer[] = [
  [0xff],
  [0xfe],
  [0x80], // a continuation byte alone
  [0xa0], // looks like a no-break space in latin1
  [0xc3], // a two-byte lead without its continuation
  [0xe2, 0x82], // ₦ cut short
  [0xf0, 0x9f, 0x98], // 😀 cut short
  [0xc0, 0x80], // overlong NUL
  [0xed, 0xa0, 0x80], // a UTF-16 surrogate
  [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
].map((bytes) => Buffer.from(bytes));

const syntax = fc.constantFrom(',', '"', '""', '\n', '\r', '\r\n', ' ', '\t');
const plain = fc.constantFrom('a', 'Z', '0', '7', '-', '.', ':', '+', 'MRC-', '2024');
const exotic = fc.constantFrom('é', '₦', '😀', 'Ọ̀', '\uFEFF', '\u00A0', '\u2028', '\uFFFD');
const anyCodePoint = fc
  .string({ unit: 'binary', minLength: 1, maxLength: 1 })
  .filter((c) => c !== '\u0000');

/** Text a field may hold: CSV syntax, multi-byte and exotic characters; anything but NUL. */
export const fieldText = fc.string({
  unit: fc.oneof(
    { weight: 4, arbitrary: plain },
    { weight: 3, arbitrary: syntax },
    { weight: 1, arbitrary: exotic },
    { weight: 1, arbitrary: anyCodePoint },
  ),
  maxLength: 8,
});

export interface CsvField {
  value: string;
  /** Quote even when the value does not need it. */
  quoted: boolean;
  /** Spaces or tabs around the quotes of a quoted field (the splitter drops them). */
  pad: string;
}

const padding = fc.constantFrom('', ' ', '  ', '\t', ' \t');
export const csvField = (value: fc.Arbitrary<string> = fieldText): fc.Arbitrary<CsvField> =>
  fc.record({ value, quoted: fc.boolean(), pad: padding });

/** One RFC 4180 record: a field is quoted (quotes doubled) when its value needs it, or by choice. */
export function serializeRecord(fields: CsvField[]): string {
  return fields
    .map((f) => {
      const lone = fields.length === 1 && /^[ \t]*$/.test(f.value); // else a blank line
      if (!f.quoted && !lone && !/[",\r\n]/.test(f.value)) return f.value;
      return `${f.pad}"${f.value.replace(/"/g, '""')}"${f.pad}`;
    })
    .join(',');
}

/** One physical record (without its line ending) and what the contract makes of it. */
export type Piece =
  | { kind: 'record'; fields: CsvField[] }
  | { kind: 'blank'; text: string }
  | { kind: 'not_utf8'; before: string; bad: Buffer; after: string; multiline: boolean }
  | { kind: 'nul'; before: string; after: string; multiline: boolean }
  | { kind: 'too_long'; size: number; unit: string; multiline: boolean }
  | { kind: 'max_size' };

const asciiText = fc.string({
  unit: fc.constantFrom('a', 'b', '1', ' ', ',', '-', ':'),
  maxLength: 12,
});

export const recordPiece = (field = csvField()): fc.Arbitrary<Piece> =>
  fc.array(field, { minLength: 1, maxLength: 6 }).map((fields) => ({ kind: 'record', fields }));

export const blankPiece: fc.Arbitrary<Piece> = fc
  .constantFrom('', ' ', '\t', '  \t ')
  .map((text) => ({ kind: 'blank', text }));

export const notUtf8Piece: fc.Arbitrary<Piece> = fc.record({
  kind: fc.constant('not_utf8' as const),
  before: asciiText,
  bad: fc.constantFrom(...NOT_UTF8),
  after: asciiText,
  multiline: fc.boolean(),
});

export const nulPiece: fc.Arbitrary<Piece> = fc.record({
  kind: fc.constant('nul' as const),
  before: asciiText,
  after: asciiText,
  multiline: fc.boolean(),
});

export const tooLongPiece: fc.Arbitrary<Piece> = fc.record({
  kind: fc.constant('too_long' as const),
  size: fc.integer({ min: MAX_RECORD_BYTES + 1, max: MAX_RECORD_BYTES + 3000 }),
  // Multi-byte text puts a character across the 1 KiB cut of the raw text.
  unit: fc.constantFrom('x', '₦', 'a😀'),
  multiline: fc.boolean(),
});

export const maxSizePiece: fc.Arbitrary<Piece> = fc.constant({ kind: 'max_size' });

/** Pieces without the 64 KiB ones: cheap enough for thousands of runs. */
export const smallPiece = fc.oneof(
  { weight: 6, arbitrary: recordPiece() },
  { weight: 1, arbitrary: blankPiece },
  { weight: 1, arbitrary: notUtf8Piece },
  { weight: 1, arbitrary: nulPiece },
);

export function pieceBytes(piece: Piece): Buffer {
  switch (piece.kind) {
    case 'record':
      return Buffer.from(serializeRecord(piece.fields));
    case 'blank':
      return Buffer.from(piece.text);
    case 'not_utf8':
    case 'nul': {
      const bad = piece.kind === 'nul' ? Buffer.from([0]) : piece.bad;
      const [open, close] = piece.multiline ? ['"', '\n'] : ['', ''];
      const end = piece.multiline ? '"' : '';
      return Buffer.concat([
        Buffer.from(open + piece.before + close),
        bad,
        Buffer.from(piece.after + end),
      ]);
    }
    case 'too_long': {
      const unit = piece.multiline ? `${piece.unit}\n` : piece.unit;
      const body = unit.repeat(Math.ceil(piece.size / Buffer.byteLength(unit)));
      return Buffer.from(piece.multiline ? `"${body}",z` : body);
    }
    case 'max_size':
      return Buffer.alloc(MAX_RECORD_BYTES, 'x');
  }
}

/** What the splitter reports for a record. */
export type SplitEvent =
  | { kind: 'record'; fields: string[]; line: number; raw: string }
  | { kind: 'problem'; reason: 'record_too_long' | 'invalid_encoding'; line: number; raw: string };

/**
 * The raw text the contract asks for: invalid bytes (and NUL, which PostgreSQL text refuses) shown
 * as U+FFFD, cut at 1 KiB without splitting a character.
 */
export function displayedRaw(bytes: Buffer): string {
  const text = new TextDecoder().decode(bytes).replace(/\u0000/g, '\uFFFD');
  let raw = '';
  let size = 0;
  for (const character of text) {
    size += Buffer.byteLength(character);
    if (size > MAX_RAW_BYTES) break;
    raw += character;
  }
  return raw;
}

/** The event a piece must produce at `line`, or null for a blank line. */
export function expectedEvent(piece: Piece, line: number): SplitEvent | null {
  const bytes = pieceBytes(piece);
  switch (piece.kind) {
    case 'blank':
      return null;
    case 'record':
      return {
        kind: 'record',
        fields: piece.fields.map((f) => f.value),
        line,
        raw: bytes.toString(),
      };
    case 'max_size':
      return { kind: 'record', fields: [bytes.toString()], line, raw: bytes.toString() };
    case 'too_long':
      return { kind: 'problem', reason: 'record_too_long', line, raw: displayedRaw(bytes) };
    case 'not_utf8':
    case 'nul':
      return { kind: 'problem', reason: 'invalid_encoding', line, raw: displayedRaw(bytes) };
  }
}

export interface Layout {
  pieces: Piece[];
  endings: Array<'\n' | '\r\n'>;
  /** Whether the last piece has a line ending too. */
  trailingEnding: boolean;
}

export const layout = (piece: fc.Arbitrary<Piece>, maxPieces = 12): fc.Arbitrary<Layout> =>
  fc.record({
    pieces: fc.array(piece, { maxLength: maxPieces }),
    endings: fc.array(fc.constantFrom('\n' as const, '\r\n' as const), {
      minLength: maxPieces,
      maxLength: maxPieces,
    }),
    trailingEnding: fc.boolean(),
  });

/** The bytes of a layout and the events they must produce, numbering lines from `firstLine`. */
export function render(
  { pieces, endings, trailingEnding }: Layout,
  firstLine = 1,
): { bytes: Buffer; events: SplitEvent[] } {
  const parts: Buffer[] = [];
  const events: SplitEvent[] = [];
  let line = firstLine;
  pieces.forEach((piece, i) => {
    const bytes = pieceBytes(piece);
    const event = expectedEvent(piece, line);
    if (event) events.push(event);
    const last = i === pieces.length - 1;
    const ending = last && !trailingEnding ? '' : (endings[i] ?? '\n');
    parts.push(bytes, Buffer.from(ending));
    line += countNewlines(bytes) + (ending ? 1 : 0);
  });
  return { bytes: Buffer.concat(parts), events };
}

/**
 * The last record of a file left open by a quote that never closes: the rest of the file is its
 * one field. `size` is its length in bytes (without an optional final CR), around the 64 KiB cap.
 */
export interface OpenTail {
  size: number;
  cr: boolean;
}

export const openTail: fc.Arbitrary<OpenTail> = fc.record({
  size: fc.oneof(
    fc.integer({ min: 1, max: 40 }),
    fc.integer({ min: MAX_RECORD_BYTES - 2, max: MAX_RECORD_BYTES + 2 }),
  ),
  cr: fc.boolean(),
});

/** Appends an open tail to rendered pieces (after a line break) with the event it must produce. */
export function withOpenTail(
  rendered: { bytes: Buffer; events: SplitEvent[] },
  tail: OpenTail,
): { bytes: Buffer; events: SplitEvent[] } {
  const head = rendered.bytes;
  const separator = head.length > 0 && head[head.length - 1] !== 10 ? '\n' : '';
  const line = countNewlines(head) + (separator ? 1 : 0) + 1;
  const content = Buffer.from(`"${'x'.repeat(tail.size - 1)}`);
  const bytes = Buffer.concat([
    head,
    Buffer.from(separator),
    content,
    Buffer.from(tail.cr ? '\r' : ''),
  ]);
  const event: SplitEvent =
    tail.size > MAX_RECORD_BYTES
      ? { kind: 'problem', reason: 'record_too_long', line, raw: displayedRaw(content) }
      : { kind: 'record', fields: [content.toString().slice(1)], line, raw: displayedRaw(content) };
  return { bytes, events: [...rendered.events, event] };
}

export function countNewlines(bytes: Buffer): number {
  let count = 0;
  for (let i = bytes.indexOf(10); i !== -1; i = bytes.indexOf(10, i + 1)) count += 1;
  return count;
}

const SOUP_TOKENS: Buffer[] = [
  ...[',', '"', '""', '\n', '\r\n', '\r', ' ', '\t', 'a', 'MRC-000001', '₦', '😀', '\u2028'].map(
    (t) => Buffer.from(t),
  ),
  BOM,
  Buffer.from([0]),
  Buffer.from([0xe2]), // the first byte of ₦ alone: a character split by the soup itself
  ...NOT_UTF8,
];

/** Arbitrary bytes biased towards CSV syntax: quotes anywhere, CR/LF mixes, BOMs, bad UTF-8, NUL. */
export const byteSoup = (maxTokens = 120): fc.Arbitrary<Buffer> =>
  fc
    .array(
      fc.oneof(
        { weight: 12, arbitrary: fc.constantFrom(...SOUP_TOKENS) },
        { weight: 2, arbitrary: fc.uint8Array({ maxLength: 6 }).map((b) => Buffer.from(b)) },
      ),
      { maxLength: maxTokens },
    )
    .map((parts) => Buffer.concat(parts));

/** A run of 30–70 KB: a record over the cap, a blank one, or (quotes) a field that swallows lines. */
const longRun = fc
  .tuple(fc.constantFrom('x', ' ', '"', 'y\n', '""', '₦'), fc.integer({ min: 30_000, max: 70_000 }))
  .map(([unit, bytes]) => Buffer.from(unit.repeat(Math.ceil(bytes / Buffer.byteLength(unit)))));

/** Byte soup with one or two long runs in it. */
export const longSoup: fc.Arbitrary<Buffer> = fc
  .tuple(byteSoup(12), longRun, byteSoup(12), fc.option(longRun), byteSoup(12))
  .map((parts) => Buffer.concat(parts.filter((p): p is Buffer => p !== null)));

/** How an input is cut into chunks: at arbitrary fractions of its length, or in fixed sizes. */
export type Chunking = { cuts: number[] } | { size: number };

export const chunking: fc.Arbitrary<Chunking> = fc.oneof(
  fc
    .array(fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), { maxLength: 16 })
    .map((cuts) => ({ cuts })),
  fc.constantFrom(1, 2, 3, 7, 64, 4096).map((size) => ({ size })),
);

export function chunksOf(data: Buffer, how: Chunking, maxPushes = 512): Buffer[] {
  if ('size' in how) {
    // A bounded number of pushes: each one re-reads the open record (up to 64 KiB).
    const size = Math.max(how.size, Math.ceil(data.length / maxPushes));
    const chunks: Buffer[] = [];
    for (let pos = 0; pos < data.length; pos += size) chunks.push(data.subarray(pos, pos + size));
    return chunks;
  }
  const points = [...new Set(how.cuts.map((f) => Math.floor(f * data.length)))].sort(
    (a, b) => a - b,
  );
  const chunks: Buffer[] = [];
  let from = 0;
  for (const to of [...points, data.length]) {
    if (to > from) chunks.push(data.subarray(from, to));
    from = Math.max(from, to);
  }
  return chunks;
}

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CsvRecordSplitter } from '../../src/modules/importer/csv-records.js';
import {
  REJECT_REASONS,
  REQUIRED_COLUMNS,
  WARNING_KINDS,
  judgeRow,
  parseAmountKobo,
  parseTimestamp,
  resolveHeader,
  type ActivityRow,
  type ColumnMap,
  type ColumnName,
} from '../../src/modules/importer/row-rules.js';
import { header, rowCase, validTimestamp } from './activity-arbitraries.js';
import {
  MAX_RECORD_BYTES,
  blankPiece,
  byteSoup,
  chunking,
  chunksOf,
  countNewlines,
  fieldText,
  layout,
  longSoup,
  maxSizePiece,
  nulPiece,
  notUtf8Piece,
  openTail,
  recordPiece,
  render,
  smallPiece,
  tooLongPiece,
  withOpenTail,
  type Chunking,
  type Layout,
  type Piece,
  type SplitEvent,
} from './csv-arbitraries.js';
import { runs } from './fast-check-settings.js';

/** Runs the splitter over `data` cut as `how` says; `checkpoints` are its state after each push. */
function split(
  data: Buffer,
  how: Chunking = { cuts: [] },
  startLine = 1,
  maxPushes?: number,
): {
  events: SplitEvent[];
  lineBeforeEnd: number;
  consumedBeforeEnd: number;
  checkpoints: Array<{ events: number; consumed: number; line: number; boundary: boolean }>;
} {
  const events: SplitEvent[] = [];
  const splitter = new CsvRecordSplitter(
    {
      record: (fields, line, raw) => events.push({ kind: 'record', fields, line, raw }),
      problem: (reason, line, raw) => events.push({ kind: 'problem', reason, line, raw }),
    },
    startLine,
  );
  const checkpoints = [];
  for (const chunk of chunksOf(data, how, maxPushes)) {
    splitter.push(chunk);
    checkpoints.push({
      events: events.length,
      consumed: splitter.consumedBytes,
      line: splitter.line,
      boundary: splitter.atRecordBoundary,
    });
  }
  const lineBeforeEnd = splitter.line;
  const consumedBeforeEnd = splitter.consumedBytes;
  splitter.end();
  return { events, lineBeforeEnd, consumedBeforeEnd, checkpoints };
}

/** A layout of the given pieces, each ended by LF. */
const lines = (...pieces: Piece[]): Layout => ({
  pieces,
  endings: Array<'\n'>(12).fill('\n'),
  trailingEnding: true,
});

/** A compact form for failure messages: 64 KiB fields make unreadable diffs. */
const brief = (events: SplitEvent[]): string[] =>
  events.map((e) => {
    const raw = `${Buffer.byteLength(e.raw)}B:${JSON.stringify(e.raw.slice(0, 16))}…${JSON.stringify(e.raw.slice(-4))}`;
    return e.kind === 'record'
      ? `record@${e.line}:${JSON.stringify(e.fields.map((f) => (f.length > 40 ? `<${f.length}>` : f)))} raw ${raw}`
      : `${e.reason}@${e.line} raw ${raw}`;
  });

function expectSameEvents(actual: SplitEvent[], expected: SplitEvent[]): void {
  // Compared as JSON first: an input of 35,000 one-line records makes 35,000 events.
  if (JSON.stringify(actual) === JSON.stringify(expected)) return;
  expect(brief(actual)).toEqual(brief(expected));
  expect(actual).toEqual(expected);
}

/** What is wrong with one event whatever the input was, or null. */
function insanity(event: SplitEvent, previousLine: number, totalLines: number): string | null {
  // One event per record, at the physical line where it starts: lines only increase.
  if (event.line <= previousLine || event.line > totalLines) return 'line out of order or range';
  // What reaches PostgreSQL text columns never holds NUL.
  if (event.raw.includes('\u0000')) return 'NUL in raw';
  if (event.kind === 'record' && event.fields.some((f) => f.includes('\u0000')))
    return 'NUL in a field';
  // Raw texts of problems are cut at 1 KiB; a record is at most 64 KiB.
  const cap = event.kind === 'problem' ? 1024 : MAX_RECORD_BYTES;
  if (Buffer.byteLength(event.raw) > cap) return 'raw too long';
  return null;
}

/** Invariants that hold for any input whatsoever. */
function expectSaneEvents(data: Buffer, result: ReturnType<typeof split>): void {
  const totalLines = countNewlines(data) + 1;
  const wrong = result.events.flatMap((event, i) => {
    const problem = insanity(event, result.events[i - 1]?.line ?? 0, totalLines);
    return problem ? [`${problem}: ${brief([event])[0]}`] : [];
  });
  expect(wrong).toEqual([]);
  // Every line break passed is counted: the line number and what is left unread add up.
  const unread = countNewlines(data.subarray(result.consumedBeforeEnd));
  expect(result.lineBeforeEnd - 1 + unread).toBe(countNewlines(data));
}

describe('CSV splitter properties', () => {
  it('when well-formed records are mixed with blank, non-UTF-8 and NUL lines, then each non-blank line yields its own event at its physical line, however the bytes are chunked', () => {
    fc.assert(
      fc.property(layout(smallPiece), chunking, (shape, how) => {
        const { bytes, events } = render(shape);
        expectSameEvents(split(bytes, how).events, events);
      }),
      // Examples run first: bugs found by this property, kept as regressions.
      {
        ...runs(800),
        examples: [
          [lines({ kind: 'nul', before: 'a', after: '', multiline: false }), { cuts: [] }],
        ],
      },
    );
  });

  it('when records over 64 KiB (quoted or not, multi-byte or not) and of exactly 64 KiB are among them, then the long ones (also a last record left open by its quote) are record_too_long and the rest is untouched', () => {
    const piece = fc.oneof(
      { weight: 3, arbitrary: recordPiece() },
      { weight: 1, arbitrary: blankPiece },
      { weight: 1, arbitrary: notUtf8Piece },
      { weight: 1, arbitrary: nulPiece },
      { weight: 2, arbitrary: tooLongPiece },
      { weight: 1, arbitrary: maxSizePiece },
    );
    fc.assert(
      fc.property(layout(piece, 5), fc.option(openTail), chunking, (shape, tail, how) => {
        const rendered = render(shape);
        const { bytes, events } = tail ? withOpenTail(rendered, tail) : rendered;
        expectSameEvents(split(bytes, how).events, events);
      }),
      {
        ...runs(60),
        examples: [
          // An open quote of 64 KiB and one byte at the end of the input was let through.
          [lines(), { size: MAX_RECORD_BYTES + 1, cr: false }, { cuts: [] }],
          // The raw text of a long record ended in U+FFFD when a chunk cut a 4-byte character.
          [
            lines({ kind: 'too_long', size: MAX_RECORD_BYTES + 1, unit: 'a😀', multiline: false }),
            null,
            { size: 4096 },
          ],
        ],
      },
    );
  });

  it('when arbitrary bytes are split (quotes anywhere, CR/LF mixes, BOMs, bad UTF-8, NUL), then nothing throws, chunking changes nothing and every line break is counted', () => {
    fc.assert(
      fc.property(byteSoup(), chunking, (data, how) => {
        const whole = split(data);
        expectSaneEvents(data, whole);
        const chunked = split(data, how);
        expectSameEvents(chunked.events, whole.events);
        expectSaneEvents(data, chunked);
      }),
      runs(800),
    );
  });

  it('when arbitrary bytes hold runs of 30–70 KB (plain, blank, quotes, quoted lines), then the 64 KiB cap gives the same events however the bytes are chunked', () => {
    fc.assert(
      fc.property(longSoup, chunking, (data, how) => {
        const whole = split(data);
        expectSaneEvents(data, whole);
        expectSameEvents(split(data, how, 1, 64).events, whole.events);
      }),
      runs(40),
    );
  });

  it('when a splitter restarts at any checkpoint it reported (consumedBytes, line), then it yields exactly the events the first run had left', () => {
    fc.assert(
      fc.property(byteSoup(), chunking, fc.nat(), chunking, (data, how, pick, resumeHow) => {
        const first = split(data, how);
        const safe = first.checkpoints.filter((c) => c.boundary);
        fc.pre(safe.length > 0);
        const at = safe[pick % safe.length] as (typeof safe)[number];
        const resumed = split(data.subarray(at.consumed), resumeHow, at.line);
        expectSameEvents(resumed.events, first.events.slice(at.events));
      }),
      runs(500),
    );
  });
});

const STANDARD = (resolveHeader([...REQUIRED_COLUMNS]) as { columns: ColumnMap }).columns;

describe('row rule properties', () => {
  it('when any fields meet any header, then judgeRow never throws and every verdict is one the contract allows', () => {
    const anyValue = fc.oneof(
      fieldText,
      fc.string({ unit: 'binary', maxLength: 40 }),
      fc.bigInt().map(String),
      fc.double().map(String),
      validTimestamp,
    );
    fc.assert(
      fc.property(header, fc.array(anyValue, { maxLength: 16 }), (names, fields) => {
        const verdict = resolveHeader(names);
        expect(verdict.ok).toBe(true);
        const columns = (verdict as { columns: ColumnMap }).columns;
        const result = judgeRow(fields, columns);
        if (fields.length !== columns.width)
          expect(result).toEqual({ ok: false, reason: 'column_count' });
        if (!result.ok) {
          expect(REJECT_REASONS).toContain(result.reason);
          return;
        }
        expectRowInContract(result.row);
      }),
      runs(1500),
    );
  });

  it('when valid values get broken or warned fields and white-space padding, then the verdict is the first broken rule in contract order, else exactly the warnings', () => {
    fc.assert(
      fc.property(rowCase(), header, (row, names) => {
        const columns = (resolveHeader(names) as { columns: ColumnMap }).columns;
        // Same-named columns (the first wins) get the same value; extra columns anything.
        const fields = names.map(
          (name) => row.values[name.trim().toLowerCase() as ColumnName] ?? 'extra',
        );
        const verdict = judgeRow(fields, columns);
        if (row.reason) {
          expect(verdict).toEqual({ ok: false, reason: row.reason });
          return;
        }
        expect(verdict.ok).toBe(true);
        if (!verdict.ok) return;
        expectRowInContract(verdict.row);
        expect(verdict.row.eventId).toBe(row.id);
        expect([...verdict.row.warnings].sort()).toEqual([...row.warnings].sort());
        // One field too many or too few is column_count, whatever the fields hold.
        expect(judgeRow([...fields, ''], columns)).toEqual({ ok: false, reason: 'column_count' });
        expect(judgeRow(fields.slice(1), columns)).toEqual({ ok: false, reason: 'column_count' });
      }),
      runs(1000),
    );
  });

  it('when ASCII letters of any field change case, then the verdict does not change', () => {
    const swapCase = (s: string): string =>
      s.replace(/[a-z]/gi, (c) => (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase()));
    fc.assert(
      fc.property(rowCase(), (row) => {
        const fields = REQUIRED_COLUMNS.map((c) => row.values[c]);
        expect(judgeRow(fields.map(swapCase), STANDARD)).toEqual(judgeRow(fields, STANDARD));
      }),
      runs(500),
    );
  });

  it('when an amount is any decimal with up to 40 digits a side, then it is exact kobo rounded half-up, or invalid when negative or above 10^13 NGN', () => {
    const digits = fc.string({ unit: fc.constantFrom(...'0123456789'), maxLength: 40 });
    const LIMIT = 10n ** 16n; // 10^13 NGN in thousandths
    fc.assert(
      fc.property(
        fc.constantFrom('', '+', '-'),
        digits,
        fc.option(digits),
        (sign, whole, fraction) => {
          const text = `${sign}${whole}${fraction === null ? '' : `.${fraction}`}`;
          const got = parseAmountKobo(text);
          const allDigits = whole + (fraction ?? '');
          if (allDigits === '') {
            expect(got).toBe(text === '' ? 0 : null); // '' is 0; '+', '-', '.' have no digits
            return;
          }
          // Exact reference in BigInt: thousandths of an NGN (later digits cannot matter), then half-up.
          const thousandths =
            BigInt(whole || '0') * 1000n + BigInt((fraction ?? '').padEnd(3, '0').slice(0, 3));
          const beyond = /[1-9]/.test((fraction ?? '').slice(3));
          if (sign === '-' && /[1-9]/.test(allDigits)) expect(got).toBeNull();
          else if (thousandths > LIMIT || (thousandths === LIMIT && beyond)) expect(got).toBeNull();
          else if (thousandths < LIMIT) expect(got).toBe(Number((thousandths + 5n) / 10n));
        },
      ),
      runs(2000),
    );
  });

  it('when a timestamp has any calendar date, time, fraction and offset, then it is the instant Date computes, in the UTC month of that instant', () => {
    fc.assert(
      fc.property(validTimestamp, (text) => {
        const parsed = parseTimestamp(text);
        const reference = referenceInstant(text);
        expect(parsed).not.toBeNull();
        expect(parsed).toEqual(reference);
      }),
      runs(2000),
    );
  });

  it('when an offset moves a time out of years 0001–9999, then the timestamp is invalid (its month could not be written as YYYY-MM)', () => {
    const edge = fc
      .tuple(
        fc.constantFrom('0001-01-01T00:', '9999-12-31T23:'),
        fc.integer({ min: 0, max: 59 }),
        fc.integer({ min: 0, max: 23 }),
        fc.integer({ min: 0, max: 59 }),
        fc.constantFrom('+', '-'),
      )
      .map(
        ([prefix, minute, h, m, sign]) =>
          `${prefix}${String(minute).padStart(2, '0')}${sign}${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`,
      );
    fc.assert(
      fc.property(edge, (text) => {
        const parsed = parseTimestamp(text);
        const year = new Date(Date.parse(text)).getUTCFullYear();
        if (year < 1 || year > 9999) expect(parsed).toBeNull();
        else expect(parsed).not.toBeNull();
      }),
      { ...runs(300), examples: [['9999-12-31T23:30-01:00'], ['0001-01-01T00:30+01:00']] },
    );
  });
});

/** The shape the contract stores an accepted row in. */
function expectRowInContract(row: ActivityRow): void {
  expect(row.eventId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  expect(row.merchant).toBeGreaterThanOrEqual(0);
  expect(row.merchant).toBeLessThanOrEqual(999_999);
  expect(Number.isSafeInteger(row.amountKobo) && row.amountKobo >= 0).toBe(true);
  expect(row.amountKobo).toBeLessThanOrEqual(1e15);
  expect(row.micros).toBeGreaterThanOrEqual(0);
  expect(row.micros).toBeLessThan(1_000_000);
  expect(row.eventType).toBe(row.eventType.toUpperCase());
  if (row.region !== null) expect(row.region).toBe(row.region.trim().toUpperCase());
  expect(new Set(row.warnings).size).toBe(row.warnings.length);
  for (const w of row.warnings) expect(WARNING_KINDS).toContain(w);
  expectMonthInContract(row.month, row.epochSeconds);
}

/** yyyymm of a real month in years 0001–9999, and the month of the instant itself. */
function expectMonthInContract(month: number, epochSeconds: number): void {
  expect(month % 100).toBeGreaterThanOrEqual(1);
  expect(month % 100).toBeLessThanOrEqual(12);
  expect(month).toBeGreaterThanOrEqual(101);
  expect(month).toBeLessThanOrEqual(999_912);
  const date = new Date(epochSeconds * 1000);
  expect(month).toBe(date.getUTCFullYear() * 100 + date.getUTCMonth() + 1);
}

/** The contract's reading of a timestamp, computed with Date (which knows calendars and offsets). */
function referenceInstant(
  text: string,
): { epochSeconds: number; micros: number; month: number } | null {
  const m =
    /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?([Zz]|[+-]\d{2}:\d{2})?$/.exec(
      text,
    );
  if (!m) return null;
  const [, y, mo, d, h, mi, s = '0', fraction = '', zone = 'Z'] = m;
  const date = new Date(0);
  date.setUTCFullYear(Number(y), Number(mo) - 1, Number(d));
  date.setUTCHours(Number(h), Number(mi), Number(s), 0);
  let ms = date.getTime();
  if (/^[+-]/.test(zone)) {
    const minutes = Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6));
    ms -= (zone[0] === '+' ? 1 : -1) * minutes * 60_000;
  }
  const utc = new Date(ms);
  const year = utc.getUTCFullYear();
  if (year < 1 || year > 9999) return null;
  return {
    epochSeconds: ms / 1000,
    micros: Number(fraction.padEnd(6, '0').slice(0, 6)),
    month: year * 100 + utc.getUTCMonth() + 1,
  };
}

import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generateFiles } from '../../bench/generate.js';
import { BinaryCopyEncoder } from '../../src/modules/importer/binary-copy.js';
import { CanonicalRowEncoder } from '../../src/modules/importer/canonical-row.js';
import {
  CHANNELS,
  EVENT_TYPES_BY_PRODUCT,
  PRODUCTS,
  REQUIRED_COLUMNS,
  STATUSES,
  TIERS,
  judgeRow,
  resolveHeader,
  type ColumnMap,
  type ColumnName,
} from '../../src/modules/importer/row-rules.js';
import { tempDir } from '../helpers.js';
import {
  header,
  rowCase,
  validAmount,
  validEventId,
  validMerchant,
  validTimestamp,
  type RowCase,
} from './activity-arbitraries.js';
import { runs } from './fast-check-settings.js';

/**
 * The importer's fast path (canonical-row.ts) against the general one (judgeRow, then the COPY
 * encoder): every row the fast path accepts, the general path accepts too, into the same encoded
 * row and the same rollup columns; a row it declines leaves nothing written.
 */

const RUN_ID = 42;

/**
 * The fast path on the UTF-8 bytes of `line` inside `before` and `after`, as the splitter offers
 * it (bytes and their latin1 text): the encoded row and its facts, or null.
 */
function fastPath(columns: ColumnMap, line: string, before = '', after = '') {
  const source = Buffer.from(`${before}${line}${after}`);
  const start = Buffer.byteLength(before);
  const stop = start + Buffer.byteLength(line);
  const encoder = new CanonicalRowEncoder(columns);
  const out = new BinaryCopyEncoder(16);
  const ok = encoder.encode(source.toString('latin1'), source, start, stop, out, RUN_ID);
  if (!ok) {
    expect(out.length).toBe(0);
    return null;
  }
  return { bytes: Buffer.from(out.buffer.subarray(0, out.length)), facts: { ...encoder.facts } };
}

/** The canonical form of a value: what the fast path is meant to recognise. */
function canonical(column: ColumnName, value: string): string {
  const trimmed = value.trim();
  return column === 'event_id' ? trimmed.toLowerCase() : trimmed.toUpperCase();
}

/** Rows that pass every rule, in canonical form but for the odd field: mostly fast-path rows. */
const passingRow = fc
  .record({
    event_id: validEventId(),
    merchant_id: validMerchant,
    event_timestamp: validTimestamp,
    product: fc.constantFrom(...PRODUCTS),
    typeIndex: fc.nat(),
    amount: validAmount,
    status: fc.constantFrom(...STATUSES),
    channel: fc.constantFrom('', ...CHANNELS),
    // Now and then a NUL or a non-ASCII letter: the fast path must leave those to the general one.
    region: fc.string({ unit: fc.constantFrom(...'ABCZ _-0ABCZ _-0\u0000É'), maxLength: 8 }),
    merchant_tier: fc.constantFrom('', ...TIERS),
    canonicalFields: fc.array(fc.boolean(), { minLength: 10, maxLength: 10 }),
  })
  .map((r): RowCase['values'] => {
    const types = EVENT_TYPES_BY_PRODUCT[r.product];
    const values = { ...r, event_type: types[r.typeIndex % types.length] as string };
    return Object.fromEntries(
      REQUIRED_COLUMNS.map((column, i) => [
        column,
        r.canonicalFields[i] || i % 3 !== 0 ? canonical(column, values[column]) : values[column],
      ]),
    ) as RowCase['values'];
  });

/** Rows of every kind (rowCase), some fields put into canonical form so the fast path is taken. */
const lineCase = fc
  .record({
    header,
    row: fc.oneof(
      rowCase().map((r) => r.values),
      passingRow,
    ),
    canonicalFields: fc.array(fc.boolean(), { minLength: 10, maxLength: 10 }),
    allCanonical: fc.boolean(),
  })
  .map(({ header: names, row, canonicalFields, allCanonical }) => {
    const columns = (resolveHeader(names) as { ok: true; columns: ColumnMap }).columns;
    const fields = names.map(() => 'extra');
    REQUIRED_COLUMNS.forEach((column, i) => {
      const value = row[column];
      fields[columns.index[column]] =
        allCanonical || canonicalFields[i] ? canonical(column, value) : value;
    });
    return { columns, line: fields.join(',') };
  });

/** The splitter offers the fast path unquoted records without line breaks. */
const offeredToFastPath = (line: string): boolean => !/["\r\n]/.test(line);

describe('the fast path for canonical rows', () => {
  it('when it accepts a row, then the general rules accept it too, into the same row', () => {
    let accepted = 0;
    fc.assert(
      fc.property(lineCase, ({ columns, line }) => {
        if (!offeredToFastPath(line)) return;
        const fast = fastPath(columns, line);
        if (fast === null) return;
        accepted += 1;
        // NUL is invalid_encoding (the splitter's rule), and beyond ASCII the general path decides.
        expect(line).toMatch(/^[\x01-\x7f]*$/);
        const verdict = judgeRow(line.split(','), columns);
        if (!verdict.ok) expect.fail(`the general path rejects it: ${verdict.reason}`);
        const { row } = verdict;
        expect(row.warnings).toEqual([]);
        const general = new BinaryCopyEncoder(16);
        general.row(row, RUN_ID);
        expect(fast.bytes).toEqual(Buffer.from(general.buffer.subarray(0, general.length)));
        const { merchant, month, product, status, kycStage, amountKobo } = row;
        expect(fast.facts).toEqual({ merchant, month, product, status, kycStage, amountKobo });
      }),
      runs(2000),
    );
    // Not vacuous: a good share of the generated rows take the fast path.
    expect(accepted).toBeGreaterThan(200);
  });

  it('when a line sits inside a longer text, then only its own characters are judged', () => {
    fc.assert(
      fc.property(lineCase, fc.string(), fc.string(), ({ columns, line }, before, after) => {
        if (!offeredToFastPath(line)) return;
        expect(fastPath(columns, line, `${before}\n`, `\n${after}`)).toEqual(
          fastPath(columns, line),
        );
      }),
      runs(500),
    );
  });

  it('when the generator writes clean files, then the fast path takes every row', async () => {
    const dir = await tempDir('canonical-rows-');
    try {
      await generateFiles({ days: 2, rowsPerDay: 5000, seed: 7, outDir: dir, clean: true });
      for (const name of await readdir(dir)) {
        const [head, ...lines] = (await readFile(path.join(dir, name), 'latin1'))
          .replace(/^\uFEFF/, '')
          .split(/\r?\n/)
          .filter((l) => l !== '');
        const columns = (resolveHeader((head as string).split(',')) as { columns: ColumnMap })
          .columns;
        const declined = lines.filter((l) => fastPath(columns, l) === null);
        expect(declined).toEqual([]);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

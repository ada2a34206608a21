import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generateFiles } from '../../bench/generate.js';
import { CanonicalRowJudge } from '../../src/modules/importer/canonical-row.js';
import {
  REQUIRED_COLUMNS,
  judgeRow,
  resolveHeader,
  type ColumnMap,
  type ColumnName,
} from '../../src/modules/importer/row-rules.js';
import { tempDir } from '../helpers.js';
import { header, rowCase } from './activity-arbitraries.js';
import { runs } from './fast-check-settings.js';

/**
 * The importer's fast path (canonical-row.ts) against the general one (judgeRow): every row the
 * fast path accepts, the general path accepts too, into the same stored row.
 */

/** The canonical form of a value: what the fast path is meant to recognise. */
function canonical(column: ColumnName, value: string): string {
  const trimmed = value.trim();
  return column === 'event_id' ? trimmed.toLowerCase() : trimmed.toUpperCase();
}

/** Rows of every kind (rowCase), some fields put into canonical form so the fast path is taken. */
const lineCase = fc
  .record({
    header,
    row: rowCase(),
    canonicalFields: fc.array(fc.boolean(), { minLength: 10, maxLength: 10 }),
    allCanonical: fc.boolean(),
  })
  .map(({ header: names, row, canonicalFields, allCanonical }) => {
    const columns = (resolveHeader(names) as { ok: true; columns: ColumnMap }).columns;
    const fields = names.map(() => 'extra');
    REQUIRED_COLUMNS.forEach((column, i) => {
      const value = row.values[column];
      fields[columns.index[column]] =
        allCanonical || canonicalFields[i] ? canonical(column, value) : value;
    });
    return { columns, line: fields.join(',') };
  });

/** The splitter offers the fast path only unquoted ASCII records without line breaks. */
const offeredToFastPath = (line: string): boolean =>
  /^[\x00-\x09\x0b\x0c\x0e-\x21\x23-\x7f]*$/.test(line);

describe('the fast path for canonical rows', () => {
  it('when it accepts a row, then the general rules accept it too, into the same row', () => {
    let accepted = 0;
    fc.assert(
      fc.property(lineCase, ({ columns, line }) => {
        if (!offeredToFastPath(line)) return;
        const fast = new CanonicalRowJudge(columns).judge(line, 0, line.length);
        if (fast === null) return;
        accepted += 1;
        expect(judgeRow(line.split(','), columns)).toEqual({ ok: true, row: fast });
      }),
      runs(2000),
    );
    // Not vacuous: a good share of the generated rows take the fast path.
    expect(accepted).toBeGreaterThan(50);
  });

  it('when a line sits inside a longer text, then only its own characters are judged', () => {
    fc.assert(
      fc.property(lineCase, fc.string(), fc.string(), ({ columns, line }, before, after) => {
        if (!offeredToFastPath(line)) return;
        const judge = new CanonicalRowJudge(columns);
        const text = `${before}\n${line}\n${after}`;
        const start = before.length + 1;
        expect(judge.judge(text, start, start + line.length)).toEqual(
          judge.judge(line, 0, line.length),
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
        const judge = new CanonicalRowJudge(columns);
        const declined = lines.filter((l) => judge.judge(l, 0, l.length) === null);
        expect(declined).toEqual([]);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

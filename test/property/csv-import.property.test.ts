import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../src/db/database.js';
import type { BulkLoadMode } from '../../src/config.js';
import { AnswerCache } from '../../src/modules/analytics/analytics.cache.js';
import { verifyAnswers } from '../../src/modules/analytics/verify.js';
import { Importer } from '../../src/modules/importer/importer.js';
import type { FileOutcome } from '../../src/modules/importer/import-types.js';
import type { RunCounts } from '../../src/modules/importer/importer.repository.js';
import {
  REQUIRED_COLUMNS,
  type ColumnName,
  type RejectReason,
} from '../../src/modules/importer/row-rules.js';
import { HEADER, createTestDatabase, tempDir } from '../helpers.js';
import { header, rowCase, type RowCase } from './activity-arbitraries.js';
import {
  BOM,
  NOT_UTF8,
  byteSoup,
  countNewlines,
  fieldText,
  longSoup,
  serializeRecord,
  type CsvField,
} from './csv-arbitraries.js';
import { runs } from './fast-check-settings.js';

/**
 * End to end: generated files go through the real importer into a real database. Every run writes
 * a new file into the same database, so later files meet event ids stored by earlier ones.
 */

/** One line of a generated file and the verdict the contract gives it. */
type Line =
  | { kind: 'row'; row: RowCase; quoted: boolean[]; extra: string }
  | { kind: 'column_count'; row: RowCase; delta: -2 | -1 | 1 | 3 }
  | { kind: 'empty_fields' }
  | { kind: 'blank'; text: string }
  | { kind: 'bad_bytes'; row: RowCase; bytes: Buffer; reason: RejectReason };

const badBytes = fc.oneof(
  fc.constantFrom(...NOT_UTF8).map((bytes) => ({ bytes, reason: 'invalid_encoding' as const })),
  fc.constant({ bytes: Buffer.from('a\u0000b'), reason: 'invalid_encoding' as const }),
  fc.constant({ bytes: Buffer.alloc(70_000, 'x'), reason: 'record_too_long' as const }),
);

const line: fc.Arbitrary<Line> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.record({
      kind: fc.constant('row' as const),
      row: rowCase(300),
      quoted: fc.array(fc.boolean(), { minLength: 16, maxLength: 16 }),
      extra: fieldText,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('column_count' as const),
      row: rowCase(300),
      delta: fc.constantFrom(-2 as const, -1 as const, 1 as const, 3 as const),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'empty_fields' as const }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('', ' ', '\t ').map((text) => ({ kind: 'blank' as const, text })),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(rowCase(300), badBytes)
      .map(([row, bad]) => ({ kind: 'bad_bytes' as const, row, ...bad })),
  },
);

interface FileCase {
  bom: boolean;
  blankLinesBefore: number;
  names: string[];
  lines: Line[];
  crlf: boolean[];
  trailingEnding: boolean;
  batchRows: number;
}

const fileCase: fc.Arbitrary<FileCase> = fc.record({
  bom: fc.boolean(),
  blankLinesBefore: fc.integer({ min: 0, max: 2 }),
  names: header,
  lines: fc.array(line, { maxLength: 40 }),
  crlf: fc.array(fc.boolean(), { minLength: 42, maxLength: 42 }),
  trailingEnding: fc.boolean(),
  // Batches from one row up: checkpoints fall anywhere in the file, also between its duplicates.
  batchRows: fc.oneof(fc.constantFrom(1, 2, 3, 1000), fc.integer({ min: 1, max: 50 })),
});

const PLACEHOLDER = '\u0007PLACEHOLDER\u0007';

/** The fields of a row in header order (extra columns hold `extra`), as CSV fields. */
function fieldsInHeaderOrder(names: string[], row: RowCase, extra: string): string[] {
  return names.map((name) => {
    const key = name.trim().toLowerCase();
    return (REQUIRED_COLUMNS as readonly string[]).includes(key)
      ? row.values[key as ColumnName]
      : extra;
  });
}

const asFields = (values: string[], quoted: boolean[] = []): CsvField[] =>
  values.map((value, i) => ({ value, quoted: quoted[i] ?? false, pad: '' }));

/** The bytes of one line (without its ending). */
function lineBytes(names: string[], l: Line): Buffer {
  switch (l.kind) {
    case 'row':
      return Buffer.from(
        serializeRecord(asFields(fieldsInHeaderOrder(names, l.row, l.extra), l.quoted)),
      );
    case 'column_count': {
      const values = fieldsInHeaderOrder(names, l.row, '');
      const changed =
        l.delta < 0 ? values.slice(0, l.delta) : [...values, ...Array<string>(l.delta).fill('')];
      return Buffer.from(serializeRecord(asFields(changed)));
    }
    case 'empty_fields':
      return Buffer.from(','.repeat(names.length - 1));
    case 'blank':
      return Buffer.from(l.text);
    case 'bad_bytes': {
      // Bad bytes in the region column, with the right number of columns: the splitter rejects the
      // record before any row rule sees it (so column_count cannot compete with invalid_encoding).
      const row = { ...l.row, values: { ...l.row.values, region: PLACEHOLDER } };
      const text = serializeRecord(asFields(fieldsInHeaderOrder(names, row, 'x')));
      const [before, after] = text.split(PLACEHOLDER) as [string, string];
      return Buffer.concat([Buffer.from(before), l.bytes, Buffer.from(after)]);
    }
  }
}

/** What the contract says each line becomes, before duplicates are known. */
function verdictOf(l: Line): { read: boolean; reason: RejectReason | null; row: RowCase | null } {
  switch (l.kind) {
    case 'blank':
      return { read: false, reason: null, row: null };
    case 'row':
      return { read: true, reason: l.row.reason, row: l.row.reason ? null : l.row };
    case 'column_count':
      return { read: true, reason: 'column_count', row: null };
    case 'empty_fields':
      return { read: true, reason: 'invalid_event_id', row: null };
    case 'bad_bytes':
      return { read: true, reason: l.reason, row: null };
  }
}

function render(c: FileCase): Buffer {
  const parts: Buffer[] = [c.bom ? BOM : Buffer.alloc(0)];
  for (let i = 0; i < c.blankLinesBefore; i++) parts.push(Buffer.from('\n'));
  parts.push(Buffer.from(`${c.names.join(',')}\r\n`));
  c.lines.forEach((l, i) => {
    const last = i === c.lines.length - 1;
    const ending = last && !c.trailingEnding ? '' : c.crlf[i] ? '\r\n' : '\n';
    parts.push(lineBytes(c.names, l), Buffer.from(ending));
  });
  return Buffer.concat(parts);
}

interface Expected extends RunCounts {
  rejects: Array<{ line: number; reason: string }>;
}

/** The ledger the contract promises, given the ids already stored before this file. */
function expectedLedger(c: FileCase, stored: Set<string>): Expected {
  const e: Expected = {
    rowsRead: 0,
    rowsInserted: 0,
    rowsDuplicate: 0,
    rowsRejected: 0,
    rowsPending: 0,
    rejectsByReason: {},
    warningsByKind: {},
    rejects: [],
  };
  const seen = new Set(stored);
  let lineNo = c.blankLinesBefore + 2; // after blank lines and the one-line header
  for (const l of c.lines) {
    const { read, reason, row } = verdictOf(l);
    if (read) e.rowsRead += 1;
    if (reason) {
      e.rowsRejected += 1;
      e.rejectsByReason[reason] = (e.rejectsByReason[reason] ?? 0) + 1;
      e.rejects.push({ line: lineNo, reason });
    } else if (row) {
      if (seen.has(row.id as string)) e.rowsDuplicate += 1;
      else {
        seen.add(row.id as string);
        e.rowsInserted += 1;
        for (const w of row.warnings) e.warningsByKind[w] = (e.warningsByKind[w] ?? 0) + 1;
      }
    }
    lineNo += countNewlines(lineBytes(c.names, l)) + 1;
  }
  return e;
}

/** Either way of loading: the unique key kept row by row, or off and rebuilt (a bulk load). */
const bulkLoadMode = fc.constantFrom<BulkLoadMode>('never', 'always');

describe('importing generated hostile files', () => {
  let db: { url: string; drop: () => Promise<void> };
  let database: Database;
  let dir: string;
  let fileNo = 0;

  beforeAll(async () => {
    db = await createTestDatabase();
    database = await openDatabase({ databaseUrl: db.url });
    dir = await tempDir('activities-property-');
  });

  afterAll(async () => {
    await database?.close();
    await db?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Writes the bytes as a new file and imports it; the importer must not throw. */
  async function importBytes(
    bytes: Buffer,
    batchRows: number,
    bulkLoad: BulkLoadMode,
  ): Promise<FileOutcome> {
    fileNo += 1;
    const file = path.join(dir, `activities_${String(fileNo).padStart(8, '0')}.csv`);
    await writeFile(file, bytes);
    const importer = new Importer(database.pool, db.url, { batchRows, bulkLoad, settleMs: 0 });
    const outcomes = await importer.importFiles([file]);
    await rm(file);
    expect(outcomes).toHaveLength(1);
    return outcomes[0] as FileOutcome;
  }

  async function ledgerOf(runId: number) {
    const { rows } = await database.pool.query(
      `SELECT status, rows_read::int AS "rowsRead", rows_inserted::int AS "rowsInserted",
         rows_duplicate::int AS "rowsDuplicate", rows_rejected::int AS "rowsRejected",
         rows_pending::int AS "rowsPending", rejects_by_reason AS "rejectsByReason", warnings_by_kind AS "warningsByKind",
         (SELECT count(*)::int FROM activities WHERE run_id = $1) AS "activities",
         (SELECT coalesce(json_agg(json_build_object('line', line::int, 'reason', reason) ORDER BY line), '[]')
            FROM import_rejects WHERE run_id = $1) AS "rejects",
         (SELECT coalesce(max(octet_length(raw)), 0) FROM import_rejects WHERE run_id = $1) AS "longestRaw"
       FROM import_runs WHERE id = $1`,
      [runId],
    );
    return rows[0];
  }

  async function storedIds(ids: string[]): Promise<Set<string>> {
    const { rows } = await database.pool.query<{ id: string }>(
      'SELECT event_id::text AS id FROM activities WHERE event_id = ANY($1::uuid[])',
      [ids],
    );
    return new Set(rows.map((r) => r.id));
  }

  it('when a file mixes valid, broken, warned, duplicate, mis-shaped, non-UTF-8, NUL and over-long rows under any header, then its ledger, facts and rejects are exactly what the contract says', async () => {
    await fc.assert(
      fc.asyncProperty(fileCase, bulkLoadMode, async (c, bulkLoad) => {
        const candidates = c.lines.flatMap((l) => (l.kind === 'row' && l.row.id ? [l.row.id] : []));
        const expected = expectedLedger(c, await storedIds(candidates));
        const outcome = await importBytes(render(c), c.batchRows, bulkLoad);
        expect(outcome.status).toBe('done');
        const ledger = await ledgerOf(outcome.runId as number);
        const { rejects, ...counts } = expected;
        expect(ledger).toEqual({
          status: 'done',
          ...counts,
          activities: expected.rowsInserted,
          rejects,
          longestRaw: expect.any(Number),
        });
        expect(ledger.longestRaw).toBeLessThanOrEqual(1024);
      }),
      runs(25),
    );
  });

  it('when a file is arbitrary bytes (with or without a valid header, long runs, unterminated quotes), then nothing throws and read = inserted + duplicates + rejected, with a fact per inserted row and a reject per rejected one', async () => {
    const content = fc.record({
      bom: fc.boolean(),
      head: fc.oneof(
        fc.constant(Buffer.from(`${HEADER}\n`)),
        fc.constant(Buffer.from(`${HEADER}\r\n`)),
        byteSoup(20),
      ),
      body: fc.oneof({ weight: 4, arbitrary: byteSoup(300) }, { weight: 1, arbitrary: longSoup }),
      batchRows: fc.constantFrom(1, 7, 1000),
    });
    await fc.assert(
      fc.asyncProperty(content, bulkLoadMode, async ({ bom, head, body, batchRows }, bulkLoad) => {
        const bytes = Buffer.concat([bom ? BOM : Buffer.alloc(0), head, body]);
        const outcome = await importBytes(bytes, batchRows, bulkLoad);
        expect(['done', 'rejected']).toContain(outcome.status);
        const ledger = await ledgerOf(outcome.runId as number);
        expect(ledger.status).toBe(outcome.status);
        expect(ledger.rowsPending).toBe(0);
        expect(ledger.rowsRead).toBe(
          ledger.rowsInserted + ledger.rowsDuplicate + ledger.rowsRejected,
        );
        expect(ledger.activities).toBe(ledger.rowsInserted);
        expect(ledger.rejects).toHaveLength(ledger.rowsRejected);
        expect(ledger.longestRaw).toBeLessThanOrEqual(1024);
        if (outcome.status === 'rejected') expect(ledger.rowsRead).toBe(0);
      }),
      runs(15),
    );
  });

  it('when all those files are in, then the rollups still equal the facts', async () => {
    const results = await verifyAnswers(database.pool, new AnswerCache(database.pool));
    expect(results.filter((r) => !r.match)).toEqual([]);
  });
});

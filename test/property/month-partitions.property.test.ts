import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { createPool } from '../../src/db/pool.js';
import { Importer } from '../../src/modules/importer/importer.js';
import { storedMonths } from '../../src/modules/importer/month-partitions.js';
import { archiveMonthsBefore, restoreMonth } from '../../src/modules/retention/retention.js';
import { HEADER, createTestDatabase, scratchDirs } from '../helpers.js';
import { runs } from './fast-check-settings.js';

/**
 * The id registry against a reference: files whose ids repeat across months and years (in upper
 * case, padded with spaces, twice in one file), imported in batches of a few rows, keyed or in
 * bulk, into registry generations sealed as often as after every transaction, with months
 * archived and restored in between. A row is a duplicate exactly when its id was ever stored,
 * whatever was archived since; the stored facts are the model's, month by month.
 */

const scratchDir = scratchDirs();
const IDS = Array.from(
  { length: 24 },
  (_, i) => `${(i + 1).toString(16).padStart(8, '0')}-aaaa-4bbb-8ccc-${'d'.repeat(12)}`,
);
/** Across two year ends, and the first and last years the contract accepts. */
const MONTHS = [101, 202311, 202312, 202401, 202402, 202412, 202501, 202502, 999912];

interface Row {
  id: number;
  month: number;
  spelling: 'lower' | 'upper' | 'padded';
}
type Step =
  | { kind: 'import'; rows: Row[]; batchRows: number; generationIds: number; bulk: boolean }
  | { kind: 'archive'; before: number }
  | { kind: 'restore'; month: number };

const row: fc.Arbitrary<Row> = fc.record({
  id: fc.integer({ min: 0, max: IDS.length - 1 }),
  month: fc.constantFrom(...MONTHS),
  spelling: fc.constantFrom('lower' as const, 'upper' as const, 'padded' as const),
});
const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('import' as const),
      rows: fc.array(row, { minLength: 1, maxLength: 12 }),
      batchRows: fc.integer({ min: 1, max: 5 }),
      // 1: the registry's newest generation is sealed after every transaction.
      generationIds: fc.constantFrom(1, 2, 1_000_000),
      bulk: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('archive' as const),
      before: fc.constantFrom(...MONTHS),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('restore' as const),
      month: fc.constantFrom(...MONTHS),
    }),
  },
);

function csvLine(r: Row): string {
  const id = IDS[r.id] as string;
  const text =
    r.spelling === 'upper' ? id.toUpperCase() : r.spelling === 'padded' ? `  ${id} ` : id;
  const year = String(Math.floor(r.month / 100)).padStart(4, '0');
  const mm = String(r.month % 100).padStart(2, '0');
  return `${text},MRC-000001,${year}-${mm}-15T12:00:00,POS,CARD_TRANSACTION,10.00,SUCCESS,POS,Lagos,STARTER`;
}

/** What the contract says: the ids ever stored, and the month of each stored fact. */
class Reference {
  readonly everStored = new Set<number>();
  readonly facts = new Map<number, number>(); // id → month, of facts not archived
  readonly archived = new Map<number, number[]>(); // month → its ids

  import(rows: Row[]): { inserted: number; duplicate: number } {
    let inserted = 0;
    for (const r of rows) {
      if (this.everStored.has(r.id)) continue;
      this.everStored.add(r.id);
      this.facts.set(r.id, r.month);
      inserted += 1;
    }
    return { inserted, duplicate: rows.length - inserted };
  }

  archive(before: number): void {
    for (const [id, month] of this.facts) {
      if (month >= before) continue;
      this.archived.set(month, [...(this.archived.get(month) ?? []), id]);
      this.facts.delete(id);
    }
  }

  restore(month: number): boolean {
    const ids = this.archived.get(month);
    if (!ids) return false;
    for (const id of ids) this.facts.set(id, month);
    this.archived.delete(month);
    return true;
  }
}

async function storedFacts(client: pg.Client): Promise<Map<number, number>> {
  const { rows } = await client.query<{ id: string; month: number }>(
    `SELECT event_id::text AS id,
            (extract(year FROM event_at AT TIME ZONE 'UTC') * 100
             + extract(month FROM event_at AT TIME ZONE 'UTC'))::int AS month
     FROM activities`,
  );
  return new Map(rows.map((r) => [IDS.indexOf(r.id), r.month]));
}

describe('the id registry across month partitions, archives and restores', () => {
  const dbs: Array<{ drop: () => Promise<void> }> = [];
  afterAll(async () => {
    await Promise.all(dbs.map((db) => db.drop()));
  });

  it('when files repeat ids across months and years, and months are archived and restored in between, then a row is a duplicate exactly when its id was ever stored', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 7 }), async (steps) => {
        const db = await createTestDatabase();
        dbs.push(db);
        await migrate(db.url);
        const pool = createPool(db.url, 2);
        const client = new pg.Client({ connectionString: db.url });
        await client.connect();
        const dir = await scratchDir();
        const archiveDir = path.join(dir, 'archive');
        const model = new Reference();
        try {
          for (const [n, s] of steps.entries()) {
            if (s.kind === 'import') {
              const file = path.join(dir, `activities_2025${String(n + 1).padStart(4, '0')}.csv`);
              await writeFile(file, `${[HEADER, ...s.rows.map(csvLine)].join('\n')}\n`);
              const importer = new Importer(pool, db.url, {
                batchRows: s.batchRows,
                copyBatchRows: s.batchRows,
                registryGenerationIds: s.generationIds,
                bulkLoad: s.bulk ? 'always' : 'auto',
                settleMs: 0,
              });
              const [outcome] = await importer.importFiles([file]);
              const expected = model.import(s.rows);
              expect(outcome).toMatchObject({
                status: 'done',
                rowsInserted: expected.inserted,
                rowsDuplicate: expected.duplicate,
              });
            } else if (s.kind === 'archive') {
              await archiveMonthsBefore(db.url, archiveDir, s.before);
              model.archive(s.before);
            } else {
              const restored = model.restore(s.month);
              const restoring = restoreMonth(db.url, archiveDir, s.month);
              if (restored) await restoring;
              else await expect(restoring).rejects.toThrow(/is not archived/);
            }
            expect(await storedFacts(client)).toEqual(model.facts);
            expect(await storedMonths(client)).toEqual(
              [...new Set(model.facts.values())].sort((a, b) => a - b),
            );
            const registry = await client.query<{ n: number }>(
              'SELECT count(*)::int AS n FROM event_ids',
            );
            expect(registry.rows[0]?.n).toBe(model.everStored.size);
          }
        } finally {
          await client.end();
          await pool.end();
        }
      }),
      runs(12),
    );
  }, 240_000);
});

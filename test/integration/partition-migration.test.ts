import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { storedMonths } from '../../src/modules/importer/month-partitions.js';
import { importInto } from '../fault-helpers.js';
import { HEADER, createTestDatabase, tempDir, uuid, writeCsv } from '../helpers.js';

const MIGRATIONS = fileURLToPath(new URL('../../migrations', import.meta.url));
/** The migrations before month partitions. */
const BEFORE_PARTITIONS = 4;

async function migrateBy(url: string, direction: 'up' | 'down', count: number): Promise<void> {
  await runner({
    databaseUrl: url,
    dir: MIGRATIONS,
    direction,
    count,
    migrationsTable: 'pgmigrations',
    log: () => undefined,
  });
}

/** Facts as the single table held them: one in December 2023, two in January 2024. */
const FACTS = [
  [uuid(), '2023-12-31T23:59:59Z'],
  [uuid(), '2024-01-01T00:00:00Z'],
  [uuid(), '2024-01-31T12:00:00Z'],
] as const;

async function storeOldFacts(client: pg.Client): Promise<void> {
  for (const [id, at] of FACTS)
    await client.query(
      `INSERT INTO activities (event_id, merchant_id, event_at, product, event_type, amount_kobo,
                               status, run_id)
       VALUES ($1, 1, $2, 1, 'CARD_TRANSACTION', 100, 1, 1)`,
      [id, at],
    );
}

const ids = async (client: pg.Client, table: string): Promise<string[]> =>
  (
    await client.query<{ id: string }>(`SELECT event_id::text AS id FROM ${table} ORDER BY 1`)
  ).rows.map((r) => r.id);

describe('when a store of the single facts table is migrated to month partitions', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  async function oldStore(): Promise<{ url: string; client: pg.Client }> {
    const db = await createTestDatabase();
    await migrateBy(db.url, 'up', BEFORE_PARTITIONS);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    cleanups.push(async () => {
      await client.end();
      await db.drop();
    });
    return { url: db.url, client };
  }

  it('then every fact is in its month’s partition and every id in the registry, and the way down gives the table back', async () => {
    const { url, client } = await oldStore();
    await storeOldFacts(client);
    await migrate(url);

    expect(await storedMonths(client)).toEqual([202312, 202401]);
    const december = await ids(client, 'activities_2023_12');
    expect(december).toEqual([FACTS[0][0]]);
    expect(await ids(client, 'activities')).toEqual(FACTS.map(([id]) => id).sort());
    expect(await ids(client, 'event_ids')).toEqual(FACTS.map(([id]) => id).sort());
    expect(await ids(client, 'event_ids_staged')).toEqual([]);

    // The registry's generations: the registry as it was is the first, and the newest.
    expect(await ids(client, 'event_ids_1')).toEqual(FACTS.map(([id]) => id).sort());
    const generations = await client.query(
      `SELECT 1 FROM pg_inherits WHERE inhparent = 'event_ids'::regclass`,
    );
    expect(generations.rowCount).toBe(1);

    await migrateBy(url, 'down', 1);
    expect(await ids(client, 'event_ids')).toEqual(FACTS.map(([id]) => id).sort());
    const registryKey = await client.query(
      `SELECT 1 FROM pg_constraint WHERE conname = 'event_ids_pkey'`,
    );
    expect(registryKey.rowCount).toBe(1);

    await migrateBy(url, 'down', 1);
    expect(await ids(client, 'activities')).toEqual(FACTS.map(([id]) => id).sort());
    const key = await client.query(`SELECT 1 FROM pg_constraint WHERE conname = 'activities_pkey'`);
    expect(key.rowCount).toBe(1);
  });

  it('then the ids of a bulk load left unfinished (the key off) are staged, for the next import to finish', async () => {
    const { url, client } = await oldStore();
    await client.query('ALTER TABLE activities DROP CONSTRAINT activities_pkey');
    await storeOldFacts(client);
    await migrate(url);

    expect(await ids(client, 'event_ids')).toEqual([]);
    expect(await ids(client, 'event_ids_staged')).toEqual(FACTS.map(([id]) => id).sort());
    expect(await ids(client, 'activities')).toEqual(FACTS.map(([id]) => id).sort());

    // The next import, with one new row and one repeat of a stored id, finishes that load.
    const fresh = uuid();
    const row = (id: string): string =>
      `${id},MRC-000001,2024-02-01T10:00:00,POS,CARD_TRANSACTION,1.00,SUCCESS,POS,,`;
    const file = await writeCsv(await tempDir(), 'activities_20240201.csv', [
      HEADER,
      row(fresh),
      row(FACTS[1][0]),
    ]);
    const [outcome] = await importInto(url, [file], 1_000_000);
    expect(outcome).toMatchObject({ status: 'done', rowsInserted: 1, rowsDuplicate: 1 });
    expect(await ids(client, 'event_ids_staged')).toEqual([]);
    expect(await ids(client, 'event_ids')).toEqual([...FACTS.map(([id]) => id), fresh].sort());
  });
});

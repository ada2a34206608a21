import { readFile } from 'node:fs/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { lintForCitus, parsePlacements, readCatalog, type Catalog } from '../citus-lint.js';
import { createTestDatabase } from '../helpers.js';

const SCRIPT = new URL('../../docs/citus-distribution.sql', import.meta.url);
const LOCAL_TABLES = ['pgmigrations'];

describe('the migrated schema, placed as docs/citus-distribution.sql says', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let client: pg.Client;
  let catalog: Catalog;

  beforeAll(async () => {
    db = await createTestDatabase();
    await migrate(db.url);
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
    catalog = await readCatalog(client);
  });
  afterAll(async () => {
    await client?.end();
    await db?.drop();
  });

  it('then it breaks none of Citus’s rules', async () => {
    const placements = parsePlacements(await readFile(SCRIPT, 'utf8'));
    expect(placements.size).toBeGreaterThan(10);
    expect(lintForCitus(catalog, placements, LOCAL_TABLES)).toEqual([]);
  });

  it('then facts are distributed by event_id and rollups by merchant_id, co-located', async () => {
    const placements = parsePlacements(await readFile(SCRIPT, 'utf8'));
    expect(placements.get('activities')).toEqual({
      kind: 'distributed',
      column: 'event_id',
      colocateWith: null,
    });
    for (const rollup of ['product_merchants', 'kyc_month_merchants'])
      expect(placements.get(rollup)).toMatchObject({
        column: 'merchant_id',
        colocateWith: 'merchant_month_volume',
      });
  });

  describe('when a placement breaks a rule', () => {
    const lint = (script: string): string[] =>
      lintForCitus(catalog, parsePlacements(script), LOCAL_TABLES);
    const everyOther = async (except: string): Promise<string> =>
      (await readFile(SCRIPT, 'utf8'))
        .split('\n')
        .filter((line) => !line.includes(`'${except}'`))
        .join('\n');

    it('then a unique key without the distribution column is found', async () => {
      const script = `${await everyOther('event_ids')}
        SELECT create_distributed_table('event_ids', 'merchant_id');`;
      expect(lint(script)).toContain(
        'event_ids: unique event_ids_1_pkey (event_id) lacks merchant_id',
      );
    });

    it('then a foreign key from a reference table to a distributed one is found', async () => {
      const script = (await everyOther('import_rejects'))
        .replace(
          "create_reference_table('import_runs')",
          "create_distributed_table('import_runs', 'id')",
        )
        .concat("\nSELECT create_reference_table('import_rejects');");
      expect(lint(script)).toContain(
        'import_rejects: foreign key import_rejects_run_id_fkey points from a reference table to a distributed one',
      );
    });

    it('then a table left without a placement is found', async () => {
      expect(lint(await everyOther('tiers'))).toEqual(['tiers: no placement declared']);
    });
  });
});

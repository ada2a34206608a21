import { createHash } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { extremes, IdRegistry } from '../../src/modules/importer/id-registry.js';
import { UnregisteredIds } from '../../src/modules/importer/import-state.js';
import { uuidText } from '../../src/modules/importer/uuid-set.js';
import { createTestDatabase } from '../helpers.js';

/** Ids packed 16 bytes each: `shared` of them share their first 32 bits, the rest are scattered. */
function packedIds(count: number, label: string, shared = 0): Buffer {
  const ids = Buffer.alloc(count * 16);
  for (let k = 0; k < count; k++) {
    createHash('sha256')
      .update(`${label}:${k}`)
      .digest()
      .copy(ids, k * 16, 0, 16);
    if (k < shared) ids.writeUInt32BE(0x7fffffff, k * 16);
  }
  return ids;
}

const textsOf = (ids: Buffer): string[] =>
  Array.from({ length: ids.length / 16 }, (_, k) => uuidText(ids, k * 16));

describe('the id registry, sealed into generations whose filters are cut into segments', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let client: pg.Client;
  let pool: pg.Pool;
  beforeAll(async () => {
    db = await createTestDatabase();
    await migrate(db.url);
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
    pool = new pg.Pool({ connectionString: db.url, max: 1 });
  });
  afterAll(async () => {
    await client?.end();
    await pool?.end();
    await db?.drop();
  });

  /** Enters `ids` into the newest generation, as an import's pass does, then seals if full. */
  async function register(registry: IdRegistry, ids: Buffer): Promise<boolean> {
    const waiting = new UnregisteredIds();
    const offsets = Array.from({ length: ids.length / 16 }, (_, k) => k * 16);
    waiting.addSortedRun(
      ids,
      offsets.sort((a, b) => ids.readUInt32BE(a) - ids.readUInt32BE(b)),
    );
    await client.query('BEGIN');
    const entered = await registry.register(client, waiting, true);
    await client.query(entered ? 'COMMIT' : 'ROLLBACK');
    await registry.sealIfFull(client);
    return entered;
  }

  it('when ids (a run of them sharing their first 32 bits, across segment boundaries) are sealed, then screening flags every one of them, and few others, also once the registry is read again', async () => {
    const registry = await IdRegistry.open(client, pool, 1500, 100);
    // Two generations of 1 500 ids, each read in two halves of 750 from its median: 8 segments
    // each. 250 ids share one prefix, so segment boundaries fall among them and whole ids decide
    // which segment an id is in.
    const first = packedIds(1500, 'first', 250);
    const second = packedIds(1500, 'second', 250);
    expect(await register(registry, first)).toBe(true);
    expect(await register(registry, second)).toBe(true);
    const segments = await client.query<{ generation: number; n: number; ids: number }>(
      `SELECT generation, count(*)::int AS n, sum(ids)::int AS ids,
              bool_and(segment = place - 1) AS "inOrder"
       FROM (SELECT *, row_number() OVER (PARTITION BY generation ORDER BY first_id) AS place
             FROM event_id_filters) f
       GROUP BY generation ORDER BY generation`,
    );
    expect(segments.rows).toEqual([
      { generation: 1, n: 16, ids: 1500, inOrder: true },
      { generation: 2, n: 16, ids: 1500, inOrder: true },
    ]);
    expect(registry.activeTable).toBe('event_ids_3');

    const fresh = packedIds(3000, 'fresh', 250);
    const everything = Buffer.concat([fresh, first, second]);
    for (const reader of [registry, await IdRegistry.open(client, pool, 1500, 100)]) {
      const flagged = new Set(await reader.screen(client, everything, everything.length / 16));
      for (const id of [...textsOf(first), ...textsOf(second)]) expect(flagged.has(id)).toBe(true);
      const freshFlagged = textsOf(fresh).filter((id) => flagged.has(id));
      expect(freshFlagged.length).toBeLessThan(10);
    }
  });

  it('when a pass holds one id stored in a sealed generation or in the newest, then it is refused whole, and a pass of new ids is not', async () => {
    const registry = await IdRegistry.open(client, pool, 1500, 100); // the first test's store
    const sealedId = packedIds(1500, 'first', 250).subarray(700 * 16, 701 * 16);
    const newest = packedIds(10, 'newest');
    const more = packedIds(100, 'more');
    expect(await register(registry, newest)).toBe(true);
    expect(await register(registry, Buffer.concat([more, sealedId]))).toBe(false);
    expect(await register(registry, Buffer.concat([more, newest.subarray(0, 16)]))).toBe(false);
    expect(await register(registry, more)).toBe(true);
    const stored = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${registry.activeTable}`,
    );
    expect(stored.rows[0]?.n).toBe(110);
  });

  it('when a page of ids comes in any order, then its first and last ids in order are found', () => {
    const ids = packedIds(500, 'page', 100); // 100 share their first 32 bits
    const sorted = textsOf(ids).sort();
    for (const seed of [1, 2, 3]) {
      const shuffled = Buffer.alloc(ids.length);
      Array.from({ length: 500 }, (_, k) => k)
        .sort((a, b) => ((a * 7919 * seed) % 503) - ((b * 7919 * seed) % 503))
        .forEach((from, to) => ids.copy(shuffled, to * 16, from * 16, from * 16 + 16));
      const { first, last } = extremes(shuffled, 500);
      expect(uuidText(shuffled, first)).toBe(sorted[0]);
      expect(uuidText(shuffled, last)).toBe(sorted[499]);
    }
  });
});

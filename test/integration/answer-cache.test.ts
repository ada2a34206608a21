import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../src/db/database.js';
import { AnswerCache, type QueryArgs } from '../../src/modules/analytics/analytics.cache.js';
import { createTestDatabase } from '../helpers.js';

const FILTERED: QueryArgs = { range: { from: 202401, to: 202403 }, limit: 10 };

/** Simulates another process's commit: the stored data version moves, no NOTIFY is heard. */
const commitElsewhere = (database: Database) =>
  database.pool.query('UPDATE data_version SET version = version + 1');

describe('when an answer missing from the cache is computed while versions move', () => {
  let db: { url: string; drop: () => Promise<void> };
  let database: Database;

  beforeAll(async () => {
    db = await createTestDatabase();
    database = await openDatabase({ databaseUrl: db.url });
  });
  afterAll(async () => {
    await database?.close();
    await db?.drop();
  });

  it('then it is served at the version of the cached answers, which catch up first (never newer than the next request sees)', async () => {
    const cache = new AnswerCache(database.pool);
    await cache.refresh();
    const before = cache.currentVersion;
    await commitElsewhere(database);

    const miss = await cache.get('failure-rates', FILTERED);
    expect(miss.version).toBe(before + 1);
    expect(cache.currentVersion).toBe(miss.version);
    const next = cache.peek('top-merchant|0|99999999|');
    expect(next?.version).toBe(miss.version);
  });

  it('then concurrent misses across a commit all end at the cache version, and it never goes back', async () => {
    const cache = new AnswerCache(database.pool);
    await cache.refresh();
    const answers = await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        if (i === 4) await commitElsewhere(database);
        return cache.get('product-adoption', {
          range: { from: 202401, to: 202401 + (i % 3) },
          limit: 10,
        });
      }),
    );
    for (const answer of answers) expect(answer.version).toBeLessThanOrEqual(cache.currentVersion);
    expect(Math.max(...answers.map((a) => a.version))).toBe(cache.currentVersion);
  });
});

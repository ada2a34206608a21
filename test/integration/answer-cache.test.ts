import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../src/db/database.js';
import {
  AnswerCache,
  cacheKey,
  DEFAULT_ARGS,
  QUERIES,
  type QueryArgs,
} from '../../src/modules/analytics/analytics.cache.js';
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

  it('then a version from another history (a new primary that lacks the cached commits) replaces every cached answer, even at the same or a lower number', async () => {
    const cache = new AnswerCache(database.pool);
    await cache.refresh();
    const version = cache.currentVersion;
    await cache.get('failure-rates', FILTERED);
    const filteredKey = cacheKey('failure-rates', FILTERED);
    expect(cache.peek(filteredKey)).toBeDefined();

    /** Other data under the given version number, committed at another time. */
    const rewrite = async (asVersion: number, failed: number): Promise<void> => {
      await database.pool.query(
        `WITH s AS (INSERT INTO product_month_status VALUES (1, 202401, 1, $2, 0)
           ON CONFLICT (product, month) DO UPDATE SET failed = $2 RETURNING 1)
         UPDATE data_version SET version = $1, committed_at = clock_timestamp() - interval '1 hour'`,
        [asVersion, failed],
      );
    };
    const expectFresh = async (): Promise<void> => {
      const fresh = new AnswerCache(database.pool);
      await fresh.refresh();
      for (const query of QUERIES) {
        const key = cacheKey(query, DEFAULT_ARGS);
        expect(cache.peek(key)?.body.toString(), query).toBe(fresh.peek(key)?.body.toString());
      }
    };

    const before = cache.peek(cacheKey('failure-rates', DEFAULT_ARGS))?.body.toString();
    await rewrite(version, 7);
    await cache.refresh();
    expect(cache.currentVersion).toBe(version);
    expect(cache.peek(cacheKey('failure-rates', DEFAULT_ARGS))?.body.toString()).not.toBe(before);
    expect(cache.peek(filteredKey)).toBeUndefined();
    await expectFresh();

    await rewrite(version - 1, 3);
    await cache.refresh();
    expect(cache.currentVersion).toBe(version - 1);
    await expectFresh();
    expect((await cache.get('failure-rates', FILTERED)).version).toBe(version - 1);
  });
});

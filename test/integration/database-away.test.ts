import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDatabaseAway } from '../../src/db/database-away.js';
import { createPool } from '../../src/db/pool.js';
import { sleep } from '../fault-helpers.js';
import { createTestDatabase } from '../helpers.js';
import { relayTo, type Relay } from '../tcp-relay.js';

describe('when the database goes away while a pooled client is checked out between two queries', () => {
  let db: { url: string; drop: () => Promise<void> };
  let relay: Relay;
  let url: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    ({ relay, url } = await relayTo(db.url));
  });
  afterAll(async () => {
    await relay?.close();
    await db?.drop();
  });

  it('then the process does not end on the client’s error; the next query fails as the database away, and the pool recovers', async () => {
    const pool = createPool(url, 2);
    try {
      const client = await pool.connect();
      await client.query('SELECT 1');
      await relay.cut(); // no query in flight: pg emits the loss as 'error' on the client
      await sleep(200);
      const failure = await client.query('SELECT 1').then(
        () => null,
        (error: unknown) => error,
      );
      expect(isDatabaseAway(failure)).toBe(true);
      client.release();
      await relay.restore();
      expect((await pool.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one).toBe(1);
    } finally {
      await pool.end();
    }
  });
});

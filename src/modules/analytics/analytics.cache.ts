import { createHash } from 'node:crypto';
import type pg from 'pg';
import * as defs from './analytics.definitions.js';
import * as repo from './analytics.repository.js';
import { ALL_MONTHS, type DataVersion, type MonthRange } from './analytics.repository.js';

export const QUERIES = [
  'top-merchant',
  'top-merchants',
  'monthly-active-merchants',
  'product-adoption',
  'kyc-funnel',
  'failure-rates',
] as const;
export type QueryName = (typeof QUERIES)[number];

/** A finished answer: the exact response body, pre-serialised, and its validator. */
export interface Answer {
  found: boolean; // false: top-merchant with no SUCCESS event at all
  body: Buffer;
  etag: string;
  version: number;
  stamp: string;
}

export interface QueryArgs {
  range: MonthRange;
  limit: number;
}

type Queryable = Pick<pg.PoolClient, 'query'>;

async function computeJson(
  db: Queryable,
  name: QueryName,
  { range, limit }: QueryArgs,
): Promise<string | null> {
  switch (name) {
    case 'top-merchant': {
      const [top] = await repo.readTopMerchants(db, range, 1);
      return top ? defs.topMerchantJson(top) : null;
    }
    case 'top-merchants':
      return defs.leaderboardJson(await repo.readTopMerchants(db, range, limit));
    case 'monthly-active-merchants':
      return defs.monthlyActiveJson(await repo.readMonthlyActive(db, range));
    case 'product-adoption':
      return defs.productAdoptionJson(await repo.readProductAdoption(db, range));
    case 'kyc-funnel':
      return defs.kycFunnelJson(await repo.readKycFunnel(db, range));
    case 'failure-rates':
      return defs.failureRatesJson(await repo.readStatusCounts(db, range));
  }
}

export const cacheKey = (name: QueryName, { range, limit }: QueryArgs): string =>
  `${name}|${range.from}|${range.to}|${name === 'top-merchants' ? limit : ''}`;

function makeAnswer(json: string | null, { version, stamp }: DataVersion): Answer {
  const body = Buffer.from(json ?? 'null');
  const digest = createHash('sha1').update(body).digest('base64url').slice(0, 16);
  return { found: json !== null, body, etag: `"v${version}-${digest}"`, version, stamp };
}

export const DEFAULT_ARGS: QueryArgs = { range: ALL_MONTHS, limit: 10 };
const MAX_ENTRIES = 5000;

/**
 * Answers per data version. The five unfiltered answers are rebuilt together from one snapshot
 * when the version changes, then swapped in at once, so a response never mixes two versions.
 * Filtered answers are computed on first use and kept until the version changes.
 */
export class AnswerCache {
  private entries = new Map<string, Answer>();
  private version = -1;
  private stamp = '';
  private refreshing: Promise<void> | null = null;
  private again = false;

  constructor(private readonly pool: pg.Pool) {}

  get currentVersion(): number {
    return this.version;
  }

  /** The cached answer, synchronously: the hot path of every analytics request. */
  peek(key: string): Answer | undefined {
    return this.entries.get(key);
  }

  /**
   * The answer at the cache's current version. A miss is computed in a fresh snapshot, which may
   * be of another version than the cached answers: newer (a commit not swapped in yet) or older
   * (swapped while it was computed). Served as it is, a client could then see versions go
   * backwards from one request to the next, so the cache first catches up, or the miss is
   * computed again.
   */
  async get(name: QueryName, args: QueryArgs): Promise<Answer> {
    const key = cacheKey(name, args);
    for (;;) {
      const cached = this.entries.get(key);
      if (cached) return cached;
      const answer = await this.inSnapshot(async (db, version) =>
        makeAnswer(await computeJson(db, name, args), version),
      );
      if (answer.stamp !== this.stamp) {
        // Another version than the cached one (newer, older, or another history after a
        // failover): the cache catches up first, then the miss is computed again if need be.
        await this.refresh();
        if (answer.stamp !== this.stamp) continue;
      }
      if (this.entries.size < MAX_ENTRIES) this.entries.set(key, answer);
      return answer;
    }
  }

  /** Rebuilds when the stored data version moved; concurrent calls share one rebuild. */
  refresh(): Promise<void> {
    if (this.refreshing) {
      this.again = true;
      return this.refreshing;
    }
    this.refreshing = this.rebuild().finally(() => {
      this.refreshing = null;
      if (this.again) {
        this.again = false;
        void this.refresh().catch(() => undefined);
      }
    });
    return this.refreshing;
  }

  private async rebuild(): Promise<void> {
    // Any other stamp, older ones included: a new primary that lacks the cached version's
    // commits replaces it rather than mixing answers of two histories.
    if ((await repo.readDataVersion(this.pool)).stamp === this.stamp) return;
    const fresh = await this.inSnapshot(async (db, snapshotVersion) => {
      const next = new Map<string, Answer>();
      for (const name of QUERIES) {
        next.set(
          cacheKey(name, DEFAULT_ARGS),
          makeAnswer(await computeJson(db, name, DEFAULT_ARGS), snapshotVersion),
        );
      }
      return { next, snapshotVersion };
    });
    this.entries = fresh.next;
    this.version = fresh.snapshotVersion.version;
    this.stamp = fresh.snapshotVersion.stamp;
  }

  /** Runs reads in one REPEATABLE READ snapshot together with the version they belong to. */
  private async inSnapshot<T>(
    work: (db: Queryable, version: DataVersion) => Promise<T>,
  ): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const result = await work(client, await repo.readDataVersion(client));
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }
}

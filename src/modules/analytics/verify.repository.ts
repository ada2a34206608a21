import type pg from 'pg';
import type { MerchantVolume, StatusCounts } from './analytics.definitions.js';

/**
 * The five figures recomputed straight from the fact table with plain SQL, independent of the
 * rollups: the proof that the rollups are right (`npm run verify`). Slow on purpose: it scans.
 */

type Queryable = Pick<pg.PoolClient, 'query'>;
const SUCCESS = 1;
const FAILED = 2;

export async function factsTopMerchant(db: Queryable): Promise<MerchantVolume | undefined> {
  const result = await db.query<MerchantVolume>(
    `SELECT merchant_id AS merchant, sum(amount_kobo)::text AS kobo FROM activities WHERE status = $1
     GROUP BY merchant_id ORDER BY sum(amount_kobo) DESC, merchant_id LIMIT 1`,
    [SUCCESS],
  );
  return result.rows[0];
}

export async function factsMonthlyActive(
  db: Queryable,
): Promise<Array<{ month: number; merchants: number }>> {
  const result = await db.query<{ month: number; merchants: number }>(
    `SELECT (extract(year FROM event_at AT TIME ZONE 'UTC') * 100 + extract(month FROM event_at AT TIME ZONE 'UTC'))::int AS month,
            count(DISTINCT merchant_id)::int AS merchants
     FROM activities WHERE status = $1 GROUP BY 1`,
    [SUCCESS],
  );
  return result.rows;
}

export async function factsProductAdoption(
  db: Queryable,
): Promise<Array<{ product: number; merchants: number }>> {
  const result = await db.query<{ product: number; merchants: number }>(
    `SELECT product, count(DISTINCT merchant_id)::int AS merchants FROM activities GROUP BY product`,
  );
  return result.rows;
}

export async function factsKycFunnel(
  db: Queryable,
): Promise<Array<{ stage: number; merchants: number }>> {
  const result = await db.query<{ stage: number; merchants: number }>(
    `SELECT k.code AS stage, count(DISTINCT a.merchant_id)::int AS merchants
     FROM activities a JOIN kyc_stages k ON k.name = a.event_type
     JOIN products p ON p.code = a.product AND p.name = 'KYC'
     WHERE a.status = $1 GROUP BY k.code`,
    [SUCCESS],
  );
  return result.rows;
}

export async function factsStatusCounts(db: Queryable): Promise<StatusCounts[]> {
  const result = await db.query<{ product: number; success: string; failed: string }>(
    `SELECT product, count(*) FILTER (WHERE status = $1)::text AS success,
            count(*) FILTER (WHERE status = $2)::text AS failed
     FROM activities GROUP BY product`,
    [SUCCESS, FAILED],
  );
  return result.rows.map((r) => ({
    product: r.product,
    success: BigInt(r.success),
    failed: BigInt(r.failed),
  }));
}

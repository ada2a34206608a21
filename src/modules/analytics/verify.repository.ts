import type pg from 'pg';
import type { MerchantVolume, StatusCounts } from './analytics.definitions.js';
import { ALL_MONTHS, type MonthRange } from './analytics.repository.js';
import { monthStart, nextMonth } from '../importer/month-partitions.js';

/**
 * The five figures recomputed straight from the fact table with plain SQL, independent of the
 * rollups: the proof that the rollups are right (`npm run verify`). Slow on purpose: it scans.
 */

type Queryable = Pick<pg.PoolClient, 'query'>;
const SUCCESS = 1;
const FAILED = 2;

/**
 * event_at bounds of a month range, as parameters $1 and $2 of every query below: PostgreSQL
 * then reads only the range's month partitions of activities.
 */
function bounds(range: MonthRange): [string, string] {
  return [
    range.from <= ALL_MONTHS.from ? '-infinity' : monthStart(range.from),
    range.to >= ALL_MONTHS.to ? 'infinity' : monthStart(nextMonth(range.to)),
  ];
}
const inRange = (column = 'event_at'): string =>
  `${column} >= $1::timestamptz AND ${column} < $2::timestamptz`;

export async function factsTopMerchant(
  db: Queryable,
  range: MonthRange,
): Promise<MerchantVolume | undefined> {
  const result = await db.query<MerchantVolume>(
    `SELECT merchant_id AS merchant, sum(amount_kobo)::text AS kobo FROM activities WHERE ${inRange()} AND status = $3
     GROUP BY merchant_id ORDER BY sum(amount_kobo) DESC, merchant_id LIMIT 1`,
    [...bounds(range), SUCCESS],
  );
  return result.rows[0];
}

export async function factsMonthlyActive(
  db: Queryable,
  range: MonthRange,
): Promise<Array<{ month: number; merchants: number }>> {
  const result = await db.query<{ month: number; merchants: number }>(
    `SELECT (extract(year FROM event_at AT TIME ZONE 'UTC') * 100 + extract(month FROM event_at AT TIME ZONE 'UTC'))::int AS month,
            count(DISTINCT merchant_id)::int AS merchants
     FROM activities WHERE ${inRange()} AND status = $3 GROUP BY 1`,
    [...bounds(range), SUCCESS],
  );
  return result.rows;
}

export async function factsProductAdoption(
  db: Queryable,
  range: MonthRange,
): Promise<Array<{ product: number; merchants: number }>> {
  const result = await db.query<{ product: number; merchants: number }>(
    `SELECT product, count(DISTINCT merchant_id)::int AS merchants FROM activities
     WHERE ${inRange()} GROUP BY product`,
    bounds(range),
  );
  return result.rows;
}

export async function factsKycFunnel(
  db: Queryable,
  range: MonthRange,
): Promise<Array<{ stage: number; merchants: number }>> {
  const result = await db.query<{ stage: number; merchants: number }>(
    `SELECT k.code AS stage, count(DISTINCT a.merchant_id)::int AS merchants
     FROM activities a JOIN kyc_stages k ON k.name = a.event_type
     JOIN products p ON p.code = a.product AND p.name = 'KYC'
     WHERE ${inRange('a.event_at')} AND a.status = $3 GROUP BY k.code`,
    [...bounds(range), SUCCESS],
  );
  return result.rows;
}

export async function factsStatusCounts(db: Queryable, range: MonthRange): Promise<StatusCounts[]> {
  const result = await db.query<{ product: number; success: string; failed: string }>(
    `SELECT product, count(*) FILTER (WHERE status = $3)::text AS success,
            count(*) FILTER (WHERE status = $4)::text AS failed
     FROM activities WHERE ${inRange()} GROUP BY product`,
    [...bounds(range), SUCCESS, FAILED],
  );
  return result.rows.map((r) => ({
    product: r.product,
    success: BigInt(r.success),
    failed: BigInt(r.failed),
  }));
}

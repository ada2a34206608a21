import type pg from 'pg';
import type { MerchantVolume, StatusCounts } from './analytics.definitions.js';

/** Reads of the rollup tables only: no query here touches the fact table. */

export interface MonthRange {
  from: number; // yyyymm, inclusive
  to: number;
}

export const ALL_MONTHS: MonthRange = { from: 0, to: 99_999_999 };
const isAllMonths = (range: MonthRange): boolean => range.from <= 0 && range.to >= 99_999_999;

type Queryable = Pick<pg.PoolClient, 'query'>;

export interface DataVersion {
  version: number;
  /**
   * The version with its commit time: after a failover that lost commits, the new primary can
   * reach the same version number with other data, and this tells the two apart.
   */
  stamp: string;
}

export async function readDataVersion(db: Queryable): Promise<DataVersion> {
  const result = await db.query<{ version: string; micros: string }>(
    `SELECT version, (extract(epoch FROM committed_at) * 1000000)::bigint AS micros FROM data_version`,
  );
  const row = result.rows[0] ?? { version: '0', micros: '0' };
  return { version: Number(row.version), stamp: `${row.version}@${row.micros}` };
}

export async function readTopMerchants(
  db: Queryable,
  range: MonthRange,
  limit: number,
): Promise<MerchantVolume[]> {
  const result = await db.query<{ merchant: number; kobo: string }>(
    `SELECT merchant_id AS merchant, sum(success_kobo)::text AS kobo
     FROM merchant_month_volume WHERE month BETWEEN $1 AND $2
     GROUP BY merchant_id ORDER BY sum(success_kobo) DESC, merchant_id LIMIT $3`,
    [range.from, range.to, limit],
  );
  return result.rows;
}

export async function readMonthlyActive(
  db: Queryable,
  range: MonthRange,
): Promise<Array<{ month: number; merchants: number }>> {
  const result = await db.query<{ month: number; merchants: number }>(
    `SELECT month, count(*)::int AS merchants FROM merchant_month_volume
     WHERE month BETWEEN $1 AND $2 GROUP BY month ORDER BY month`,
    [range.from, range.to],
  );
  return result.rows;
}

/**
 * Distinct merchants per code (product or KYC stage): from the all-time presence table when no
 * range is asked (a count per code), else from the per-month one (a distinct count over months).
 */
async function readDistinctMerchants(
  db: Queryable,
  range: MonthRange,
  code: 'product' | 'stage',
  allTime: string,
  perMonth: string,
): Promise<Array<{ code: number; merchants: number }>> {
  const result = isAllMonths(range)
    ? await db.query<{ code: number; merchants: number }>(
        `SELECT ${code} AS code, count(*)::int AS merchants FROM ${allTime} GROUP BY ${code}`,
      )
    : await db.query<{ code: number; merchants: number }>(
        `SELECT ${code} AS code, count(DISTINCT merchant_id)::int AS merchants FROM ${perMonth}
         WHERE month BETWEEN $1 AND $2 GROUP BY ${code}`,
        [range.from, range.to],
      );
  return result.rows;
}

export async function readProductAdoption(
  db: Queryable,
  range: MonthRange,
): Promise<Array<{ product: number; merchants: number }>> {
  const rows = await readDistinctMerchants(
    db,
    range,
    'product',
    'product_merchants',
    'product_month_merchants',
  );
  return rows.map((r) => ({ product: r.code, merchants: r.merchants }));
}

export async function readKycFunnel(
  db: Queryable,
  range: MonthRange,
): Promise<Array<{ stage: number; merchants: number }>> {
  const rows = await readDistinctMerchants(
    db,
    range,
    'stage',
    'kyc_merchants',
    'kyc_month_merchants',
  );
  return rows.map((r) => ({ stage: r.code, merchants: r.merchants }));
}

export async function readStatusCounts(db: Queryable, range: MonthRange): Promise<StatusCounts[]> {
  const result = await db.query<{ product: number; success: string; failed: string }>(
    `SELECT product, sum(success)::text AS success, sum(failed)::text AS failed
     FROM product_month_status WHERE month BETWEEN $1 AND $2 GROUP BY product`,
    [range.from, range.to],
  );
  return result.rows.map((r) => ({
    product: r.product,
    success: BigInt(r.success),
    failed: BigInt(r.failed),
  }));
}

import type pg from 'pg';
import * as defs from './analytics.definitions.js';
import { DEFAULT_ARGS, type AnswerCache, type QueryName } from './analytics.cache.js';
import { ALL_MONTHS, type MonthRange } from './analytics.repository.js';
import * as facts from './verify.repository.js';

export interface VerifyResult {
  query: QueryName;
  served: string;
  recomputed: string;
  match: boolean;
}

/**
 * Recomputes the five answers over a month range from the facts in one snapshot, and compares
 * them with the ones served for that range.
 */
export async function verifyAnswers(
  pool: pg.Pool,
  cache: AnswerCache,
  range: MonthRange = ALL_MONTHS,
): Promise<VerifyResult[]> {
  await cache.refresh();
  const client = await pool.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const top = await facts.factsTopMerchant(client, range);
    const recomputed: Array<[QueryName, string]> = [
      ['top-merchant', top ? defs.topMerchantJson(top) : 'null'],
      [
        'monthly-active-merchants',
        defs.monthlyActiveJson(await facts.factsMonthlyActive(client, range)),
      ],
      [
        'product-adoption',
        defs.productAdoptionJson(await facts.factsProductAdoption(client, range)),
      ],
      ['kyc-funnel', defs.kycFunnelJson(await facts.factsKycFunnel(client, range))],
      ['failure-rates', defs.failureRatesJson(await facts.factsStatusCounts(client, range))],
    ];
    await client.query('COMMIT');
    const results: VerifyResult[] = [];
    for (const [query, text] of recomputed) {
      const served = (await cache.get(query, { ...DEFAULT_ARGS, range })).body.toString();
      results.push({ query, served, recomputed: text, match: served === text });
    }
    return results;
  } finally {
    client.release();
  }
}

import { KYC_STAGES, PRODUCTS } from '../importer/row-rules.js';

/**
 * The five figures' shaping, ordering and number format, as pure functions over rollup rows.
 * Numbers that must keep trailing zeros (98765432.10, 5.0) are written into the JSON text
 * directly: JSON.stringify would print 98765432.1.
 */

export const merchantIdText = (merchant: number): string =>
  `MRC-${String(merchant).padStart(6, '0')}`;
export const monthText = (yyyymm: number): string =>
  `${String(Math.floor(yyyymm / 100)).padStart(4, '0')}-${String(yyyymm % 100).padStart(2, '0')}`;
export const productName = (code: number): string => PRODUCTS[code - 1] ?? `UNKNOWN_${code}`;

/** Kobo (an exact integer, as text or bigint) as NGN with exactly two decimals. */
export function formatKobo(kobo: string | bigint): string {
  const value = BigInt(kobo);
  const negative = value < 0n;
  const digits = (negative ? -value : value).toString().padStart(3, '0');
  return `${negative ? '-' : ''}${digits.slice(0, -2)}.${digits.slice(-2)}`;
}

/** failed / (success + failed) × 100 with one decimal, rounded half-up, computed exactly. */
export function formatFailureRate(failed: bigint, total: bigint): string {
  const tenths = (failed * 2000n + total) / (2n * total); // floor(failed*1000/total + 1/2)
  return `${tenths / 10n}.${tenths % 10n}`;
}

export interface MerchantVolume {
  merchant: number;
  kobo: string; // exact integer text
}

export function topMerchantJson(row: MerchantVolume): string {
  return `{"merchant_id":${JSON.stringify(merchantIdText(row.merchant))},"total_volume":${formatKobo(row.kobo)}}`;
}

export function leaderboardJson(rows: MerchantVolume[]): string {
  return `[${rows.map((row, i) => topMerchantJson(row).replace('{', `{"rank":${i + 1},`)).join(',')}]`;
}

export function monthlyActiveJson(rows: Array<{ month: number; merchants: number }>): string {
  const sorted = [...rows].sort((a, b) => a.month - b.month);
  return `{${sorted.map((r) => `${JSON.stringify(monthText(r.month))}:${r.merchants}`).join(',')}}`;
}

/** Highest count first, ties by product name ascending; products without events are absent. */
export function productAdoptionJson(rows: Array<{ product: number; merchants: number }>): string {
  const named = rows
    .filter((r) => r.merchants > 0)
    .map((r) => ({ name: productName(r.product), merchants: r.merchants }))
    .sort((a, b) => b.merchants - a.merchants || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return `{${named.map((r) => `${JSON.stringify(r.name)}:${r.merchants}`).join(',')}}`;
}

export function kycFunnelJson(rows: Array<{ stage: number; merchants: number }>): string {
  const count = (stage: (typeof KYC_STAGES)[number]): number =>
    rows.find((r) => r.stage === KYC_STAGES.indexOf(stage) + 1)?.merchants ?? 0;
  return (
    `{"documents_submitted":${count('DOCUMENT_SUBMITTED')},` +
    `"verifications_completed":${count('VERIFICATION_COMPLETED')},` +
    `"tier_upgrades":${count('TIER_UPGRADE')}}`
  );
}

export interface StatusCounts {
  product: number;
  success: bigint;
  failed: bigint;
}

/** Products with SUCCESS + FAILED > 0, by unrounded rate descending, ties by product name. */
export function failureRatesJson(rows: StatusCounts[]): string {
  const rated = rows
    .filter((r) => r.success + r.failed > 0n)
    .map((r) => ({ name: productName(r.product), failed: r.failed, total: r.success + r.failed }))
    .sort((a, b) => {
      const left = a.failed * b.total; // compare a.failed/a.total with b.failed/b.total exactly
      const right = b.failed * a.total;
      if (left !== right) return left > right ? -1 : 1;
      return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
    });
  const items = rated.map(
    (r) =>
      `{"product":${JSON.stringify(r.name)},"failure_rate":${formatFailureRate(r.failed, r.total)}}`,
  );
  return `[${items.join(',')}]`;
}

/** `YYYY-MM` → yyyymm, or null when it is not a real month. */
export function parseMonth(text: string): number | null {
  const m = /^(\d{4})-(\d{2})$/.exec(text);
  if (!m) return null;
  const month = Number(m[2]);
  if (month < 1 || month > 12) return null;
  return Number(m[1]) * 100 + month;
}

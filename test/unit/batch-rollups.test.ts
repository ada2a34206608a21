import { describe, expect, it } from 'vitest';
import {
  BatchRows,
  RollupDeltaBuilder,
  type RollupDelta,
  monthMerchantKey,
  pairKey,
  splitPair,
  splitTriple,
  tripleKey,
} from '../../src/modules/importer/batch-rollups.js';
import {
  PRODUCTS,
  PRODUCT_KYC,
  STATUS_FAILED,
  STATUS_PENDING,
  STATUS_SUCCESS,
  type ActivityRow,
} from '../../src/modules/importer/row-rules.js';

const P = (name: (typeof PRODUCTS)[number]): number => PRODUCTS.indexOf(name) + 1;

/** The rollup deltas of the batch rows that are not duplicates. */
const deltaOf = (rows: BatchRows): RollupDelta => new RollupDeltaBuilder().add(rows).delta();

function row(overrides: Partial<ActivityRow> = {}): ActivityRow {
  return {
    eventId: '00000000-0000-4000-8000-000000000001',
    merchant: 1,
    epochSeconds: 1_700_000_000,
    micros: 0,
    month: 202401,
    product: P('POS'),
    eventType: 'CARD_TRANSACTION',
    amountKobo: 100,
    status: STATUS_SUCCESS,
    channel: null,
    region: null,
    tier: null,
    kycStage: 0,
    warnings: [],
    ...overrides,
  };
}

function batchOf(rows: ActivityRow[], duplicates: number[] = []): BatchRows {
  const batch = new BatchRows(Math.max(1, rows.length));
  for (const r of rows) batch.add(r, 0, 0);
  for (const i of duplicates) batch.duplicate[i] = 1;
  return batch;
}

/** The month volume map as readable entries: [month, merchant, kobo as text]. */
function volumes(delta: RollupDelta): Array<[number, number, string]> {
  return [...delta.monthVolume.entries()]
    .map(([key, kobo]): [number, number, string] => {
      const [month, merchant] = splitPair(key);
      return [month, merchant, kobo.toString()];
    })
    .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
}

const sortedPairs = (set: Set<number>): Array<[number, number]> =>
  [...set].map(splitPair).sort((a, b) => a[0] - b[0] || a[1] - b[1]);

const sortedTriples = (set: Set<number>): Array<[number, number, number]> =>
  [...set].map(splitTriple).sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]);

describe('key helpers', () => {
  it('when keys are built from the largest values, then they split back exactly', () => {
    expect(splitPair(monthMerchantKey(999912, 999999))).toEqual([999912, 999999]);
    expect(splitPair(pairKey(7, 0))).toEqual([7, 0]);
    expect(splitTriple(tripleKey(7, 999912, 999999))).toEqual([7, 999912, 999999]);
    expect(Number.isSafeInteger(tripleKey(7, 999912, 999999))).toBe(true);
  });

  it('when any two inputs differ, then their keys differ', () => {
    const keys = new Set<number>();
    for (const code of [1, 2, 7]) {
      for (const month of [202401, 202402, 202312]) {
        for (const merchant of [0, 1, 999999]) keys.add(tripleKey(code, month, merchant));
      }
    }
    expect(keys.size).toBe(27);
    expect(monthMerchantKey(202401, 2)).not.toBe(monthMerchantKey(202402, 1));
  });
});

describe('BatchRows', () => {
  it('when rows are added, then their rollup columns are stored in order', () => {
    const batch = new BatchRows(10);
    expect(batch.add(row({ merchant: 5, amountKobo: 250 }), 0b101, 3)).toBe(0);
    expect(batch.add(row({ merchant: 6, status: STATUS_FAILED }), 0, 4)).toBe(1);
    expect(batch.count).toBe(2);
    expect([batch.merchant[0], batch.merchant[1]]).toEqual([5, 6]);
    expect(batch.kobo[0]).toBe(250);
    expect(batch.warnings[0]).toBe(0b101);
    expect([batch.fileSlot[0], batch.fileSlot[1]]).toEqual([3, 4]);
    expect(batch.status[1]).toBe(STATUS_FAILED);
    expect(batch.duplicate[0]).toBe(0);
  });

  it('when a KYC stage row is not SUCCESS, then its stage is not kept', () => {
    const batch = new BatchRows(10);
    batch.add(row({ product: PRODUCT_KYC, kycStage: 2, status: STATUS_FAILED }), 0, 0);
    batch.add(row({ product: PRODUCT_KYC, kycStage: 2, status: STATUS_SUCCESS }), 0, 0);
    expect([batch.kycStage[0], batch.kycStage[1]]).toEqual([0, 2]);
  });

  it('when the target is reached, then the batch is full', () => {
    const batch = new BatchRows(2);
    batch.add(row(), 0, 0);
    expect(batch.full).toBe(false);
    batch.add(row(), 0, 0);
    expect(batch.full).toBe(true);
    batch.reset();
    expect(batch.count).toBe(0);
    expect(batch.full).toBe(false);
  });

  it('when more rows are added than the arrays hold, then they grow and keep every row', () => {
    const batch = new BatchRows(1);
    const n = 20_000;
    for (let i = 0; i < n; i += 1) batch.add(row({ merchant: i % 1000, amountKobo: i }), 0, 0);
    expect(batch.count).toBe(n);
    expect(batch.merchant.length).toBeGreaterThanOrEqual(n);
    expect(batch.kobo[0]).toBe(0);
    expect(batch.kobo[16_384]).toBe(16_384);
    expect(batch.kobo[n - 1]).toBe(n - 1);
    expect(batch.merchant[n - 1]).toBe((n - 1) % 1000);
  });

  it('when a batch is reset and reused, then a duplicate mark of the old rows does not stick', () => {
    const batch = batchOf([row({ merchant: 1 })], [0]);
    batch.reset();
    batch.add(row({ merchant: 2 }), 0, 0);
    expect(volumes(deltaOf(batch))).toEqual([[202401, 2, '100']]);
  });
});

describe('RollupDeltaBuilder: one batch', () => {
  it('when the batch is empty, then every delta is empty', () => {
    const delta = deltaOf(new BatchRows(4));
    expect(delta.monthVolume.size).toBe(0);
    expect(delta.productMerchants.size).toBe(0);
    expect(delta.productMonthMerchants.size).toBe(0);
    expect(delta.kycMerchants.size).toBe(0);
    expect(delta.kycMonthMerchants.size).toBe(0);
    expect(delta.productMonthStatus.size).toBe(0);
  });

  it('when rows are marked duplicate, then they change no figure', () => {
    const rows = [
      row({ merchant: 1, amountKobo: 100 }),
      row({ merchant: 1, amountKobo: 999 }), // duplicate
      row({ merchant: 2, product: P('BILLS'), status: STATUS_FAILED }), // duplicate
      row({ merchant: 3, product: PRODUCT_KYC, kycStage: 1, eventType: 'DOCUMENT_SUBMITTED' }), // duplicate
    ];
    const delta = deltaOf(batchOf(rows, [1, 2, 3]));
    expect(volumes(delta)).toEqual([[202401, 1, '100']]);
    expect(sortedPairs(delta.productMerchants)).toEqual([[P('POS'), 1]]);
    expect(sortedTriples(delta.productMonthMerchants)).toEqual([[P('POS'), 202401, 1]]);
    expect(delta.kycMerchants.size).toBe(0);
    expect(delta.kycMonthMerchants.size).toBe(0);
    expect([...delta.productMonthStatus.entries()]).toEqual([
      [pairKey(P('POS'), 202401), [1, 0, 0]],
    ]);
  });

  it('when every row is a duplicate, then the delta is empty', () => {
    const delta = deltaOf(batchOf([row(), row({ status: STATUS_PENDING })], [0, 1]));
    expect(delta.monthVolume.size).toBe(0);
    expect(delta.productMerchants.size).toBe(0);
    expect(delta.productMonthStatus.size).toBe(0);
  });

  it('when rows are FAILED or PENDING, then they add no volume and do not make the merchant active', () => {
    const delta = deltaOf(
      batchOf([
        row({ merchant: 1, status: STATUS_FAILED, amountKobo: 500 }),
        row({ merchant: 2, status: STATUS_PENDING, amountKobo: 700 }),
        row({ merchant: 3, status: STATUS_SUCCESS, amountKobo: 0 }),
      ]),
    );
    expect(volumes(delta)).toEqual([[202401, 3, '0']]);
  });

  it('when rows of any status exist, then the merchant counts for product adoption', () => {
    const delta = deltaOf(
      batchOf([
        row({ merchant: 1, product: P('SAVINGS'), status: STATUS_FAILED }),
        row({ merchant: 2, product: P('SAVINGS'), status: STATUS_PENDING }),
        row({ merchant: 2, product: P('SAVINGS'), status: STATUS_SUCCESS, month: 202402 }),
      ]),
    );
    expect(sortedPairs(delta.productMerchants)).toEqual([
      [P('SAVINGS'), 1],
      [P('SAVINGS'), 2],
    ]);
    expect(sortedTriples(delta.productMonthMerchants)).toEqual([
      [P('SAVINGS'), 202401, 1],
      [P('SAVINGS'), 202401, 2],
      [P('SAVINGS'), 202402, 2],
    ]);
  });

  it('when SUCCESS rows share a merchant and month, then their kobo is summed per (month, merchant)', () => {
    const delta = deltaOf(
      batchOf([
        row({ merchant: 1, amountKobo: 100 }),
        row({ merchant: 1, amountKobo: 250, product: P('BILLS') }),
        row({ merchant: 1, amountKobo: 5, month: 202402 }),
        row({ merchant: 2, amountKobo: 7 }),
      ]),
    );
    expect(volumes(delta)).toEqual([
      [202401, 1, '350'],
      [202401, 2, '7'],
      [202402, 1, '5'],
    ]);
  });

  it('when statuses are counted, then each (product, month) gets [success, failed, pending]', () => {
    const delta = deltaOf(
      batchOf([
        row({ product: P('POS'), status: STATUS_SUCCESS }),
        row({ product: P('POS'), status: STATUS_SUCCESS }),
        row({ product: P('POS'), status: STATUS_FAILED }),
        row({ product: P('POS'), status: STATUS_PENDING }),
        row({ product: P('POS'), status: STATUS_FAILED, month: 202402 }),
        row({ product: P('AIRTIME'), status: STATUS_PENDING }),
      ]),
    );
    expect(delta.productMonthStatus.get(pairKey(P('POS'), 202401))).toEqual([2, 1, 1]);
    expect(delta.productMonthStatus.get(pairKey(P('POS'), 202402))).toEqual([0, 1, 0]);
    expect(delta.productMonthStatus.get(pairKey(P('AIRTIME'), 202401))).toEqual([0, 0, 1]);
    expect(delta.productMonthStatus.size).toBe(3);
  });

  it('when KYC stage rows are SUCCESS, then the merchant counts for that stage overall and per month', () => {
    const delta = deltaOf(
      batchOf([
        row({ merchant: 1, product: PRODUCT_KYC, kycStage: 1, eventType: 'DOCUMENT_SUBMITTED' }),
        row({ merchant: 1, product: PRODUCT_KYC, kycStage: 2, month: 202402 }),
        row({ merchant: 2, product: PRODUCT_KYC, kycStage: 3, status: STATUS_FAILED }),
        row({ merchant: 3, product: PRODUCT_KYC, kycStage: 3, status: STATUS_PENDING }),
        row({ merchant: 4, product: PRODUCT_KYC, kycStage: 0, eventType: 'SELFIE' }),
      ]),
    );
    expect(sortedPairs(delta.kycMerchants)).toEqual([
      [1, 1],
      [2, 1],
    ]);
    expect(sortedTriples(delta.kycMonthMerchants)).toEqual([
      [1, 202401, 1],
      [2, 202402, 1],
    ]);
  });

  it('when SUCCESS sums pass 2^53 kobo, then they are exact', () => {
    const maxRow = 999_999_999_999_999; // the largest amount a row can carry (9,999,999,999,999.99 NGN)
    const rows = Array.from({ length: 12 }, () => row({ merchant: 9, amountKobo: maxRow }));
    rows.push(row({ merchant: 9, amountKobo: 1 }));
    rows.push(row({ merchant: 9, amountKobo: 3 }));
    const delta = deltaOf(batchOf(rows));
    const expected = 12n * BigInt(maxRow) + 4n;
    expect(expected > BigInt(Number.MAX_SAFE_INTEGER)).toBe(true);
    expect(volumes(delta)).toEqual([[202401, 9, expected.toString()]]);
  });

  it('when a sum passes 2^53 and small amounts follow, then not a single kobo is lost', () => {
    const rows: ActivityRow[] = [
      row({ merchant: 1, amountKobo: Number.MAX_SAFE_INTEGER - 10 }),
      row({ merchant: 1, amountKobo: 7 }),
    ];
    for (let i = 0; i < 25; i += 1) rows.push(row({ merchant: 1, amountKobo: 1 }));
    rows.push(row({ merchant: 1, amountKobo: 999_999_999_999_999 }));
    rows.push(row({ merchant: 1, amountKobo: 3 }));
    const expected = BigInt(Number.MAX_SAFE_INTEGER - 10) + 7n + 25n + 999_999_999_999_999n + 3n;
    const delta = deltaOf(batchOf(rows));
    expect(volumes(delta)).toEqual([[202401, 1, expected.toString()]]);
  });

  it('when one merchant passes 2^53, then other merchants in the batch are unaffected', () => {
    const rows = [
      ...Array.from({ length: 10 }, () => row({ merchant: 1, amountKobo: 999_999_999_999_999 })),
      row({ merchant: 2, amountKobo: 42 }),
      row({ merchant: 1, month: 202402, amountKobo: 1 }),
    ];
    const delta = deltaOf(batchOf(rows));
    expect(volumes(delta)).toEqual([
      [202401, 1, (10n * 999_999_999_999_999n).toString()],
      [202401, 2, '42'],
      [202402, 1, '1'],
    ]);
  });
});

import { describe, expect, it } from 'vitest';
import {
  failureRatesJson,
  formatFailureRate,
  formatKobo,
  kycFunnelJson,
  leaderboardJson,
  merchantIdText,
  monthText,
  monthlyActiveJson,
  parseMonth,
  productAdoptionJson,
  productName,
  topMerchantJson,
  type StatusCounts,
} from '../../src/modules/analytics/analytics.definitions.js';
import { PRODUCTS } from '../../src/modules/importer/row-rules.js';

const P = (name: (typeof PRODUCTS)[number]): number => PRODUCTS.indexOf(name) + 1;

const counts = (
  name: (typeof PRODUCTS)[number],
  success: number,
  failed: number,
): StatusCounts => ({
  product: P(name),
  success: BigInt(success),
  failed: BigInt(failed),
});

describe('formatKobo', () => {
  it.each([
    ['0', '0.00'],
    ['5', '0.05'],
    ['50', '0.50'],
    ['99', '0.99'],
    ['100', '1.00'],
    ['101', '1.01'],
    ['1000', '10.00'],
    ['9876543210', '98765432.10'],
    ['999999999999999', '9999999999999.99'],
  ])('when kobo is %s, then NGN is %s', (kobo, text) => {
    expect(formatKobo(kobo)).toBe(text);
  });

  it('when kobo is beyond 2^53, then every digit is kept exactly', () => {
    expect(formatKobo('9007199254740993')).toBe('90071992547409.93');
    expect(formatKobo('123456789012345678901234567')).toBe('1234567890123456789012345.67');
    expect(formatKobo(2n ** 64n + 1n)).toBe('184467440737095516.17');
  });

  it('when given a bigint, then it is the same as its text', () => {
    expect(formatKobo(9876543210n)).toBe('98765432.10');
    expect(formatKobo(0n)).toBe('0.00');
  });

  it('when kobo is negative, then the sign goes in front of the whole number', () => {
    expect(formatKobo('-5')).toBe('-0.05');
    expect(formatKobo('-12345')).toBe('-123.45');
  });
});

describe('formatFailureRate', () => {
  it.each([
    [1, 3, '33.3'],
    [2, 3, '66.7'],
    [1, 8, '12.5'],
    [1, 16, '6.3'], // 6.25 rounds half-up
    [3, 16, '18.8'], // 18.75
    [1, 40, '2.5'],
    [1, 80, '1.3'], // 1.25
    [1, 2000, '0.1'], // 0.05 rounds half-up
    [1, 2001, '0.0'], // 0.04997…
    [0, 1, '0.0'],
    [0, 12345, '0.0'],
    [1, 1, '100.0'],
    [7, 7, '100.0'],
    [1, 20, '5.0'],
    [1999, 2000, '100.0'], // 99.95 rounds up to 100.0
    [1998, 2000, '99.9'],
    [3333, 10000, '33.3'],
    [6665, 10000, '66.7'], // 66.65
    [6664, 10000, '66.6'],
  ])('when %d of %d failed, then the rate is %s', (failed, total, text) => {
    expect(formatFailureRate(BigInt(failed), BigInt(total))).toBe(text);
  });

  it('when the counts are beyond 2^53, then the rounding is still exact', () => {
    const total = 2n ** 60n;
    expect(formatFailureRate(total / 16n, total)).toBe('6.3');
    expect(formatFailureRate(total / 16n - 1n, total)).toBe('6.2');
  });

  it('when compared with exact rational arithmetic on many pairs, then it is always half-up to one decimal', () => {
    for (let total = 1; total <= 200; total += 1) {
      for (let failed = 0; failed <= total; failed += 1) {
        // tenths = floor(failed * 1000 / total + 1/2), in integers
        const tenths = Math.floor((failed * 2000 + total) / (2 * total));
        const expected = `${Math.floor(tenths / 10)}.${tenths % 10}`;
        expect(formatFailureRate(BigInt(failed), BigInt(total))).toBe(expected);
      }
    }
  });
});

describe('topMerchantJson and leaderboardJson', () => {
  it('when the top merchant is given, then the JSON text matches the contract exactly', () => {
    expect(topMerchantJson({ merchant: 1234, kobo: '9876543210' })).toBe(
      '{"merchant_id":"MRC-001234","total_volume":98765432.10}',
    );
  });

  it('when the volume has no kobo, then two decimals are still written', () => {
    const text = topMerchantJson({ merchant: 7, kobo: '500' });
    expect(text).toBe('{"merchant_id":"MRC-000007","total_volume":5.00}');
    expect(JSON.parse(text)).toEqual({ merchant_id: 'MRC-000007', total_volume: 5 });
  });

  it('when the volume is beyond 2^53 kobo, then the text keeps every digit', () => {
    expect(topMerchantJson({ merchant: 999999, kobo: '12345678901234567890' })).toBe(
      '{"merchant_id":"MRC-999999","total_volume":123456789012345678.90}',
    );
  });

  it('when a leaderboard is built, then ranks start at 1 in the given order', () => {
    const text = leaderboardJson([
      { merchant: 2, kobo: '300' },
      { merchant: 1, kobo: '5' },
    ]);
    expect(text).toBe(
      '[{"rank":1,"merchant_id":"MRC-000002","total_volume":3.00},' +
        '{"rank":2,"merchant_id":"MRC-000001","total_volume":0.05}]',
    );
    expect(leaderboardJson([])).toBe('[]');
  });

  it('when merchant ids and months are written, then they are zero-padded', () => {
    expect(merchantIdText(0)).toBe('MRC-000000');
    expect(merchantIdText(123)).toBe('MRC-000123');
    expect(merchantIdText(999999)).toBe('MRC-999999');
    expect(monthText(202401)).toBe('2024-01');
    expect(monthText(202412)).toBe('2024-12');
    expect(monthText(99901)).toBe('0999-01');
  });
});

describe('monthlyActiveJson', () => {
  it('when rows arrive out of order, then keys are written in ascending month order', () => {
    const text = monthlyActiveJson([
      { month: 202402, merchants: 7 },
      { month: 202312, merchants: 3 },
      { month: 202401, merchants: 5 },
      { month: 202410, merchants: 1 },
      { month: 202409, merchants: 2 },
    ]);
    expect(text).toBe('{"2023-12":3,"2024-01":5,"2024-02":7,"2024-09":2,"2024-10":1}');
    expect(Object.keys(JSON.parse(text) as object)).toEqual([
      '2023-12',
      '2024-01',
      '2024-02',
      '2024-09',
      '2024-10',
    ]);
  });

  it('when there are no rows, then it is an empty object', () => {
    expect(monthlyActiveJson([])).toBe('{}');
  });

  it('when the input array is given, then it is not reordered in place', () => {
    const rows = [
      { month: 202402, merchants: 1 },
      { month: 202401, merchants: 1 },
    ];
    monthlyActiveJson(rows);
    expect(rows.map((r) => r.month)).toEqual([202402, 202401]);
  });
});

describe('productAdoptionJson', () => {
  it('when counts differ, then the highest count comes first', () => {
    const text = productAdoptionJson([
      { product: P('POS'), merchants: 10 },
      { product: P('KYC'), merchants: 30 },
      { product: P('AIRTIME'), merchants: 20 },
    ]);
    expect(text).toBe('{"KYC":30,"AIRTIME":20,"POS":10}');
  });

  it('when counts tie, then product names ascend (not product codes)', () => {
    const text = productAdoptionJson([
      { product: P('SAVINGS'), merchants: 5 },
      { product: P('POS'), merchants: 5 },
      { product: P('MONIEBOOK'), merchants: 9 },
      { product: P('KYC'), merchants: 5 },
      { product: P('BILLS'), merchants: 5 },
      { product: P('CARD_PAYMENT'), merchants: 5 },
      { product: P('AIRTIME'), merchants: 5 },
    ]);
    expect(text).toBe(
      '{"MONIEBOOK":9,"AIRTIME":5,"BILLS":5,"CARD_PAYMENT":5,"KYC":5,"POS":5,"SAVINGS":5}',
    );
  });

  it('when a product has no merchants, then it is absent', () => {
    const text = productAdoptionJson([
      { product: P('POS'), merchants: 0 },
      { product: P('BILLS'), merchants: 1 },
    ]);
    expect(text).toBe('{"BILLS":1}');
    expect(productAdoptionJson([])).toBe('{}');
  });

  it('when product codes are named, then they follow the contract list', () => {
    expect(PRODUCTS.map((_, i) => productName(i + 1))).toEqual([
      'POS',
      'AIRTIME',
      'BILLS',
      'CARD_PAYMENT',
      'SAVINGS',
      'MONIEBOOK',
      'KYC',
    ]);
  });
});

describe('kycFunnelJson', () => {
  it('when there are no rows, then all three keys are present with 0', () => {
    expect(kycFunnelJson([])).toBe(
      '{"documents_submitted":0,"verifications_completed":0,"tier_upgrades":0}',
    );
  });

  it('when only some stages have merchants, then the others are 0 and the key order is fixed', () => {
    expect(kycFunnelJson([{ stage: 3, merchants: 4 }])).toBe(
      '{"documents_submitted":0,"verifications_completed":0,"tier_upgrades":4}',
    );
  });

  it('when every stage has merchants, then each is counted on its own (not cumulative)', () => {
    const text = kycFunnelJson([
      { stage: 2, merchants: 70 },
      { stage: 3, merchants: 90 },
      { stage: 1, merchants: 100 },
    ]);
    expect(text).toBe(
      '{"documents_submitted":100,"verifications_completed":70,"tier_upgrades":90}',
    );
  });
});

describe('failureRatesJson', () => {
  it('when rates differ, then the highest unrounded rate comes first with one decimal', () => {
    const text = failureRatesJson([
      counts('POS', 95, 5),
      counts('BILLS', 1, 1),
      counts('AIRTIME', 2, 1),
    ]);
    expect(text).toBe(
      '[{"product":"BILLS","failure_rate":50.0},' +
        '{"product":"AIRTIME","failure_rate":33.3},' +
        '{"product":"POS","failure_rate":5.0}]',
    );
  });

  it('when unrounded rates are exactly equal, then product names ascend', () => {
    const text = failureRatesJson([
      counts('SAVINGS', 1, 1),
      counts('KYC', 2, 2),
      counts('AIRTIME', 50, 50),
    ]);
    expect(text).toBe(
      '[{"product":"AIRTIME","failure_rate":50.0},' +
        '{"product":"KYC","failure_rate":50.0},' +
        '{"product":"SAVINGS","failure_rate":50.0}]',
    );
  });

  it('when two rates round to the same text but differ unrounded, then the unrounded order wins over the name', () => {
    // AIRTIME 33.33% and POS 33.333…% both print as 33.3; POS is higher, so it comes first.
    const text = failureRatesJson([counts('AIRTIME', 6667, 3333), counts('POS', 2, 1)]);
    expect(text).toBe(
      '[{"product":"POS","failure_rate":33.3},{"product":"AIRTIME","failure_rate":33.3}]',
    );
  });

  it('when rates differ by less than a double can tell, then they are still ordered exactly', () => {
    const big = 2n ** 60n;
    const rows: StatusCounts[] = [
      { product: P('AIRTIME'), success: big, failed: big },
      { product: P('POS'), success: big - 1n, failed: big },
    ];
    expect(failureRatesJson(rows)).toBe(
      '[{"product":"POS","failure_rate":50.0},{"product":"AIRTIME","failure_rate":50.0}]',
    );
  });

  it('when a product has neither SUCCESS nor FAILED, then it is absent', () => {
    const text = failureRatesJson([counts('POS', 0, 0), counts('KYC', 3, 0)]);
    expect(text).toBe('[{"product":"KYC","failure_rate":0.0}]');
    expect(failureRatesJson([])).toBe('[]');
  });

  it('when everything failed, then the rate is 100.0', () => {
    expect(failureRatesJson([counts('BILLS', 0, 4)])).toBe(
      '[{"product":"BILLS","failure_rate":100.0}]',
    );
  });

  it('when parsed, then the text is valid JSON with numbers, not strings', () => {
    const parsed = JSON.parse(failureRatesJson([counts('POS', 7, 1)])) as unknown;
    expect(parsed).toEqual([{ product: 'POS', failure_rate: 12.5 }]);
  });
});

describe('parseMonth', () => {
  it.each([
    ['2024-01', 202401],
    ['2024-12', 202412],
    ['1999-07', 199907],
    ['0001-01', 101],
  ])('when the text is %j, then the month is %d', (text, month) => {
    expect(parseMonth(text)).toBe(month);
  });

  it.each([
    ['2024-00'],
    ['2024-13'],
    ['2024-1'],
    ['24-01'],
    ['2024/01'],
    ['2024-01-01'],
    [' 2024-01'],
    ['2024-01 '],
    [''],
    ['abcd-ef'],
    ['202401'],
  ])('when the text is %j, then it is not a month (null)', (text) => {
    expect(parseMonth(text)).toBeNull();
  });
});

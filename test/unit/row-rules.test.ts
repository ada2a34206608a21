import { describe, expect, it } from 'vitest';
import {
  CHANNELS,
  EVENT_TYPES_BY_PRODUCT,
  PRODUCTS,
  REQUIRED_COLUMNS,
  STATUSES,
  TIERS,
  daysFromCivil,
  judgeRow,
  monthOfDays,
  parseAmountKobo,
  parseTimestamp,
  resolveHeader,
  type ActivityRow,
  type ColumnMap,
  type ColumnName,
  type RowVerdict,
} from '../../src/modules/importer/row-rules.js';

const STANDARD_HEADER = [...REQUIRED_COLUMNS];

function columnsOf(header: string[]): ColumnMap {
  const verdict = resolveHeader(header);
  if (!verdict.ok) throw new Error(`header misses ${verdict.missing.join(', ')}`);
  return verdict.columns;
}

const STANDARD = columnsOf(STANDARD_HEADER);

const BASE: Record<ColumnName, string> = {
  event_id: '3f2504e0-4f89-41d3-9a0c-0305e82c3301',
  merchant_id: 'MRC-000123',
  event_timestamp: '2024-03-15T10:20:30',
  product: 'POS',
  event_type: 'CARD_TRANSACTION',
  amount: '1500.50',
  status: 'SUCCESS',
  channel: 'POS',
  region: 'Lagos',
  merchant_tier: 'VERIFIED',
};

function fieldsFor(overrides: Partial<Record<ColumnName, string>> = {}): string[] {
  const values = { ...BASE, ...overrides };
  return STANDARD_HEADER.map((c) => values[c]);
}

function judge(overrides: Partial<Record<ColumnName, string>> = {}): RowVerdict {
  return judgeRow(fieldsFor(overrides), STANDARD);
}

function accepted(overrides: Partial<Record<ColumnName, string>> = {}): ActivityRow {
  const verdict = judge(overrides);
  if (!verdict.ok) throw new Error(`expected the row to be accepted, got ${verdict.reason}`);
  return verdict.row;
}

function rejection(overrides: Partial<Record<ColumnName, string>>): string | undefined {
  const verdict = judge(overrides);
  return verdict.ok ? undefined : verdict.reason;
}

const code = (list: readonly string[], value: string): number => list.indexOf(value) + 1;

/** Epoch seconds of a UTC wall-clock time, computed independently of the code under test. */
const utcSeconds = (y: number, mo: number, d: number, h = 0, mi = 0, s = 0): number =>
  Date.UTC(y, mo - 1, d, h, mi, s) / 1000;

describe('resolveHeader', () => {
  it('when the header is in the standard order, then every column maps to its position', () => {
    const verdict = resolveHeader(STANDARD_HEADER);
    expect(verdict.ok).toBe(true);
    if (!verdict.ok) return;
    expect(verdict.columns.width).toBe(10);
    REQUIRED_COLUMNS.forEach((c, i) => expect(verdict.columns.index[c]).toBe(i));
  });

  it('when columns are shuffled, upper-cased, padded and mixed with extra columns, then each is found by name', () => {
    const header = [
      '  Region ',
      'EXTRA',
      'MERCHANT_TIER',
      'Event_Type',
      ' amount',
      'STATUS ',
      'channel',
      'notes',
      'Product',
      'EVENT_TIMESTAMP',
      'merchant_ID',
      '\tevent_id\t',
    ];
    const verdict = resolveHeader(header);
    expect(verdict.ok).toBe(true);
    if (!verdict.ok) return;
    expect(verdict.columns.width).toBe(12);
    expect(verdict.columns.index).toEqual({
      event_id: 11,
      merchant_id: 10,
      event_timestamp: 9,
      product: 8,
      event_type: 3,
      amount: 4,
      status: 5,
      channel: 6,
      region: 0,
      merchant_tier: 2,
    });
  });

  it('when a row follows a shuffled header, then its values are read from the right columns', () => {
    const header = [
      'status',
      'amount',
      'x',
      ...STANDARD_HEADER.filter((c) => c !== 'status' && c !== 'amount'),
    ];
    const columns = columnsOf(header);
    const values: Record<string, string> = {
      ...BASE,
      status: 'failed',
      amount: '7.25',
      x: 'ignored',
    };
    const verdict = judgeRow(
      header.map((c) => values[c] as string),
      columns,
    );
    expect(verdict.ok).toBe(true);
    if (!verdict.ok) return;
    expect(verdict.row.status).toBe(code(STATUSES, 'FAILED'));
    expect(verdict.row.amountKobo).toBe(725);
  });

  it('when the first column name carries a byte-order mark, then it is still found', () => {
    const verdict = resolveHeader(['\uFEFFevent_id', ...STANDARD_HEADER.slice(1)]);
    expect(verdict.ok).toBe(true);
  });

  it('when a column name appears twice, then the first one wins', () => {
    const verdict = resolveHeader([...STANDARD_HEADER, 'AMOUNT']);
    expect(verdict.ok).toBe(true);
    if (!verdict.ok) return;
    expect(verdict.columns.index.amount).toBe(5);
    expect(verdict.columns.width).toBe(11);
  });

  it('when required columns are missing, then all of them are reported', () => {
    const verdict = resolveHeader([
      ...STANDARD_HEADER.filter((c) => c !== 'amount' && c !== 'merchant_tier'),
      'extra',
    ]);
    expect(verdict).toEqual({ ok: false, missing: ['amount', 'merchant_tier'] });
  });

  it('when a column name is only similar (e.g. "event id"), then it does not count', () => {
    const verdict = resolveHeader(['event id', ...STANDARD_HEADER.slice(1)]);
    expect(verdict).toEqual({ ok: false, missing: ['event_id'] });
  });

  it('when the header is empty, then every required column is missing', () => {
    expect(resolveHeader([''])).toEqual({ ok: false, missing: [...REQUIRED_COLUMNS] });
  });
});

describe('judgeRow: a fully valid row', () => {
  it('when every field is valid, then the row is stored in its canonical shape', () => {
    const row = accepted();
    expect(row).toEqual({
      eventId: '3f2504e0-4f89-41d3-9a0c-0305e82c3301',
      merchant: 123,
      epochSeconds: utcSeconds(2024, 3, 15, 10, 20, 30),
      micros: 0,
      month: 202403,
      product: code(PRODUCTS, 'POS'),
      eventType: 'CARD_TRANSACTION',
      amountKobo: 150050,
      status: code(STATUSES, 'SUCCESS'),
      channel: code(CHANNELS, 'POS'),
      region: 'LAGOS',
      tier: code(TIERS, 'VERIFIED'),
      kycStage: 0,
      warnings: [],
    });
  });

  it('when every field has surrounding white space and lower case, then it is trimmed and upper-cased', () => {
    const row = accepted({
      event_id: '  3F2504E0-4F89-41D3-9A0C-0305E82C3301\t',
      merchant_id: ' mrc-000123 ',
      event_timestamp: ' 2024-03-15T10:20:30 ',
      product: ' pos ',
      event_type: ' card_transaction ',
      amount: ' 1500.50 ',
      status: ' success ',
      channel: ' pos ',
      region: '  lagos island ',
      merchant_tier: ' verified ',
    });
    expect(row.eventId).toBe('3f2504e0-4f89-41d3-9a0c-0305e82c3301');
    expect(row.merchant).toBe(123);
    expect(row.epochSeconds).toBe(utcSeconds(2024, 3, 15, 10, 20, 30));
    expect(row.product).toBe(code(PRODUCTS, 'POS'));
    expect(row.eventType).toBe('CARD_TRANSACTION');
    expect(row.amountKobo).toBe(150050);
    expect(row.status).toBe(code(STATUSES, 'SUCCESS'));
    expect(row.channel).toBe(code(CHANNELS, 'POS'));
    expect(row.region).toBe('LAGOS ISLAND');
    expect(row.tier).toBe(code(TIERS, 'VERIFIED'));
    expect(row.warnings).toEqual([]);
  });
});

describe('judgeRow: row shape', () => {
  it('when the row has one field too few, then it is rejected as column_count', () => {
    expect(judgeRow(fieldsFor().slice(0, 9), STANDARD)).toEqual({
      ok: false,
      reason: 'column_count',
    });
  });

  it('when the row has one field too many, then it is rejected as column_count', () => {
    expect(judgeRow([...fieldsFor(), ''], STANDARD)).toEqual({ ok: false, reason: 'column_count' });
  });

  it('when the row is a single empty field, then it is rejected as column_count', () => {
    expect(judgeRow([''], STANDARD)).toEqual({ ok: false, reason: 'column_count' });
  });

  it('when the header has an extra column, then a row must have that many fields too', () => {
    const columns = columnsOf([...STANDARD_HEADER, 'notes']);
    expect(judgeRow([...fieldsFor(), 'a note'], columns).ok).toBe(true);
    expect(judgeRow(fieldsFor(), columns)).toEqual({ ok: false, reason: 'column_count' });
  });

  it('when the field count is wrong and every field is invalid too, then column_count wins', () => {
    const bad = ['x', 'y', 'z', 'q', 'w', 'e', 'r', 't', 'y'];
    expect(judgeRow(bad, STANDARD)).toEqual({ ok: false, reason: 'column_count' });
  });
});

describe('judgeRow: reject precedence', () => {
  it('when several fields are invalid, then the first failing rule in the order event_id, merchant_id, timestamp, product, status is reported', () => {
    const allBad = {
      event_id: 'nope',
      merchant_id: 'nope',
      event_timestamp: 'nope',
      product: 'nope',
      status: 'nope',
    };
    expect(rejection(allBad)).toBe('invalid_event_id');
    expect(rejection({ ...allBad, event_id: BASE.event_id })).toBe('invalid_merchant_id');
    expect(rejection({ ...allBad, event_id: BASE.event_id, merchant_id: BASE.merchant_id })).toBe(
      'invalid_timestamp',
    );
    expect(
      rejection({
        ...allBad,
        event_id: BASE.event_id,
        merchant_id: BASE.merchant_id,
        event_timestamp: BASE.event_timestamp,
      }),
    ).toBe('invalid_product');
    expect(rejection({ status: 'nope' })).toBe('invalid_status');
  });

  it('when a row is rejected, then warnings of other fields do not matter', () => {
    expect(
      rejection({ status: 'DONE', amount: 'abc', channel: 'FAX', merchant_tier: 'GOLD' }),
    ).toBe('invalid_status');
  });
});

describe('judgeRow: event_id', () => {
  it.each([
    [
      'lower case v4',
      '3f2504e0-4f89-41d3-9a0c-0305e82c3301',
      '3f2504e0-4f89-41d3-9a0c-0305e82c3301',
    ],
    ['upper case', '3F2504E0-4F89-41D3-9A0C-0305E82C3301', '3f2504e0-4f89-41d3-9a0c-0305e82c3301'],
    ['mixed case', '3f2504E0-4f89-41D3-9a0C-0305e82c3301', '3f2504e0-4f89-41d3-9a0c-0305e82c3301'],
    ['version 1', 'c232ab00-9414-11ec-b3c8-9f6bdeced846', 'c232ab00-9414-11ec-b3c8-9f6bdeced846'],
    ['version 7', '018f3c4e-7a2b-7cde-8f01-23456789abcd', '018f3c4e-7a2b-7cde-8f01-23456789abcd'],
    [
      'the nil UUID',
      '00000000-0000-0000-0000-000000000000',
      '00000000-0000-0000-0000-000000000000',
    ],
  ])('when it is a %s UUID, then it is accepted and stored lower-case', (_name, raw, stored) => {
    expect(accepted({ event_id: raw }).eventId).toBe(stored);
  });

  it.each([
    ['empty', ''],
    ['one character short', '3f2504e0-4f89-41d3-9a0c-0305e82c330'],
    ['one character long', '3f2504e0-4f89-41d3-9a0c-0305e82c33011'],
    ['a non-hex character', '3f2504e0-4f89-41d3-9a0c-0305e82c330g'],
    ['without hyphens', '3f2504e04f8941d39a0c0305e82c3301'],
    ['hyphens misplaced', '3f2504e04-f89-41d3-9a0c-0305e82c3301'],
    ['braced', '{3f2504e0-4f89-41d3-9a0c-0305e82c3301}'],
    ['a urn prefix', 'urn:uuid:3f2504e0-4f89-41d3-9a0c-0305e82c3301'],
    ['inner white space', '3f2504e0-4f89-41d3-9a0c -0305e82c3301'],
  ])('when it is %s, then the row is rejected as invalid_event_id', (_name, raw) => {
    expect(rejection({ event_id: raw })).toBe('invalid_event_id');
  });
});

describe('judgeRow: merchant_id', () => {
  it.each([
    ['MRC-000123', 123],
    ['mrc-000123', 123],
    ['Mrc-999999', 999999],
    ['MRC-000000', 0],
    [' MRC-001234 ', 1234],
  ])('when it is %j, then it is accepted as merchant %d', (raw, merchant) => {
    expect(accepted({ merchant_id: raw }).merchant).toBe(merchant);
  });

  it.each([
    ['five digits', 'MRC-12345'],
    ['seven digits', 'MRC-1234567'],
    ['a letter among the digits', 'MRC-00012a'],
    ['empty', ''],
    ['no hyphen', 'MRC000123'],
    ['another prefix', 'MRX-000123'],
    ['digits only', '000123'],
    ['inner space', 'MRC- 00123'],
    ['a sign', 'MRC-+00123'],
    ['non-ASCII digits', 'MRC-٠٠٠١٢٣'],
  ])('when it has %s (%j), then the row is rejected as invalid_merchant_id', (_name, raw) => {
    expect(rejection({ merchant_id: raw })).toBe('invalid_merchant_id');
  });
});

describe('judgeRow: event_timestamp', () => {
  it('when it uses T, then it is taken as UTC exactly as written', () => {
    const row = accepted({ event_timestamp: '2024-03-15T10:20:30' });
    expect(row.epochSeconds).toBe(utcSeconds(2024, 3, 15, 10, 20, 30));
    expect(row.micros).toBe(0);
    expect(row.month).toBe(202403);
  });

  it('when it uses a space instead of T, then it means the same instant', () => {
    const row = accepted({ event_timestamp: '2024-03-15 10:20:30' });
    expect(row.epochSeconds).toBe(utcSeconds(2024, 3, 15, 10, 20, 30));
  });

  it('when it has no seconds, then seconds are zero', () => {
    const row = accepted({ event_timestamp: '2024-03-15T10:20' });
    expect(row.epochSeconds).toBe(utcSeconds(2024, 3, 15, 10, 20, 0));
    expect(row.micros).toBe(0);
  });

  it.each([
    ['.5', 500000],
    ['.123', 123000],
    ['.123456', 123456],
    ['.1234567', 123456],
    ['.999999999', 999999],
  ])(
    'when it has the fraction %s, then micros are %d (truncated, never rounded)',
    (fraction, micros) => {
      const row = accepted({ event_timestamp: `2024-03-15T10:20:30${fraction}` });
      expect(row.epochSeconds).toBe(utcSeconds(2024, 3, 15, 10, 20, 30));
      expect(row.micros).toBe(micros);
    },
  );

  it('when it ends in Z, then it is the same as without an offset', () => {
    const row = accepted({ event_timestamp: '2024-03-15T10:20:30Z' });
    expect(row.epochSeconds).toBe(utcSeconds(2024, 3, 15, 10, 20, 30));
    expect(row.month).toBe(202403);
  });

  it('when it has +01:00 at 00:30 on the 1st of a month, then the UTC month is the previous one', () => {
    const row = accepted({ event_timestamp: '2024-04-01T00:30:00+01:00' });
    expect(row.epochSeconds).toBe(utcSeconds(2024, 3, 31, 23, 30));
    expect(row.month).toBe(202403);
  });

  it('when it has +01:00 at 00:30 on 1 January, then the UTC month is December of the previous year', () => {
    const row = accepted({ event_timestamp: '2024-01-01T00:30:00+01:00' });
    expect(row.epochSeconds).toBe(utcSeconds(2023, 12, 31, 23, 30));
    expect(row.month).toBe(202312);
  });

  it('when it has -05:00 late on the last day of a month, then the UTC month is the next one', () => {
    const row = accepted({ event_timestamp: '2024-02-29T21:00:00-05:00' });
    expect(row.epochSeconds).toBe(utcSeconds(2024, 3, 1, 2, 0));
    expect(row.month).toBe(202403);
  });

  it('when it has -05:00 late on 31 December, then the UTC month is January of the next year', () => {
    const row = accepted({ event_timestamp: '2023-12-31T23:30:00-05:00' });
    expect(row.epochSeconds).toBe(utcSeconds(2024, 1, 1, 4, 30));
    expect(row.month).toBe(202401);
  });

  it('when an offset does not cross midnight, then the month stays and the instant shifts', () => {
    const row = accepted({ event_timestamp: '2024-03-15T10:20:30+05:30' });
    expect(row.epochSeconds).toBe(utcSeconds(2024, 3, 15, 4, 50, 30));
    expect(row.month).toBe(202403);
  });

  it('when it has +00:00 or -00:00, then it equals the time without offset', () => {
    const plain = utcSeconds(2024, 3, 15, 10, 20, 30);
    expect(accepted({ event_timestamp: '2024-03-15T10:20:30+00:00' }).epochSeconds).toBe(plain);
    expect(accepted({ event_timestamp: '2024-03-15T10:20:30-00:00' }).epochSeconds).toBe(plain);
  });

  it('when it is 29 February of a leap year, then it is accepted', () => {
    expect(accepted({ event_timestamp: '2024-02-29T12:00:00' }).month).toBe(202402);
    expect(accepted({ event_timestamp: '2000-02-29T12:00:00' }).month).toBe(200002);
  });

  it('when it is 29 February of a non-leap year, then it is rejected', () => {
    expect(rejection({ event_timestamp: '2023-02-29T12:00:00' })).toBe('invalid_timestamp');
    expect(rejection({ event_timestamp: '1900-02-29T12:00:00' })).toBe('invalid_timestamp');
  });

  it('when it is the last valid moment of a day, then it is accepted', () => {
    const row = accepted({ event_timestamp: '2024-12-31T23:59:59.999999' });
    expect(row.epochSeconds).toBe(utcSeconds(2024, 12, 31, 23, 59, 59));
    expect(row.micros).toBe(999999);
    expect(row.month).toBe(202412);
  });

  it.each([
    ['empty', ''],
    ['hour 24', '2024-03-15T24:00:00'],
    ['minute 60', '2024-03-15T10:60:00'],
    ['second 60', '2024-03-15T10:20:60'],
    ['month 13', '2024-13-15T10:20:30'],
    ['month 00', '2024-00-15T10:20:30'],
    ['day 00', '2024-03-00T10:20:30'],
    ['31 April', '2024-04-31T10:20:30'],
    ['day 32', '2024-01-32T10:20:30'],
    ['a date only', '2024-03-15'],
    ['an hour only', '2024-03-15T10'],
    ['one-digit month', '2024-3-15T10:20:30'],
    ['slashes', '2024/03/15 10:20:30'],
    ['day first', '15-03-2024 10:20:30'],
    ['offset without colon', '2024-03-15T10:20:30+0100'],
    ['offset hour only', '2024-03-15T10:20:30+01'],
    ['offset hour 24', '2024-03-15T10:20:30+24:00'],
    ['offset minute 60', '2024-03-15T10:20:30+01:60'],
    ['a fraction without seconds', '2024-03-15T10:20.5'],
    ['an empty fraction', '2024-03-15T10:20:30.'],
    ['a zone name', '2024-03-15T10:20:30 UTC'],
    ['epoch seconds', '1710498030'],
    ['year 0000', '0000-01-01T00:00:00'],
    ['two separators', '2024-03-15T 10:20:30'],
  ])('when it is %s (%j), then the row is rejected as invalid_timestamp', (_name, raw) => {
    expect(rejection({ event_timestamp: raw })).toBe('invalid_timestamp');
  });
});

describe('parseTimestamp and the civil-date helpers', () => {
  it('when parsed, then the text itself is not trimmed (judgeRow trims first)', () => {
    expect(parseTimestamp(' 2024-03-15T10:20:30')).toBeNull();
    expect(parseTimestamp('2024-03-15T10:20:30')).not.toBeNull();
  });

  it('when the time is before 1970, then epoch seconds are negative and the month is right', () => {
    expect(parseTimestamp('1969-12-31T23:59:59')).toEqual({
      epochSeconds: -1,
      micros: 0,
      month: 196912,
    });
    expect(parseTimestamp('1970-01-01T00:30:00+01:00')).toEqual({
      epochSeconds: -1800,
      micros: 0,
      month: 196912,
    });
  });

  it('when compared with Date.UTC over many dates, then daysFromCivil and monthOfDays agree', () => {
    for (let year = 1896; year <= 2104; year += 1) {
      for (let month = 1; month <= 12; month += 1) {
        for (const day of [1, 15, 28]) {
          const days = daysFromCivil(year, month, day);
          expect(days).toBe(Date.UTC(year, month - 1, day) / 86_400_000);
          expect(monthOfDays(days)).toBe(year * 100 + month);
        }
      }
    }
  });

  it('when a day is the last of its month, then monthOfDays of the next day is the next month', () => {
    expect(monthOfDays(daysFromCivil(2024, 2, 29))).toBe(202402);
    expect(monthOfDays(daysFromCivil(2024, 2, 29) + 1)).toBe(202403);
    expect(monthOfDays(daysFromCivil(2023, 12, 31) + 1)).toBe(202401);
  });
});

describe('judgeRow: product and status', () => {
  it.each(PRODUCTS.map((p) => [p]))(
    'when the product is %s in any case, then it is accepted',
    (p) => {
      expect(accepted({ product: p.toLowerCase(), event_type: '' }).product).toBe(
        code(PRODUCTS, p),
      );
      expect(accepted({ product: p, event_type: '' }).product).toBe(code(PRODUCTS, p));
    },
  );

  it.each([['CARD PAYMENT'], ['CARDPAYMENT'], ['LOANS'], [''], ['P0S']])(
    'when the product is %j, then the row is rejected as invalid_product',
    (p) => {
      expect(rejection({ product: p })).toBe('invalid_product');
    },
  );

  it.each([
    ['SUCCESS', 'success'],
    ['FAILED', 'Failed'],
    ['PENDING', 'pEnDiNg'],
  ])('when the status is %s in any case, then it is accepted', (status, raw) => {
    expect(accepted({ status: raw }).status).toBe(code(STATUSES, status));
  });

  it.each([['SUCCESSFUL'], ['FAIL'], ['CANCELLED'], [''], ['OK']])(
    'when the status is %j, then the row is rejected as invalid_status',
    (s) => {
      expect(rejection({ status: s })).toBe('invalid_status');
    },
  );
});

describe('judgeRow: event_type', () => {
  const pairs = PRODUCTS.flatMap((p) => EVENT_TYPES_BY_PRODUCT[p].map((t) => [p, t] as const));

  it('when the contract lists the type for its product, then there is no warning', () => {
    expect(pairs).toHaveLength(3 + 2 + 5 + 2 + 4 + 3 + 3);
    for (const [product, type] of pairs) {
      const row = accepted({ product, event_type: type.toLowerCase() });
      expect(row.eventType).toBe(type);
      expect(row.warnings).toEqual([]);
    }
  });

  it('when the type belongs to another product, then the row is kept with unknown_event_type', () => {
    const row = accepted({ product: 'POS', event_type: 'deposit' });
    expect(row.eventType).toBe('DEPOSIT');
    expect(row.warnings).toEqual(['unknown_event_type']);
  });

  it('when the type is unknown everywhere, then it is stored upper-cased with unknown_event_type', () => {
    const row = accepted({ product: 'AIRTIME', event_type: '  bundle_gift ' });
    expect(row.eventType).toBe('BUNDLE_GIFT');
    expect(row.warnings).toEqual(['unknown_event_type']);
  });

  it('when the type is empty, then the row is kept with unknown_event_type', () => {
    const row = accepted({ event_type: '' });
    expect(row.eventType).toBe('');
    expect(row.warnings).toEqual(['unknown_event_type']);
  });

  it.each([
    ['DOCUMENT_SUBMITTED', 1],
    ['VERIFICATION_COMPLETED', 2],
    ['TIER_UPGRADE', 3],
  ])('when a KYC row has type %s, then its kycStage is %d', (type, stage) => {
    expect(accepted({ product: 'KYC', event_type: type }).kycStage).toBe(stage);
  });

  it('when a non-KYC product carries a KYC type, then the kycStage is 0 and it is a warning', () => {
    const row = accepted({ product: 'SAVINGS', event_type: 'TIER_UPGRADE' });
    expect(row.kycStage).toBe(0);
    expect(row.warnings).toEqual(['unknown_event_type']);
  });

  it('when a KYC row has an unknown type, then the kycStage is 0', () => {
    expect(accepted({ product: 'KYC', event_type: 'SELFIE' }).kycStage).toBe(0);
  });
});

describe('parseAmountKobo and the amount field', () => {
  it.each([
    ['', 0],
    ['0', 0],
    ['0.00', 0],
    ['10', 1000],
    ['10.00', 1000],
    ['10.5', 1050],
    ['10.05', 1005],
    ['10.004', 1000],
    ['10.005', 1001],
    ['10.0049999', 1000],
    ['10.0050', 1001],
    ['0.995', 100],
    ['99.995', 10000],
    ['0.5', 50],
    ['.5', 50],
    ['5.', 500],
    ['007.10', 710],
    ['+5', 500],
    ['-0', 0],
    ['-0.00', 0],
    ['98765432.10', 9876543210],
    ['9999999999999.99', 999999999999999],
  ])('when the amount is %j, then it is %d kobo', (raw, kobo) => {
    expect(parseAmountKobo(raw)).toBe(kobo);
  });

  it.each([
    ['-5'],
    ['-0.01'],
    ['-.5'],
    ['abc'],
    ['1e3'],
    ['12.3.4'],
    ['.'],
    ['-'],
    ['+'],
    ['1,000.00'],
    ['1 000'],
    ['NaN'],
    ['Infinity'],
    ['0x10'],
    ['₦100'],
    ['100NGN'],
  ])('when the amount is %j, then it is unparseable (null)', (raw) => {
    expect(parseAmountKobo(raw)).toBeNull();
  });

  it('when the amount field is empty, then the row is kept with 0 kobo and no warning', () => {
    const row = accepted({ amount: '' });
    expect(row.amountKobo).toBe(0);
    expect(row.warnings).toEqual([]);
  });

  it('when the amount field is white space only, then it counts as empty', () => {
    const row = accepted({ amount: '   ' });
    expect(row.amountKobo).toBe(0);
    expect(row.warnings).toEqual([]);
  });

  it.each([['-5'], ['abc'], ['1e3'], ['12.3.4'], ['-0.01']])(
    'when the amount field is %j, then the row is kept with 0 kobo and an invalid_amount warning',
    (raw) => {
      const row = accepted({ amount: raw });
      expect(row.amountKobo).toBe(0);
      expect(row.warnings).toEqual(['invalid_amount']);
    },
  );

  it('when the amount needs rounding, then the row stores the half-up kobo', () => {
    expect(accepted({ amount: ' 10.005 ' }).amountKobo).toBe(1001);
    expect(accepted({ amount: '10.004' }).amountKobo).toBe(1000);
  });

  it('when compared with exact decimal arithmetic on many values, then rounding is half-up', () => {
    for (let thousandths = 0; thousandths <= 20_000; thousandths += 1) {
      const whole = Math.floor(thousandths / 1000);
      const frac = String(thousandths % 1000).padStart(3, '0');
      const expected = Math.floor((thousandths + 5) / 10);
      expect(parseAmountKobo(`${whole}.${frac}`)).toBe(expected);
    }
  });
});

describe('judgeRow: channel, merchant_tier and region', () => {
  it.each(CHANNELS.map((c) => [c]))(
    'when the channel is %s in lower case, then it is stored',
    (c) => {
      const row = accepted({ channel: c.toLowerCase() });
      expect(row.channel).toBe(code(CHANNELS, c));
      expect(row.warnings).toEqual([]);
    },
  );

  it('when the channel is empty or blank, then it is null without warning', () => {
    for (const raw of ['', '   ']) {
      const row = accepted({ channel: raw });
      expect(row.channel).toBeNull();
      expect(row.warnings).toEqual([]);
    }
  });

  it('when the channel is unknown, then it is null with an unknown_channel warning', () => {
    const row = accepted({ channel: 'FAX' });
    expect(row.channel).toBeNull();
    expect(row.warnings).toEqual(['unknown_channel']);
  });

  it.each(TIERS.map((t) => [t]))('when the tier is %s in lower case, then it is stored', (t) => {
    const row = accepted({ merchant_tier: t.toLowerCase() });
    expect(row.tier).toBe(code(TIERS, t));
    expect(row.warnings).toEqual([]);
  });

  it('when the tier is empty, then it is null without warning', () => {
    const row = accepted({ merchant_tier: '' });
    expect(row.tier).toBeNull();
    expect(row.warnings).toEqual([]);
  });

  it('when the tier is unknown, then it is null with an unknown_tier warning', () => {
    const row = accepted({ merchant_tier: 'GOLD' });
    expect(row.tier).toBeNull();
    expect(row.warnings).toEqual(['unknown_tier']);
  });

  it('when the region has text, then it is trimmed and upper-cased', () => {
    expect(accepted({ region: '  Port Harcourt ' }).region).toBe('PORT HARCOURT');
  });

  it('when the region is empty or blank, then it is null', () => {
    expect(accepted({ region: '' }).region).toBeNull();
    expect(accepted({ region: '  ' }).region).toBeNull();
  });

  it('when several warnings apply, then all of them are listed and the row is kept', () => {
    const row = accepted({
      product: 'BILLS',
      event_type: 'LOTTERY',
      amount: 'ten',
      channel: 'FAX',
      merchant_tier: 'GOLD',
    });
    expect([...row.warnings].sort()).toEqual(
      ['invalid_amount', 'unknown_channel', 'unknown_event_type', 'unknown_tier'].sort(),
    );
    expect(row.amountKobo).toBe(0);
    expect(row.channel).toBeNull();
    expect(row.tier).toBeNull();
  });
});

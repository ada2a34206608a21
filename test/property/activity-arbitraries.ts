import fc from 'fast-check';
import {
  CHANNELS,
  EVENT_TYPES_BY_PRODUCT,
  PRODUCTS,
  REQUIRED_COLUMNS,
  STATUSES,
  TIERS,
  type ColumnName,
  type RejectReason,
  type WarningKind,
} from '../../src/modules/importer/row-rules.js';
import { fieldText } from './csv-arbitraries.js';

/**
 * Field values that pass or fail each row rule by construction, and rows built from them whose
 * verdict (reason or warnings) follows from the contract, not from the code under test.
 */

const randomCase = (text: string): fc.Arbitrary<string> =>
  fc
    .array(fc.boolean(), { minLength: text.length, maxLength: text.length })
    .map((upper) =>
      [...text].map((c, i) => (upper[i] ? c.toUpperCase() : c.toLowerCase())).join(''),
    );

const digits = (n: number): fc.Arbitrary<string> =>
  fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: n, maxLength: n });

/** The canonical (lower-case) event id numbered n: a small pool makes duplicates likely. */
export const poolId = (n: number): string =>
  `${n.toString(16).padStart(8, '0')}-0000-4000-8000-${'0'.repeat(12)}`;

export const validEventId = (maxPool = 400): fc.Arbitrary<string> =>
  fc.integer({ min: 1, max: maxPool }).chain((n) => randomCase(poolId(n)));

export const validMerchant = digits(6).chain((d) => randomCase(`MRC-${d}`));

const pad2 = (n: number): string => String(n).padStart(2, '0');
const DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** A timestamp the contract accepts. Years 0002–9998, so no offset can leave years 0001–9999. */
export const validTimestamp = fc
  .record({
    year: fc.integer({ min: 2, max: 9998 }),
    month: fc.integer({ min: 1, max: 12 }),
    day: fc.integer({ min: 1, max: 31 }),
    hour: fc.integer({ min: 0, max: 23 }),
    minute: fc.integer({ min: 0, max: 59 }),
    second: fc.option(fc.integer({ min: 0, max: 59 })),
    fraction: fc.option(fc.integer({ min: 1, max: 12 }).chain(digits)),
    separator: fc.constantFrom('T', 't', ' '),
    zone: fc.oneof(
      fc.constantFrom('', 'Z', 'z'),
      fc
        .tuple(
          fc.constantFrom('+', '-'),
          fc.integer({ min: 0, max: 23 }),
          fc.integer({ min: 0, max: 59 }),
        )
        .map(([sign, h, m]) => `${sign}${pad2(h)}:${pad2(m)}`),
    ),
  })
  .map((t) => {
    const leap = (t.year % 4 === 0 && t.year % 100 !== 0) || t.year % 400 === 0;
    const maxDay = t.month === 2 && !leap ? 28 : (DAYS[t.month - 1] as number);
    const day = Math.min(t.day, maxDay);
    let text = `${String(t.year).padStart(4, '0')}-${pad2(t.month)}-${pad2(day)}${t.separator}${pad2(t.hour)}:${pad2(t.minute)}`;
    if (t.second !== null) {
      text += `:${pad2(t.second)}`;
      if (t.fraction !== null) text += `.${t.fraction}`;
    }
    return text + t.zone;
  });

export const validAmount = fc.oneof(
  fc.constant(''),
  fc.constantFrom('0', '-0', '-0.00', '+7', '.5', '5.', '0.005', '9999999999999.99'),
  fc
    .tuple(
      fc.constantFrom('', '+'),
      fc.integer({ min: 0, max: 13 }).chain(digits),
      fc.option(fc.integer({ min: 0, max: 6 }).chain(digits)),
    )
    .filter(([, whole, frac]) => whole.length > 0 || (frac !== null && frac.length > 0))
    .map(([sign, whole, frac]) => `${sign}${whole}${frac === null ? '' : `.${frac}`}`),
);

const product = fc.constantFrom(...PRODUCTS);
const typeOf = (name: (typeof PRODUCTS)[number], index: number): string => {
  const types = EVENT_TYPES_BY_PRODUCT[name];
  return types[index % types.length] as string;
};

/** Values that fail exactly one rule, whatever the other fields hold. */
export const BROKEN: Record<
  'event_id' | 'merchant_id' | 'event_timestamp' | 'product' | 'status',
  fc.Arbitrary<string>
> = {
  event_id: fc.constantFrom(
    '',
    'not-a-uuid',
    '00000000-0000-4000-8000-00000000000g',
    '00000000000040008000000000000001',
    '{00000000-0000-4000-8000-000000000001}',
    '00000000-0000-4000-8000-0000000000001',
  ),
  merchant_id: fc.constantFrom(
    '',
    'MRC-12345',
    'MRC-1234567',
    'MRX-123456',
    'MRC_123456',
    '123456',
    'MRC-12a456',
  ),
  event_timestamp: fc.constantFrom(
    '',
    'yesterday',
    '2023-02-29T10:00:00',
    '2024-04-31T10:00',
    '2024-01-01T24:00:00',
    '2024-01-01T10:60',
    '2024-01-01T10:00:60',
    '2024-13-01T00:00',
    '0000-06-01T00:00',
    '2024-01-01',
    '2024-01-01T10:00:00.',
    '2024-01-01T10:00:00+24:00',
    '2024-01-01T10:00:00+0100',
    '1704103200',
  ),
  product: fc.constantFrom('', 'LOANS', 'CARD PAYMENT', 'P0S', 'POSS'),
  status: fc.constantFrom('', 'DONE', 'SUCCESSFUL', 'FAIL', 'OK'),
};

/** Values that keep the row but raise a warning. */
export const WARNED: Record<
  'event_type' | 'amount' | 'channel' | 'merchant_tier',
  { value: fc.Arbitrary<string>; warning: WarningKind }
> = {
  event_type: {
    value: fc.constantFrom('', 'NOT_A_TYPE', 'CARD TRANSACTION'),
    warning: 'unknown_event_type',
  },
  amount: {
    value: fc.oneof(
      fc.constantFrom(
        '-5',
        '-0.01',
        'abc',
        '1e3',
        '1,000.00',
        '12.3.4',
        '.',
        '+',
        '--1',
        'NaN',
        'Infinity',
      ),
      fc.integer({ min: 14, max: 40 }).chain((n) => digits(n - 1).map((d) => `9${d}`)), // ≥ 10^13
    ),
    warning: 'invalid_amount',
  },
  channel: { value: fc.constantFrom('FAX', 'MOBILE', 'P O S'), warning: 'unknown_channel' },
  merchant_tier: { value: fc.constantFrom('GOLD', 'BASIC', 'TIER1'), warning: 'unknown_tier' },
};

const REJECT_ORDER = ['event_id', 'merchant_id', 'event_timestamp', 'product', 'status'] as const;
const REASON: Record<(typeof REJECT_ORDER)[number], RejectReason> = {
  event_id: 'invalid_event_id',
  merchant_id: 'invalid_merchant_id',
  event_timestamp: 'invalid_timestamp',
  product: 'invalid_product',
  status: 'invalid_status',
};

/** A row (fields by column) with the verdict the contract gives it. */
export interface RowCase {
  values: Record<ColumnName, string>;
  /** The canonical event id when the row passes the rules. */
  id: string | null;
  reason: RejectReason | null;
  warnings: WarningKind[];
}

const whiteSpace = fc.constantFrom('', ' ', '\t', '  ');

/**
 * Valid values, then some fields broken or warned, then every value padded with white space:
 * the verdict is the first broken rule in contract order, else the warnings of the warned fields.
 */
export const rowCase = (maxPool = 400): fc.Arbitrary<RowCase> =>
  fc
    .record({
      event_id: validEventId(maxPool),
      merchant_id: validMerchant,
      event_timestamp: validTimestamp,
      productName: product,
      typeIndex: fc.nat(),
      amount: validAmount,
      status: fc.constantFrom(...STATUSES).chain(randomCase),
      channel: fc.constantFrom('', ...CHANNELS).chain(randomCase),
      region: fieldText,
      merchant_tier: fc.constantFrom('', ...TIERS).chain(randomCase),
      broken: fc
        .subarray([...REJECT_ORDER])
        .chain((names) => fc.tuple(...names.map((n) => BROKEN[n].map((v) => [n, v] as const)))),
      warned: fc
        .subarray(Object.keys(WARNED) as Array<keyof typeof WARNED>)
        .chain((names) =>
          fc.tuple(...names.map((n) => WARNED[n].value.map((v) => [n, v] as const))),
        ),
      pads: fc.array(fc.tuple(whiteSpace, whiteSpace), { minLength: 10, maxLength: 10 }),
    })
    .chain((r) =>
      fc
        .tuple(randomCase(r.productName), randomCase(typeOf(r.productName, r.typeIndex)))
        .map(([productText, eventType]) => {
          const values: Record<ColumnName, string> = {
            event_id: r.event_id,
            merchant_id: r.merchant_id,
            event_timestamp: r.event_timestamp,
            product: productText,
            event_type: eventType,
            amount: r.amount,
            status: r.status,
            channel: r.channel,
            region: r.region,
            merchant_tier: r.merchant_tier,
          };
          for (const [name, value] of [...r.broken, ...r.warned]) values[name] = value;
          REQUIRED_COLUMNS.forEach((c, i) => {
            const [before, after] = r.pads[i] as [string, string];
            values[c] = before + values[c] + after;
          });
          const brokenNames = new Set(r.broken.map(([n]) => n));
          const first = REJECT_ORDER.find((n) => brokenNames.has(n));
          const warnedNames = new Set(r.warned.map(([n]) => n));
          return {
            values,
            id: first ? null : r.event_id.toLowerCase(),
            reason: first ? REASON[first] : null,
            warnings: first
              ? []
              : (Object.keys(WARNED) as Array<keyof typeof WARNED>)
                  .filter((n) => warnedNames.has(n))
                  .map((n) => WARNED[n].warning),
          };
        }),
    );

/** Any header with every required column: shuffled, re-cased, padded, with extra columns. */
export const header: fc.Arbitrary<string[]> = fc
  .record({
    order: fc.shuffledSubarray([...REQUIRED_COLUMNS], { minLength: 10, maxLength: 10 }),
    // Extra columns, some named like a required one (the first of two same-named columns wins).
    extras: fc.array(fc.constantFrom('note', 'id', 'amount', 'Event_ID', ''), { maxLength: 3 }),
    upper: fc.boolean(),
    pad: fc.constantFrom('', ' ', '\t'),
  })
  .chain(({ order, extras, upper, pad }) =>
    fc
      .shuffledSubarray([...order, ...extras], {
        minLength: order.length + extras.length,
        maxLength: order.length + extras.length,
      })
      .map((names) => names.map((n) => pad + (upper ? n.toUpperCase() : n) + pad)),
  );

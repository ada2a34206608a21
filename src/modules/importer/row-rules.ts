/**
 * The contract's row rules, as pure functions: no I/O, no database, no clock, no time zone.
 * Enumerations are stored as small integer codes (index + 1 in these lists).
 */

export const PRODUCTS = [
  'POS',
  'AIRTIME',
  'BILLS',
  'CARD_PAYMENT',
  'SAVINGS',
  'MONIEBOOK',
  'KYC',
] as const;
export const STATUSES = ['SUCCESS', 'FAILED', 'PENDING'] as const;
export const CHANNELS = ['POS', 'APP', 'USSD', 'WEB', 'OFFLINE'] as const;
export const TIERS = ['STARTER', 'VERIFIED', 'PREMIUM'] as const;
export const KYC_STAGES = ['DOCUMENT_SUBMITTED', 'VERIFICATION_COMPLETED', 'TIER_UPGRADE'] as const;

export const STATUS_SUCCESS = 1;
export const STATUS_FAILED = 2;
export const STATUS_PENDING = 3;
export const PRODUCT_KYC = 7;

export const EVENT_TYPES_BY_PRODUCT: Record<(typeof PRODUCTS)[number], readonly string[]> = {
  POS: ['CARD_TRANSACTION', 'CASH_WITHDRAWAL', 'TRANSFER'],
  AIRTIME: ['AIRTIME_PURCHASE', 'DATA_PURCHASE'],
  BILLS: ['ELECTRICITY', 'CABLE_TV', 'INTERNET', 'WATER', 'BETTING'],
  CARD_PAYMENT: ['SUPPLIER_PAYMENT', 'INVOICE_PAYMENT'],
  SAVINGS: ['DEPOSIT', 'WITHDRAWAL', 'INTEREST_CREDIT', 'AUTO_SAVE'],
  MONIEBOOK: ['SALE_RECORDED', 'INVENTORY_UPDATE', 'EXPENSE_LOGGED'],
  KYC: KYC_STAGES,
};

export const REQUIRED_COLUMNS = [
  'event_id',
  'merchant_id',
  'event_timestamp',
  'product',
  'event_type',
  'amount',
  'status',
  'channel',
  'region',
  'merchant_tier',
] as const;
export type ColumnName = (typeof REQUIRED_COLUMNS)[number];

export const REJECT_REASONS = [
  'column_count',
  'invalid_encoding',
  'record_too_long',
  'invalid_event_id',
  'invalid_merchant_id',
  'invalid_timestamp',
  'invalid_product',
  'invalid_status',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

export const WARNING_KINDS = [
  'unknown_event_type',
  'invalid_amount',
  'unknown_channel',
  'unknown_tier',
] as const;
export type WarningKind = (typeof WARNING_KINDS)[number];

/** A row that passed the rules, in the shape it is stored. */
export interface ActivityRow {
  eventId: string; // lower-case canonical UUID
  merchant: number; // the six digits of MRC-nnnnnn
  /** Seconds since 1970-01-01T00:00:00Z and the microseconds within that second. */
  epochSeconds: number;
  micros: number;
  month: number; // UTC calendar month as yyyymm
  product: number;
  eventType: string;
  amountKobo: number;
  status: number;
  channel: number | null;
  region: string | null;
  tier: number | null;
  kycStage: number; // 1..3 for a KYC stage event type of product KYC, else 0
  warnings: WarningKind[];
}

export type RowVerdict = { ok: true; row: ActivityRow } | { ok: false; reason: RejectReason };

export interface ColumnMap {
  width: number; // number of fields in the header
  index: Record<ColumnName, number>;
}

export type HeaderVerdict = { ok: true; columns: ColumnMap } | { ok: false; missing: ColumnName[] };

/** Finds the required columns by trimmed, case-insensitive name; the first of duplicates wins. */
export function resolveHeader(fields: string[]): HeaderVerdict {
  const positions = new Map<string, number>();
  fields.forEach((name, i) => {
    const key = name
      .replace(/^\uFEFF/, '')
      .trim()
      .toLowerCase();
    if (!positions.has(key)) positions.set(key, i);
  });
  const missing = REQUIRED_COLUMNS.filter((c) => !positions.has(c));
  if (missing.length > 0) return { ok: false, missing };
  const index = Object.fromEntries(REQUIRED_COLUMNS.map((c) => [c, positions.get(c)])) as Record<
    ColumnName,
    number
  >;
  return { ok: true, columns: { width: fields.length, index } };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MERCHANT = /^MRC-(\d{6})$/;
const TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(?:([Zz])|([+-])(\d{2}):(\d{2}))?$/;
const AMOUNT = /^\+?(\d*)(?:\.(\d*))?$/;
/** Amounts above 10^13 NGN are treated as unparseable: far beyond any real event, and beyond exact doubles. */
const MAX_AMOUNT_INTEGER_DIGITS = 13;

function codeOf(list: readonly string[], value: string): number {
  return list.indexOf(value) + 1;
}

const PRODUCT_EVENT_TYPES: ReadonlyArray<ReadonlySet<string>> = [
  new Set<string>(),
  ...PRODUCTS.map((p) => new Set(EVENT_TYPES_BY_PRODUCT[p])),
];

/** Judges one record already split into fields against the contract's rules. */
export function judgeRow(fields: string[], columns: ColumnMap): RowVerdict {
  if (fields.length !== columns.width) return { ok: false, reason: 'column_count' };
  const at = (c: ColumnName): string => (fields[columns.index[c]] as string).trim();

  const eventId = at('event_id');
  if (!UUID.test(eventId)) return { ok: false, reason: 'invalid_event_id' };

  const merchantMatch = MERCHANT.exec(at('merchant_id').toUpperCase());
  if (!merchantMatch) return { ok: false, reason: 'invalid_merchant_id' };

  const time = parseTimestamp(at('event_timestamp'));
  if (!time) return { ok: false, reason: 'invalid_timestamp' };

  const product = codeOf(PRODUCTS, at('product').toUpperCase());
  if (product === 0) return { ok: false, reason: 'invalid_product' };

  const status = codeOf(STATUSES, at('status').toUpperCase());
  if (status === 0) return { ok: false, reason: 'invalid_status' };

  const warnings: WarningKind[] = [];
  const eventType = at('event_type').toUpperCase();
  if (!(PRODUCT_EVENT_TYPES[product] as ReadonlySet<string>).has(eventType)) {
    warnings.push('unknown_event_type');
  }
  let amountKobo = parseAmountKobo(at('amount'));
  if (amountKobo === null) {
    warnings.push('invalid_amount');
    amountKobo = 0;
  }
  const channel = optionalCode(CHANNELS, at('channel'), 'unknown_channel', warnings);
  const region = at('region').toUpperCase();
  const tier = optionalCode(TIERS, at('merchant_tier'), 'unknown_tier', warnings);

  return {
    ok: true,
    row: {
      eventId: eventId.toLowerCase(),
      merchant: Number(merchantMatch[1]),
      epochSeconds: time.epochSeconds,
      micros: time.micros,
      month: time.month,
      product,
      eventType,
      amountKobo,
      status,
      channel,
      region: region === '' ? null : region,
      tier,
      kycStage: product === PRODUCT_KYC ? codeOf(KYC_STAGES, eventType) : 0,
      warnings,
    },
  };
}

function optionalCode(
  list: readonly string[],
  raw: string,
  warning: WarningKind,
  warnings: WarningKind[],
): number | null {
  if (raw === '') return null;
  const code = codeOf(list, raw.toUpperCase());
  if (code === 0) {
    warnings.push(warning);
    return null;
  }
  return code;
}

/**
 * Parses a non-negative decimal NGN amount into kobo, rounding half-up past two decimals.
 * Empty means 0. Returns null when unparseable, negative or absurdly large.
 */
export function parseAmountKobo(raw: string): number | null {
  if (raw === '') return 0;
  let text = raw;
  if (text.startsWith('-')) {
    // "-0" and "-0.00" are zero, not negative; anything else with a minus sign is refused.
    if (!/^-[0.]*$/.test(text) || !/\d/.test(text)) return null;
    text = text.slice(1);
  }
  const m = AMOUNT.exec(text);
  if (!m) return null;
  const whole = (m[1] ?? '').replace(/^0+/, '');
  const fraction = m[2] ?? '';
  if ((m[1] ?? '') === '' && fraction === '') return null; // ".", "+" or "+."
  if (whole.length > MAX_AMOUNT_INTEGER_DIGITS) return null;
  const kobo = Number(whole || '0') * 100 + Number(fraction.slice(0, 2).padEnd(2, '0'));
  return fraction.charCodeAt(2) >= 53 /* '5' */ ? kobo + 1 : kobo;
}

export interface ParsedTime {
  epochSeconds: number;
  micros: number;
  month: number; // yyyymm in UTC
}

function isLeapYear(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysInMonth(y: number, m: number): number {
  return m === 2 && isLeapYear(y) ? 29 : (DAYS_IN_MONTH[m - 1] as number);
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** The yyyymm month of a day count since 1970-01-01 (H. Hinnant's civil_from_days). */
export function monthOfDays(days: number): number {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  return year * 100 + month;
}

/**
 * Parses `YYYY-MM-DDTHH:MM[:SS[.fraction]][Z|±HH:MM]` (T or space). Without an offset the time is
 * UTC as written; with one it is converted to UTC. Fractions beyond microseconds are truncated.
 */
export function parseTimestamp(raw: string): ParsedTime | null {
  const m = TIMESTAMP.exec(raw);
  if (!m) return null;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  const second = m[6] === undefined ? 0 : Number(m[6]);
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return null;
  if (hour > 23 || minute > 59 || second > 59) return null;
  const micros = m[7] === undefined ? 0 : Number(m[7].slice(0, 6).padEnd(6, '0'));
  let offsetSeconds = 0;
  if (m[9] !== undefined) {
    const offsetHours = Number(m[10]);
    const offsetMinutes = Number(m[11]);
    if (offsetHours > 23 || offsetMinutes > 59) return null;
    offsetSeconds = (m[9] === '+' ? 1 : -1) * (offsetHours * 3600 + offsetMinutes * 60);
  }
  const days = daysFromCivil(year, month, day);
  const epochSeconds = days * 86400 + hour * 3600 + minute * 60 + second - offsetSeconds;
  const utcMonth =
    offsetSeconds === 0 ? year * 100 + month : monthOfDays(Math.floor(epochSeconds / 86400));
  return { epochSeconds, micros, month: utcMonth };
}

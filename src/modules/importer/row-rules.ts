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

/** Amounts above 10^13 NGN are treated as unparseable: far beyond any real event, and beyond exact doubles. */
const MAX_AMOUNT_INTEGER_DIGITS = 13;
const NO_WARNINGS: WarningKind[] = [];

/** Name → code, also for the upper-cased form, so the common (already upper-case) value costs one lookup. */
function codeTable(list: readonly string[]): Map<string, number> {
  return new Map(list.map((name, i) => [name, i + 1]));
}
const PRODUCT_CODES = codeTable(PRODUCTS);
const STATUS_CODES = codeTable(STATUSES);
const CHANNEL_CODES = codeTable(CHANNELS);
const TIER_CODES = codeTable(TIERS);
const KYC_STAGE_CODES = codeTable(KYC_STAGES);

function lookup(table: Map<string, number>, value: string): number {
  return table.get(value) ?? table.get(value.toUpperCase()) ?? 0;
}

const PRODUCT_EVENT_TYPES: ReadonlyArray<ReadonlySet<string>> = [
  new Set<string>(),
  ...PRODUCTS.map((p) => new Set(EVENT_TYPES_BY_PRODUCT[p])),
];

// Hand-written checks below replace regular expressions on the per-row hot path, for speed;
// each follows the rule in the contract exactly.

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
}

/** The lower-case form of an 8-4-4-4-12 hex UUID, or null. */
export function canonicalUuid(text: string): string | null {
  if (text.length !== 36) return null;
  let upper = false;
  for (let i = 0; i < 36; i++) {
    const c = text.charCodeAt(i);
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (c !== 45) return null;
    } else if (!isHex(c)) return null;
    else if (c >= 65 && c <= 70) upper = true;
  }
  return upper ? text.toLowerCase() : text;
}

/** The six digits of `MRC-nnnnnn` (any case) as a number, or -1. */
export function merchantNumber(text: string): number {
  if (text.length !== 10 || text.charCodeAt(3) !== 45) return -1;
  if (
    (text.charCodeAt(0) | 32) !== 109 ||
    (text.charCodeAt(1) | 32) !== 114 ||
    (text.charCodeAt(2) | 32) !== 99
  ) {
    return -1;
  }
  return digitsAt(text, 4, 6);
}

/** The value of `count` ASCII digits at `start`, or -1 if any is not a digit. */
function digitsAt(text: string, start: number, count: number): number {
  let value = 0;
  for (let i = start; i < start + count; i++) {
    const d = text.charCodeAt(i) - 48; // NaN past the end: rejected too
    if (!(d >= 0 && d <= 9)) return -1;
    value = value * 10 + d;
  }
  return value;
}

/** Judges one record already split into fields against the contract's rules. */
export function judgeRow(fields: string[], columns: ColumnMap): RowVerdict {
  if (fields.length !== columns.width) return { ok: false, reason: 'column_count' };
  const index = columns.index;
  const field = (i: number): string => (fields[i] as string).trim();

  const eventId = canonicalUuid(field(index.event_id));
  if (eventId === null) return { ok: false, reason: 'invalid_event_id' };

  const merchant = merchantNumber(field(index.merchant_id));
  if (merchant < 0) return { ok: false, reason: 'invalid_merchant_id' };

  const time = parseTimestamp(field(index.event_timestamp));
  if (!time) return { ok: false, reason: 'invalid_timestamp' };

  const product = lookup(PRODUCT_CODES, field(index.product));
  if (product === 0) return { ok: false, reason: 'invalid_product' };

  const status = lookup(STATUS_CODES, field(index.status));
  if (status === 0) return { ok: false, reason: 'invalid_status' };

  let warnings = NO_WARNINGS;
  const warn = (kind: WarningKind): void => {
    if (warnings === NO_WARNINGS) warnings = [];
    warnings.push(kind);
  };
  let eventType = field(index.event_type);
  const knownTypes = PRODUCT_EVENT_TYPES[product] as ReadonlySet<string>;
  if (!knownTypes.has(eventType)) {
    eventType = eventType.toUpperCase();
    if (!knownTypes.has(eventType)) warn('unknown_event_type');
  }
  let amountKobo = parseAmountKobo(field(index.amount));
  if (amountKobo === null) {
    warn('invalid_amount');
    amountKobo = 0;
  }
  const channel = optionalCode(CHANNEL_CODES, field(index.channel), 'unknown_channel', warn);
  const region = field(index.region).toUpperCase();
  const tier = optionalCode(TIER_CODES, field(index.merchant_tier), 'unknown_tier', warn);

  return {
    ok: true,
    row: {
      eventId,
      merchant,
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
      kycStage: product === PRODUCT_KYC ? (KYC_STAGE_CODES.get(eventType) ?? 0) : 0,
      warnings,
    },
  };
}

function optionalCode(
  table: Map<string, number>,
  raw: string,
  warning: WarningKind,
  warn: (kind: WarningKind) => void,
): number | null {
  if (raw === '') return null;
  const code = lookup(table, raw);
  if (code === 0) {
    warn(warning);
    return null;
  }
  return code;
}

/**
 * Parses a non-negative decimal NGN amount (`[+]digits[.digits]`, either side may be empty but not
 * both) into kobo, rounding half-up past two decimals. Empty means 0; "-0.00" is zero. Returns null
 * when unparseable, negative or absurdly large.
 */
export function parseAmountKobo(raw: string): number | null {
  return parseAmountKoboIn(raw, 0, raw.length);
}

/** parseAmountKobo of `text[start, n)`, without cutting it out. */
export function parseAmountKoboIn(raw: string, start: number, n: number): number | null {
  if (n === start) return 0;
  let i = start;
  const sign = raw.charCodeAt(start);
  const negative = sign === 45;
  if (negative || sign === 43) i += 1;
  let whole = 0;
  let significant = 0;
  let sawDigit = false;
  let nonZero = false;
  for (; i < n; i++) {
    const d = raw.charCodeAt(i) - 48;
    if (!(d >= 0 && d <= 9)) break;
    sawDigit = true;
    if (whole > 0 || d > 0) significant += 1;
    if (significant > MAX_AMOUNT_INTEGER_DIGITS) return null;
    if (d > 0) nonZero = true;
    whole = whole * 10 + d;
  }
  let tenths = 0;
  let hundredths = 0;
  let rounding = 0; // the third decimal decides half-up rounding; later ones cannot change it
  if (i < n && raw.charCodeAt(i) === 46) {
    for (let k = 0, j = i + 1; j < n; j++, k++) {
      const d = raw.charCodeAt(j) - 48;
      if (!(d >= 0 && d <= 9)) return null;
      sawDigit = true;
      if (d > 0) nonZero = true;
      if (k === 0) tenths = d;
      else if (k === 1) hundredths = d;
      else if (k === 2) rounding = d;
    }
    i = n;
  }
  if (i !== n || !sawDigit || (negative && nonZero)) return null;
  const kobo = whole * 100 + tenths * 10 + hundredths;
  return rounding >= 5 ? kobo + 1 : kobo;
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
  return parseTimestampIn(raw, 0, raw.length);
}

/** parseTimestamp of `text[s, n)`, without cutting it out. */
export function parseTimestampIn(raw: string, s: number, n: number): ParsedTime | null {
  if (
    n - s < 16 ||
    raw.charCodeAt(s + 4) !== 45 ||
    raw.charCodeAt(s + 7) !== 45 ||
    raw.charCodeAt(s + 13) !== 58
  )
    return null;
  const separator = raw.charCodeAt(s + 10);
  if (separator !== 84 && separator !== 116 && separator !== 32) return null; // T, t or space
  const year = digitsAt(raw, s, 4);
  const month = digitsAt(raw, s + 5, 2);
  const day = digitsAt(raw, s + 8, 2);
  const hour = digitsAt(raw, s + 11, 2);
  const minute = digitsAt(raw, s + 14, 2);
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return null;
  if (hour < 0 || hour > 23 || minute < 0 || minute > 59) return null;
  let pos = s + 16;
  let second = 0;
  let micros = 0;
  if (pos < n && raw.charCodeAt(pos) === 58) {
    second = digitsAt(raw, pos + 1, 2);
    if (second < 0 || second > 59) return null;
    pos += 3;
    if (pos < n && raw.charCodeAt(pos) === 46) {
      let digits = 0;
      for (pos += 1; pos < n; pos++) {
        const d = raw.charCodeAt(pos) - 48;
        if (!(d >= 0 && d <= 9)) break;
        if (digits < 6) micros = micros * 10 + d;
        digits += 1;
      }
      if (digits === 0) return null;
      for (let k = Math.min(digits, 6); k < 6; k++) micros *= 10;
    }
  }
  let offsetSeconds = 0;
  if (pos < n) {
    const zone = raw.charCodeAt(pos);
    if ((zone === 90 || zone === 122) && pos === n - 1) {
      // Z
    } else if ((zone === 43 || zone === 45) && n - pos === 6 && raw.charCodeAt(pos + 3) === 58) {
      const offsetHours = digitsAt(raw, pos + 1, 2);
      const offsetMinutes = digitsAt(raw, pos + 4, 2);
      if (offsetHours < 0 || offsetHours > 23 || offsetMinutes < 0 || offsetMinutes > 59)
        return null;
      offsetSeconds = (zone === 43 ? 1 : -1) * (offsetHours * 3600 + offsetMinutes * 60);
    } else return null;
  }
  const days = daysFromCivil(year, month, day);
  const epochSeconds = days * 86400 + hour * 3600 + minute * 60 + second - offsetSeconds;
  const utcMonth =
    offsetSeconds === 0 ? year * 100 + month : monthOfDays(Math.floor(epochSeconds / 86400));
  // An offset can carry 0001-01-01 or 9999-12-31 out of years 0001-9999, into a month that cannot
  // be written as YYYY-MM (0000-12, 10000-01): the contract's years end there.
  if (utcMonth < 101 || utcMonth > 999_912) return null;
  return { epochSeconds, micros, month: utcMonth };
}

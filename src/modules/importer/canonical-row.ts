import {
  CHANNELS,
  EVENT_TYPES_BY_PRODUCT,
  PRODUCT_KYC,
  PRODUCTS,
  STATUSES,
  TIERS,
  parseAmountKoboIn,
  parseTimestampIn,
  type ActivityRow,
  type ColumnMap,
} from './row-rules.js';

/**
 * The fast path for the common record: unquoted ASCII, every value already in its canonical form
 * (lower-case uuid, upper-case names, no padding) and passing every rule without a warning. It is
 * judged in place in the chunk's text, without splitting it into strings: measured, splitting and
 * trimming every field and the row object cost more than half of the importer's time per row.
 * Anything else answers false and takes the general path (judgeRow), where the rules live; this
 * only recognises rows that plainly pass them. test/property/canonical-row.property.test.ts
 * checks that both paths agree on every row this one accepts.
 */

/** Names matched in place, exactly (case included), grouped by length. */
class ExactNames {
  private readonly byLength: string[][] = [];

  constructor(private readonly names: readonly string[]) {
    for (const name of names) (this.byLength[name.length] ??= []).push(name);
  }

  /** 1 + the index of the name equal to `text[s, e)`, or 0. */
  code(text: string, s: number, e: number): number {
    const candidates = this.byLength[e - s];
    if (candidates === undefined) return 0;
    next: for (const name of candidates) {
      for (let i = 0; i < name.length; i++) {
        if (text.charCodeAt(s + i) !== name.charCodeAt(i)) continue next;
      }
      return this.names.indexOf(name) + 1;
    }
    return 0;
  }

  name(code: number): string {
    return this.names[code - 1] as string;
  }
}

const PRODUCT_NAMES = new ExactNames(PRODUCTS);
const STATUS_NAMES = new ExactNames(STATUSES);
const CHANNEL_NAMES = new ExactNames(CHANNELS);
const TIER_NAMES = new ExactNames(TIERS);
const EVENT_TYPE_NAMES = [
  new ExactNames([]),
  ...PRODUCTS.map((p) => new ExactNames(EVENT_TYPES_BY_PRODUCT[p])),
];
const COMMA = 44;
const NO_WARNINGS: ActivityRow['warnings'] = [];

function isLowerHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 97 && c <= 102);
}

function isCanonicalUuid(text: string, s: number, e: number): boolean {
  if (e - s !== 36) return false;
  for (let i = 0; i < 36; i++) {
    const c = text.charCodeAt(s + i);
    if (i === 8 || i === 13 || i === 18 || i === 23 ? c !== 45 : !isLowerHex(c)) return false;
  }
  return true;
}

/** The six digits of `MRC-nnnnnn` (upper case), or -1. */
function canonicalMerchant(text: string, s: number, e: number): number {
  if (e - s !== 10 || text.charCodeAt(s) !== 77 || text.charCodeAt(s + 1) !== 82) return -1;
  if (text.charCodeAt(s + 2) !== 67 || text.charCodeAt(s + 3) !== 45) return -1;
  let value = 0;
  for (let i = s + 4; i < e; i++) {
    const d = text.charCodeAt(i) - 48;
    if (!(d >= 0 && d <= 9)) return -1;
    value = value * 10 + d;
  }
  return value;
}

/** No padding for trim() to remove: the text is ASCII, so that is a control char or a space. */
function unpadded(text: string, s: number, e: number): boolean {
  return s === e || (text.charCodeAt(s) > 32 && text.charCodeAt(e - 1) > 32);
}

function hasLowerCase(text: string, s: number, e: number): boolean {
  for (let i = s; i < e; i++) {
    const c = text.charCodeAt(i);
    if (c >= 97 && c <= 122) return true;
  }
  return false;
}

export class CanonicalRowJudge {
  /** Field k of the record is `text[starts[k], starts[k + 1] - 1)`. */
  private readonly starts: Int32Array;
  private readonly at: Record<keyof ColumnMap['index'], number>;

  constructor(private readonly columns: ColumnMap) {
    this.starts = new Int32Array(columns.width + 1);
    this.at = columns.index;
  }

  /**
   * The row of `text[start, stop)` (ASCII, no quote, no line break) when it is canonical and
   * passes every rule without a warning; otherwise null, and the general path judges it.
   */
  judge(text: string, start: number, stop: number): ActivityRow | null {
    if (!this.split(text, start, stop)) return null;
    const at = this.at;
    let s = this.fieldStart(at.event_id);
    let e = this.fieldEnd(at.event_id);
    if (!isCanonicalUuid(text, s, e)) return null;
    const eventId = text.slice(s, e);
    const merchant = canonicalMerchant(
      text,
      this.fieldStart(at.merchant_id),
      this.fieldEnd(at.merchant_id),
    );
    if (merchant < 0) return null;
    s = this.fieldStart(at.event_timestamp);
    e = this.fieldEnd(at.event_timestamp);
    const time = unpadded(text, s, e) ? parseTimestampIn(text, s, e) : null;
    if (time === null) return null;
    const product = PRODUCT_NAMES.code(
      text,
      this.fieldStart(at.product),
      this.fieldEnd(at.product),
    );
    const status = STATUS_NAMES.code(text, this.fieldStart(at.status), this.fieldEnd(at.status));
    if (product === 0 || status === 0) return null;
    const types = EVENT_TYPE_NAMES[product] as ExactNames;
    const type = types.code(text, this.fieldStart(at.event_type), this.fieldEnd(at.event_type));
    if (type === 0) return null;
    s = this.fieldStart(at.amount);
    e = this.fieldEnd(at.amount);
    const amountKobo = unpadded(text, s, e) ? parseAmountKoboIn(text, s, e) : null;
    if (amountKobo === null) return null;
    const channel = this.optionalCode(CHANNEL_NAMES, text, at.channel);
    const tier = this.optionalCode(TIER_NAMES, text, at.merchant_tier);
    if (channel === 0 || tier === 0) return null;
    s = this.fieldStart(at.region);
    e = this.fieldEnd(at.region);
    if (!unpadded(text, s, e) || hasLowerCase(text, s, e)) return null;
    return {
      eventId,
      merchant,
      epochSeconds: time.epochSeconds,
      micros: time.micros,
      month: time.month,
      product,
      eventType: types.name(type),
      amountKobo,
      status,
      channel,
      region: s === e ? null : text.slice(s, e),
      tier,
      // The KYC product's event types are the KYC stages, in stage-code order.
      kycStage: product === PRODUCT_KYC ? type : 0,
      warnings: NO_WARNINGS,
    };
  }

  /** Finds the field starts; false unless the record has exactly the header's field count. */
  private split(text: string, start: number, stop: number): boolean {
    const starts = this.starts;
    const last = this.columns.width - 1;
    let field = 0;
    starts[0] = start;
    for (let i = start; i < stop; i++) {
      if (text.charCodeAt(i) !== COMMA) continue;
      if (field === last) return false;
      starts[++field] = i + 1;
    }
    if (field !== last) return false;
    starts[last + 1] = stop + 1;
    return true;
  }

  private fieldStart(k: number): number {
    return this.starts[k] as number;
  }

  private fieldEnd(k: number): number {
    return (this.starts[k + 1] as number) - 1;
  }

  /** null for an empty field, the code of an exact name, or 0 (not canonical: general path). */
  private optionalCode(names: ExactNames, text: string, k: number): number | null {
    const s = this.fieldStart(k);
    const e = this.fieldEnd(k);
    return s === e ? null : names.code(text, s, e);
  }
}

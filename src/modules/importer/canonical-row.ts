import type { BinaryCopyEncoder } from './binary-copy.js';
import { emptyRowFacts, type RowFacts } from './batch-rollups.js';
import {
  CHANNELS,
  EVENT_TYPES_BY_PRODUCT,
  PRODUCT_KYC,
  PRODUCTS,
  STATUSES,
  TIERS,
  parseAmountKoboIn,
  parseTimestampIn,
  type ColumnMap,
} from './row-rules.js';

/**
 * The fast path for the common record: unquoted ASCII, every value already in its canonical form
 * (lower-case uuid, upper-case names, no padding) and passing every rule without a warning. Such a
 * record is checked and encoded for COPY in one pass over its bytes, without splitting it into
 * strings (which dominated the importer's time per row). Anything else answers false and takes
 * the general path (judgeRow), where the rules live; this only recognises rows that plainly pass.
 * test/property/canonical-row.property.test.ts checks that both paths store the same rows.
 */

/** Names matched in place, exactly (case included), grouped by length. */
class ExactNames {
  private readonly byLength: Array<Array<{ bytes: Buffer; code: number }>> = [];

  constructor(names: readonly string[]) {
    names.forEach((name, i) =>
      (this.byLength[name.length] ??= []).push({ bytes: Buffer.from(name), code: i + 1 }),
    );
  }

  /** 1 + the index of the name equal to `source[s, e)`, or 0. */
  code(source: Buffer, s: number, e: number): number {
    const candidates = this.byLength[e - s];
    if (candidates === undefined) return 0;
    next: for (const { bytes, code } of candidates) {
      for (let i = 0; i < bytes.length; i++) if (source[s + i] !== bytes[i]) continue next;
      return code;
    }
    return 0;
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
/** Fixed-size fields of an encoded row, in bytes (texts come on top). */
const ROW_BYTES = 128;

/** The six digits of `MRC-nnnnnn` (upper case), or -1. */
function canonicalMerchant(source: Buffer, s: number, e: number): number {
  if (e - s !== 10 || source[s] !== 77 || source[s + 1] !== 82) return -1;
  if (source[s + 2] !== 67 || source[s + 3] !== 45) return -1;
  let value = 0;
  for (let i = s + 4; i < e; i++) {
    const d = (source[i] as number) - 48;
    if (!(d >= 0 && d <= 9)) return -1;
    value = value * 10 + d;
  }
  return value;
}

/** No padding for trim() to remove: the record is ASCII, so that is a control char or a space. */
function unpadded(source: Buffer, s: number, e: number): boolean {
  return s === e || ((source[s] as number) > 32 && (source[e - 1] as number) > 32);
}

function hasLowerCase(source: Buffer, s: number, e: number): boolean {
  for (let i = s; i < e; i++) {
    const c = source[i] as number;
    if (c >= 97 && c <= 122) return true;
  }
  return false;
}

export class CanonicalRowEncoder {
  /** The rollup columns of the row last encoded. */
  readonly facts: RowFacts = emptyRowFacts();
  /** Field k of the record is `[starts[k], starts[k + 1] - 1)`. */
  private readonly starts: Int32Array;
  private readonly at: ColumnMap['index'];

  constructor(private readonly columns: ColumnMap) {
    this.starts = new Int32Array(columns.width + 1);
    this.at = columns.index;
  }

  /**
   * Encodes the record `[start, stop)` (no quote, no line break; `text` is the latin1 text of the
   * `source` bytes) as one row of `out` and fills `facts`, when it is canonical and
   * passes every rule without a warning. Otherwise writes nothing and returns false.
   */
  encode(
    text: string,
    source: Buffer,
    start: number,
    stop: number,
    out: BinaryCopyEncoder,
    runId: number,
  ): boolean {
    if (!this.split(source, start, stop)) return false;
    const rowStart = out.beginRow(ROW_BYTES + stop - start);
    if (this.encodeFields(text, source, out, runId)) return true;
    out.truncate(rowStart);
    return false;
  }

  private encodeFields(text: string, source: Buffer, out: BinaryCopyEncoder, runId: number) {
    const at = this.at;
    const facts = this.facts;
    let s = this.fieldStart(at.event_id);
    if (this.fieldEnd(at.event_id) - s !== 36 || !out.uuidHex(source, s)) return false;

    const merchant = canonicalMerchant(
      source,
      this.fieldStart(at.merchant_id),
      this.fieldEnd(at.merchant_id),
    );
    if (merchant < 0) return false;
    out.int4(merchant);

    s = this.fieldStart(at.event_timestamp);
    let e = this.fieldEnd(at.event_timestamp);
    const time = unpadded(source, s, e) ? parseTimestampIn(text, s, e) : null;
    if (time === null) return false;
    out.timestamp(time.epochSeconds, time.micros);

    const product = PRODUCT_NAMES.code(
      source,
      this.fieldStart(at.product),
      this.fieldEnd(at.product),
    );
    const status = STATUS_NAMES.code(source, this.fieldStart(at.status), this.fieldEnd(at.status));
    if (product === 0 || status === 0) return false;
    out.int2(product);

    s = this.fieldStart(at.event_type);
    e = this.fieldEnd(at.event_type);
    const type = (EVENT_TYPE_NAMES[product] as ExactNames).code(source, s, e);
    if (type === 0) return false;
    out.textBytes(source, s, e);

    s = this.fieldStart(at.amount);
    e = this.fieldEnd(at.amount);
    const amountKobo = unpadded(source, s, e) ? parseAmountKoboIn(text, s, e) : null;
    if (amountKobo === null) return false;
    out.int8(amountKobo);
    out.int2(status);

    if (!this.optionalCode(CHANNEL_NAMES, source, at.channel, out)) return false;
    s = this.fieldStart(at.region);
    e = this.fieldEnd(at.region);
    if (!unpadded(source, s, e) || hasLowerCase(source, s, e)) return false;
    if (s === e) out.nullField();
    else out.textBytes(source, s, e);
    if (!this.optionalCode(TIER_NAMES, source, at.merchant_tier, out)) return false;
    out.int4(runId);

    facts.merchant = merchant;
    facts.month = time.month;
    facts.product = product;
    facts.status = status;
    // The KYC product's event types are the KYC stages, in stage-code order.
    facts.kycStage = product === PRODUCT_KYC ? type : 0;
    facts.amountKobo = amountKobo;
    return true;
  }

  /**
   * Finds the field starts; false unless the record is ASCII without NUL and has exactly the
   * header's field count.
   */
  private split(source: Buffer, start: number, stop: number): boolean {
    const starts = this.starts;
    const last = this.columns.width - 1;
    let field = 0;
    starts[0] = start;
    for (let i = start; i < stop; i++) {
      const c = source[i] as number;
      if (c !== COMMA) {
        if (c === 0 || c > 127) return false; // NUL or beyond ASCII: the general path's to judge
        continue;
      }
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

  /** An empty field as NULL, an exact name as its code; false for anything else. */
  private optionalCode(names: ExactNames, source: Buffer, k: number, out: BinaryCopyEncoder) {
    const s = this.fieldStart(k);
    const e = this.fieldEnd(k);
    if (s === e) {
      out.nullField();
      return true;
    }
    const code = names.code(source, s, e);
    if (code !== 0) out.int2(code);
    return code !== 0;
  }
}

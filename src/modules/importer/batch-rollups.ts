import { STATUS_SUCCESS, type ActivityRow } from './row-rules.js';

/** The columns of a row that rollups need (an ActivityRow has them all). */
export type RowFacts = Pick<
  ActivityRow,
  'merchant' | 'month' | 'product' | 'status' | 'kycStage' | 'amountKobo'
>;

/** A RowFacts to be filled in place, row after row (no object per row). */
export function emptyRowFacts(): RowFacts {
  return { merchant: 0, month: 0, product: 0, status: 0, kycStage: 0, amountKobo: 0 };
}

/**
 * The rollup-relevant columns of one import batch, in typed arrays (a few bytes a row), and the
 * rollup deltas they produce once duplicates are known. Pure: no database.
 */

const SHIFT = 1_048_576; // 2^20: months (yyyymm) and merchant numbers both fit below it

export const monthMerchantKey = (month: number, merchant: number): number =>
  month * SHIFT + merchant;
export const pairKey = (code: number, merchant: number): number => code * SHIFT + merchant;
export const tripleKey = (code: number, month: number, merchant: number): number =>
  (code * SHIFT + month) * SHIFT + merchant;

export function splitPair(key: number): [number, number] {
  const high = Math.floor(key / SHIFT);
  return [high, key - high * SHIFT];
}

export function splitTriple(key: number): [number, number, number] {
  const [high, merchant] = splitPair(key);
  const [code, month] = splitPair(high);
  return [code, month, merchant];
}

export class BatchRows {
  count = 0;
  merchant: Int32Array;
  month: Int32Array;
  product: Uint8Array;
  status: Uint8Array;
  kycStage: Uint8Array;
  kobo: Float64Array;
  warnings: Uint8Array; // bit i = WARNING_KINDS[i]
  fileSlot: Uint16Array;
  duplicate: Uint8Array;

  /** `target` is the batch size; a batch is only cut between input chunks, so arrays can grow past it. */
  constructor(readonly target: number) {
    const size = target + 16_384;
    this.merchant = new Int32Array(size);
    this.month = new Int32Array(size);
    this.product = new Uint8Array(size);
    this.status = new Uint8Array(size);
    this.kycStage = new Uint8Array(size);
    this.kobo = new Float64Array(size);
    this.warnings = new Uint8Array(size);
    this.fileSlot = new Uint16Array(size);
    this.duplicate = new Uint8Array(size);
  }

  get full(): boolean {
    return this.count >= this.target;
  }

  private grow(): void {
    const size = this.merchant.length * 2;
    const grown = <T extends Int32Array | Uint8Array | Float64Array | Uint16Array>(a: T): T => {
      const b = new (a.constructor as new (n: number) => T)(size);
      b.set(a);
      return b;
    };
    this.merchant = grown(this.merchant);
    this.month = grown(this.month);
    this.product = grown(this.product);
    this.status = grown(this.status);
    this.kycStage = grown(this.kycStage);
    this.kobo = grown(this.kobo);
    this.warnings = grown(this.warnings);
    this.fileSlot = grown(this.fileSlot);
    this.duplicate = grown(this.duplicate);
  }

  /** Appends a row and returns its ordinal in the batch. */
  add(row: RowFacts, warningMask: number, fileSlot: number): number {
    if (this.count === this.merchant.length) this.grow();
    const i = this.count++;
    this.merchant[i] = row.merchant;
    this.month[i] = row.month;
    this.product[i] = row.product;
    this.status[i] = row.status;
    this.kycStage[i] = row.status === STATUS_SUCCESS ? row.kycStage : 0;
    this.kobo[i] = row.amountKobo;
    this.warnings[i] = warningMask;
    this.fileSlot[i] = fileSlot;
    this.duplicate[i] = 0;
    return i;
  }

  reset(): void {
    this.count = 0;
  }
}

export interface RollupDelta {
  /** (month, merchant) → SUCCESS kobo; a key also marks the merchant active that month. */
  monthVolume: Map<number, bigint>;
  productMerchants: Set<number>;
  productMonthMerchants: Set<number>;
  kycMerchants: Set<number>;
  kycMonthMerchants: Set<number>;
  /** pairKey(product, month) → [success, failed, pending] counts. */
  productMonthStatus: Map<number, [number, number, number]>;
}

export function emptyRollupDelta(): RollupDelta {
  return {
    monthVolume: new Map(),
    productMerchants: new Set(),
    productMonthMerchants: new Set(),
    kycMerchants: new Set(),
    kycMonthMerchants: new Set(),
    productMonthStatus: new Map(),
  };
}

/** Merchant numbers are the six digits of MRC-nnnnnn. */
export const MERCHANT_NUMBERS = 1_000_000;

/**
 * Which (prefix, merchant) pairs were seen: a bitset over merchant numbers per prefix. A presence
 * key made of three parts is a double beyond V8's small integers, so a Set of them allocated a
 * number on every row and most of the importer's garbage came from there; a bit test does not.
 */
class PairSeen {
  private readonly bitsets = new Map<number, Uint8Array>();

  /** True the first time this pair is seen. */
  firstTime(prefix: number, merchant: number): boolean {
    let bits = this.bitsets.get(prefix);
    if (bits === undefined) {
      bits = new Uint8Array(MERCHANT_NUMBERS / 8);
      this.bitsets.set(prefix, bits);
    }
    const mask = 1 << (merchant & 7);
    const byte = bits[merchant >> 3] as number;
    if ((byte & mask) !== 0) return false;
    bits[merchant >> 3] = byte | mask;
    return true;
  }
}

/**
 * SUCCESS kobo per (month, merchant), summed in doubles while they stay exact integers and
 * spilling into BigInt beyond 2^53. Keyed month first, then merchant: both small integers, so
 * finding a sum allocates nothing (a month-merchant key is not one).
 */
class MonthVolumeSums {
  private readonly slots = new Map<number, Map<number, number>>();
  private sums = new Float64Array(1024);
  private keys: number[] = [];
  private readonly exact = new Map<number, bigint>();

  add(month: number, merchant: number, kobo: number): void {
    let merchants = this.slots.get(month);
    if (merchants === undefined) {
      merchants = new Map();
      this.slots.set(month, merchants);
    }
    let slot = merchants.get(merchant);
    if (slot === undefined) {
      slot = this.keys.length;
      merchants.set(merchant, slot);
      this.keys.push(monthMerchantKey(month, merchant));
      if (slot === this.sums.length) this.grow();
    }
    const sum = (this.sums[slot] as number) + kobo;
    if (Number.isSafeInteger(sum)) this.sums[slot] = sum;
    else {
      const spilled = (this.exact.get(slot) ?? 0n) + BigInt(this.sums[slot] as number);
      this.exact.set(slot, spilled + BigInt(kobo));
      this.sums[slot] = 0;
    }
  }

  /** The sums so far, exact, by monthMerchantKey. */
  totals(): Map<number, bigint> {
    const totals = new Map<number, bigint>();
    this.keys.forEach((key, slot) => {
      totals.set(key, BigInt(this.sums[slot] as number) + (this.exact.get(slot) ?? 0n));
    });
    return totals;
  }

  private grow(): void {
    const sums = new Float64Array(this.sums.length * 2);
    sums.set(this.sums);
    this.sums = sums;
  }
}

/**
 * Adds up the rollup deltas of the batch rows that are not duplicates, batch after batch (the
 * batches of one transaction); `delta()` is what they add to the rollup tables.
 */
export class RollupDeltaBuilder {
  private readonly presence = emptyRollupDelta();
  private readonly productMonthSeen = new PairSeen();
  private readonly kycMonthSeen = new PairSeen();
  private readonly volume = new MonthVolumeSums();

  add(rows: BatchRows): this {
    const { presence } = this;
    for (let i = 0; i < rows.count; i++) {
      if (rows.duplicate[i] === 1) continue;
      const merchant = rows.merchant[i] as number;
      const month = rows.month[i] as number;
      const product = rows.product[i] as number;
      const status = rows.status[i] as number;
      presence.productMerchants.add(pairKey(product, merchant));
      if (this.productMonthSeen.firstTime(pairKey(product, month), merchant))
        presence.productMonthMerchants.add(tripleKey(product, month, merchant));
      let counts = presence.productMonthStatus.get(pairKey(product, month));
      if (counts === undefined) {
        counts = [0, 0, 0];
        presence.productMonthStatus.set(pairKey(product, month), counts);
      }
      counts[status - 1] = (counts[status - 1] as number) + 1;
      if (status !== STATUS_SUCCESS) continue;
      this.volume.add(month, merchant, rows.kobo[i] as number);
      const stage = rows.kycStage[i] as number;
      if (stage !== 0) {
        presence.kycMerchants.add(pairKey(stage, merchant));
        if (this.kycMonthSeen.firstTime(pairKey(stage, month), merchant))
          presence.kycMonthMerchants.add(tripleKey(stage, month, merchant));
      }
    }
    return this;
  }

  delta(): RollupDelta {
    return { ...this.presence, monthVolume: this.volume.totals() };
  }
}

/** The rollup deltas of the batch rows that are not duplicates. */
export function computeRollupDelta(rows: BatchRows): RollupDelta {
  return new RollupDeltaBuilder().add(rows).delta();
}

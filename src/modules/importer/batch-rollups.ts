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

/** Merchant numbers are the six digits of MRC-nnnnnn. */
export const MERCHANT_NUMBERS = 1_000_000;

/**
 * The rollups of one month in a transaction, indexed by product or KYC stage code: which merchants
 * were seen (a bitset over merchant numbers; null past the builder's cap), the status counts, and
 * where each merchant's SUCCESS sum is kept. Rows come month after month, so a row finds all of it
 * by array index: a presence key made of three parts is a double beyond V8's small integers, and
 * a Set of them had allocated a number on every row.
 */
class MonthRollups {
  readonly productSeen: Array<Uint8Array | null> = [];
  readonly kycSeen: Array<Uint8Array | null> = [];
  readonly statusCounts: Array<[number, number, number]> = [];
  readonly volumeSlots = new Map<number, number>();
}

/** At most this many month bitsets per transaction (~125 KB each); beyond, the Sets dedupe. */
const MAX_MONTH_BITSETS = 64;

/**
 * Adds up the rollup deltas of the batch rows that are not duplicates, batch after batch (the
 * batches of one transaction); `delta()` is what they add to the rollup tables.
 */
export class RollupDeltaBuilder {
  /** The presence keys seen for the first time in this transaction. */
  private readonly presence: Pick<
    RollupDelta,
    'productMerchants' | 'productMonthMerchants' | 'kycMerchants' | 'kycMonthMerchants'
  > = {
    productMerchants: new Set(),
    productMonthMerchants: new Set(),
    kycMerchants: new Set(),
    kycMonthMerchants: new Set(),
  };
  private readonly productSeen: Uint8Array[] = [];
  private readonly kycSeen: Uint8Array[] = [];
  private readonly months = new Map<number, MonthRollups>();
  private monthBitsets = 0;
  private month = -1;
  private current = new MonthRollups();
  /** SUCCESS kobo per (month, merchant) slot, exact while below 2^53, then spilled to `exact`. */
  private sums = new Float64Array(1024);
  private readonly sumKeys: number[] = [];
  private readonly exact = new Map<number, bigint>();

  add(rows: BatchRows): this {
    const { presence } = this;
    for (let i = 0; i < rows.count; i++) {
      if (rows.duplicate[i] === 1) continue;
      const merchant = rows.merchant[i] as number;
      const month = rows.month[i] as number;
      const product = rows.product[i] as number;
      const status = rows.status[i] as number;
      if (month !== this.month) this.enterMonth(month);
      const current = this.current;
      if (firstTime(this.productSeen, product, merchant))
        presence.productMerchants.add(pairKey(product, merchant));
      if (this.firstTimeInMonth(current.productSeen, product, merchant))
        presence.productMonthMerchants.add(tripleKey(product, month, merchant));
      const counts = (current.statusCounts[product] ??= [0, 0, 0]);
      counts[status - 1] = (counts[status - 1] as number) + 1;
      if (status !== STATUS_SUCCESS) continue;
      this.addVolume(month, merchant, rows.kobo[i] as number);
      const stage = rows.kycStage[i] as number;
      if (stage === 0) continue;
      if (firstTime(this.kycSeen, stage, merchant))
        presence.kycMerchants.add(pairKey(stage, merchant));
      if (this.firstTimeInMonth(current.kycSeen, stage, merchant))
        presence.kycMonthMerchants.add(tripleKey(stage, month, merchant));
    }
    return this;
  }

  delta(): RollupDelta {
    const productMonthStatus = new Map<number, [number, number, number]>();
    for (const [month, rollups] of this.months) {
      rollups.statusCounts.forEach((counts, product) => {
        productMonthStatus.set(pairKey(product, month), [...counts]);
      });
    }
    const monthVolume = new Map<number, bigint>();
    this.sumKeys.forEach((key, slot) => {
      monthVolume.set(key, BigInt(this.sums[slot] as number) + (this.exact.get(slot) ?? 0n));
    });
    return { ...this.presence, productMonthStatus, monthVolume };
  }

  private enterMonth(month: number): void {
    let rollups = this.months.get(month);
    if (rollups === undefined) {
      rollups = new MonthRollups();
      this.months.set(month, rollups);
    }
    this.month = month;
    this.current = rollups;
  }

  /** Like firstTime, for a month's bitsets: past the cap, every pair is new (the Set dedupes). */
  private firstTimeInMonth(seen: Array<Uint8Array | null>, code: number, merchant: number) {
    let bits = seen[code];
    if (bits === undefined) {
      bits = this.monthBitsets < MAX_MONTH_BITSETS ? new Uint8Array(MERCHANT_NUMBERS / 8) : null;
      if (bits !== null) this.monthBitsets += 1;
      seen[code] = bits;
    }
    return bits === null || testAndSet(bits, merchant);
  }

  private addVolume(month: number, merchant: number, kobo: number): void {
    const slots = this.current.volumeSlots;
    let slot = slots.get(merchant);
    if (slot === undefined) {
      slot = this.sumKeys.length;
      slots.set(merchant, slot);
      this.sumKeys.push(monthMerchantKey(month, merchant));
      if (slot === this.sums.length) {
        const sums = new Float64Array(this.sums.length * 2);
        sums.set(this.sums);
        this.sums = sums;
      }
    }
    const sum = (this.sums[slot] as number) + kobo;
    if (Number.isSafeInteger(sum)) this.sums[slot] = sum;
    else {
      const spilled = (this.exact.get(slot) ?? 0n) + BigInt(this.sums[slot] as number);
      this.exact.set(slot, spilled + BigInt(kobo));
      this.sums[slot] = 0;
    }
  }
}

/** Sets the merchant's bit; true when it was not set. */
function testAndSet(bits: Uint8Array, merchant: number): boolean {
  const mask = 1 << (merchant & 7);
  const byte = bits[merchant >> 3] as number;
  if ((byte & mask) !== 0) return false;
  bits[merchant >> 3] = byte | mask;
  return true;
}

/** True the first time (code, merchant) is seen; a bitset per code (few: products, stages). */
function firstTime(seen: Uint8Array[], code: number, merchant: number): boolean {
  return testAndSet((seen[code] ??= new Uint8Array(MERCHANT_NUMBERS / 8)), merchant);
}

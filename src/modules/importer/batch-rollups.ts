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

/**
 * Computes the rollup deltas of the batch rows that are not duplicates, added to `delta` when
 * given (the deltas of a transaction's earlier batches).
 */
export function computeRollupDelta(rows: BatchRows, delta = emptyRollupDelta()): RollupDelta {
  const sums = new Map<number, number>();
  const exactSums = new Map<number, bigint>();

  for (let i = 0; i < rows.count; i++) {
    if (rows.duplicate[i] === 1) continue;
    const merchant = rows.merchant[i] as number;
    const month = rows.month[i] as number;
    const product = rows.product[i] as number;
    const status = rows.status[i] as number;
    delta.productMerchants.add(pairKey(product, merchant));
    delta.productMonthMerchants.add(tripleKey(product, month, merchant));
    const counts = delta.productMonthStatus.get(pairKey(product, month)) ?? [0, 0, 0];
    counts[status - 1] = (counts[status - 1] as number) + 1;
    delta.productMonthStatus.set(pairKey(product, month), counts);
    if (status !== STATUS_SUCCESS) continue;
    const key = monthMerchantKey(month, merchant);
    const kobo = rows.kobo[i] as number;
    // Sums in doubles while they stay exact integers, spilling into BigInt beyond 2^53.
    const sum = (sums.get(key) ?? 0) + kobo;
    if (Number.isSafeInteger(sum)) sums.set(key, sum);
    else {
      exactSums.set(key, (exactSums.get(key) ?? 0n) + BigInt(sums.get(key) ?? 0) + BigInt(kobo));
      sums.set(key, 0);
    }
    const stage = rows.kycStage[i] as number;
    if (stage !== 0) {
      delta.kycMerchants.add(pairKey(stage, merchant));
      delta.kycMonthMerchants.add(tripleKey(stage, month, merchant));
    }
  }
  for (const [key, sum] of sums) {
    const before = delta.monthVolume.get(key) ?? 0n;
    delta.monthVolume.set(key, before + BigInt(sum) + (exactSums.get(key) ?? 0n));
  }
  return delta;
}

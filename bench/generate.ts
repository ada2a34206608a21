/**
 * Realistic, deterministic test-data generator for merchant activity CSV files
 * (see /work/shared/contract.md for the input format and the row rules).
 *
 * Library:  generateFiles(opts) -> manifest
 * CLI:      npx tsx bench/generate.ts --days N --rows-per-day M --seed S --out DIR [options]
 *
 * Determinism: every random choice comes from one seeded mulberry32 stream, and event ids from a
 * counter keyed by the seed (Rng.uuid); dates use UTC arithmetic only. The same options always
 * give byte-identical files, whatever the time zone.
 *
 * Each file holds exactly rowsPerDay data rows, in time order (a daily activity curve), plus
 * blank lines. Outside clean mode:
 *  - row level (each row has at most one of these; counted in manifest.injected):
 *    reject kinds (anomalyRate), warning kinds (warningRate), duplicates of an earlier valid
 *    row's event_id (duplicateRate; half exact re-sends, half new content), cosmetic variations
 *    that stay valid (2% of rows), one record_too_long per file when rowsPerDay >= 1000;
 *  - timestamps vary in form (fraction, no zone, no seconds, space for T, +01:00): not counted;
 *  - file level: the first file starts with a BOM; files 3, 6, 9, ... use CRLF; files 2, 8,
 *    14, ... mix CRLF and LF; a few blank lines per file (counted as blank_lines); the last file
 *    of a multi-day run has no line break after its last row.
 */
import { createWriteStream, realpathSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

export interface GenerateOptions {
  days: number;
  rowsPerDay: number;
  seed: number;
  outDir: string;
  /** 'YYYY-MM-DD', default '2024-01-01' */
  startDate?: string;
  /** distinct merchants, default max(50, min(20000, round(days*rowsPerDay/500))) */
  merchants?: number;
  /** no anomalies, no duplicates, no quoting tricks, LF only, no BOM */
  clean?: boolean;
  /** fraction of rows that get a reject-kind anomaly, default 0.02 (ignored when clean) */
  anomalyRate?: number;
  /** fraction of rows that get a warning-kind anomaly, default 0.02 (ignored when clean) */
  warningRate?: number;
  /** fraction of rows that repeat an earlier event_id, default 0.01 (ignored when clean) */
  duplicateRate?: number;
}

export interface GenerateManifest {
  files: string[];
  rows: number;
  bytes: number;
  injected: Record<string, number>;
}

// ---------------------------------------------------------------------------------------------
// Vocabulary
// ---------------------------------------------------------------------------------------------

const HEADER =
  'event_id,merchant_id,event_timestamp,product,event_type,amount,status,channel,region,merchant_tier';

const REJECT_KINDS = [
  'column_count',
  'invalid_encoding',
  'invalid_event_id',
  'invalid_merchant_id',
  'invalid_timestamp',
  'invalid_product',
  'invalid_status',
] as const;
const WARNING_KINDS = [
  'unknown_event_type',
  'invalid_amount',
  'unknown_channel',
  'unknown_tier',
] as const;
/** All keys of manifest.injected, always present (0 when nothing was injected). */
const INJECTED_KEYS = [
  ...REJECT_KINDS,
  'record_too_long',
  ...WARNING_KINDS,
  'duplicate',
  'cosmetic',
  'blank_lines',
] as const;

/** Share of rows (non-clean mode) that get a harmless formatting variation. */
const COSMETIC_RATE = 0.02;
/** Share of blank lines between rows (non-clean mode). */
const BLANK_LINE_RATE = 1 / 2500;
/** Length of the region field of the one over-long record per file (> 64 KiB). */
const TOO_LONG_FIELD_CHARS = 70_000;
/** Same-file duplicate sources: a sample of RING recent valid rows of the current file. */
const RING = 10_000;
/** Only rows whose index is a multiple of this (a power of two) become duplicate sources. */
const RING_STRIDE = 4;
/** Earlier-file duplicate sources: a bounded sample of rows from earlier files. */
const POOL = 10_000;
const POOL_TAKE_PER_FILE = 2_000;
/** Flush the string buffer to the stream once it holds this many UTF-16 units. */
const CHUNK_CHARS = 1 << 20;

/**
 * Placeholders for raw invalid UTF-8 bytes, replaced byte for byte when the chunk is written.
 * U+0001..U+0003 never occur in generated text otherwise.
 */
const RAW_C3_28 = '\u0001\u0002'; // -> 0xC3 0x28 (a lead byte without its continuation byte)
const RAW_FF = '\u0003'; // -> 0xFF (never valid in UTF-8)

type Weighted<T> = ReadonlyArray<readonly [T, number]>;

interface EventTypeSpec {
  name: string;
  weight: number;
  /** amount range in naira; lo 0 means a non-monetary event */
  lo: number;
  hi: number;
  /** amounts are multiples of this many kobo */
  stepKobo: number;
  /** ln(hi / lo), precomputed */
  logSpan: number;
}

interface ProductSpec {
  name: string;
  weight: number;
  /** share of merchants that use the product at all */
  adoption: number;
  failRate: number;
  pendingRate: number;
  types: EventTypeSpec[];
  channels: Weighted<string>;
}

function et(name: string, weight: number, lo: number, hi: number, stepKobo: number): EventTypeSpec {
  return { name, weight, lo, hi, stepKobo, logSpan: lo > 0 ? Math.log(hi / lo) : 0 };
}

const PRODUCTS: ProductSpec[] = [
  {
    name: 'POS',
    weight: 35,
    adoption: 0.85,
    failRate: 0.06,
    pendingRate: 0.04,
    channels: [['POS', 1]],
    types: [
      et('CARD_TRANSACTION', 60, 200, 500_000, 1),
      et('CASH_WITHDRAWAL', 25, 500, 200_000, 10_000),
      et('TRANSFER', 15, 100, 500_000, 1),
    ],
  },
  {
    name: 'AIRTIME',
    weight: 15,
    adoption: 0.6,
    failRate: 0.03,
    pendingRate: 0.05,
    channels: [
      ['APP', 50],
      ['USSD', 40],
      ['WEB', 10],
    ],
    types: [
      et('AIRTIME_PURCHASE', 65, 100, 10_000, 5_000),
      et('DATA_PURCHASE', 35, 100, 30_000, 10_000),
    ],
  },
  {
    name: 'BILLS',
    weight: 15,
    adoption: 0.55,
    failRate: 0.07,
    pendingRate: 0.06,
    channels: [
      ['APP', 55],
      ['USSD', 25],
      ['WEB', 20],
    ],
    types: [
      et('ELECTRICITY', 35, 1_000, 100_000, 100),
      et('CABLE_TV', 25, 2_500, 40_000, 5_000),
      et('INTERNET', 15, 1_000, 60_000, 100),
      et('WATER', 5, 500, 30_000, 100),
      et('BETTING', 20, 100, 200_000, 10_000),
    ],
  },
  {
    name: 'CARD_PAYMENT',
    weight: 10,
    adoption: 0.3,
    failRate: 0.05,
    pendingRate: 0.05,
    channels: [
      ['APP', 40],
      ['WEB', 60],
    ],
    types: [
      et('SUPPLIER_PAYMENT', 60, 5_000, 500_000, 1),
      et('INVOICE_PAYMENT', 40, 1_000, 500_000, 1),
    ],
  },
  {
    name: 'SAVINGS',
    weight: 10,
    adoption: 0.45,
    failRate: 0.02,
    pendingRate: 0.04,
    channels: [
      ['APP', 70],
      ['USSD', 20],
      ['WEB', 10],
    ],
    types: [
      et('DEPOSIT', 40, 1_000, 300_000, 100),
      et('WITHDRAWAL', 25, 1_000, 300_000, 100),
      et('INTEREST_CREDIT', 10, 100, 5_000, 1),
      et('AUTO_SAVE', 25, 500, 50_000, 10_000),
    ],
  },
  {
    name: 'MONIEBOOK',
    weight: 10,
    adoption: 0.4,
    failRate: 0.01,
    pendingRate: 0.05,
    channels: [
      ['APP', 60],
      ['WEB', 15],
      ['OFFLINE', 25],
    ],
    types: [
      et('SALE_RECORDED', 60, 100, 150_000, 100),
      et('INVENTORY_UPDATE', 25, 500, 500_000, 100),
      et('EXPENSE_LOGGED', 15, 100, 100_000, 100),
    ],
  },
  {
    name: 'KYC',
    weight: 5,
    adoption: 1, // KYC merchants are decided by their KYC stage, see below
    failRate: 0.1,
    pendingRate: 0.08,
    channels: [
      ['APP', 70],
      ['WEB', 30],
    ],
    types: [
      et('DOCUMENT_SUBMITTED', 50, 0, 0, 1),
      et('VERIFICATION_COMPLETED', 35, 0, 0, 1),
      et('TIER_UPGRADE', 15, 0, 0, 1),
    ],
  },
];
const KYC_INDEX = PRODUCTS.findIndex((p) => p.name === 'KYC');

const REGIONS: Weighted<string> = [
  ['LAGOS', 30],
  ['ABUJA', 12],
  ['KANO', 9],
  ['RIVERS', 8],
  ['OYO', 8],
  ['KADUNA', 6],
  ['ENUGU', 5],
  ['DELTA', 5],
  ['ANAMBRA', 4],
  ['EDO', 4],
  ['OGUN', 4],
  ['KWARA', 2],
  ['PLATEAU', 2],
  ['', 1], // region unknown: valid, stored as null
];

/** KYC progress of a merchant: how many of the three KYC stages it reaches. */
const KYC_STAGES: Weighted<number> = [
  [0, 15],
  [1, 25],
  [2, 35],
  [3, 25],
];

/** Activity per hour of the UTC day (Nigeria is UTC+1): quiet nights, busy middays. */
const HOUR_WEIGHTS = [
  0.4, 0.25, 0.2, 0.2, 0.3, 0.6, 1.5, 3.0, 4.5, 5.5, 6.0, 6.2, 6.3, 6.2, 6.0, 5.8, 5.6, 5.2, 4.8,
  4.2, 3.4, 2.5, 1.6, 0.9,
];

const PAD2: string[] = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0'));
const PAD3: string[] = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));
const HEX_CODES: number[] = Array.from({ length: 16 }, (_, i) => i.toString(16).charCodeAt(0));
/** 'HH:MM:SS' for each second of the day, built on first use (flat strings: fast to join) */
let timesOfDay: string[] | undefined;
function timeTable(): string[] {
  timesOfDay ??= Array.from({ length: 86_400 }, (_, i) =>
    String.fromCharCode(
      48 + Math.floor(i / 36_000),
      48 + (Math.floor(i / 3600) % 10),
      58,
      48 + Math.floor((i % 3600) / 600),
      48 + (Math.floor(i / 60) % 10),
      58,
      48 + Math.floor((i % 60) / 10),
      48 + (i % 10),
    ),
  );
  return timesOfDay;
}

const DAY_MS = 86_400_000;

// ---------------------------------------------------------------------------------------------
// PRNG
// ---------------------------------------------------------------------------------------------

/** murmur3's 32-bit finalizer: a bijection of 32-bit words that spreads every input bit. */
function fmix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** mulberry32: tiny, fast, good enough for test data, fully deterministic. */
class Rng {
  private state: number;
  private readonly idKeys: [number, number, number, number];
  private idCount = 0;

  constructor(seed: number) {
    // Fold a seed wider than 32 bits into 32 bits, then scramble it once.
    const hi = Math.floor(seed / 4294967296);
    let s = (seed ^ Math.imul(hi, 0x9e3779b1)) >>> 0;
    s = Math.imul(s ^ (s >>> 16), 0x85ebca6b) >>> 0;
    s = Math.imul(s ^ (s >>> 13), 0xc2b2ae35) >>> 0;
    this.state = (s ^ (s >>> 16)) >>> 0;
    this.idKeys = [this.u32(), this.u32(), this.u32(), this.u32()];
  }

  u32(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** uniform in [0, 1) */
  next(): number {
    return this.u32() / 4294967296;
  }

  /** uniform integer in [0, n) */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }

  /**
   * A v4 UUID, lower case (built from char codes: a flat string, no concatenation), unique for the
   * seed: a counter through a bijective 32-bit mixer, one key a word. Drawn from the stream, whose
   * period is 2^32, two seeds' long runs shared ids (a quarter of a 1 M-row day after 100 M rows).
   */
  uuid(): string {
    const n = this.idCount++;
    const [k0, k1, k2, k3] = this.idKeys;
    const a = fmix32((n ^ k0) >>> 0);
    const b = fmix32((n ^ k1) >>> 0);
    const c = fmix32((n ^ k2) >>> 0);
    const d = fmix32((n ^ k3) >>> 0);
    const h = HEX_CODES;
    // prettier-ignore
    return String.fromCharCode(
      h[a >>> 28]!, h[(a >>> 24) & 15]!, h[(a >>> 20) & 15]!, h[(a >>> 16) & 15]!,
      h[(a >>> 12) & 15]!, h[(a >>> 8) & 15]!, h[(a >>> 4) & 15]!, h[a & 15]!,
      45, // '-'
      h[b >>> 28]!, h[(b >>> 24) & 15]!, h[(b >>> 20) & 15]!, h[(b >>> 16) & 15]!,
      45,
      52, // version '4'
      h[(b >>> 8) & 15]!, h[(b >>> 4) & 15]!, h[b & 15]!,
      45,
      h[8 | ((c >>> 28) & 3)]!, // variant 10xx
      h[(c >>> 24) & 15]!, h[(c >>> 20) & 15]!, h[(c >>> 16) & 15]!,
      45,
      h[(c >>> 12) & 15]!, h[(c >>> 8) & 15]!, h[(c >>> 4) & 15]!, h[c & 15]!,
      h[d >>> 28]!, h[(d >>> 24) & 15]!, h[(d >>> 20) & 15]!, h[(d >>> 16) & 15]!,
      h[(d >>> 12) & 15]!, h[(d >>> 8) & 15]!, h[(d >>> 4) & 15]!, h[d & 15]!,
    );
  }
}

/** Weighted choice with a precomputed cumulative table (tables here are short). */
class WeightedPicker<T> {
  private readonly values: T[];
  private readonly cumulative: Float64Array;

  constructor(items: Weighted<T>) {
    this.values = items.map(([v]) => v);
    this.cumulative = new Float64Array(items.length);
    const total = items.reduce((sum, [, w]) => sum + w, 0);
    let acc = 0;
    items.forEach(([, w], i) => {
      acc += w / total;
      this.cumulative[i] = acc;
    });
    this.cumulative[items.length - 1] = 1;
  }

  index(rng: Rng): number {
    const r = rng.next();
    const cum = this.cumulative;
    let i = 0;
    while (i < cum.length - 1 && r >= cum[i]!) i++;
    return i;
  }

  pick(rng: Rng): T {
    return this.values[this.index(rng)] as T;
  }
}

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

interface ResolvedOptions {
  days: number;
  rowsPerDay: number;
  seed: number;
  outDir: string;
  startMs: number;
  merchants: number;
  clean: boolean;
  anomalyRate: number;
  warningRate: number;
  duplicateRate: number;
  cosmeticRate: number;
}

function parseStartDate(s: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) throw new RangeError(`startDate must be YYYY-MM-DD, got '${s}'`);
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const ms = Date.UTC(y, mo - 1, d);
  const check = new Date(ms);
  if (
    y < 1970 ||
    check.getUTCFullYear() !== y ||
    check.getUTCMonth() !== mo - 1 ||
    check.getUTCDate() !== d
  ) {
    throw new RangeError(`startDate is not a valid date from 1970 on: '${s}'`);
  }
  return ms;
}

function checkInt(name: string, v: number, min: number, max: number): void {
  if (!Number.isSafeInteger(v) || v < min || v > max) {
    throw new RangeError(`${name} must be an integer from ${min} to ${max}, got ${v}`);
  }
}

function checkRate(name: string, v: number): void {
  if (!Number.isFinite(v) || v < 0 || v > 1) {
    throw new RangeError(`${name} must be a number from 0 to 1, got ${v}`);
  }
}

function resolveOptions(opts: GenerateOptions): ResolvedOptions {
  checkInt('days', opts.days, 1, 36_600);
  checkInt('rowsPerDay', opts.rowsPerDay, 1, 1_000_000_000);
  checkInt('seed', opts.seed, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  if (typeof opts.outDir !== 'string' || opts.outDir === '') {
    throw new RangeError('outDir is required');
  }
  const startMs = parseStartDate(opts.startDate ?? '2024-01-01');
  const lastDay = new Date(startMs + (opts.days - 1) * DAY_MS).getUTCFullYear();
  if (lastDay > 9999) throw new RangeError('the last day would be after the year 9999');
  const merchants =
    opts.merchants ??
    Math.max(50, Math.min(20_000, Math.round((opts.days * opts.rowsPerDay) / 500)));
  checkInt('merchants', merchants, 1, 500_000);
  const clean = opts.clean ?? false;
  const anomalyRate = opts.anomalyRate ?? 0.02;
  const warningRate = opts.warningRate ?? 0.02;
  const duplicateRate = opts.duplicateRate ?? 0.01;
  checkRate('anomalyRate', anomalyRate);
  checkRate('warningRate', warningRate);
  checkRate('duplicateRate', duplicateRate);
  const sum = anomalyRate + warningRate + duplicateRate;
  if (!clean && sum > 1) {
    throw new RangeError(`anomalyRate + warningRate + duplicateRate must be at most 1, got ${sum}`);
  }
  return {
    days: opts.days,
    rowsPerDay: opts.rowsPerDay,
    seed: opts.seed,
    outDir: opts.outDir,
    startMs,
    merchants,
    clean,
    anomalyRate: clean ? 0 : anomalyRate,
    warningRate: clean ? 0 : warningRate,
    duplicateRate: clean ? 0 : duplicateRate,
    cosmeticRate: clean ? 0 : Math.min(COSMETIC_RATE, 1 - sum),
  };
}

// ---------------------------------------------------------------------------------------------
// Merchants
// ---------------------------------------------------------------------------------------------

interface MerchantSet {
  ids: string[];
  regions: string[];
  tiers: string[];
  /** per product: merchant indexes using it, busiest first (index 0 is the busiest merchant) */
  byProduct: Int32Array[];
  /** KYC stage (0..3) per merchant */
  kycStage: Uint8Array;
}

function buildMerchants(rng: Rng, count: number): MerchantSet {
  const seen = new Set<number>();
  const ids: string[] = [];
  while (ids.length < count) {
    const n = 1 + rng.int(999_999);
    if (seen.has(n)) continue;
    seen.add(n);
    ids.push('MRC-' + String(n).padStart(6, '0'));
  }
  const regionPicker = new WeightedPicker(REGIONS);
  const topTier = new WeightedPicker<string>([
    ['STARTER', 10],
    ['VERIFIED', 40],
    ['PREMIUM', 50],
  ]);
  const restTier = new WeightedPicker<string>([
    ['STARTER', 55],
    ['VERIFIED', 35],
    ['PREMIUM', 10],
  ]);
  const stagePicker = new WeightedPicker(KYC_STAGES);
  const regions: string[] = [];
  const tiers: string[] = [];
  const kycStage = new Uint8Array(count);
  const lists: number[][] = PRODUCTS.map(() => []);
  for (let i = 0; i < count; i++) {
    regions.push(regionPicker.pick(rng));
    // the busiest 5% of merchants are mostly the bigger, verified businesses
    tiers.push((i < count * 0.05 ? topTier : restTier).pick(rng));
    const stage = stagePicker.pick(rng);
    kycStage[i] = stage;
    PRODUCTS.forEach((p, pi) => {
      const uses = pi === KYC_INDEX ? stage > 0 : rng.next() < p.adoption;
      if (uses) lists[pi]!.push(i);
    });
  }
  // every product needs at least one merchant
  lists.forEach((list, pi) => {
    if (list.length === 0) {
      list.push(0);
      if (pi === KYC_INDEX) kycStage[0] = 3;
    }
  });
  return { ids, regions, tiers, byProduct: lists.map((l) => Int32Array.from(l)), kycStage };
}

// ---------------------------------------------------------------------------------------------
// Formatting helpers
// ---------------------------------------------------------------------------------------------

function dateParts(ms: number): { y: string; m: string; d: string } {
  const dt = new Date(ms);
  return {
    y: String(dt.getUTCFullYear()).padStart(4, '0'),
    m: PAD2[dt.getUTCMonth() + 1]!,
    d: PAD2[dt.getUTCDate()]!,
  };
}

/** Local wall-clock time of UTC instant `ms` in a zone `offsetMin` minutes east, with offset. */
function formatWithOffset(ms: number, offsetMin: number, sep = 'T'): string {
  const local = new Date(ms + offsetMin * 60_000);
  const abs = Math.abs(offsetMin);
  return (
    String(local.getUTCFullYear()).padStart(4, '0') +
    '-' +
    PAD2[local.getUTCMonth() + 1]! +
    '-' +
    PAD2[local.getUTCDate()]! +
    sep +
    PAD2[local.getUTCHours()]! +
    ':' +
    PAD2[local.getUTCMinutes()]! +
    ':' +
    PAD2[local.getUTCSeconds()]! +
    (offsetMin < 0 ? '-' : '+') +
    PAD2[Math.floor(abs / 60)]! +
    ':' +
    PAD2[abs % 60]!
  );
}

function formatKobo(kobo: number): string {
  return Math.floor(kobo / 100) + '.' + PAD2[kobo % 100]!;
}

function quote(s: string): string {
  return '"' + s.replaceAll('"', '""') + '"';
}

/** The region of the one over-long record per file: quoted, commas inside, > 64 KiB. */
function tooLongRegion(): string {
  const unit = 'LAGOS ISLAND, ';
  const body = unit
    .repeat(Math.ceil(TOO_LONG_FIELD_CHARS / unit.length))
    .slice(0, TOO_LONG_FIELD_CHARS);
  return quote(body);
}

/** Replace the raw-byte placeholders (one byte each in UTF-8) by invalid UTF-8 bytes, in place. */
function toBytesWithRaw(chunk: string): Buffer {
  const out = Buffer.from(chunk, 'utf8');
  for (let i = out.indexOf(0x01); i !== -1; i = out.indexOf(0x01, i + 1)) out[i] = 0xc3;
  for (let i = out.indexOf(0x02); i !== -1; i = out.indexOf(0x02, i + 1)) out[i] = 0x28;
  for (let i = out.indexOf(0x03); i !== -1; i = out.indexOf(0x03, i + 1)) out[i] = 0xff;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Generator
// ---------------------------------------------------------------------------------------------

type EolMode = 'lf' | 'crlf' | 'mixed';

interface DupSources {
  ringIds: string[];
  ringLines: string[];
  ringPos: number;
  ringCount: number;
  poolIds: string[];
  poolLines: string[];
}

const F_ID = 0;
const F_MERCHANT = 1;
const F_TS = 2;
const F_PRODUCT = 3;
const F_TYPE = 4;
const F_AMOUNT = 5;
const F_STATUS = 6;
const F_CHANNEL = 7;
const F_REGION = 8;
const F_TIER = 9;

class DataGenerator {
  readonly injected: Record<string, number>;
  private readonly rng: Rng;
  private readonly o: ResolvedOptions;
  private readonly m: MerchantSet;
  private readonly productPicker: WeightedPicker<number>;
  private readonly typePickers: WeightedPicker<number>[];
  private readonly channelPickers: WeightedPicker<string>[];
  private readonly hourCum: Float64Array;
  private readonly dup: DupSources;
  private tooLong: string | undefined;

  constructor(o: ResolvedOptions) {
    this.o = o;
    this.rng = new Rng(o.seed);
    this.m = buildMerchants(this.rng, o.merchants);
    this.productPicker = new WeightedPicker(PRODUCTS.map((p, i) => [i, p.weight] as const));
    this.typePickers = PRODUCTS.map(
      (p) => new WeightedPicker(p.types.map((t, i) => [i, t.weight] as const)),
    );
    this.channelPickers = PRODUCTS.map((p) => new WeightedPicker(p.channels));
    const total = HOUR_WEIGHTS.reduce((a, b) => a + b, 0);
    this.hourCum = new Float64Array(25);
    for (let h = 0; h < 24; h++) this.hourCum[h + 1] = this.hourCum[h]! + HOUR_WEIGHTS[h]! / total;
    this.hourCum[24] = 1;
    this.dup = { ringIds: [], ringLines: [], ringPos: 0, ringCount: 0, poolIds: [], poolLines: [] };
    this.injected = Object.fromEntries(INJECTED_KEYS.map((k) => [k, 0]));
  }

  private count(key: string): void {
    this.injected[key] = (this.injected[key] ?? 0) + 1;
  }

  /** Content of day `dayIndex`, yielded in chunks of about CHUNK_CHARS. */
  async *file(dayIndex: number): AsyncGenerator<string | Buffer> {
    const { o, rng, m, dup } = this;
    const dayMs = o.startMs + dayIndex * DAY_MS;
    const { y, m: mo, d } = dateParts(dayMs);
    const date = `${y}-${mo}-${d}`;
    const dateT = date + 'T';
    const firstOfMonth = d === '01';
    const lastOfMonth = new Date(dayMs + DAY_MS).getUTCDate() === 1;

    const eolMode: EolMode = o.clean
      ? 'lf'
      : dayIndex % 3 === 2
        ? 'crlf'
        : dayIndex % 6 === 1
          ? 'mixed'
          : 'lf';
    const fileEol = eolMode === 'crlf' ? '\r\n' : '\n';
    const bom = !o.clean && dayIndex === 0;
    // the last file of a multi-day dirty run ends without a final line break
    const noFinalEol = !o.clean && o.days > 1 && dayIndex === o.days - 1;
    // a few blank lines: one at a random place in every file, plus more at random
    const blankAt = !o.clean && o.rowsPerDay >= 2 ? 1 + rng.int(o.rowsPerDay - 1) : -1;
    const tooLongAt =
      !o.clean && o.anomalyRate > 0 && o.rowsPerDay >= 1000 ? rng.int(o.rowsPerDay) : -1;

    const aEnd = o.anomalyRate;
    const wEnd = aEnd + o.warningRate;
    const dEnd = wEnd + o.duplicateRate;
    const cEnd = dEnd + o.cosmeticRate;
    const blankRate = o.clean ? 0 : BLANK_LINE_RATE;

    dup.ringCount = 0;
    dup.ringPos = 0;

    let buf = (bom ? '\uFEFF' : '') + HEADER + fileEol;
    let hasRaw = false;
    const f: string[] = new Array<string>(10).fill('');
    const n = o.rowsPerDay;
    const hourCum = this.hourCum;
    const times = timeTable();
    let hour = 0;

    for (let i = 0; i < n; i++) {
      const eol = eolMode === 'mixed' ? (rng.next() < 0.3 ? '\r\n' : '\n') : fileEol;
      if (i === blankAt || (i > 0 && blankRate > 0 && rng.next() < blankRate)) {
        buf += eol;
        this.count('blank_lines');
      }

      // ---- a valid baseline row -------------------------------------------------------------
      const pi = this.productPicker.pick(rng);
      const p = PRODUCTS[pi]!;
      let mi: number;
      let ti: number;
      if (pi === KYC_INDEX) {
        // onboarding events: any KYC merchant, no activity skew; types up to its stage
        const list = m.byProduct[pi]!;
        mi = list[rng.int(list.length)]!;
        const stage = m.kycStage[mi]!;
        do ti = this.typePickers[pi]!.pick(rng);
        while (ti >= stage);
      } else {
        const list = m.byProduct[pi]!;
        const u = rng.next();
        mi = list[Math.floor(list.length * u * u)]!; // squared uniform: busy merchants first
        ti = this.typePickers[pi]!.pick(rng);
      }
      const t = p.types[ti]!;

      const sr = rng.next();
      const status =
        sr < p.failRate ? 'FAILED' : sr < p.failRate + p.pendingRate ? 'PENDING' : 'SUCCESS';

      let amount: string;
      let kobo = 0;
      if (t.lo === 0) {
        amount = rng.next() < 0.5 ? '0' : '';
      } else {
        const u = rng.next();
        const naira = t.lo * Math.exp(t.logSpan * u * u); // log-uniform, skewed to small
        kobo = Math.max(t.lo * 100, Math.round((naira * 100) / t.stepKobo) * t.stepKobo);
        amount = formatKobo(kobo);
      }

      const channel = t.name === 'INTEREST_CREDIT' ? '' : this.channelPickers[pi]!.pick(rng);

      // time of day: rows are in time order, following the daily activity curve
      const fr = (i + rng.next()) / n;
      while (hour < 23 && fr >= hourCum[hour + 1]!) hour++;
      let sec = Math.floor(
        hour * 3600 + ((fr - hourCum[hour]!) / (hourCum[hour + 1]! - hourCum[hour]!)) * 3600,
      );
      if (sec > 86_399) sec = 86_399;
      let ts: string;
      const hms = times[sec]!;
      const r = o.clean ? 0 : rng.next();
      if (r < 0.9) ts = dateT + hms + 'Z';
      else if (r < 0.94) ts = dateT + hms + '.' + PAD3[rng.int(1000)]! + 'Z';
      else if (r < 0.965) ts = dateT + hms;
      else if (r < 0.975) ts = dateT + hms.slice(0, 5);
      else if (r < 0.99) ts = date + ' ' + hms + (r < 0.98 ? 'Z' : '');
      else ts = formatWithOffset(dayMs + sec * 1000, 60);

      const id = rng.uuid();
      f[F_ID] = id;
      f[F_MERCHANT] = m.ids[mi]!;
      f[F_TS] = ts;
      f[F_PRODUCT] = p.name;
      f[F_TYPE] = t.name;
      f[F_AMOUNT] = amount;
      f[F_STATUS] = status;
      f[F_CHANNEL] = channel;
      f[F_REGION] = m.regions[mi]!;
      f[F_TIER] = m.tiers[mi]!;

      // ---- at most one injected variation -----------------------------------------------------
      let line: string;
      let valid = true;
      const kr = o.clean ? 1 : rng.next();
      if (i === tooLongAt) {
        this.tooLong ??= tooLongRegion();
        f[F_REGION] = this.tooLong;
        this.count('record_too_long');
        line = f.join(',');
        valid = false;
      } else if (kr < aEnd) {
        const kind = rng.pick(REJECT_KINDS);
        if (kind === 'invalid_encoding') hasRaw = true;
        line = this.reject(kind, f, date);
        this.count(kind);
        valid = false;
      } else if (kr < wEnd) {
        const kind = rng.pick(WARNING_KINDS);
        this.warn(kind, f, pi, kobo);
        this.count(kind);
        line = f.join(',');
      } else if (kr < dEnd && (dup.ringCount > 0 || dup.poolIds.length > 0)) {
        this.count('duplicate');
        valid = false; // not a source for further duplicates
        const fromPool = dup.ringCount === 0 || (dup.poolIds.length > 0 && rng.next() < 0.4);
        const k = fromPool ? rng.int(dup.poolIds.length) : rng.int(dup.ringCount);
        const srcId = fromPool ? dup.poolIds[k]! : dup.ringIds[k]!;
        const srcLine = fromPool ? dup.poolLines[k]! : dup.ringLines[k]!;
        if (rng.next() < 0.5) {
          line = srcLine; // an exact re-send of the earlier row
        } else {
          f[F_ID] = srcId; // same event id, different content (e.g. a retried delivery)
          line = f.join(',');
        }
      } else if (kr < cEnd) {
        this.cosmetic(f, eol, dayMs, sec, firstOfMonth, lastOfMonth, kobo);
        this.count('cosmetic');
        line = f.join(',');
      } else {
        line = f.join(',');
      }

      if (valid && o.duplicateRate > 0 && (i & (RING_STRIDE - 1)) === 0) {
        // remember the row as a duplicate source (its id as stored: lower case); only every
        // RING_STRIDE-th row, so few lines outlive the young generation (less GC work)
        dup.ringIds[dup.ringPos] = id; // generated lower case; stored lower case
        dup.ringLines[dup.ringPos] = line;
        dup.ringPos = (dup.ringPos + 1) % RING;
        if (dup.ringCount < RING) dup.ringCount++;
      }

      buf += line;
      if (i < n - 1 || !noFinalEol) buf += eol;
      if (buf.length >= CHUNK_CHARS) {
        yield hasRaw ? toBytesWithRaw(buf) : buf;
        buf = '';
        hasRaw = false;
      }
    }
    if (buf.length > 0) yield hasRaw ? toBytesWithRaw(buf) : buf;

    // keep a bounded sample of this file's rows as sources for later-file duplicates
    if (o.duplicateRate > 0) {
      const take = Math.min(dup.ringCount, POOL_TAKE_PER_FILE);
      for (let k = 0; k < take; k++) {
        const src = rng.int(dup.ringCount);
        if (dup.poolIds.length < POOL) {
          dup.poolIds.push(dup.ringIds[src]!);
          dup.poolLines.push(dup.ringLines[src]!);
        } else {
          const dst = rng.int(POOL);
          dup.poolIds[dst] = dup.ringIds[src]!;
          dup.poolLines[dst] = dup.ringLines[src]!;
        }
      }
    }
  }

  /** Make the row invalid for exactly one reason; returns the line. */
  private reject(kind: (typeof REJECT_KINDS)[number], f: string[], date: string): string {
    const rng = this.rng;
    switch (kind) {
      case 'column_count': {
        const r = rng.int(3);
        if (r === 0) return f.slice(0, 9).join(','); // last field missing
        if (r === 1) return f.join(',') + ','; // trailing comma: one empty extra field
        const drop = 1 + rng.int(8); // a middle field missing
        return f.filter((_, i) => i !== drop).join(',');
      }
      case 'invalid_encoding': {
        const region = f[F_REGION] || 'KANO';
        const cut = 1 + rng.int(region.length - 1);
        f[F_REGION] =
          rng.next() < 0.5 ? region.slice(0, cut) + RAW_C3_28 + region.slice(cut) : RAW_FF + region;
        break;
      }
      case 'invalid_event_id': {
        const id = f[F_ID]!;
        f[F_ID] = rng.pick(['not-a-uuid', id.slice(0, 30), '', 'g' + id.slice(1), id + '0']);
        break;
      }
      case 'invalid_merchant_id': {
        const digits = f[F_MERCHANT]!.slice(4);
        f[F_MERCHANT] = rng.pick([
          'MRC-12',
          'MERCH-' + digits,
          '',
          'MRC-' + digits + '7',
          'MRC-ABCDEF',
        ]);
        break;
      }
      case 'invalid_timestamp':
        f[F_TS] = rng.pick([
          '2024-13-01T00:00:00Z',
          '2024-02-30 10:00',
          'yesterday',
          '',
          date + 'T25:10:00Z',
          date.slice(8, 10) + '/' + date.slice(5, 7) + '/' + date.slice(0, 4) + ' 10:00',
        ]);
        break;
      case 'invalid_product':
        f[F_PRODUCT] = rng.pick(['CRYPTO', '', 'LOANS']);
        break;
      case 'invalid_status':
        f[F_STATUS] = rng.pick(['DONE', '', 'REVERSED']);
        break;
    }
    return f.join(',');
  }

  /** Give the (otherwise valid) row exactly one warning. */
  private warn(kind: (typeof WARNING_KINDS)[number], f: string[], pi: number, kobo: number): void {
    const rng = this.rng;
    switch (kind) {
      case 'unknown_event_type': {
        if (rng.next() < 0.5) {
          f[F_TYPE] = rng.pick(['REFUND', 'CHARGEBACK', 'REVERSAL']);
        } else {
          // a real type, but of another product
          const other = (pi + 1 + rng.int(PRODUCTS.length - 1)) % PRODUCTS.length;
          f[F_TYPE] = rng.pick(PRODUCTS[other]!.types).name;
        }
        break;
      }
      case 'invalid_amount': {
        const choices = ['-50.00', 'abc', '12.3.4', 'N/A'];
        if (kobo > 0) choices.push('-' + formatKobo(kobo));
        f[F_AMOUNT] = rng.pick(choices);
        break;
      }
      case 'unknown_channel':
        f[F_CHANNEL] = rng.pick(['FAX', 'ATM', 'BRANCH']);
        break;
      case 'unknown_tier':
        f[F_TIER] = rng.pick(['GOLD', 'PLATINUM', 'TIER1']);
        break;
    }
  }

  /** A harmless formatting variation: the row stays valid and means the same. */
  private cosmetic(
    f: string[],
    eol: string,
    dayMs: number,
    sec: number,
    firstOfMonth: boolean,
    lastOfMonth: boolean,
    kobo: number,
  ): void {
    const rng = this.rng;
    let kind = rng.int(9);
    if (kind === 6 && kobo === 0) kind = 0; // three decimals only for monetary rows
    switch (kind) {
      case 0: // lower-case enumerations and merchant id
        for (const i of [F_MERCHANT, F_PRODUCT, F_TYPE, F_STATUS, F_CHANNEL, F_TIER]) {
          f[i] = f[i]!.toLowerCase();
        }
        break;
      case 1: // white space around (unquoted) fields
        for (let i = 0; i < f.length; i++) {
          if (rng.next() < 0.5)
            f[i] = ' '.repeat(1 + rng.int(2)) + f[i]! + (rng.next() < 0.5 ? ' ' : '');
        }
        break;
      case 2: // quoted fields
        for (let i = 0; i < f.length; i++)
          if (i === F_REGION || rng.next() < 0.6) f[i] = quote(f[i]!);
        break;
      case 3: // region with a comma
        f[F_REGION] = quote(rng.pick(['LAGOS, ISLAND', 'ABUJA, FCT', 'PORT HARCOURT, RIVERS']));
        break;
      case 4: // region with a doubled quote
        f[F_REGION] = quote(rng.pick(['OYO "NORTH"', 'KANO "CITY"', 'LAGOS "MAINLAND"']));
        break;
      case 5: // region with a line break inside the quotes
        f[F_REGION] = quote('LAGOS' + eol + 'MAINLAND');
        break;
      case 6: // three decimals, rounded half-up to kobo on import (…5 is the tie case)
        f[F_AMOUNT] = formatKobo(kobo) + (rng.next() < 0.5 ? '5' : String(rng.int(10)));
        break;
      case 7: {
        // a time-zone offset; on month edges the written month differs from the UTC month
        let utcSec = sec;
        let offset = rng.next() < 0.5 ? 60 : -300;
        if (lastOfMonth) {
          offset = 60;
          utcSec = 23 * 3600 + rng.int(3600); // 23:xxZ, written as 00:xx+01:00 the next day
        } else if (firstOfMonth) {
          offset = -300;
          utcSec = rng.int(5 * 3600); // 00:00-04:59Z, written as the previous day -05:00
        }
        f[F_TS] = formatWithOffset(dayMs + utcSec * 1000, offset, rng.next() < 0.8 ? 'T' : ' ');
        break;
      }
      default: // upper-case UUID
        f[F_ID] = f[F_ID]!.toUpperCase();
        break;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------

export async function generateFiles(opts: GenerateOptions): Promise<GenerateManifest> {
  const o = resolveOptions(opts);
  await mkdir(o.outDir, { recursive: true });
  const gen = new DataGenerator(o);
  const files: string[] = [];
  let bytes = 0;
  for (let day = 0; day < o.days; day++) {
    const { y, m, d } = dateParts(o.startMs + day * DAY_MS);
    const name = `activities_${y}${m}${d}.csv`;
    const ws = createWriteStream(join(o.outDir, name), { highWaterMark: 1 << 20 });
    await pipeline(gen.file(day), ws);
    bytes += ws.bytesWritten;
    files.push(name);
  }
  return { files, rows: o.days * o.rowsPerDay, bytes, injected: gen.injected };
}

// ---------------------------------------------------------------------------------------------
// CLI
// ---------------------------------------------------------------------------------------------

const USAGE = `usage: npx tsx bench/generate.ts --days N --rows-per-day M --seed S --out DIR [options]
  --start YYYY-MM-DD      first day (default 2024-01-01)
  --merchants K           distinct merchants (default max(50, min(20000, days*rows/500)))
  --clean                 no anomalies, duplicates, quoting tricks, CRLF or BOM
  --anomaly-rate R        share of rows with a reject reason (default 0.02)
  --warning-rate R        share of rows with a warning (default 0.02)
  --duplicate-rate R      share of rows repeating an earlier event_id (default 0.01)`;

class UsageError extends Error {}

function intFlag(name: string, v: string | undefined, required: boolean): number | undefined {
  if (v === undefined) {
    if (required) throw new UsageError(`--${name} is required`);
    return undefined;
  }
  if (!/^-?\d+$/.test(v.trim())) throw new UsageError(`--${name} must be an integer, got '${v}'`);
  return Number(v);
}

function rateFlag(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) {
    throw new UsageError(`--${name} must be a number, got '${v}'`);
  }
  return n;
}

export function parseCliArgs(argv: string[]): GenerateOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        days: { type: 'string' },
        'rows-per-day': { type: 'string' },
        seed: { type: 'string' },
        out: { type: 'string' },
        start: { type: 'string' },
        merchants: { type: 'string' },
        clean: { type: 'boolean' },
        'anomaly-rate': { type: 'string' },
        'warning-rate': { type: 'string' },
        'duplicate-rate': { type: 'string' },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const values = parsed.values;
  if (values.out === undefined || values.out.trim() === '')
    throw new UsageError('--out is required');
  const opts: GenerateOptions = {
    days: intFlag('days', values.days, true)!,
    rowsPerDay: intFlag('rows-per-day', values['rows-per-day'], true)!,
    seed: intFlag('seed', values.seed, true)!,
    outDir: values.out,
    clean: values.clean ?? false,
  };
  if (values.start !== undefined) opts.startDate = values.start;
  const merchants = intFlag('merchants', values.merchants, false);
  if (merchants !== undefined) opts.merchants = merchants;
  const a = rateFlag('anomaly-rate', values['anomaly-rate']);
  if (a !== undefined) opts.anomalyRate = a;
  const w = rateFlag('warning-rate', values['warning-rate']);
  if (w !== undefined) opts.warningRate = w;
  const d = rateFlag('duplicate-rate', values['duplicate-rate']);
  if (d !== undefined) opts.duplicateRate = d;
  try {
    resolveOptions(opts); // range checks, reported as usage errors
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  return opts;
}

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  let opts: GenerateOptions;
  try {
    opts = parseCliArgs(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`generate: ${err.message}\n${USAGE}\n`);
      return 2;
    }
    throw err;
  }
  const started = performance.now();
  const manifest = await generateFiles(opts);
  await writeFile(join(opts.outDir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  const seconds = (performance.now() - started) / 1000;

  const ours = new Set(manifest.files);
  const stray = (await readdir(opts.outDir)).filter(
    (n) => /^activities_\d{8}\.csv$/.test(n) && !ours.has(n),
  );
  if (stray.length > 0) {
    process.stderr.write(
      `generate: warning: ${opts.outDir} also holds ${stray.length} older activities_*.csv file(s) ` +
        `not written by this run (e.g. ${stray[0]}); an import of the directory will include them\n`,
    );
  }
  const injected = Object.entries(manifest.injected)
    .filter(([, v]) => v > 0)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  process.stdout.write(
    `generated ${manifest.files.length} files, ${manifest.rows} rows, ` +
      `${(manifest.bytes / 1048576).toFixed(1)} MiB in ${seconds.toFixed(2)}s -> ${opts.outDir}` +
      ` (${injected || 'clean'})\n`,
  );
  return 0;
}

function isMain(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(entry)).href;
  } catch {
    return import.meta.url === pathToFileURL(entry).href;
  }
}

if (isMain()) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`generate: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exitCode = 1;
    },
  );
}

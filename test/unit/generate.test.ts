import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateFiles, type GenerateManifest } from '../../bench/generate.js';

const HEADER =
  'event_id,merchant_id,event_timestamp,product,event_type,amount,status,channel,region,merchant_tier';
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const ROW_KINDS = [
  'column_count',
  'invalid_encoding',
  'invalid_event_id',
  'invalid_merchant_id',
  'invalid_timestamp',
  'invalid_product',
  'invalid_status',
  'record_too_long',
  'unknown_event_type',
  'invalid_amount',
  'unknown_channel',
  'unknown_tier',
  'duplicate',
  'cosmetic',
];

/** Split a CSV file into records (RFC 4180: line breaks inside quotes belong to the field). */
function records(file: Buffer): { header: string; rows: Buffer[]; blankLines: number } {
  let i = file.subarray(0, 3).equals(BOM) ? 3 : 0;
  const recs: Buffer[] = [];
  while (i < file.length) {
    const start = i;
    let inQuotes = false;
    while (i < file.length && (inQuotes || file[i] !== 0x0a)) {
      if (file[i] === 0x22) inQuotes = !inQuotes;
      i++;
    }
    const end = i > start && file[i - 1] === 0x0d ? i - 1 : i;
    recs.push(file.subarray(start, end));
    i++; // past the LF
  }
  const [header, ...rest] = recs;
  return {
    header: header?.toString('utf8') ?? '',
    rows: rest.filter((r) => r.length > 0),
    blankLines: rest.filter((r) => r.length === 0).length,
  };
}

describe('bench/generate', () => {
  let root: string;
  const opts = { days: 2, rowsPerDay: 2000, seed: 7 };
  let dirty: GenerateManifest;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'generate-test-'));
    dirty = await generateFiles({ ...opts, outDir: join(root, 'a') });
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('writes one activities_YYYYMMDD.csv per day with the contract header', async () => {
    expect(dirty.files).toEqual(['activities_20240101.csv', 'activities_20240102.csv']);
    const first = await readFile(join(root, 'a', dirty.files[0]!));
    expect(first.subarray(0, 3).equals(BOM)).toBe(true); // the first file starts with a BOM
    for (const name of dirty.files) {
      const { header } = records(await readFile(join(root, 'a', name)));
      expect(header).toBe(HEADER);
    }
  });

  it('has a manifest whose counts add up', async () => {
    expect(dirty.rows).toBe(opts.days * opts.rowsPerDay);
    let rows = 0;
    let blank = 0;
    let bytes = 0;
    let badUtf8 = 0;
    const decoder = new TextDecoder('utf-8', { fatal: true });
    for (const name of dirty.files) {
      const file = await readFile(join(root, 'a', name));
      bytes += (await stat(join(root, 'a', name))).size;
      const parsed = records(file);
      rows += parsed.rows.length;
      blank += parsed.blankLines;
      for (const r of parsed.rows) {
        try {
          decoder.decode(r);
        } catch {
          badUtf8++;
        }
      }
    }
    expect(rows).toBe(dirty.rows);
    expect(bytes).toBe(dirty.bytes);
    expect(blank).toBe(dirty.injected.blank_lines);
    expect(badUtf8).toBe(dirty.injected.invalid_encoding);
    expect(dirty.injected.record_too_long).toBe(opts.days); // one per file (rowsPerDay >= 1000)
    const perRow = ROW_KINDS.reduce((sum, k) => sum + (dirty.injected[k] ?? 0), 0);
    expect(perRow).toBeGreaterThan(0);
    expect(perRow).toBeLessThanOrEqual(dirty.rows); // at most one kind per row
    expect(dirty.injected.duplicate).toBeGreaterThan(0);
  });

  it('is deterministic: the same seed gives identical bytes, another seed does not', async () => {
    const again = await generateFiles({ ...opts, outDir: join(root, 'b') });
    expect(again).toEqual(dirty);
    for (const name of dirty.files) {
      const a = await readFile(join(root, 'a', name));
      const b = await readFile(join(root, 'b', name));
      expect(a.equals(b)).toBe(true);
    }
    await generateFiles({ ...opts, seed: 8, outDir: join(root, 'c') });
    const a = await readFile(join(root, 'a', dirty.files[0]!));
    const c = await readFile(join(root, 'c', dirty.files[0]!));
    expect(a.equals(c)).toBe(false);
  });

  it('writes no anomalies in clean mode', async () => {
    const clean = await generateFiles({ ...opts, clean: true, outDir: join(root, 'd') });
    expect(Object.values(clean.injected).every((n) => n === 0)).toBe(true);
    const ids = new Set<string>();
    for (const name of clean.files) {
      const file = await readFile(join(root, 'd', name));
      expect(file.subarray(0, 3).equals(BOM)).toBe(false);
      expect(file.includes(0x0d)).toBe(false); // LF only
      expect(file.includes(0x22)).toBe(false); // no quoting
      const text = new TextDecoder('utf-8', { fatal: true }).decode(file);
      const [header, ...lines] = text.split('\n');
      expect(header).toBe(HEADER);
      expect(lines.pop()).toBe(''); // ends with a line break, no blank lines before
      expect(lines).toHaveLength(opts.rowsPerDay);
      for (const line of lines) {
        const [id, merchant, ts, product, , amount, status, ...rest] = line.split(',');
        expect(rest).toHaveLength(3);
        expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
        expect(merchant).toMatch(/^MRC-\d{6}$/);
        expect(ts).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
        expect(product).toMatch(/^(POS|AIRTIME|BILLS|CARD_PAYMENT|SAVINGS|MONIEBOOK|KYC)$/);
        expect(amount).toMatch(product === 'KYC' ? /^(0|)$/ : /^\d+\.\d{2}$/);
        expect(status).toMatch(/^(SUCCESS|FAILED|PENDING)$/);
        ids.add(id!);
      }
    }
    expect(ids.size).toBe(clean.rows); // no duplicates
  });
});

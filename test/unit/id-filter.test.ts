import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { IdFilter, IdHashes } from '../../src/modules/importer/id-filter.js';

const IDS = 100_000;

/** `count` random-looking ids, the same on every run (SHA-256 of a label and a counter). */
function scatteredIds(count: number, label: string): Buffer {
  const ids = Buffer.alloc(count * 16);
  for (let k = 0; k < count; k++)
    createHash('sha256')
      .update(`${label}:${k}`)
      .digest()
      .copy(ids, k * 16, 0, 16);
  return ids;
}

/** `count` ids that differ only in their last bytes, as sequential or test ids do. */
function sequentialIds(count: number, from = 0): Buffer {
  const ids = Buffer.alloc(count * 16);
  for (let k = 0; k < count; k++) ids.writeUInt32BE(from + k, k * 16 + 12);
  return ids;
}

function flagged(filter: IdFilter, ids: Buffer): number {
  const count = ids.length / 16;
  const hashes = IdHashes.of(ids, count);
  let n = 0;
  for (let k = 0; k < count; k++) if (filter.mightContain(hashes, k)) n += 1;
  return n;
}

describe("a sealed registry generation's Bloom filter", () => {
  it.each([
    ['random', scatteredIds(IDS, 'stored'), scatteredIds(IDS, 'other')],
    ['sequential', sequentialIds(IDS), sequentialIds(IDS, IDS)],
  ])(
    'when it holds %s ids, then it flags every one of them, and fewer than 1 in 5 000 of others, also once read back from its bytes',
    (_kind, stored, others) => {
      const filter = new IdFilter(IDS);
      const hashes = IdHashes.of(stored, IDS);
      for (let k = 0; k < IDS; k++) filter.add(hashes, k);
      const readBack = new IdFilter(Uint8Array.from(filter.bytes));

      for (const f of [filter, readBack]) {
        expect(flagged(f, stored)).toBe(IDS);
        expect(flagged(f, others)).toBeLessThan(IDS / 5_000);
      }
    },
  );

  it('when it is built, then its bytes are those stores sealed earlier hold (the stored format)', () => {
    // Filters are kept in event_id_filters: a change to the hashes or to where an id's bits fall
    // would make every stored filter miss ids. The digest was taken from the first version.
    const count = 5_000;
    const filter = new IdFilter(count);
    const hashes = IdHashes.of(scatteredIds(count, 'format'), count);
    for (let k = 0; k < count; k++) filter.add(hashes, k);
    expect(createHash('sha256').update(filter.bytes).digest('hex')).toBe(
      '5e850b0e855113d794d3c1c510a2edab3a693159981e26eaaaa0114df9423256',
    );
  });

  it('when it is given no bytes, then it refuses', () => {
    expect(() => new IdFilter(new Uint8Array(0))).toThrow(RangeError);
  });
});

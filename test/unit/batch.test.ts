import { describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { Batch, UnregisteredIds } from '../../src/modules/importer/import-state.js';

describe('a COPY batch', () => {
  it('when asked to hold 2^21 rows or more (its row index packs into 21 bits), then it refuses', () => {
    expect(() => new Batch(2 ** 21)).toThrow(RangeError);
    expect(() => new Batch(0)).toThrow(RangeError);
  });

  it('when it holds fewer, then it is built', () => {
    expect(new Batch(1000).rows.target).toBe(1000);
  });
});

describe('ids waiting for the registry', () => {
  const bytesOf = (id: string): Buffer => Buffer.from(id.replace(/-/g, ''), 'hex');
  /** The ids side by side in one buffer, with their offsets. */
  const runOf = (ids: Buffer[]): [Buffer, number[]] => [
    Buffer.concat(ids),
    ids.map((_, k) => k * 16),
  ];
  const byPrefix = (a: Buffer, b: Buffer): number => a.readUInt32BE(0) - b.readUInt32BE(0);

  it('when runs share 32-bit prefixes, then each id is found, an unseen one is not, and the body holds every id in prefix order', () => {
    const waiting = new UnregisteredIds();
    // Ids that share their first 32 bits (as test fixtures' do) and random ones, in two runs.
    const shared = Array.from({ length: 9000 }, (_, n) =>
      bytesOf(`00000000-0000-4000-8000-${String(n).padStart(12, '0')}`),
    );
    const random = Array.from({ length: 9000 }, () => bytesOf(randomUUID()));
    const runs = [
      [...shared.slice(0, 4500), ...random.slice(0, 4500)],
      [...shared.slice(4500), ...random.slice(4500)],
    ].map((run) => run.sort(byPrefix));
    for (const run of runs) waiting.addSortedRun(...runOf(run));
    expect(waiting.count).toBe(18_000);
    for (const id of [...shared, ...random]) expect(waiting.has(id, 0)).toBe(true);
    expect(waiting.has(bytesOf('00000000-0000-4000-8000-999999999999'), 0)).toBe(false);
    expect(waiting.has(bytesOf(randomUUID()), 0)).toBe(false);

    const body = Buffer.concat([...waiting.sortedChunks()]);
    expect(body.length).toBe(19 + 18_000 * 22 + 2);
    const out = Array.from({ length: 18_000 }, (_, k) =>
      body.subarray(19 + k * 22 + 6, 19 + k * 22 + 22),
    );
    for (let k = 1; k < out.length; k++)
      expect((out[k - 1] as Buffer).readUInt32BE(0)).toBeLessThanOrEqual(
        (out[k] as Buffer).readUInt32BE(0),
      );
    const text = (ids: Buffer[]) => ids.map((id) => id.toString('hex')).sort();
    expect(text(out)).toEqual(text([...shared, ...random]));
    waiting.clear();
    expect(waiting.has(shared[0] as Buffer, 0)).toBe(false);
  });
});

import { describe, expect, it } from 'vitest';
import { Batch } from '../../src/modules/importer/import-state.js';

describe('a COPY batch', () => {
  it('when asked to hold 2^21 rows or more (its row index packs into 21 bits), then it refuses', () => {
    expect(() => new Batch(2 ** 21)).toThrow(RangeError);
    expect(() => new Batch(0)).toThrow(RangeError);
  });

  it('when it holds fewer, then it is built', () => {
    expect(new Batch(1000).rows.target).toBe(1000);
  });
});

/**
 * A Bloom filter of UUIDs that is kept in the database: one for each segment of a sealed registry
 * generation (id-registry.ts). About 24 bits an id, ten bits set inside one 512-bit block (one
 * cache line a lookup), so about 0.02% of ids it never saw are flagged, each costing one index
 * lookup. Its bytes are the stored form (no word order to agree on). An id is tested against
 * every generation, so its hash is computed once (IdHashes) and filters take that.
 */
export class IdFilter {
  static readonly BITS_PER_ID = 24;
  private static readonly BITS_SET = 12;
  readonly bytes: Uint8Array;
  private readonly bits: number;

  constructor(bytesOrIds: Uint8Array | number) {
    this.bytes =
      typeof bytesOrIds === 'number'
        ? new Uint8Array(Math.max(1, Math.ceil((bytesOrIds * IdFilter.BITS_PER_ID) / 8)))
        : bytesOrIds;
    this.bits = this.bytes.length * 8;
    if (this.bits === 0) throw new RangeError('a filter holds at least one byte');
  }

  add(hashes: IdHashes, k: number): void {
    const first = hashes.first[k] as number;
    const step = hashes.step[k] as number;
    for (let i = 0; i < IdFilter.BITS_SET; i++) {
      const at = (first + i * step) % this.bits;
      this.bytes[at >>> 3] = (this.bytes[at >>> 3] as number) | (1 << (at & 7));
    }
  }

  mightContain(hashes: IdHashes, k: number): boolean {
    const first = hashes.first[k] as number;
    const step = hashes.step[k] as number;
    for (let i = 0; i < IdFilter.BITS_SET; i++) {
      const at = (first + i * step) % this.bits;
      if (((this.bytes[at >>> 3] as number) & (1 << (at & 7))) === 0) return false;
    }
    return true;
  }
}

/** The two 32-bit hashes of each of a run of packed 16-byte ids. */
export class IdHashes {
  readonly first: Uint32Array;
  readonly step: Uint32Array;

  constructor(ids: Buffer, count: number) {
    this.first = new Uint32Array(count);
    this.step = new Uint32Array(count);
    for (let k = 0; k < count; k++) {
      // Two chains over the four words (ids need not be random: sequential ones are valid), so
      // that ids agreeing on one 32-bit hash still differ in the other.
      const at = k * 16;
      const w0 = ids.readUInt32BE(at);
      const w1 = ids.readUInt32BE(at + 4);
      const w2 = ids.readUInt32BE(at + 8);
      const w3 = ids.readUInt32BE(at + 12);
      this.first[k] = fmix32(w3 ^ fmix32(w2 ^ fmix32(w1 ^ fmix32(w0))));
      this.step[k] = fmix32(w0 ^ fmix32(w1 ^ fmix32(w2 ^ fmix32(w3 ^ 0x9e3779b9))));
    }
  }
}

/** murmur3's 32-bit finalizer: every input bit moves about half the output bits. */
function fmix32(value: number): number {
  let h = value >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

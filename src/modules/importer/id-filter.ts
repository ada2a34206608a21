/**
 * A Bloom filter of UUIDs that is kept in the database: one for each segment of a sealed registry
 * generation (id-registry.ts). 20 bits an id and 13 bits set, so about 1 in 15 000 ids it never
 * saw is flagged, each costing one index lookup. Its bytes are the stored form (no word order to
 * agree on). An id is tested against every generation, so its hashes are computed once
 * (IdHashes) and filters take those.
 */
export class IdFilter {
  private static readonly BITS_PER_ID = 20;
  private static readonly BITS_SET = 13;
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
      const at = this.position(first, step, i);
      this.bytes[at >>> 3] = (this.bytes[at >>> 3] as number) | (1 << (at & 7));
    }
  }

  mightContain(hashes: IdHashes, k: number): boolean {
    const first = hashes.first[k] as number;
    const step = hashes.step[k] as number;
    for (let i = 0; i < IdFilter.BITS_SET; i++) {
      const at = this.position(first, step, i);
      if (((this.bytes[at >>> 3] as number) & (1 << (at & 7))) === 0) return false;
    }
    return true;
  }

  /** The i-th bit of an id (double hashing), scaled to the filter by a multiply, not a division. */
  private position(first: number, step: number, i: number): number {
    return Math.floor((((first + Math.imul(i, step)) >>> 0) / 0x1_0000_0000) * this.bits);
  }
}

/** The two 32-bit hashes of each of a run of 16-byte ids, in arrays that can be refilled. */
export class IdHashes {
  readonly first: Uint32Array;
  readonly step: Uint32Array;

  constructor(capacity: number) {
    this.first = new Uint32Array(capacity);
    this.step = new Uint32Array(capacity);
  }

  /** The hashes of `count` packed ids. */
  static of(ids: Buffer, count: number): IdHashes {
    const hashes = new IdHashes(count);
    for (let k = 0; k < count; k++) hashes.set(k, ids, k * 16);
    return hashes;
  }

  /** Sets the k-th hashes to those of the id at `offset` of `bytes`. */
  set(k: number, bytes: Buffer, offset: number): void {
    // Two hashes of all four words, weighted differently (ids need not be random: sequential
    // ones are valid), so that ids agreeing on one still differ in the other.
    const w0 = bytes.readUInt32BE(offset);
    const w1 = bytes.readUInt32BE(offset + 4);
    const w2 = bytes.readUInt32BE(offset + 8);
    const w3 = bytes.readUInt32BE(offset + 12);
    this.first[k] = fmix32(
      w0 ^ Math.imul(w1, 0x9e3779b1) ^ Math.imul(w2, 0x85ebca77) ^ Math.imul(w3, 0xc2b2ae3d),
    );
    this.step[k] = fmix32(
      w3 ^ Math.imul(w2, 0x27d4eb2f) ^ Math.imul(w1, 0x165667b1) ^ Math.imul(w0, 0xd3a2646d),
    );
  }
}

/** murmur3's 32-bit finalizer: every input bit moves about half the output bits. */
function fmix32(value: number): number {
  let h = value >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * A Bloom filter of UUIDs that is kept in the database: one for each segment of a sealed registry
 * generation (id-registry.ts). 20 bits an id and 13 bits set, so about 1 in 15 000 ids it never
 * saw is flagged, each costing one index lookup. Its bytes are the stored form (no word order to
 * agree on). An id is tested against every generation, so its hashes are computed once
 * (IdHashes) and filters take those.
 */
const BITS_PER_ID = 20;
const BITS_SET = 13;

export class IdFilter {
  readonly bytes: Uint8Array;
  /**
   * Bits per unit of a 32-bit hash (bits / 2^32, exact): the i-th bit of an id is at
   * (first + i × step) × scale (double hashing, scaled by a multiply, not a division).
   */
  private readonly scale: number;

  constructor(bytesOrIds: Uint8Array | number) {
    this.bytes =
      typeof bytesOrIds === 'number'
        ? new Uint8Array(Math.max(1, Math.ceil((bytesOrIds * BITS_PER_ID) / 8)))
        : bytesOrIds;
    if (this.bytes.length === 0) throw new RangeError('a filter holds at least one byte');
    this.scale = (this.bytes.length * 8) / 0x1_0000_0000;
  }

  add(hashes: IdHashes, k: number): void {
    const { bytes, scale } = this; // locals: a seal adds a million ids in a row
    let at = hashes.first[k] as number;
    const step = hashes.step[k] as number;
    for (let i = 0; i < BITS_SET; i++) {
      const bit = Math.floor(at * scale);
      bytes[bit >>> 3] = (bytes[bit >>> 3] as number) | (1 << (bit & 7));
      at = (at + step) >>> 0;
    }
  }

  mightContain(hashes: IdHashes, k: number): boolean {
    const { bytes, scale } = this;
    let at = hashes.first[k] as number;
    const step = hashes.step[k] as number;
    for (let i = 0; i < BITS_SET; i++) {
      const bit = Math.floor(at * scale);
      if (((bytes[bit >>> 3] as number) & (1 << (bit & 7))) === 0) return false;
      at = (at + step) >>> 0;
    }
    return true;
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
    hashes.fill(ids, count);
    return hashes;
  }

  /** Sets the first `count` hashes to those of `count` packed ids. */
  fill(ids: Buffer, count: number): void {
    // A DataView reads big-endian words several times faster than Buffer.readUInt32BE here.
    const words = new DataView(ids.buffer, ids.byteOffset, count * 16);
    for (let k = 0; k < count; k++) {
      // Two hashes of all four words, weighted differently (ids need not be random: sequential
      // ones are valid), so that ids agreeing on one still differ in the other.
      const w0 = words.getUint32(k * 16);
      const w1 = words.getUint32(k * 16 + 4);
      const w2 = words.getUint32(k * 16 + 8);
      const w3 = words.getUint32(k * 16 + 12);
      this.first[k] = fmix32(
        w0 ^ Math.imul(w1, 0x9e3779b1) ^ Math.imul(w2, 0x85ebca77) ^ Math.imul(w3, 0xc2b2ae3d),
      );
      this.step[k] = fmix32(
        w3 ^ Math.imul(w2, 0x27d4eb2f) ^ Math.imul(w1, 0x165667b1) ^ Math.imul(w0, 0xd3a2646d),
      );
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

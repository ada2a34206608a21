/** A DataView of a Buffer's bytes, to read and write its 32-bit words. */
export function viewOf(bytes: Buffer): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
}

/**
 * Reads ids' 32-bit words through a DataView of the buffer they are in, kept while ids keep coming
 * from the same buffer (a batch's all do): making a view costs more than the four reads, and
 * `Buffer.readUInt32BE` several times more than a view's.
 */
class IdWords {
  private bytes: Buffer | null = null;
  private view: DataView = new DataView(new ArrayBuffer(0));

  of(bytes: Buffer): DataView {
    if (bytes !== this.bytes) {
      this.bytes = bytes;
      this.view = viewOf(bytes);
    }
    return this.view;
  }
}

/**
 * A set of UUIDs read straight from their 16 encoded bytes, in flat typed arrays (open addressing).
 * A JS Set of id strings cost several times the memory, and its strings kept whole decoded input
 * chunks alive; this holds a batch's ids in about 40 bytes each.
 */
export class UuidSet {
  private words: Uint32Array;
  private used: Uint8Array;
  private mask: number;
  private readonly source = new IdWords();
  size = 0;

  constructor(expected: number) {
    let capacity = 1024;
    while (capacity < expected * 2) capacity *= 2;
    this.words = new Uint32Array(capacity * 4);
    this.used = new Uint8Array(capacity);
    this.mask = capacity - 1;
  }

  /** Adds the UUID at `offset` of `bytes`; returns false when it was already there. */
  add(bytes: Buffer, offset: number): boolean {
    if (this.size * 2 >= this.used.length) this.grow();
    const view = this.source.of(bytes);
    return this.insert(
      view.getUint32(offset),
      view.getUint32(offset + 4),
      view.getUint32(offset + 8),
      view.getUint32(offset + 12),
    );
  }

  has(bytes: Buffer, offset: number): boolean {
    const view = this.source.of(bytes);
    const a = view.getUint32(offset);
    const b = view.getUint32(offset + 4);
    const c = view.getUint32(offset + 8);
    const d = view.getUint32(offset + 12);
    for (let slot = this.slotOf(a, b, c, d); this.used[slot] === 1; slot = (slot + 1) & this.mask) {
      if (this.equals(slot, a, b, c, d)) return true;
    }
    return false;
  }

  clear(): void {
    this.used.fill(0);
    this.size = 0;
  }

  private slotOf(a: number, b: number, c: number, d: number): number {
    // UUIDs are random already; mixing the words spreads version/variant bits and test ids alike.
    return (
      (Math.imul(
        a ^ Math.imul(b, 0x9e3779b1) ^ Math.imul(c, 0x85ebca6b) ^ Math.imul(d, 0xc2b2ae35),
        0x27d4eb2f,
      ) >>>
        0) &
      this.mask
    );
  }

  private equals(slot: number, a: number, b: number, c: number, d: number): boolean {
    const w = slot * 4;
    return (
      this.words[w] === a &&
      this.words[w + 1] === b &&
      this.words[w + 2] === c &&
      this.words[w + 3] === d
    );
  }

  private insert(a: number, b: number, c: number, d: number): boolean {
    let slot = this.slotOf(a, b, c, d);
    while (this.used[slot] === 1) {
      if (this.equals(slot, a, b, c, d)) return false;
      slot = (slot + 1) & this.mask;
    }
    this.used[slot] = 1;
    const w = slot * 4;
    this.words[w] = a;
    this.words[w + 1] = b;
    this.words[w + 2] = c;
    this.words[w + 3] = d;
    this.size += 1;
    return true;
  }

  private grow(): void {
    const { words, used } = this;
    this.words = new Uint32Array(words.length * 2);
    this.used = new Uint8Array(used.length * 2);
    this.mask = this.used.length - 1;
    this.size = 0;
    for (let slot = 0; slot < used.length; slot++) {
      if (used[slot] === 1) {
        const w = slot * 4;
        this.insert(
          words[w] as number,
          words[w + 1] as number,
          words[w + 2] as number,
          words[w + 3] as number,
        );
      }
    }
  }
}

/** The canonical text of the UUID at `offset` of `bytes`. */
export function uuidText(bytes: Buffer, offset: number): string {
  const hex = bytes.toString('hex', offset, offset + 16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * A blocked Bloom filter of UUIDs (four bits inside one 64-byte block, so one cache miss a lookup)
 * of 16 to 64 MiB: about 10 bits for each id it expects, within those bounds. It remembers every
 * id this importer has staged, so a batch can look up in the database just the few ids that may
 * be stored already, instead of all. False positives cost a lookup, never a wrong answer: about
 * 0.5% at 10 bits an id; past 64 MiB (50 M ids) they grow, which keeps the importer's memory flat.
 */
export class UuidBloom {
  private static readonly MIN_BLOCKS = 1 << 18; // 2^18 blocks x 512 bits = 16 MiB
  private static readonly MAX_BLOCKS = 1 << 20; // 64 MiB
  private readonly blocks: number;
  private readonly bits: Uint32Array;
  private readonly source = new IdWords();

  constructor(expectedIds = 0) {
    let blocks = UuidBloom.MIN_BLOCKS;
    while (blocks < UuidBloom.MAX_BLOCKS && blocks * 512 < expectedIds * 10) blocks *= 2;
    this.blocks = blocks;
    this.bits = new Uint32Array(blocks * 16);
  }

  /**
   * Adds the id; returns whether it may have been added before (false: certainly new). Four bits
   * inside one 512-bit block: the block from words 0 and 3, the bits from all four. This is called
   * for every row of an import, so it works on locals only.
   */
  add(bytes: Buffer, offset: number): boolean {
    const view = this.source.of(bytes);
    const w0 = view.getUint32(offset);
    const w1 = view.getUint32(offset + 4);
    const w2 = view.getUint32(offset + 8);
    const w3 = view.getUint32(offset + 12);
    const base = ((Math.imul(w0 ^ w3, 0x9e3779b1) >>> 0) & (this.blocks - 1)) * 16;
    return (
      (this.setBit(base, w1 & 511) &
        this.setBit(base, w2 & 511) &
        this.setBit(base, w3 & 511) &
        this.setBit(base, (w0 >>> 16) & 511)) ===
      1
    );
  }

  /** Sets a bit of the block at `base`; 1 when it was set already. */
  private setBit(base: number, bit: number): number {
    const at = base + (bit >>> 5);
    const mask = 1 << (bit & 31);
    const word = this.bits[at] as number;
    this.bits[at] = word | mask;
    return (word & mask) === 0 ? 0 : 1;
  }
}

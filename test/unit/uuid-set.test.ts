import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { UuidBloom, UuidSet, uuidText } from '../../src/modules/importer/uuid-set.js';

const bytesOf = (id: string): Buffer => Buffer.from(id.replace(/-/g, ''), 'hex');

describe('UuidSet', () => {
  it('when ids are added, then each is found once and a repeat is refused, across growth', () => {
    const set = new UuidSet(10);
    const ids = Array.from({ length: 5000 }, () => randomUUID());
    for (const id of ids) expect(set.add(bytesOf(id), 0)).toBe(true);
    for (const id of ids) expect(set.add(bytesOf(id), 0)).toBe(false);
    expect(set.size).toBe(5000);
    expect(set.has(bytesOf(randomUUID()), 0)).toBe(false);
    set.clear();
    expect(set.has(bytesOf(ids[0] as string), 0)).toBe(false);
  });

  it('when ids differ only in their last byte or are the nil UUID, then they stay distinct', () => {
    const set = new UuidSet(4);
    expect(set.add(bytesOf('00000000-0000-0000-0000-000000000000'), 0)).toBe(true);
    expect(set.add(bytesOf('00000000-0000-0000-0000-000000000001'), 0)).toBe(true);
    expect(set.add(bytesOf('00000000-0000-0000-0000-000000000000'), 0)).toBe(false);
  });

  it('when bytes are read back as text, then the canonical form comes out', () => {
    const id = randomUUID();
    const buffer = Buffer.concat([Buffer.from([1, 2, 3]), bytesOf(id)]);
    expect(uuidText(buffer, 3)).toBe(id);
  });
});

describe('UuidBloom', () => {
  it('when ids were added, then each is reported seen, and an unseen id rarely is', () => {
    const bloom = new UuidBloom();
    const seen = Array.from({ length: 20_000 }, () => bytesOf(randomUUID()));
    for (const b of seen) expect(bloom.add(b, 0)).toBe(false);
    for (const b of seen) expect(bloom.add(b, 0)).toBe(true);
    let falsePositives = 0;
    for (let i = 0; i < 20_000; i++) if (bloom.add(bytesOf(randomUUID()), 0)) falsePositives += 1;
    expect(falsePositives).toBeLessThan(20); // < 0.1% at this load
  });

  it('when ids come from one buffer and then another, then each is read from its own', () => {
    const bloom = new UuidBloom();
    const ids = [randomUUID(), randomUUID()];
    const first = Buffer.concat(ids.map(bytesOf));
    const second = Buffer.concat([Buffer.alloc(3), ...ids.map(bytesOf)]);
    expect(bloom.add(first, 0)).toBe(false);
    expect(bloom.add(second, 3)).toBe(true);
    expect(bloom.add(second, 19)).toBe(false);
    expect(bloom.add(first, 16)).toBe(true);
  });
});

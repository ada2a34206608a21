import { describe, expect, it } from 'vitest';
import { newRequestId, requestIdFor } from '../../src/http/hooks.js';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('request ids', () => {
  it('when ids are made, then each has the form of a random UUID and none repeats', () => {
    const ids = Array.from({ length: 20_000 }, () => newRequestId());
    expect(ids[0]).toMatch(UUID_V4);
    expect(ids.filter((id) => !UUID_V4.test(id))).toEqual([]);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('when a caller sends a sane id, then it is kept; otherwise a new one is made', () => {
    expect(requestIdFor('trace-123:a.b_c')).toBe('trace-123:a.b_c');
    expect(requestIdFor('has space')).toMatch(UUID_V4);
    expect(requestIdFor(['a', 'b'])).toMatch(UUID_V4);
    expect(requestIdFor('x'.repeat(129))).toMatch(UUID_V4);
    expect(requestIdFor(undefined)).toMatch(UUID_V4);
  });
});

import { describe, expect, it } from 'vitest';
import { requestIdFor } from '../../src/http/hooks.js';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('request ids', () => {
  it('when a caller sends a sane id, then it is kept; otherwise a new random UUID is made', () => {
    expect(requestIdFor('trace-123:a.b_c')).toBe('trace-123:a.b_c');
    expect(requestIdFor('has space')).toMatch(UUID_V4);
    expect(requestIdFor(['a', 'b'])).toMatch(UUID_V4);
    expect(requestIdFor('x'.repeat(129))).toMatch(UUID_V4);
    expect(requestIdFor(undefined)).toMatch(UUID_V4);
    expect(requestIdFor(undefined)).not.toBe(requestIdFor(undefined));
  });
});

import { describe, expect, it } from 'vitest';
import { asJsonb } from './jsonb.js';

describe('asJsonb: a parsed JSON value as a jsonb column gives it back', () => {
  it('orders object keys shorter first (UTF-8 bytes), then bytewise, at every depth; keeps arrays in order', () => {
    const v = asJsonb(JSON.parse('{"zz": 1, "a": {"yy": [{"bb": 1, "c": 2}], "x": 2}, "é": 3, "b": -0, "__proto__": 4}'));
    expect(Object.keys(v)).toEqual(['a', 'b', 'zz', 'é', '__proto__']);
    expect(Object.keys(v.a)).toEqual(['x', 'yy']);
    expect(Object.keys(v.a.yy[0])).toEqual(['c', 'bb']);
    expect(Object.is(v.b, 0)).toBe(true);
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect(v.__proto__).toBe(4);
  });

  it('leaves scalars and arrays as they are', () => {
    expect(asJsonb('s')).toBe('s');
    expect(asJsonb(null)).toBe(null);
    expect(asJsonb([3, 1, 2])).toEqual([3, 1, 2]);
  });
});

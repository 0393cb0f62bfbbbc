/**
 * A parsed JSON value as PostgreSQL gives it back from a jsonb column: object keys shorter first
 * (in UTF-8 bytes), then in byte order, and -0 as 0 (numeric has no negative zero). Code that
 * computes from a value before it is stored (ADR 0077: a webhook run computed before its insert)
 * sees what code reading the stored row would see. Arrays keep their order; duplicate keys cannot
 * occur in a value JSON.parse made.
 */
export function asJsonb<T>(value: T): T {
  return normalize(value) as T;
}

function normalize(value: unknown): unknown {
  if (typeof value === 'number') return Object.is(value, -0) ? 0 : value;
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(normalize);
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(value).sort(jsonbKeyOrder)) {
    const v = (value as Record<string, unknown>)[k];
    // An own "__proto__" key (JSON.parse makes one) stays a key, as in the parsed row.
    if (v !== undefined) Object.defineProperty(out, k, { value: normalize(v), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

const ascii = /^[\x00-\x7f]*$/;

/** jsonb's key order: shorter first (UTF-8 bytes), then bytewise. */
export function jsonbKeyOrder(a: string, b: string): number {
  if (ascii.test(a) && ascii.test(b)) return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length - y.length || Buffer.compare(x, y);
}

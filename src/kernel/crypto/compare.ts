import { timingSafeEqual } from 'node:crypto';

/**
 * Constant-time comparison of a secret someone sent with the one expected: the only one in the
 * codebase (the kernel guard's `auth: 'secret:<name>'` mode, inbound webhook signatures). Missing
 * on either side, or a different length, is unequal; the length is not hidden (secrets and
 * signatures here have fixed, public lengths).
 */
export function sameSecret(given: string | Buffer | null | undefined, expected: string | Buffer | null | undefined): boolean {
  if (given === null || given === undefined || expected === null || expected === undefined) return false;
  const a = typeof given === 'string' ? Buffer.from(given) : given;
  const b = typeof expected === 'string' ? Buffer.from(expected) : expected;
  if (a.length === 0 || b.length === 0) return false;
  return a.length === b.length && timingSafeEqual(a, b);
}

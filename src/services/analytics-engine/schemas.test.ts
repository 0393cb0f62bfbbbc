import { describe, expect, it } from 'vitest';
import { fastIncomingEvent, incomingEventSchema } from './schemas.js';

const base = { type: 'track', event: 'view', userId: 'u1', messageId: 'm1' };
/** Valid events and near misses: the hot path must accept only what zod accepts, and return what zod returns. */
const samples: unknown[] = [
  base,
  { event: 'view', userId: 'u1', messageId: 'm1' },
  { ...base, timestamp: '2026-03-02T12:00:00Z', sentAt: '2026-03-02T12:00:01.123+02:00' },
  { ...base, timestamp: '2026-03-02T12:00:00.123456Z' },
  { ...base, timestamp: '2026-02-30T12:00:00Z' },
  { ...base, timestamp: '2026-03-02T24:00:00Z' },
  { ...base, timestamp: '2026-03-02T12:00Z' },
  { ...base, timestamp: '2026-03-02 12:00:00Z' },
  { ...base, timestamp: '2026-03-02T12:00:00' },
  { ...base, timestamp: 1767571200000 },
  { ...base, properties: { plan: 'pro', n: 1, nested: { a: [1, 2] } } },
  { ...base, properties: [] },
  { ...base, properties: null },
  { ...base, properties: { big: 'x'.repeat(40_000) } },
  { ...base, traits: { a: 1 } },
  { ...base, event: ' view ' },
  { ...base, event: '' },
  { ...base, event: 'a\u0001b' },
  { ...base, event: 'x'.repeat(201) },
  { ...base, userId: ' u1' },
  { ...base, userId: null },
  { ...base, userId: 7 },
  { ...base, messageId: undefined },
  { ...base, messageId: '' },
  { ...base, type: 'page' },
  { ...base, type: 'track', event: undefined },
  { type: 'track', event: 'x', messageId: 'm' },
  { type: 'track', event: 'x', anonymousId: 'a', messageId: 'm' },
  { type: 'identify', anonymousId: 'a', messageId: 'm' },
  { type: 'identify', userId: 'u', anonymousId: 'a', traits: { plan: 'pro' }, messageId: 'm' },
  { type: 'alias', userId: 'u', messageId: 'm' },
  { type: 'alias', userId: 'u', previousId: 'p', messageId: 'm' },
  { ...base, extra: 'ignored' },
  'a string',
  null,
  [base],
  42,
];

describe('the ingestion hot-path validator', () => {
  it.each(samples.map((s, i) => [i, s]))('agrees with the zod schema on sample %i', (_i, sample) => {
    const fast = fastIncomingEvent(sample);
    const slow = incomingEventSchema.safeParse(sample);
    if (fast !== null) {
      expect(slow.success).toBe(true);
      expect(fast).toEqual(slow.data);
    }
  });

  it('takes the common well-formed events itself (they never fall back to zod)', () => {
    for (const i of [0, 1, 2, 3, 10, 14, 27, 29, 31, 32]) expect(fastIncomingEvent(samples[i]), `sample ${i}`).not.toBeNull();
  });
});

import type { StoredEvent } from './event-store.js';

/** The hand-computed fixture of query.test.ts (answers worked out in that file's comments). */
export const W = '11111111-1111-4111-8111-111111111111';
export const OTHER = '22222222-2222-4222-8222-222222222222';
/** Monday 2026-01-05 00:00 UTC. */
export const D0 = Date.parse('2026-01-05T00:00:00Z');
export const H = 3_600_000;
export const DAY = 86_400_000;
export const MIN = 60_000;

let n = 0;
const ev = (workspaceId: string, personId: string, event: string, ts: number, properties: Record<string, unknown> = {}): StoredEvent => ({
  workspaceId,
  event,
  personId,
  userId: personId.startsWith('anon:') ? '' : personId,
  anonymousId: personId.startsWith('anon:') ? personId.slice(5) : '',
  ts,
  messageId: `m${++n}`,
  properties,
  receivedAt: ts,
  batchId: 'fixture',
});

export const FIXTURE: StoredEvent[] = [
  ev(W, 'u1', 'signup', D0 + 1 * H),
  ev(W, 'u1', 'view', D0 + 2 * H, { plan: 'pro' }),
  ev(W, 'u1', 'purchase', D0 + 3 * H, { amount: 10, plan: 'pro' }),
  ev(W, 'u1', 'view', D0 + DAY + 1 * H),
  ev(W, 'u2', 'signup', D0 + DAY),
  ev(W, 'u2', 'view', D0 + DAY + 30 * MIN, { plan: 'free' }),
  ev(W, 'u2', 'view', D0 + 8 * DAY),
  ev(W, 'u3', 'signup', D0 + 2 * DAY),
  ev(W, 'u3', 'view', D0 + 2 * DAY + 1 * H, { plan: 'pro' }),
  ev(W, 'u3', 'purchase', D0 + 2 * DAY + 3 * H, { amount: 5.5 }),
  ev(W, 'u3', 'purchase', D0 + 9 * DAY, { amount: 4.5 }),
  ev(W, 'u4', 'signup', D0 + 8 * DAY),
  ev(W, 'u4', 'view', D0 + 8 * DAY + 10 * MIN),
  ev(W, 'u4', 'purchase', D0 + 8 * DAY + 20 * MIN, { amount: 20 }),
  ev(W, 'anon:a1', 'view', D0 + 3 * DAY, { plan: 'free' }),
  // Another workspace's events: no query of W may see them.
  ev(OTHER, 'u1', 'view', D0 + 2 * H, { plan: 'pro' }),
  ev(OTHER, 'u1', 'view', D0 + 2 * H + 1, { plan: 'pro' }),
  ev(OTHER, 'u9', 'signup', D0 + 1 * H),
  ev(OTHER, 'u9', 'purchase', D0 + 1 * H, { amount: 1000 }),
];

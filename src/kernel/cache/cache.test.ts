import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.js';
import { MemoryCache, RedisCache, type AttemptPolicy, type Cache } from './index.js';

const REDIS_URL = process.env.V01T_TEST_REDIS === '1' ? (process.env.V01T_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379') : undefined;

const adapters: [string, (clock: ManualClock) => Cache][] = [['memory', (clock) => new MemoryCache(clock)]];
const opened: Cache[] = [];
if (REDIS_URL) adapters.push(['redis', (clock) => new RedisCache(REDIS_URL, `v01t-test:${randomUUID()}:`, clock)]);
afterAll(async () => {
  await Promise.all(opened.map((c) => c.close()));
});

const ipLike: AttemptPolicy = { blockAfter: 11, windowSeconds: 900, blockSeconds: 60 };
const accountLike: AttemptPolicy = { blockAfter: 5, windowSeconds: 86_400, blockSeconds: 30, blockGrowth: 2, maxBlockSeconds: 900 };

describe.each(adapters)('attempt budgets on the %s cache', (_name, make) => {
  const setup = () => {
    const clock = new ManualClock('2026-03-01T10:00:00Z');
    const cache = make(clock);
    opened.push(cache);
    return { clock, cache, key: `t:${randomUUID()}` };
  };

  it('grants at most blockAfter of many parallel reservations; settled failures then block', async () => {
    const { cache, key } = setup();
    const results = await Promise.all(Array.from({ length: 40 }, () => cache.reserveAttempt(key, ipLike)));
    expect(results.filter((r) => r.granted)).toHaveLength(11);
    const refused = results.find((r) => !r.granted);
    expect(refused).toEqual({ granted: false, blocked: false, retryAfterSeconds: 1 });
    const settled = await Promise.all(Array.from({ length: 11 }, () => cache.settleAttempt(key, ipLike, 'failed')));
    expect(settled.map((s) => s.failures).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    // Exactly one failure starts the block (and is told so, for the one security event).
    expect(settled.filter((s) => s.blockedSeconds !== null)).toEqual([{ failures: 11, blockedSeconds: 60 }]);
    expect(await cache.reserveAttempt(key, ipLike)).toEqual({ granted: false, blocked: true, retryAfterSeconds: 60 });
  });

  it('successes give their slot back; a lapsed block leaves one attempt at a time', async () => {
    const { clock, cache, key } = setup();
    for (let i = 0; i < 10; i++) {
      expect((await cache.reserveAttempt(key, ipLike)).granted).toBe(true);
      await cache.settleAttempt(key, ipLike, 'failed');
    }
    // One failure short of the block: one slot, given back by a success or a release.
    expect((await cache.reserveAttempt(key, ipLike)).granted).toBe(true);
    expect((await cache.reserveAttempt(key, ipLike)).granted).toBe(false);
    expect(await cache.settleAttempt(key, ipLike, 'succeeded')).toEqual({ failures: 10, blockedSeconds: null });
    expect((await cache.reserveAttempt(key, ipLike)).granted).toBe(true);
    await cache.settleAttempt(key, ipLike, 'released');
    expect((await cache.reserveAttempt(key, ipLike)).granted).toBe(true);
    expect((await cache.settleAttempt(key, ipLike, 'failed')).blockedSeconds).toBe(60);
    clock.advance(60_001);
    const after = await Promise.all(Array.from({ length: 5 }, () => cache.reserveAttempt(key, ipLike)));
    expect(after.filter((r) => r.granted)).toHaveLength(1);
    expect((await cache.settleAttempt(key, ipLike, 'failed')).blockedSeconds).toBe(60);
    // The window ends by the injected clock: a fresh budget.
    clock.advance(900_000);
    const fresh = await Promise.all(Array.from({ length: 20 }, () => cache.reserveAttempt(key, ipLike)));
    expect(fresh.filter((r) => r.granted)).toHaveLength(11);
  });

  it('grows the block per failure up to its cap, and a reset forgets failures and block', async () => {
    const { clock, cache, key } = setup();
    const blocks: (number | null)[] = [];
    for (let i = 0; i < 11; i++) {
      const r = await cache.reserveAttempt(key, accountLike);
      expect(r.granted, `attempt ${i + 1}`).toBe(true);
      const s = await cache.settleAttempt(key, accountLike, 'failed');
      blocks.push(s.blockedSeconds);
      if (s.blockedSeconds) clock.advance(s.blockedSeconds * 1000 + 1);
    }
    expect(blocks).toEqual([null, null, null, null, 30, 60, 120, 240, 480, 900, 900]);
    expect((await cache.reserveAttempt(key, accountLike)).granted).toBe(true);
    await cache.settleAttempt(key, accountLike, 'reset');
    const again = await Promise.all(Array.from({ length: 8 }, () => cache.reserveAttempt(key, accountLike)));
    expect(again.filter((r) => r.granted)).toHaveLength(5);
  });
});

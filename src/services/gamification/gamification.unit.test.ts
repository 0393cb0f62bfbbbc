import { describe, expect, it } from 'vitest';
import { AppError } from '../../kernel/errors.js';
import { levelFor, levelProgress, xpForLevel } from './levels.js';
import { RuleSet, compileFilter, pointsWithBonus } from './rules.js';
import { ruleSchema, type Rule } from './schemas.js';
import { emptyStreak, streakAt, touchStreak, type StreakState } from './streaks.js';
import { dayString, isoWeekKey, isTimeZone, localDayNumber, periodEndDay, periodIndex, periodKey } from './time.js';

const rule = (over: Partial<Rule> = {}): Rule =>
  ruleSchema.parse({
    id: '00000000-0000-4000-8000-000000000001',
    name: 'r',
    event: 'workflow.run.succeeded.v1',
    persona: 'vAutomator',
    metric: 'Automation XP',
    points: 10,
    createdAt: 'x',
    updatedAt: 'x',
    ...over,
  });
const ev = (payload: unknown, name = 'workflow.run.succeeded.v1') => ({ name, payload, actorId: 'u', occurredAt: '2026-01-01T00:00:00Z' });

describe('calendar periods in a time zone', () => {
  it('puts an instant on the local calendar date of the user', () => {
    const at = new Date('2026-03-10T03:30:00Z'); // 23:30 the day before in New York (EDT, UTC−4)
    expect(dayString(localDayNumber(at, 'America/New_York'))).toBe('2026-03-09');
    expect(dayString(localDayNumber(at, 'UTC'))).toBe('2026-03-10');
    expect(dayString(localDayNumber(at, 'Asia/Tokyo'))).toBe('2026-03-10');
    expect(dayString(localDayNumber(new Date('2026-03-10T16:00:00Z'), 'Pacific/Kiritimati'))).toBe('2026-03-11');
  });

  it('counts the 23-hour and 25-hour DST days as one day each', () => {
    const tz = 'America/New_York';
    // 2026-03-08 has 23 hours there, 2026-11-01 has 25.
    const beforeSpring = localDayNumber(new Date('2026-03-08T04:59:00Z'), tz); // 23:59 EST on 03-07
    const springDay = localDayNumber(new Date('2026-03-08T05:00:00Z'), tz); // 00:00 EST on 03-08
    const afterSpring = localDayNumber(new Date('2026-03-09T04:00:00Z'), tz); // 00:00 EDT on 03-09
    expect([springDay - beforeSpring, afterSpring - springDay]).toEqual([1, 1]);
    const fallDay = localDayNumber(new Date('2026-11-01T04:00:00Z'), tz); // 00:00 EDT on 11-01
    const lateFall = localDayNumber(new Date('2026-11-02T04:59:00Z'), tz); // 23:59 EST on 11-01 (24h59m later)
    expect(lateFall).toBe(fallDay);
    expect(localDayNumber(new Date('2026-11-02T05:00:00Z'), tz)).toBe(fallDay + 1);
  });

  it('keys ISO weeks and months, and knows when a period ends', () => {
    const d = (s: string) => Math.floor(Date.parse(`${s}T00:00:00Z`) / 86_400_000);
    expect(isoWeekKey(d('2026-11-26'))).toBe('2026-W48');
    expect(isoWeekKey(d('2027-01-01'))).toBe('2026-W53');
    expect(isoWeekKey(d('2024-12-30'))).toBe('2025-W01');
    expect(periodKey('month', d('2026-11-26'))).toBe('month:2026-11');
    expect(periodKey('all', d('2026-11-26'))).toBe('all');
    expect(dayString(periodEndDay('week:2026-W48')!)).toBe('2026-11-30');
    expect(dayString(periodEndDay('week:2025-W01')!)).toBe('2025-01-06');
    expect(dayString(periodEndDay('month:2026-12')!)).toBe('2027-01-01');
    expect(periodIndex(d('2026-11-29'), 'weekly')).toBe(periodIndex(d('2026-11-23'), 'weekly'));
    expect(periodIndex(d('2026-11-30'), 'weekly')).toBe(periodIndex(d('2026-11-23'), 'weekly') + 1);
  });

  it('accepts IANA zones only', () => {
    expect(isTimeZone('Europe/Berlin')).toBe(true);
    expect(isTimeZone('Mars/Olympus')).toBe(false);
    expect(isTimeZone('')).toBe(false);
  });
});

describe('streaks and freezes', () => {
  const policy = { earnEvery: 3, maxHeld: 1 };
  const run = (periods: number[], p = policy) => periods.reduce<StreakState>((s, d) => touchStreak(s, d, p).state, emptyStreak());

  it('extends on consecutive periods, ignores repeats, restarts after a gap without freezes', () => {
    expect(run([10, 11]).current).toBe(2);
    expect(run([10, 10, 10]).current).toBe(1);
    const broken = run([10, 11, 13], { earnEvery: 0, maxHeld: 0 });
    expect(broken).toMatchObject({ current: 1, longest: 2 });
  });

  it('earns a freeze every N periods (up to the cap) and spends it automatically on a missed period', () => {
    const s = run([1, 2, 3]);
    expect(s).toMatchObject({ current: 3, freezes: 1 });
    const after = touchStreak(s, 5, policy); // period 4 missed
    expect(after.frozeSpent).toBe(1);
    expect(after.state).toMatchObject({ current: 4, freezes: 0, freezesUsed: 1 });
    // Two missed periods with one freeze: not enough, the streak restarts.
    expect(touchStreak(s, 6, policy).state).toMatchObject({ current: 1, freezes: 1 });
    expect(run([1, 2, 3, 4, 5, 6]).freezes).toBe(1); // capped at maxHeld
  });

  it('reads a streak as alive through the current period and through gaps covered by freezes', () => {
    const s = run([1, 2, 3]);
    expect(streakAt(s, 4)).toMatchObject({ current: 3, alive: true, freezes: 1 });
    expect(streakAt(s, 5)).toMatchObject({ current: 3, alive: true, freezes: 0, freezesUsed: 1 });
    expect(streakAt(s, 6)).toMatchObject({ current: 0, alive: false });
  });
});

describe('levels', () => {
  const curve = { base: 100, exponent: 1.5, maxLevel: 5 };
  it('follows the configured curve and stops at the top level', () => {
    expect([1, 2, 3, 4, 5].map((l) => xpForLevel(curve, l))).toEqual([0, 100, 283, 520, 800]);
    expect(levelFor(curve, 99)).toBe(1);
    expect(levelFor(curve, 100)).toBe(2);
    expect(levelFor(curve, 10_000)).toBe(5);
    expect(levelProgress(curve, 191)).toMatchObject({ level: 2, levelXp: 100, nextLevelXp: 283, progress: 0.497 });
    expect(levelProgress(curve, 900)).toMatchObject({ level: 5, nextLevelXp: null, progress: 1 });
  });
});

describe('rule evaluation', () => {
  it('matches by event name and JSONata filter', async () => {
    const set = new RuleSet([
      rule({ id: '00000000-0000-4000-8000-000000000001', filter: 'payload.durationMs < 1000' }),
      rule({ id: '00000000-0000-4000-8000-000000000002', filter: null }),
      rule({ id: '00000000-0000-4000-8000-000000000003', event: 'content.post.published.v1', filter: '$contains(payload.channel, "linked")' }),
      rule({ id: '00000000-0000-4000-8000-000000000004', enabled: false }),
    ]);
    expect((await set.match(ev({ durationMs: 500 }))).map((r) => r.id.slice(-1))).toEqual(['1', '2']);
    expect((await set.match(ev({ durationMs: 5000 }))).map((r) => r.id.slice(-1))).toEqual(['2']);
    expect((await set.match(ev({ channel: 'linkedin' }, 'content.post.published.v1'))).length).toBe(1);
    expect((await set.match(ev({ channel: 'x' }, 'content.post.published.v1'))).length).toBe(0);
    // A filter that errors on an odd payload does not match (and does not throw).
    expect(await compileFilter('payload.a + 1 > 0')(ev({ a: 'text' }))).toBe(false);
    // Only `true` matches: a truthy string is not a match.
    expect(await compileFilter('payload.a')(ev({ a: 'yes' }))).toBe(false);
  });

  it('refuses syntax errors, lambdas, bindings and functions outside the allowed list', () => {
    for (const bad of ['payload.a = ', '($f := function($x){ $f($x) }; $f(1))', '$eval("1")', 'function($x){$x}(1)', '$sort(payload.items)']) {
      expect(() => compileFilter(bad), bad).toThrow(AppError);
    }
    expect(() => compileFilter('$exists(payload.a) and $lowercase(payload.b) = "x"')).not.toThrow();
  });

  it('applies the best streak bonus the user qualifies for', () => {
    const r = rule({ points: 10, multipliers: [{ activity: 'a', cadence: 'daily', minStreak: 3, factor: 1.5 }, { activity: 'a', cadence: 'daily', minStreak: 7, factor: 2 }] });
    expect(pointsWithBonus(r, () => 2).points).toBe(10);
    expect(pointsWithBonus(r, () => 3).points).toBe(15);
    expect(pointsWithBonus(r, () => 9).points).toBe(20);
  });
});

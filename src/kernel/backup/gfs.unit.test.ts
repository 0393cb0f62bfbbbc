import { describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.js';
import { gfsSelect, type Dated } from './gfs.js';

const DAY = 86_400_000;

describe('grandfather-father-son prune (7 daily, 4 weekly, 12 monthly)', () => {
  it('keeps exactly the GFS set after a simulated year of daily backups, each followed by the prune', () => {
    const clock = new ManualClock('2026-01-01T02:00:00Z');
    let stored: Dated[] = [];
    const prunedEver = new Set<string>();
    while (clock.now().getTime() <= Date.parse('2026-12-31T02:00:00Z')) {
      const at = clock.now().toISOString();
      stored.push({ id: at.slice(0, 10), createdAt: at });
      const { keep, prune } = gfsSelect(stored, { daily: 7, weekly: 4, monthly: 12 });
      for (const b of prune) prunedEver.add(b.id);
      stored = keep;
      clock.advance(DAY);
    }
    // 2026-12-31 is a Thursday: the last 7 days, the Sundays 27 (also daily), 20, 13 and 6 December,
    // and the first of each month January to December.
    const expected = [
      '2026-12-31', '2026-12-30', '2026-12-29', '2026-12-28', '2026-12-27', '2026-12-26', '2026-12-25',
      '2026-12-20', '2026-12-13', '2026-12-06',
      ...Array.from({ length: 12 }, (_, m) => `2026-${String(m + 1).padStart(2, '0')}-01`),
    ].sort();
    expect(stored.map((b) => b.id).sort()).toEqual(expected);
    // Nothing pruned ever comes back, and every day not kept was pruned once.
    expect(prunedEver.size + stored.length).toBe(365);
    for (const id of expected) expect(prunedEver.has(id)).toBe(false);
  });

  it('keeps the newest backup of a day, and a 13th month pushes out the oldest monthly', () => {
    const b = (createdAt: string, id = createdAt) => ({ id, createdAt });
    const same = gfsSelect([b('2026-03-10T02:00:00Z', 'a'), b('2026-03-10T14:00:00Z', 'b')], { daily: 7, weekly: 4, monthly: 12 });
    expect(same.keep.map((x) => x.id)).toEqual(['b']);
    expect(same.prune.map((x) => x.id)).toEqual(['a']);
    const months = Array.from({ length: 13 }, (_, i) => b(new Date(Date.UTC(2025, i, 1, 2)).toISOString()));
    const r = gfsSelect(months, { daily: 0, weekly: 0, monthly: 12 });
    expect(r.prune.map((x) => x.createdAt)).toEqual(['2025-01-01T02:00:00.000Z']);
    expect(r.reasons.get(months[12]!.id)).toEqual(['monthly']);
  });

  it('is configurable, and never prunes the only (newest) backup', () => {
    const r = gfsSelect([{ id: 'x', createdAt: '2026-05-05T02:00:00Z' }], { daily: 0, weekly: 0, monthly: 0 });
    expect(r.keep.map((x) => x.id)).toEqual(['x']);
    const days = Array.from({ length: 10 }, (_, i) => ({ id: `d${i}`, createdAt: new Date(Date.UTC(2026, 4, 4 + i, 2)).toISOString() }));
    expect(gfsSelect(days, { daily: 3, weekly: 0, monthly: 0 }).keep.map((x) => x.id)).toEqual(['d9', 'd8', 'd7']);
  });
});

import { describe, expect, it } from 'vitest';
import { calendarWeeks, howToEarn, progressText } from './text';

describe('gamification texts', () => {
  it('says how to earn each kind of badge', () => {
    expect(howToEarn({ kind: 'count', event: 'workflow.run.succeeded.v1', atLeast: 1 })).toBe('Have “workflow run succeeded” happen once.');
    expect(howToEarn({ kind: 'count', event: 'content.post.published.v1', atLeast: 1000 })).toBe('Have “content post published” happen 1,000 times.');
    expect(howToEarn({ kind: 'streak', activity: 'ship', cadence: 'weekly', atLeast: 4 })).toBe('Keep a weekly “ship” streak for 4 weeks in a row.');
    expect(howToEarn({ kind: 'points', metric: 'Insight Points', atLeast: 500, windowDays: 30 })).toBe('Score 500 points of Insight Points within 30 days.');
    expect(progressText({ kind: 'streak', activity: 'a', cadence: 'daily', atLeast: 7 }, 9)).toBe('7 of 7 days');
  });

  it('lays the calendar out in Monday-first weeks', () => {
    // 2026-11-18 is a Wednesday.
    const weeks = calendarWeeks('2026-11-18', '2026-11-29');
    expect(weeks).toHaveLength(2);
    expect(weeks[0]).toEqual([null, null, '2026-11-18', '2026-11-19', '2026-11-20', '2026-11-21', '2026-11-22']);
    expect(weeks[1]![6]).toBe('2026-11-29');
    const padded = calendarWeeks('2026-11-23', '2026-11-25');
    expect(padded[0]).toEqual(['2026-11-23', '2026-11-24', '2026-11-25', null, null, null, null]);
  });
});

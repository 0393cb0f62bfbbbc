import { describe, expect, it } from 'vitest';
import { buildRule } from './RruleBuilder';
import { charCount, wallTime } from './api';

describe('content helpers', () => {
  it('builds an RRULE without DTSTART and says it in words', () => {
    const none = buildRule({ freq: 'none', interval: 1, days: [], end: 'never', count: 5, until: '' });
    expect(none).toEqual({ rule: null, summary: 'Does not repeat' });
    const weekly = buildRule({ freq: 'weekly', interval: 2, days: ['MO', 'FR'], end: 'count', count: 6, until: '' });
    expect(weekly.rule).toBe('FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,FR;COUNT=6');
    expect(weekly.summary).toBe('every 2 weeks on Monday, Friday for 6 times');
    const until = buildRule({ freq: 'daily', interval: 1, days: [], end: 'until', count: 1, until: '2027-01-31' });
    expect(until.rule).toBe('FREQ=DAILY;INTERVAL=1;UNTIL=20270131T235959Z');
    expect(until.rule).not.toMatch(/DTSTART/);
  });

  it('counts code points as the API does and reads wall time in a zone', () => {
    expect(charCount('héllo 👋🏽')).toBe(8);
    const instant = new Date('2026-03-29T00:30:00Z');
    expect(wallTime(instant, 'Europe/Paris')).toBe('2026-03-29T01:30');
    expect(wallTime(new Date('2026-03-29T01:30:00Z'), 'Europe/Paris')).toBe('2026-03-29T03:30');
    expect(wallTime(instant, 'Pacific/Auckland')).toBe('2026-03-29T13:30');
  });
});

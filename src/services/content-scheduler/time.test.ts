import { describe, expect, it } from 'vitest';
import { instantOf, localDay, occurrences, parseRrule, resolveScheduledAt, slotInstants, wallTimeAt, formatWall } from './time.js';

const iso = (ms: number) => new Date(ms).toISOString();

describe('time zones and DST', () => {
  it('reads a local time in its zone (winter and summer offsets)', () => {
    expect(iso(resolveScheduledAt('2026-01-15T09:00', 'Europe/Berlin')!)).toBe('2026-01-15T08:00:00.000Z');
    expect(iso(resolveScheduledAt('2026-07-15T09:00', 'Europe/Berlin')!)).toBe('2026-07-15T07:00:00.000Z');
    expect(iso(resolveScheduledAt('2026-07-15T09:00', 'America/New_York')!)).toBe('2026-07-15T13:00:00.000Z');
    expect(iso(resolveScheduledAt('2026-07-15T09:00:00Z', 'America/New_York')!)).toBe('2026-07-15T09:00:00.000Z');
    expect(iso(resolveScheduledAt('2026-07-15T09:00:00+05:30', 'UTC')!)).toBe('2026-07-15T03:30:00.000Z');
  });

  it('moves a time skipped by spring-forward past the gap', () => {
    // Berlin skips 02:00-03:00 on 2026-03-29: 02:30 does not exist and becomes 03:30 CEST.
    const at = resolveScheduledAt('2026-03-29T02:30', 'Europe/Berlin')!;
    expect(iso(at)).toBe('2026-03-29T01:30:00.000Z');
    expect(formatWall(wallTimeAt(at, 'Europe/Berlin'))).toBe('2026-03-29T03:30:00');
    // New York skips 02:00-03:00 on 2026-03-08.
    expect(iso(resolveScheduledAt('2026-03-08T02:15', 'America/New_York')!)).toBe('2026-03-08T07:15:00.000Z');
  });

  it('takes the earlier of two instants for a time repeated by fall-back', () => {
    // Berlin repeats 02:00-03:00 on 2026-10-25: 02:30 CEST (00:30Z) comes before 02:30 CET (01:30Z).
    expect(iso(resolveScheduledAt('2026-10-25T02:30', 'Europe/Berlin')!)).toBe('2026-10-25T00:30:00.000Z');
    expect(iso(resolveScheduledAt('2026-11-01T01:30', 'America/New_York')!)).toBe('2026-11-01T05:30:00.000Z');
  });

  it('rejects malformed and impossible dates', () => {
    expect(resolveScheduledAt('2026-02-30T09:00', 'UTC')).toBeNull();
    expect(resolveScheduledAt('tomorrow', 'UTC')).toBeNull();
    expect(resolveScheduledAt('2026-01-01T25:00', 'UTC')).toBeNull();
  });

  it('names the local day of an instant', () => {
    expect(localDay(Date.parse('2026-07-15T23:30:00Z'), 'Europe/Berlin')).toBe('2026-07-16');
    expect(localDay(Date.parse('2026-07-15T23:30:00Z'), 'America/Los_Angeles')).toBe('2026-07-15');
    expect(instantOf({ year: 2026, month: 7, day: 16, hour: 0, minute: 0, second: 0 }, 'Asia/Kathmandu')).toBe(Date.parse('2026-07-15T18:15:00Z'));
  });
});

describe('RRULE expansion', () => {
  it('keeps a daily 09:00 at 09:00 local across the spring-forward change', () => {
    const start = { year: 2026, month: 3, day: 27, hour: 9, minute: 0, second: 0 };
    const got = occurrences('FREQ=DAILY;COUNT=4', start, 'Europe/Berlin', Date.parse('2026-03-01T00:00:00Z'), 10);
    expect(got.map(iso)).toEqual(['2026-03-27T08:00:00.000Z', '2026-03-28T08:00:00.000Z', '2026-03-29T07:00:00.000Z', '2026-03-30T07:00:00.000Z']);
  });

  it('expands weekly BYDAY rules and resumes after a given instant', () => {
    const start = { year: 2026, month: 6, day: 1, hour: 18, minute: 30, second: 0 }; // a Monday
    const all = occurrences('FREQ=WEEKLY;BYDAY=MO,WE,FR', start, 'America/New_York', Date.parse('2026-05-01T00:00:00Z'), 5);
    expect(all.map((ms) => formatWall(wallTimeAt(ms, 'America/New_York')))).toEqual([
      '2026-06-01T18:30:00',
      '2026-06-03T18:30:00',
      '2026-06-05T18:30:00',
      '2026-06-08T18:30:00',
      '2026-06-10T18:30:00',
    ]);
    const after = occurrences('FREQ=WEEKLY;BYDAY=MO,WE,FR', start, 'America/New_York', all[1]!, 1);
    expect(after).toEqual([all[2]]);
  });

  it('ends at COUNT and UNTIL and a daily rule through a fall-back day stays on the wall clock', () => {
    const start = { year: 2026, month: 10, day: 24, hour: 2, minute: 30, second: 0 };
    const got = occurrences('FREQ=DAILY;COUNT=3', start, 'Europe/Berlin', 0, 10);
    expect(got.map((ms) => formatWall(wallTimeAt(ms, 'Europe/Berlin')))).toEqual(['2026-10-24T02:30:00', '2026-10-25T02:30:00', '2026-10-26T02:30:00']);
    expect(got[2]! - got[1]!).toBe(25 * 3_600_000);
    expect(occurrences('FREQ=DAILY;UNTIL=20261025T235959Z', start, 'Europe/Berlin', 0, 10)).toHaveLength(2);
  });

  it('refuses rules that are invalid, carry their own DTSTART, or recur faster than hourly', () => {
    expect(parseRrule('FREQ=DAILY;INTERVAL=2')).not.toBeNull();
    expect(parseRrule('FREQ=MINUTELY')).toBeNull();
    expect(parseRrule('DTSTART:20260101T000000Z\nRRULE:FREQ=DAILY')).toBeNull();
    expect(parseRrule('NOPE')).toBeNull();
  });
});

describe('queue slots', () => {
  it('lists the next weekly slots in the channel zone, skipping past ones', () => {
    const slots = [
      { weekday: 1, time: '09:00' },
      { weekday: 3, time: '17:30' },
    ];
    // Wednesday 2026-06-03 12:00 in Tokyo.
    const now = Date.parse('2026-06-03T03:00:00Z');
    const got = slotInstants(slots, 'Asia/Tokyo', now, 2).slice(0, 3);
    expect(got.map((ms) => formatWall(wallTimeAt(ms, 'Asia/Tokyo')))).toEqual(['2026-06-03T17:30:00', '2026-06-08T09:00:00', '2026-06-10T17:30:00']);
  });

  it('places a slot inside a spring-forward gap after the gap', () => {
    const got = slotInstants([{ weekday: 7, time: '02:30' }], 'Europe/Berlin', Date.parse('2026-03-28T00:00:00Z'), 1);
    expect(iso(got[0]!)).toBe('2026-03-29T01:30:00.000Z');
  });
});

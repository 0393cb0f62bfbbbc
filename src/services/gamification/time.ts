import { DATE_PARTS, isTimeZone, zoneFormatter } from '../../kernel/time/zones.js';
/**
 * Calendar periods in an IANA time zone. Days are calendar dates, never "24 hours since", so a
 * 23- or 25-hour DST day is still one day and a streak survives the clock change.
 */
const formatter = (timeZone: string): Intl.DateTimeFormat => zoneFormatter(timeZone, DATE_PARTS, 'en-CA');

export { isTimeZone };

/** Days since 1970-01-01 of the calendar date `at` falls on in `timeZone`. */
export function localDayNumber(at: Date, timeZone: string): number {
  const f = formatter(timeZone);
  // en-CA formats the date as "2026-11-23": parsing that string is about half the cost of formatToParts.
  const ymd = /^(\d{4,})-(\d{2})-(\d{2})$/.exec(f.format(at));
  if (ymd) return Math.floor(Date.UTC(Number(ymd[1]), Number(ymd[2]) - 1, Number(ymd[3])) / 86_400_000);
  const parts = f.formatToParts(at);
  const get = (type: string) => Number(parts.find((p) => p.type === type)!.value);
  return Math.floor(Date.UTC(get('year'), get('month') - 1, get('day')) / 86_400_000);
}

export const dayString = (day: number): string => new Date(day * 86_400_000).toISOString().slice(0, 10);

/** Monday-based week number: 1970-01-01 was a Thursday, so its week began on day -3. */
export const weekNumber = (day: number): number => Math.floor((day + 3) / 7);

/** ISO-8601 week key of a day number ("2026-W48"). */
export function isoWeekKey(day: number): string {
  const thursday = weekNumber(day) * 7; // Monday is week × 7 − 3; its Thursday decides the ISO year
  const d = new Date(thursday * 86_400_000);
  const year = d.getUTCFullYear();
  const jan1 = Math.floor(Date.UTC(year, 0, 1) / 86_400_000);
  const week = Math.floor((thursday - jan1) / 7) + 1;
  return `${year}-W${String(week).padStart(2, '0')}`;
}

export const monthKey = (day: number): string => dayString(day).slice(0, 7);

export type Cadence = 'daily' | 'weekly';

/** The period index of a cadence for a day number (consecutive periods differ by 1). */
export const periodIndex = (day: number, cadence: Cadence): number => (cadence === 'daily' ? day : weekNumber(day));

export type LeaderboardPeriod = 'all' | 'week' | 'month';
export const LEADERBOARD_PERIODS: LeaderboardPeriod[] = ['all', 'week', 'month'];

/** The stored key of the period containing `day`: "all", "week:2026-W48", "month:2026-11". */
export function periodKey(period: LeaderboardPeriod, day: number): string {
  if (period === 'all') return 'all';
  return period === 'week' ? `week:${isoWeekKey(day)}` : `month:${monthKey(day)}`;
}

/** First day number after the period a key names (for archiving), or null for "all". */
export function periodEndDay(key: string): number | null {
  const week = /^week:(\d{4})-W(\d{2})$/.exec(key);
  if (week) {
    const year = Number(week[1]);
    const jan4 = Math.floor(Date.UTC(year, 0, 4) / 86_400_000);
    const firstMonday = weekNumber(jan4) * 7 - 3;
    return firstMonday + (Number(week[2]) - 1) * 7 + 7;
  }
  const month = /^month:(\d{4})-(\d{2})$/.exec(key);
  if (month) return Math.floor(Date.UTC(Number(month[1]), Number(month[2]), 1) / 86_400_000);
  return null;
}

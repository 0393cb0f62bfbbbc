import * as rruleNamespace from 'rrule';
import type { Options as RRuleOptions } from 'rrule';
import { isTimeZone, zoneFormatter } from '../../kernel/time/zones.js';

// rrule ships CommonJS (Node sees `default`) and an ESM build (Vite sees named exports).
type RRuleModule = typeof import('rrule');
const rruleModule: RRuleModule = (rruleNamespace as unknown as { default?: RRuleModule }).default?.RRule
  ? (rruleNamespace as unknown as { default: RRuleModule }).default
  : rruleNamespace;
const { RRule } = rruleModule;

/**
 * Wall-clock time in IANA time zones without a date library: Intl gives the offset of any
 * instant, and local → instant follows Temporal's "compatible" disambiguation (a time skipped by
 * a spring-forward gap moves forward by the gap; a time repeated by a fall-back takes the earlier
 * instant), which is what people expect of "09:00 every day".
 */
export interface WallTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

const WALL_PARTS: Intl.DateTimeFormatOptions = { hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' };
const formatter = (tz: string) => zoneFormatter(tz, WALL_PARTS);

export const isValidTimeZone = isTimeZone;

/** The wall time shown in `tz` at `instant`. */
export function wallTimeAt(instantMs: number, tz: string): WallTime {
  const parts = Object.fromEntries(formatter(tz).formatToParts(new Date(instantMs)).map((p) => [p.type, p.value]));
  return { year: Number(parts.year), month: Number(parts.month), day: Number(parts.day), hour: Number(parts.hour) % 24, minute: Number(parts.minute), second: Number(parts.second) };
}

const wallAsUtc = (w: WallTime) => Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);

/** Offset of `tz` from UTC at `instant`, in milliseconds (east positive). */
export function offsetMs(instantMs: number, tz: string): number {
  const floored = Math.floor(instantMs / 1000) * 1000;
  return wallAsUtc(wallTimeAt(floored, tz)) - floored;
}

/** The instant of wall time `w` in `tz` (compatible disambiguation, see above). */
export function instantOf(w: WallTime, tz: string): number {
  const asUtc = wallAsUtc(w);
  const before = offsetMs(asUtc - 86_400_000, tz);
  const after = offsetMs(asUtc + 86_400_000, tz);
  const candidates = [...new Set([before, after])].map((o) => asUtc - o).filter((i) => wallAsUtc(wallTimeAt(i, tz)) === asUtc);
  if (candidates.length) return Math.min(...candidates);
  // In a gap: read the wall time with the offset in force before the transition, which lands after it.
  return asUtc - before;
}

const LOCAL_PATTERN = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?$/;
const ZONED_PATTERN = /(Z|[+-]\d{2}:?\d{2})$/i;

export function parseWallTime(s: string): WallTime | null {
  const m = LOCAL_PATTERN.exec(s.trim());
  if (!m) return null;
  const w = { year: +m[1]!, month: +m[2]!, day: +m[3]!, hour: +m[4]!, minute: +m[5]!, second: m[6] ? +m[6] : 0 };
  const check = new Date(wallAsUtc(w));
  if (check.getUTCMonth() + 1 !== w.month || check.getUTCDate() !== w.day || w.hour > 23 || w.minute > 59 || w.second > 59) return null;
  return w;
}

/**
 * `scheduledAt` as people write it: a local date-time ("2026-03-29T02:30") read in `tz`, or an
 * absolute ISO instant with Z or an offset. Returns null when it is neither.
 */
export function resolveScheduledAt(scheduledAt: string, tz: string): number | null {
  const s = scheduledAt.trim();
  if (ZONED_PATTERN.test(s)) {
    const ms = Date.parse(s);
    return Number.isFinite(ms) ? ms : null;
  }
  const w = parseWallTime(s);
  return w ? instantOf(w, tz) : null;
}

export const formatWall = (w: WallTime) =>
  `${String(w.year).padStart(4, '0')}-${String(w.month).padStart(2, '0')}-${String(w.day).padStart(2, '0')}T${String(w.hour).padStart(2, '0')}:${String(w.minute).padStart(2, '0')}:${String(w.second).padStart(2, '0')}`;

export const localDay = (instantMs: number, tz: string) => formatWall(wallTimeAt(instantMs, tz)).slice(0, 10);

// --- recurrence ---------------------------------------------------------------------------

/** Options a user may put in an RRULE; DTSTART, UNTIL in local time and TZID come from the post. */
export function parseRrule(rule: string): RRuleOptions | null {
  const text = rule.trim().replace(/^RRULE:/i, '');
  if (!text || /DTSTART|TZID|\n/i.test(text) || text.length > 500) return null;
  try {
    const opts = RRule.parseString(text);
    if (opts.freq === undefined) return null;
    // Sub-hourly recurrence of social posts is spam, and unbounded expansion a denial of service.
    if (opts.freq === RRule.SECONDLY || opts.freq === RRule.MINUTELY) return null;
    return opts as RRuleOptions;
  } catch {
    return null;
  }
}

/**
 * Occurrences of `rule` anchored at local `start` in `tz`, after `afterMs` (exclusive), at most
 * `limit`, up to `untilMs`. The rule is expanded in floating wall time (rrule's UTC fields used
 * as local fields), then each occurrence is placed in the zone, so "every day at 09:00" stays at
 * 09:00 local across DST changes.
 */
export function occurrences(rule: string, start: WallTime, tz: string, afterMs: number, limit: number, untilMs = Number.POSITIVE_INFINITY): number[] {
  const opts = parseRrule(rule);
  if (!opts) throw new Error(`invalid RRULE "${rule}"`);
  const r = new RRule({ ...opts, dtstart: new Date(wallAsUtc(start)) });
  const out: number[] = [];
  // Start a day early in floating time: offsets are at most ±14 h, the exact filter is below.
  let cursor = new Date(wallAsUtc(wallTimeAt(afterMs, tz)) - 86_400_000);
  let inclusive = true;
  while (out.length < limit) {
    const next = r.after(cursor, inclusive);
    if (!next) break;
    inclusive = false;
    cursor = next;
    const instant = instantOf(wallTimeAt(next.getTime(), 'UTC'), tz);
    if (instant > untilMs) break;
    if (instant > afterMs && (out.length === 0 || instant > out[out.length - 1]!)) out.push(instant);
  }
  return out;
}


// --- queue slots --------------------------------------------------------------------------

/** A weekly slot: ISO weekday (1 = Monday … 7 = Sunday) and local time "HH:MM". */
export interface QueueSlot {
  weekday: number;
  time: string;
}

const isoWeekday = (w: WallTime) => ((new Date(Date.UTC(w.year, w.month - 1, w.day)).getUTCDay() + 6) % 7) + 1;

/**
 * The instants of the weekly `slots` in `tz` strictly after `afterMs`, in order, for up to
 * `weeks` weeks. Two slots mapping to the same instant (a fall-back hour) count once.
 */
export function slotInstants(slots: QueueSlot[], tz: string, afterMs: number, weeks: number): number[] {
  if (!slots.length) return [];
  const today = wallTimeAt(afterMs, tz);
  const out = new Set<number>();
  for (let d = 0; d < weeks * 7 + 1; d++) {
    const date = new Date(Date.UTC(today.year, today.month - 1, today.day + d));
    const day: WallTime = { year: date.getUTCFullYear(), month: date.getUTCMonth() + 1, day: date.getUTCDate(), hour: 0, minute: 0, second: 0 };
    const wd = isoWeekday(day);
    for (const s of slots) {
      if (s.weekday !== wd) continue;
      const [hh, mm] = s.time.split(':').map(Number) as [number, number];
      const at = instantOf({ ...day, hour: hh, minute: mm }, tz);
      if (at > afterMs) out.add(at);
    }
  }
  return [...out].sort((a, b) => a - b);
}

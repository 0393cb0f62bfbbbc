import { Cron } from 'croner';
import { DATE_PARTS, zoneFormatter } from '../../kernel/time/zones.js';
import type { HolidayCalendar } from './holidays.js';

/**
 * The runbook's severity levels (Incident Response → Severity Levels): definition, response time,
 * who is notified. Sev1 is the most severe.
 */
export const SEVERITIES = [1, 2, 3, 4] as const;
export type Severity = (typeof SEVERITIES)[number];

export const SEVERITY_INFO: Record<Severity, { name: string; definition: string; responseTime: string; escalation: string }> = {
  1: { name: 'Critical', definition: 'Complete service outage or major security breach', responseTime: '15 minutes', escalation: 'Immediate CEO notification' },
  2: { name: 'High', definition: 'Significant feature degradation affecting >50% users', responseTime: '30 minutes', escalation: 'VP Engineering notification' },
  3: { name: 'Medium', definition: 'Minor feature issues affecting <25% users', responseTime: '2 hours', escalation: 'Team lead notification' },
  4: { name: 'Low', definition: 'Cosmetic issues or minor bugs', responseTime: 'Next business day', escalation: 'Normal bug tracking process' },
};

const MINUTE = 60_000;
const FIXED_TARGET_MS: Partial<Record<Severity, number>> = { 1: 15 * MINUTE, 2: 30 * MINUTE, 3: 120 * MINUTE };
/** "Next business day" ends at this local hour (Monday to Friday) in the operations time zone. */
export const BUSINESS_DAY_END_HOUR = 17;

/** The calendar date (YYYY-MM-DD) `at` falls on in `timeZone`. */
export function localDate(at: Date, timeZone: string): string {
  const parts = Object.fromEntries(zoneFormatter(timeZone, DATE_PARTS).formatToParts(at).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day}`;
}

/** More business days than any calendar can skip in a row (about four years). */
const MAX_SKIPPED_DAYS = 1000;

/**
 * When an incident opened at `openedAt` must have been acknowledged. Sev1-3 are fixed durations;
 * Sev4's "next business day" is 17:00 (in `timeZone`) of the first Monday-to-Friday after the day
 * it opened that is no holiday of `holidays` (a local date of `timeZone`), so an alert on Friday
 * evening is due Monday 17:00, or Tuesday 17:00 when that Monday is a public holiday. Without a
 * calendar only weekends are skipped.
 */
export function respondBy(severity: Severity, openedAt: Date, timeZone: string, holidays?: HolidayCalendar): Date {
  const fixed = FIXED_TARGET_MS[severity];
  if (fixed !== undefined) return new Date(openedAt.getTime() + fixed);
  const midnight = new Cron('0 0 * * *', { timezone: timeZone });
  const businessDayEnd = new Cron(`0 ${BUSINESS_DAY_END_HOUR} * * 1-5`, { timezone: timeZone });
  let from = midnight.nextRun(openedAt)!;
  for (let i = 0; i < MAX_SKIPPED_DAYS; i++) {
    const target = businessDayEnd.nextRun(new Date(from.getTime() - 1))!;
    if (!holidays?.isHoliday(localDate(target, timeZone))) return target;
    from = midnight.nextRun(target)!;
  }
  throw new Error(`no business day within ${MAX_SKIPPED_DAYS} weekdays after ${openedAt.toISOString()}: check V01T_OPS_EXTRA_HOLIDAYS`);
}

/**
 * An alert's severity: an explicit `incident_severity` label (sev1..sev4, 1..4) wins; otherwise
 * the Prometheus `severity` label: critical → Sev1, error/high/major → Sev2, warning → Sev3,
 * info/low/none (and anything else) → Sev4. Returns null for an explicit label that is not a level.
 */
export function severityOfLabels(labels: Record<string, string>): Severity | null {
  const explicit = labels.incident_severity?.trim().toLowerCase();
  if (explicit !== undefined && explicit !== '') {
    const m = /^(?:sev)?([1-4])$/.exec(explicit);
    return m ? (Number(m[1]) as Severity) : null;
  }
  switch ((labels.severity ?? '').trim().toLowerCase()) {
    case 'critical':
    case 'page':
      return 1;
    case 'error':
    case 'high':
    case 'major':
      return 2;
    case 'warning':
    case 'medium':
      return 3;
    default:
      return 4;
  }
}

/** PagerDuty's payload.severity for a level. */
export function pagerdutySeverity(s: Severity): 'critical' | 'error' | 'warning' | 'info' {
  return s === 1 ? 'critical' : s === 2 ? 'error' : s === 3 ? 'warning' : 'info';
}

export const sevLabel = (s: Severity) => `Sev${s}`;

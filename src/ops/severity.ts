import { Cron } from 'croner';

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

/**
 * When an incident opened at `openedAt` must have been acknowledged. Sev1-3 are fixed durations;
 * Sev4's "next business day" is 17:00 (in `timeZone`) of the first Monday-to-Friday after the day
 * it opened, so an alert on Friday evening is due Monday 17:00. Public holidays are not known.
 */
export function respondBy(severity: Severity, openedAt: Date, timeZone: string): Date {
  const fixed = FIXED_TARGET_MS[severity];
  if (fixed !== undefined) return new Date(openedAt.getTime() + fixed);
  const nextMidnight = new Cron('0 0 * * *', { timezone: timeZone }).nextRun(openedAt)!;
  return new Cron(`0 ${BUSINESS_DAY_END_HOUR} * * 1-5`, { timezone: timeZone }).nextRun(new Date(nextMidnight.getTime() - 1))!;
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

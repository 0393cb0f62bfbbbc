import type { IncidentDetail } from './incidents.service.js';
import { formatDuration, ROLE_NAMES } from './incidents.service.js';
import { SEVERITY_INFO } from './severity.js';
import type { IncidentRole } from './incidents.repository.js';

const utc = (d: Date) => `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
/** Keeps operator text from breaking the document's structure (headings, lists, tables). */
const inline = (s: string) => s.replace(/\r?\n+/g, ' ').replace(/\|/g, '\\|').trim();

/**
 * The runbook's post-mortem template (Incident Response → Step 5), pre-filled with what the
 * incident record knows: times, duration, severity, detection time, the response team, the alerts
 * and the timeline. Root cause and action items stay for the team to write.
 */
export function postMortemMarkdown(i: IncidentDetail, names: Map<string, string>, now: Date): string {
  const who = (id: string | null) => (id ? (names.get(id) ?? '(unknown or erased user)') : null);
  const end = i.resolvedAt;
  const duration = formatDuration((end ?? now).getTime() - i.openedAt.getTime());
  const info = SEVERITY_INFO[i.severityLevel];
  const impact = [
    i.components.length ? `components ${i.components.join(', ')}` : null,
    i.publicUpdates.length ? `${i.publicUpdates.length} status page update(s)${i.publicTitle ? ` as "${inline(i.publicTitle)}"` : ''}` : 'no status page update',
  ]
    .filter(Boolean)
    .join('; ');
  const detection = i.firstAlertAt
    ? `${formatDuration(i.openedAt.getTime() - i.firstAlertAt.getTime())} (first alert started ${utc(i.firstAlertAt)}, incident opened ${utc(i.openedAt)})`
    : `incident opened ${utc(i.openedAt)} (${i.source})`;
  const ack = i.acknowledgedAt
    ? `acknowledged after ${formatDuration(i.acknowledgedAt.getTime() - i.openedAt.getTime())}${who(i.acknowledgedBy) ? ` by ${who(i.acknowledgedBy)}` : ''}${i.acknowledgedAt > i.respondBy ? ' (target missed)' : ' (within target)'}`
    : i.status === 'resolved'
      ? 'never acknowledged'
      : 'not acknowledged yet';
  const lines: string[] = [
    `# Post-Mortem: Incident ${i.number}: ${inline(i.title)}`,
    '',
    `_Pre-filled by v01t on ${utc(now)} from the incident record; complete the sections left blank._`,
    '',
    '## Incident Summary',
    '',
    `-   Start Time: ${utc(i.openedAt)}`,
    `-   End Time: ${end ? utc(end) : 'ongoing'}`,
    `-   Duration: ${duration}${end ? '' : ' so far'}`,
    `-   Severity: ${i.severity} (${info.name}: ${info.definition})`,
    `-   Impact: ${impact}`,
    '',
    '## Root Cause Analysis',
    '',
    '-   Immediate cause:',
    '-   Contributing factors:',
    `-   Detection time: ${detection}`,
    '',
    '## Action Items',
    '',
    '-   [ ] Immediate fixes (Owner: X, Due: Y)',
    '-   [ ] Process improvements (Owner: X, Due: Y)',
    '-   [ ] Monitoring enhancements (Owner: X, Due: Y)',
    '',
    '## Response',
    '',
    `-   Response target: ${info.responseTime} (respond by ${utc(i.respondBy)}); ${ack}`,
    `-   Escalation: ${i.escalatedAt ? `escalated ${utc(i.escalatedAt)}` : 'not escalated'}`,
    ...(Object.keys(ROLE_NAMES) as IncidentRole[]).map((r) => `-   ${ROLE_NAMES[r]}: ${who(i.roles[r]) ?? '(not assigned)'}`),
    ...(i.resolution ? [`-   Resolution: ${inline(i.resolution)}`] : []),
    '',
  ];
  if (i.alerts.length) {
    lines.push('## Alerts', '', '| alert | status | started | ended | summary |', '|---|---|---|---|---|');
    for (const a of i.alerts) {
      lines.push(
        `| ${inline(a.alertname ?? a.fingerprint)} | ${a.status} | ${a.startsAt ? utc(a.startsAt) : ''} | ${a.endsAt ? utc(a.endsAt) : ''} | ${inline(a.annotations.summary ?? '')} |`,
      );
    }
    lines.push('');
  }
  lines.push('## Timeline', '');
  for (const t of i.timeline) {
    const actor = who(t.actorId);
    lines.push(`-   ${utc(t.at)} · ${t.kind}${actor ? ` · ${actor}` : ''}: ${inline(t.text)}`);
  }
  lines.push('');
  return lines.join('\n');
}

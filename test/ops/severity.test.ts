import { describe, expect, it } from 'vitest';
import { respondBy, severityOfLabels } from '../../src/ops/severity.js';

describe('runbook severities', () => {
  it('maps labels: an explicit incident_severity wins, else the Prometheus severity', () => {
    expect(severityOfLabels({ severity: 'critical' })).toBe(1);
    expect(severityOfLabels({ severity: 'error' })).toBe(2);
    expect(severityOfLabels({ severity: 'warning' })).toBe(3);
    expect(severityOfLabels({ severity: 'info' })).toBe(4);
    expect(severityOfLabels({})).toBe(4);
    expect(severityOfLabels({ severity: 'critical', incident_severity: 'sev3' })).toBe(3);
    expect(severityOfLabels({ severity: 'info', incident_severity: '2' })).toBe(2);
    expect(severityOfLabels({ incident_severity: 'SEV1' })).toBe(1);
    expect(severityOfLabels({ incident_severity: 'sev5' })).toBeNull();
    expect(severityOfLabels({ incident_severity: 'high' })).toBeNull();
  });

  it('response targets: 15 min, 30 min, 2 h, and 17:00 of the next business day in the ops time zone', () => {
    const at = new Date('2026-03-04T10:20:00Z'); // a Wednesday
    expect(respondBy(1, at, 'UTC').toISOString()).toBe('2026-03-04T10:35:00.000Z');
    expect(respondBy(2, at, 'UTC').toISOString()).toBe('2026-03-04T10:50:00.000Z');
    expect(respondBy(3, at, 'UTC').toISOString()).toBe('2026-03-04T12:20:00.000Z');
    expect(respondBy(4, at, 'UTC').toISOString()).toBe('2026-03-05T17:00:00.000Z');
    // Friday evening and Saturday wait for Monday.
    expect(respondBy(4, new Date('2026-03-06T22:00:00Z'), 'UTC').toISOString()).toBe('2026-03-09T17:00:00.000Z');
    expect(respondBy(4, new Date('2026-03-07T09:00:00Z'), 'UTC').toISOString()).toBe('2026-03-09T17:00:00.000Z');
    // Local days: 23:30 UTC on Monday is already Tuesday in Berlin, so Wednesday 17:00 Berlin (16:00 UTC).
    expect(respondBy(4, new Date('2026-03-02T23:30:00Z'), 'Europe/Berlin').toISOString()).toBe('2026-03-04T16:00:00.000Z');
    // Across the spring DST change in New York (8 March 2026): 17:00 EDT is 21:00 UTC.
    expect(respondBy(4, new Date('2026-03-06T15:00:00Z'), 'America/New_York').toISOString()).toBe('2026-03-09T21:00:00.000Z');
  });
});

import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/kernel/config/index.js';
import { loadPlatformConfig } from '../../src/apps/config.js';
import { ManualClock } from '../../src/kernel/clock.js';
import { holidayCalendar } from '../../src/services/ops/holidays.js';
import { respondBy, severityOfLabels } from '../../src/services/ops/severity.js';
import { createTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { bearer } from '../helpers/api.js';
import { OPS_CONFIG } from '../../src/services/ops/config.js';

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

describe('public holidays in "next business day" (V01T_OPS_HOLIDAYS, V01T_OPS_EXTRA_HOLIDAYS)', () => {
  const sev4 = (at: string, tz: string, cal = holidayCalendar({ country: 'DE' })) => respondBy(4, new Date(at), tz, cal).toISOString();

  it('Christmas in Germany: an incident on 24 December waits for the 28th (25th, 26th holidays, 27th a Sunday)', () => {
    // 2026-12-24 is a Thursday; without a calendar the target is Friday the 25th.
    expect(respondBy(4, new Date('2026-12-24T10:00:00Z'), 'Europe/Berlin').toISOString()).toBe('2026-12-25T16:00:00.000Z');
    expect(sev4('2026-12-24T10:00:00Z', 'Europe/Berlin')).toBe('2026-12-28T16:00:00.000Z');
    // Christmas Eve itself is a bank holiday ("bank", from 14:00), not a public one: a business day.
    expect(sev4('2026-12-23T10:00:00Z', 'Europe/Berlin')).toBe('2026-12-24T16:00:00.000Z');
    // An incident opened on a holiday gets the next business day that is none.
    expect(sev4('2026-12-25T09:00:00Z', 'Europe/Berlin')).toBe('2026-12-28T16:00:00.000Z');
    // Sev1-3 keep their fixed durations on holidays.
    expect(respondBy(3, new Date('2026-12-25T09:00:00Z'), 'Europe/Berlin', holidayCalendar({ country: 'DE' })).toISOString()).toBe('2026-12-25T11:00:00.000Z');
  });

  it('a Friday before a Monday holiday waits for Tuesday (Easter Monday 2026-04-06; Good Friday too)', () => {
    expect(sev4('2026-04-02T12:00:00Z', 'Europe/Berlin')).toBe('2026-04-07T15:00:00.000Z'); // Thursday → (Fri, Mon holidays) Tuesday 17:00 CEST
    expect(sev4('2026-04-03T12:00:00Z', 'Europe/Berlin')).toBe('2026-04-07T15:00:00.000Z');
    // Memorial Day (25 May 2026) in the United States, in New York.
    expect(sev4('2026-05-22T15:00:00Z', 'America/New_York', holidayCalendar({ country: 'US' }))).toBe('2026-05-26T21:00:00.000Z');
    // Observances and optional days are business days: Christmas Eve in the US is "optional".
    expect(sev4('2026-12-23T15:00:00Z', 'America/New_York', holidayCalendar({ country: 'US' }))).toBe('2026-12-24T22:00:00.000Z');
  });

  it('a regional holiday applies only with its region: Epiphany (6 January) in Bavaria, not in Germany as a whole', () => {
    const at = '2026-01-05T10:00:00Z'; // a Monday
    expect(sev4(at, 'Europe/Berlin')).toBe('2026-01-06T16:00:00.000Z');
    expect(sev4(at, 'Europe/Berlin', holidayCalendar({ country: 'DE', state: 'BY' }))).toBe('2026-01-07T16:00:00.000Z');
    expect(sev4(at, 'Europe/Berlin', holidayCalendar({ country: 'DE', state: 'BE' }))).toBe('2026-01-06T16:00:00.000Z');
  });

  it('extra dates are skipped too, alone or beside a country', () => {
    const extra = holidayCalendar(undefined, ['2026-12-31'])!;
    expect(extra.isHoliday('2026-12-31')).toBe(true);
    expect(extra.isHoliday('2027-01-01')).toBe(false); // no country: New Year is not known
    // Wednesday 30th → (31st extra, 1st New Year) → Monday 4 January.
    expect(sev4('2026-12-30T10:00:00Z', 'Europe/Berlin', holidayCalendar({ country: 'DE' }, ['2026-12-31']))).toBe('2027-01-04T16:00:00.000Z');
    expect(sev4('2026-12-30T10:00:00Z', 'Europe/Berlin', extra)).toBe('2027-01-01T16:00:00.000Z');
    expect(holidayCalendar(undefined, [])).toBeUndefined();
  });

  it('days are local to V01T_OPS_TIMEZONE: 23:30 the day before a holiday is already the holiday in a zone ahead', () => {
    // Friday 2026-05-22 23:30 in Berlin (21:30 UTC): Monday 25th is Whit Monday, so Tuesday 26th.
    expect(sev4('2026-05-22T21:30:00Z', 'Europe/Berlin')).toBe('2026-05-26T15:00:00.000Z');
    // Wednesday 2026-05-13 23:30 in Berlin (21:30 UTC): the next day is Ascension (14 May), so Friday 15th.
    expect(sev4('2026-05-13T21:30:00Z', 'Europe/Berlin')).toBe('2026-05-15T15:00:00.000Z');
    // The same instant is Wednesday afternoon in New York: its next day, Thursday 14th, is a holiday of the (German) calendar.
    expect(sev4('2026-05-13T21:30:00Z', 'America/New_York')).toBe('2026-05-15T21:00:00.000Z');
    // 23:30 UTC on Wednesday 13th is already Thursday (Ascension) in Berlin: the target is Friday 15th.
    expect(sev4('2026-05-13T23:30:00Z', 'Europe/Berlin')).toBe('2026-05-15T15:00:00.000Z');
    // ... while in UTC it is still Wednesday, and Thursday 14th is skipped as the holiday.
    expect(sev4('2026-05-13T23:30:00Z', 'UTC')).toBe('2026-05-15T17:00:00.000Z');
    // 17:00 in Los Angeles is 01:00 UTC of the next day: the holiday check uses the local date of the target.
    const us = holidayCalendar({ country: 'US' });
    expect(sev4('2026-12-23T20:00:00Z', 'America/Los_Angeles', us)).toBe('2026-12-25T01:00:00.000Z'); // Thursday 24th 17:00 PST
    expect(sev4('2026-11-25T20:00:00Z', 'America/Los_Angeles', us)).toBe('2026-11-28T01:00:00.000Z'); // Thanksgiving → Friday 27th 17:00 PST
  });

  it('multi-day holidays span their days (Eid al-Fitr, three days in the United Arab Emirates)', () => {
    const ae = holidayCalendar({ country: 'AE' })!;
    const eid = ['2026-03-19', '2026-03-20', '2026-03-21', '2026-03-22', '2026-03-23'].filter((d) => ae.isHoliday(d));
    expect(eid.length).toBe(3);
    expect(ae.isHoliday('2026-03-18')).toBe(false);
  });
});

describe('V01T_OPS_HOLIDAYS and V01T_OPS_EXTRA_HOLIDAYS configuration', () => {
  const problems = (env: Record<string, string>) => {
    try {
      loadPlatformConfig(env);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as ConfigError).problems.join('\n');
    }
    return null;
  };

  it('unset means weekends only; a country, state and region are parsed case-insensitively', () => {
    expect(OPS_CONFIG.read(loadPlatformConfig({}))).toMatchObject({ holidays: undefined, extraHolidays: [] });
    expect(OPS_CONFIG.read(loadPlatformConfig({ V01T_OPS_HOLIDAYS: 'de-by' })).holidays).toEqual({ country: 'DE', state: 'BY' });
    expect(OPS_CONFIG.read(loadPlatformConfig({ V01T_OPS_HOLIDAYS: 'US-LA-NO' })).holidays).toEqual({ country: 'US', state: 'LA', region: 'NO' });
    expect(OPS_CONFIG.read(loadPlatformConfig({ V01T_OPS_EXTRA_HOLIDAYS: '2026-12-31, 2026-12-24,2026-12-31' })).extraHolidays).toEqual(['2026-12-24', '2026-12-31']);
  });

  it('rejects an unknown country, state or region and a bad date with a pointed error', () => {
    expect(problems({ V01T_OPS_HOLIDAYS: 'XX' })).toMatch(/^V01T_OPS_HOLIDAYS: unknown country code "XX"/);
    expect(problems({ V01T_OPS_HOLIDAYS: 'DE-ZZ' })).toMatch(/^V01T_OPS_HOLIDAYS: unknown state "ZZ" of DE \(known: .*BY/);
    expect(problems({ V01T_OPS_HOLIDAYS: 'US-LA-XX' })).toMatch(/^V01T_OPS_HOLIDAYS: unknown region "XX" of US-LA/);
    expect(problems({ V01T_OPS_HOLIDAYS: 'Germany' })).toMatch(/^V01T_OPS_HOLIDAYS: expected COUNTRY\[-STATE\[-REGION\]\]/);
    expect(problems({ V01T_OPS_EXTRA_HOLIDAYS: '2026-12-24,2026-02-30' })).toMatch(/^V01T_OPS_EXTRA_HOLIDAYS: "2026-02-30" is not a calendar date YYYY-MM-DD/);
    expect(problems({ V01T_OPS_EXTRA_HOLIDAYS: '24.12.2026' })).toMatch(/^V01T_OPS_EXTRA_HOLIDAYS: "24.12.2026" is not a calendar date/);
  });
});

describe('the incident JSON shows the holiday-aware target', () => {
  const AM_TOKEN = randomBytes(24).toString('hex');
  let t: TestPlatform;
  let adminToken: string;

  beforeAll(async () => {
    const clock = new ManualClock('2026-12-23T21:30:00Z'); // Wednesday 22:30 in Berlin
    t = await createTestPlatform({ V01T_ALERTMANAGER_TOKEN: AM_TOKEN, V01T_OPS_TIMEZONE: 'Europe/Berlin', V01T_OPS_HOLIDAYS: 'DE', V01T_OPS_EXTRA_HOLIDAYS: '2026-12-24' }, { clock });
    await t.platform.orchestrator!.services.auth.createUser({ email: 'holiday-admin@example.test', password: 'admin password 123', name: 'Hal Admin', platformAdmin: true }, null);
    const login = await t.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: 'holiday-admin@example.test', password: 'admin password 123' } });
    expect(login.statusCode, login.body).toBe(200);
    adminToken = login.json().token;
  });
  afterAll(() => t?.close());

  it('a Sev4 alert the evening before Christmas Eve (an extra date) is due Monday 28 December 17:00 Berlin', async () => {
    const opened = await t.inject({
      method: 'POST',
      url: '/v1/ops/alertmanager',
      headers: bearer(AM_TOKEN),
      payload: {
        version: '4',
        groupKey: '{}:{alertname="TypoOnPricingPage"}',
        truncatedAlerts: 0,
        status: 'firing',
        receiver: 'v01t-incidents',
        groupLabels: { alertname: 'TypoOnPricingPage' },
        commonLabels: { alertname: 'TypoOnPricingPage' },
        commonAnnotations: {},
        externalURL: 'http://alertmanager.example:9093',
        alerts: [{ status: 'firing', labels: { alertname: 'TypoOnPricingPage', severity: 'info' }, annotations: {}, startsAt: '2026-12-23T21:25:00Z', endsAt: '0001-01-01T00:00:00Z', generatorURL: '', fingerprint: 'h1' }],
      },
    });
    expect(opened.statusCode, opened.body).toBe(200);
    const got = await t.inject({ method: 'GET', url: `/v1/ops/incidents/${opened.json().incidentId}`, headers: bearer(adminToken) });
    expect(got.statusCode, got.body).toBe(200);
    expect(got.json().incident).toMatchObject({ severity: 'Sev4', responseTarget: 'Next business day', respondBy: '2026-12-28T16:00:00.000Z' });
  });
});

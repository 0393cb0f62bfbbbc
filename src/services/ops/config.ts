import { createRequire } from 'node:module';
import type Holidays from 'date-holidays';
import { z } from 'zod';
import { defineConfig, positiveInt, setting } from '../../kernel/config/index.js';
import { isTimeZone } from '../../kernel/time/zones.js';

/** date-holidays, loaded only when V01T_OPS_HOLIDAYS is set (its data takes ~100 ms to load). */
let holidaysLib: typeof Holidays | undefined;
const loadHolidays = () => (holidaysLib ??= createRequire(import.meta.url)('date-holidays') as typeof Holidays);

/** V01T_OPS_HOLIDAYS: COUNTRY[-STATE[-REGION]] (ISO 3166-1/-2 style, e.g. DE, DE-BY, US-LA-NO) known to date-holidays. */
const opsHolidays = z.string().transform((v, ctx): { country: string; state?: string; region?: string } => {
  const [country = '', state, region, ...rest] = v.trim().toUpperCase().split('-');
  const fail = (message: string) => {
    ctx.addIssue({ code: 'custom', message });
    return z.NEVER;
  };
  if (rest.length > 0 || !/^[A-Z]{2}$/.test(country)) return fail('expected COUNTRY[-STATE[-REGION]], e.g. DE, DE-BY or US-LA-NO');
  const hd = new (loadHolidays())();
  if (!Object.hasOwn(hd.getCountries(), country)) return fail(`unknown country code "${country}" (date-holidays knows no holidays for it)`);
  if (state === undefined) return { country };
  const states = hd.getStates(country) ?? {};
  if (!Object.hasOwn(states, state)) return fail(`unknown state "${state}" of ${country} (known: ${Object.keys(states).join(', ') || 'none'})`);
  if (region === undefined) return { country, state };
  const regions = hd.getRegions(country, state) ?? {};
  if (!Object.hasOwn(regions, region)) return fail(`unknown region "${region}" of ${country}-${state} (known: ${Object.keys(regions).join(', ') || 'none'})`);
  return { country, state, region };
});

/** V01T_OPS_EXTRA_HOLIDAYS: comma-separated calendar dates (YYYY-MM-DD) that are no business day either. */
const opsExtraHolidays = z.string().transform((v, ctx): string[] => {
  const dates = v.split(/[,\s]+/).map((d) => d.trim()).filter(Boolean);
  for (const d of dates) {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(d);
    const real = m && new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!)).toISOString().slice(0, 10) === d;
    if (!real) {
      ctx.addIssue({ code: 'custom', message: `"${d}" is not a calendar date YYYY-MM-DD` });
      return z.NEVER;
    }
  }
  return [...new Set(dates)].sort();
});

/**
 * Operations: the Alertmanager webhook's and CI's bearer secrets, the workspace whose
 * integration-hub connections are the escalation targets, the escalation tick, the time zone and
 * the public holidays (a date-holidays country/state/region, extra YYYY-MM-DD dates) of "next
 * business day" (Sev4), the status page's title.
 */
export const OPS_CONFIG = defineConfig(
  'ops',
  {
    V01T_ALERTMANAGER_TOKEN: setting(z.string().min(32, 'must be at least 32 characters').optional(), {
      secret: true,
      description: 'bearer secret (≥ 32 chars) Alertmanager sends to `POST /v1/ops/alertmanager`; unset = the receiver answers 503',
    }),
    V01T_DEPLOY_TOKEN: setting(z.string().min(32, 'must be at least 32 characters').optional(), { secret: true, description: 'bearer secret (≥ 32 chars) CI uses for `POST /v1/ops/deployments`' }),
    V01T_OPS_WORKSPACE_ID: setting(z.uuid().optional(), {
      description: 'the workspace whose active `pagerduty`, `webhook` and `email` connections receive incident escalations; its owners, admins and developers are operators',
    }),
    V01T_OPS_TICK_SECONDS: setting(positiveInt.max(3600).default(30), { description: 'how often the escalation loop runs' }),
    V01T_OPS_TIMEZONE: setting(z.string().refine(isTimeZone, 'an IANA time zone, e.g. Europe/Berlin').default('UTC'), {
      type: 'IANA time zone',
      description: 'zone of "next business day" (Sev4: 17:00 on the next Monday–Friday that is no holiday)',
    }),
    V01T_OPS_HOLIDAYS: setting(opsHolidays.optional(), {
      type: 'COUNTRY[-STATE[-REGION]]',
      default: 'unset: weekends only',
      description:
        'public holidays skipped by "next business day": a date-holidays calendar, e.g. `DE`, `DE-BY`, `US-LA-NO` (type *public* only; bank holidays, optional days and observances are business days); an unknown code stops the start',
    }),
    V01T_OPS_EXTRA_HOLIDAYS: setting(opsExtraHolidays.optional(), { type: 'comma-separated YYYY-MM-DD', description: 'further days off for "next business day" (e.g. `2026-12-24,2026-12-31`)' }),
    V01T_STATUS_PAGE_TITLE: setting(z.string().min(1).max(100).default('v01t status'), { description: 'title of the public status page' }),
  },
  (e) => ({
    alertmanagerToken: e.V01T_ALERTMANAGER_TOKEN,
    deployToken: e.V01T_DEPLOY_TOKEN,
    workspaceId: e.V01T_OPS_WORKSPACE_ID,
    tickSeconds: e.V01T_OPS_TICK_SECONDS,
    timeZone: e.V01T_OPS_TIMEZONE,
    holidays: e.V01T_OPS_HOLIDAYS,
    extraHolidays: e.V01T_OPS_EXTRA_HOLIDAYS ?? [],
    statusPageTitle: e.V01T_STATUS_PAGE_TITLE,
  }),
);
export type OpsSettings = ReturnType<typeof OPS_CONFIG.read>;

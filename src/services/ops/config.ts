import { createRequire } from 'node:module';
import path from 'node:path';
import { Cron } from 'croner';
import type Holidays from 'date-holidays';
import { z } from 'zod';
import { defineConfig, envBool, positiveInt, setting } from '../../kernel/config/index.js';
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

/** A five-field cron expression croner accepts (evaluated in UTC). */
const cron = z.string().refine((v) => {
  try {
    new Cron(v, { timezone: 'UTC', paused: true }).stop();
    return v.trim().split(/\s+/).length === 5;
  } catch {
    return false;
  }
}, 'a five-field cron expression, e.g. 0 2 * * *');

/** BACKUP_TARGET: a folder, or s3://bucket/prefix/ (the S3_* connection settings apply). */
const backupTarget = z.string().min(1).transform((v, ctx) => {
  const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(v.trim());
  if (v.startsWith('s3://') && !m) {
    ctx.addIssue({ code: 'custom', message: 'expected s3://bucket/prefix/ or a folder' });
    return z.NEVER;
  }
  if (!m) return { kind: 'folder' as const, dir: path.resolve(v) };
  const prefix = m[2] ?? '';
  return { kind: 's3' as const, bucket: m[1]!, prefix: prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/` };
});

const keep = (n: number) => z.coerce.number().int().min(0).max(1000).default(n);

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
      description: 'the workspace whose active `pagerduty`, `webhook`, `email` and `slack` connections receive incident escalations; its owners, admins and developers are operators',
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
    INFRA_MONTHLY_COST_USD: setting(z.coerce.number().nonnegative().max(1e12).optional(), {
      default: 'unset: no cost gauge',
      description: "the infrastructure's monthly cost in USD, exported as `v01t_infrastructure_monthly_cost_usd` for the Executive dashboard's cost and cost per user (a Prometheus recording rule of the same name from a cost exporter serves as well)",
    }),
    V01T_STATUS_PAGE_TITLE: setting(z.string().min(1).max(100).default('v01t status'), { description: 'title of the public status page' }),
    BACKUP_TARGET: setting(backupTarget.optional(), {
      type: 'folder or s3://bucket/prefix/',
      default: 'V01T_DATA_DIR/backups',
      description: 'where `v01t backup` writes and reads backups: a local folder, or an S3 bucket and prefix reached with the BACKUP_S3_* settings (default: the S3_* media settings) (ADR 0050)',
    }),
    BACKUP_S3_ENDPOINT: setting(z.url().optional(), { default: 'S3_ENDPOINT', description: 'S3-compatible endpoint of an s3:// BACKUP_TARGET (backups may live with another provider than the media)' }),
    BACKUP_S3_REGION: setting(z.string().min(1).optional(), { default: 'S3_REGION', description: 'region of an s3:// BACKUP_TARGET' }),
    BACKUP_S3_ACCESS_KEY_ID: setting(z.string().min(1).optional(), { default: 'S3_ACCESS_KEY_ID', description: 'access key of an s3:// BACKUP_TARGET (a key that may write but not delete protects backups from a compromised host; prune then runs elsewhere)' }),
    BACKUP_S3_SECRET_ACCESS_KEY: setting(z.string().min(1).optional(), { secret: true, default: 'S3_SECRET_ACCESS_KEY', description: 'secret key of an s3:// BACKUP_TARGET' }),
    BACKUP_KEY: setting(z.string().optional(), {
      secret: true,
      default: 'derived from the master key (HKDF)',
      description: '32-byte key (64 hex chars or base64) encrypting backups with AES-256-GCM; unset = a key derived from V01T_MASTER_KEY, so restoring needs the master key (docs/backup-and-recovery.md)',
    }),
    BACKUP_SCHEDULE: setting(cron.default('0 2 * * *'), { type: 'cron (UTC)', description: 'when the in-platform daily backup runs (followed by the prune); one replica runs it' }),
    BACKUP_DRILL_SCHEDULE: setting(cron.default('0 4 1 * *'), { type: 'cron (UTC)', description: 'when the restore drill runs (`v01t backup drill`): the newest backup restored into a scratch folder or database and booted' }),
    RETENTION_SCHEDULE: setting(cron.default('0 2 * * 0'), { type: 'cron (UTC)', description: "when the retention cleanup runs (runbook: weekly at 2 AM Sunday)" }),
    BACKUP_SCHEDULES_ENABLED: setting(envBool.default(true), { description: 'run the backup, drill and retention schedules in this process (`false` where another process runs them)' }),
    BACKUP_KEEP_DAILY: setting(keep(7), { description: 'grandfather-father-son prune: newest daily backups kept' }),
    BACKUP_KEEP_WEEKLY: setting(keep(4), { description: 'GFS prune: newest Sunday backups kept' }),
    BACKUP_KEEP_MONTHLY: setting(keep(12), { description: 'GFS prune: newest first-of-the-month backups kept' }),
    BACKUP_DRILL_DIR: setting(z.string().min(1).optional(), { default: 'a temporary folder', description: 'scratch folder of the embedded restore drill (removed after each drill)' }),
    RETENTION_NOTIFY_CONNECTION_ID: setting(z.uuid().optional(), {
      description: 'an integration-hub `email` or `webhook` connection of V01T_OPS_WORKSPACE_ID that receives the weekly retention summary (runbook: data-team@v01t.io)',
    }),
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
    infraMonthlyCostUsd: e.INFRA_MONTHLY_COST_USD,
    backup: {
      target: e.BACKUP_TARGET,
      s3: { endpoint: e.BACKUP_S3_ENDPOINT, region: e.BACKUP_S3_REGION, accessKeyId: e.BACKUP_S3_ACCESS_KEY_ID, secretAccessKey: e.BACKUP_S3_SECRET_ACCESS_KEY },
      key: e.BACKUP_KEY,
      schedule: e.BACKUP_SCHEDULE,
      drillSchedule: e.BACKUP_DRILL_SCHEDULE,
      retentionSchedule: e.RETENTION_SCHEDULE,
      schedulesEnabled: e.BACKUP_SCHEDULES_ENABLED,
      keep: { daily: e.BACKUP_KEEP_DAILY, weekly: e.BACKUP_KEEP_WEEKLY, monthly: e.BACKUP_KEEP_MONTHLY },
      drillDir: e.BACKUP_DRILL_DIR,
      notifyConnectionId: e.RETENTION_NOTIFY_CONNECTION_ID,
    },
  }),
);
export type OpsSettings = ReturnType<typeof OPS_CONFIG.read>;

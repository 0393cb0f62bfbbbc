import client from 'prom-client';
import { PLATFORM_TENANT } from '../../kernel/cache/layers.js';
import type { PersonalDataHandler, ServiceContext, ServiceInstance, ServiceModule } from '../../kernel/module.js';
import type { App } from '../../kernel/http/server.js';
import type { IntegrationHubContract } from '../integration-hub/contract.js';
import type { OrchestratorContract } from '../orchestrator/contract.js';
import { IncidentService } from './incidents.service.js';
import { DeploymentHistory } from './deployments.js';
import { holidayCalendar } from './holidays.js';
import { OPS_PERMISSIONS, OPS_SHARED_SECRETS, opsHttpRoutes } from './routes.js';
import { SEVERITIES, sevLabel } from './severity.js';
import { REMINDER_KINDS, TIMER_KINDS, TIMERS } from './incidents.service.js';
import { OPS_MIGRATIONS } from './migrations.js';
import { OPS_CONFIG, type OpsSettings } from './config.js';
import { BackupRunsRepository } from './backup-runs.repository.js';
import { RETENTION_CLASSES } from '../../kernel/module.js';
import { dbReportRoutes } from './db-report.routes.js';
import { DbReportRepository } from './db-report.repository.js';

export interface OpsInstance extends ServiceInstance {
  incidents: IncidentService;
  deployments: DeploymentHistory;
  routes(app: App): void;
  /** One pass: immediate notices and Sev4 tickets, escalations, cadence reminders, deliveries (also run every V01T_OPS_TICK_SECONDS after start()). */
  tick(): Promise<{ escalated: number; sent: number; failed: number }>;
  start(): Promise<void>;
  stop(): Promise<void>;
  personalData: PersonalDataHandler;
}

/**
 * Operations (incident response, status page, deployment history): a manifest like any service's,
 * hosted by the orchestrator's processes (the public entry point and the home of platform admins)
 * rather than run on its own; it uses the integration-hub's and the orchestrator's contracts.
 * ADR 0801, ADR 0014.
 */
export const opsModule: ServiceModule<OpsSettings> & { create(ctx: ServiceContext<OpsSettings>): OpsInstance } = {
  name: 'ops',
  schema: 'ops',
  hostedBy: 'orchestrator',
  migrations: OPS_MIGRATIONS,
  permissions: OPS_PERMISSIONS,
  secrets: OPS_SHARED_SECRETS,
  config: OPS_CONFIG,
  create: (ctx) => createOps(ctx),
};

function createOps(ctx: ServiceContext<OpsSettings>): OpsInstance {
  const settings = ctx.settings;
  const escalations = new client.Counter({
    name: 'v01t_incident_escalations_total',
    help: 'Incidents escalated because nobody acknowledged them within their response target, by severity',
    labelNames: ['severity'],
    registers: [ctx.metrics.registry],
  });
  const notifications = new client.Counter({
    name: 'v01t_incident_notifications_total',
    help: 'Escalation deliveries through the integration-hub, by connector, event and result (sent, retry, failed)',
    labelNames: ['connector', 'event', 'result'],
    registers: [ctx.metrics.registry],
  });
  const reminders = new client.Counter({
    name: 'v01t_incident_reminders_total',
    help: "Communication reminders due (the runbook's cadence: internal_update, public_update, postmortem), one per overdue window; sent to the connections whose escalation route asks for reminders",
    labelNames: ['kind'],
    registers: [ctx.metrics.registry],
  });
  const timerBreaches = new client.Counter({
    name: 'v01t_incident_timer_breaches_total',
    help: "The first minutes' timers passed unmet (acknowledge 5 min, assess 10 min, assemble 15 min from opening; Sev1-3), once per incident and timer",
    labelNames: ['timer'],
    registers: [ctx.metrics.registry],
  });
  for (const timer of TIMER_KINDS) timerBreaches.inc({ timer }, 0);
  // Present from the start (increase() cannot see a series appear), like the security counters.
  for (const s of SEVERITIES) escalations.inc({ severity: sevLabel(s) }, 0);
  for (const kind of REMINDER_KINDS) reminders.inc({ kind }, 0);

  const hub = () => (ctx.contracts.has('integration-hub') ? ctx.contracts.get<IntegrationHubContract>('integration-hub') : null);
  const user = async (id: string) => (ctx.contracts.has('orchestrator') ? ctx.contracts.get<OrchestratorContract>('orchestrator').user(id) : null);
  const logger = ctx.logger.child({ component: 'ops' });
  const responders = async (me: string) => {
    if (!ctx.contracts.has('orchestrator')) return [];
    const orchestrator = ctx.contracts.get<OrchestratorContract>('orchestrator');
    const managers = settings.workspaceId ? (await orchestrator.members(settings.workspaceId)).filter((m) => (OPS_PERMISSIONS['ops.manage'].roles as readonly string[]).includes(m.role)) : [];
    const ids = [me, ...managers.map((m) => m.userId).filter((id) => id !== me)];
    const people = (await Promise.all(ids.map((id) => orchestrator.user(id)))).filter((u): u is { id: string; email: string; name: string } => u !== null);
    return people.map((u) => ({ id: u.id, name: u.name, email: u.email, you: u.id === me })).sort((a, b) => Number(b.you) - Number(a.you) || a.name.localeCompare(b.name));
  };
  let refreshOpen: () => Promise<void> = async () => {};
  const refresh = () => refreshOpen().catch((err) => logger.warn({ err }, 'could not count open incidents'));
  const incidents = new IncidentService({
    db: ctx.db,
    clock: ctx.clock,
    audit: ctx.audit,
    logger,
    metrics: {
      escalation: (s) => escalations.inc({ severity: sevLabel(s) }),
      reminder: (kind) => reminders.inc({ kind }),
      timerBreached: (timer) => timerBreaches.inc({ timer }),
      notification: (connector, event, result) => notifications.inc({ connector, event, result }),
      changed: () => void refresh(),
    },
    settings,
    holidays: holidayCalendar(settings.holidays, settings.extraHolidays),
    publicUrl: ctx.config.http.publicUrl,
    hub,
    user,
    // The public status page is cached in the api_responses layer (ADR 0059) under a version replaced here.
    statusChanged: () => ctx.cacheLayers.api_responses.bump(PLATFORM_TENANT).catch((err: Error) => logger.warn({ err: err.message }, 'status page cache not invalidated (its TTL bounds the staleness)')),
  });
  // A platform-wide count kept by every process that runs this module, refreshed from the database
  // on each tick and after each change made here: aggregate replicas with max, not sum. During a
  // database outage it keeps the last count read (the dashboard still shows the open incidents).
  const openGauge = new client.Gauge({
    name: 'v01t_incidents_open',
    help: 'Incidents not resolved yet (open or acknowledged), by severity; refreshed every V01T_OPS_TICK_SECONDS',
    labelNames: ['severity'],
    registers: [ctx.metrics.registry],
  });
  for (const s of SEVERITIES) openGauge.set({ severity: sevLabel(s) }, 0);
  const breachingGauge = new client.Gauge({
    name: 'v01t_incidents_breaching',
    help: "Unresolved Sev1-3 incidents past one of the first minutes' timers without having met it, by timer (acknowledge, assess, assemble); refreshed like v01t_incidents_open",
    labelNames: ['timer'],
    registers: [ctx.metrics.registry],
  });
  for (const timer of TIMER_KINDS) breachingGauge.set({ timer }, 0);
  refreshOpen = async () => {
    const counts = await incidents.repo.openCounts();
    for (const s of SEVERITIES) openGauge.set({ severity: sevLabel(s) }, counts.get(s) ?? 0);
    const breaching = await incidents.repo.breachingCounts(ctx.clock.now(), TIMERS);
    for (const timer of TIMER_KINDS) breachingGauge.set({ timer }, breaching[timer]);
  };
  const deployments = new DeploymentHistory(ctx.db, ctx.audit);
  // The Executive dashboard's cost (ADR 0060): a configured figure; cost per user divides it by v01t_active_users.
  if (settings.infraMonthlyCostUsd !== undefined) {
    const cost = settings.infraMonthlyCostUsd;
    ctx.metrics.gauge('v01t_infrastructure_monthly_cost_usd', 'Monthly infrastructure cost in USD (INFRA_MONTHLY_COST_USD)', () => cost);
  }
  // Compliance status: GDPR erasures carried out (self-service or `v01t gdpr erase`), read from the audit log like the deployments.
  ctx.metrics.labelledGauge('v01t_gdpr_erasures_total', 'GDPR erasures carried out (audit action gdpr.user_erased); each is fulfilled when requested', [], async () => [{ labels: {}, value: await deployments.countAction('gdpr.user_erased') }]);
  // Deployment history for the Operations dashboard. Read from the audit log at scrape time, since
  // `v01t deploy record` writes from another process; a count that only grows, hence _total.
  ctx.metrics.labelledGauge('v01t_deployments_total', 'Deployments recorded with v01t deploy record, by environment and result', ['environment', 'result'], async () =>
    (await deployments.counts()).map((d) => ({ labels: { environment: d.environment, result: d.result }, value: d.count })),
  );

  // Backups, drills and retention runs (ADR 0050), read from ops.backup_runs at scrape time: every
  // replica reports the same, whichever replica or CLI ran them. Absent until the first run.
  const runs = new BackupRunsRepository(ctx.db);
  // Labelled by the deployment's shape: an unlabelled gauge would export 0 before the first run,
  // which reads as "the last backup was in 1970" (BackupMissing on a fresh install).
  const shape = ctx.database.kind === 'pglite' ? 'embedded' : 'distributed';
  const latestGauge = (name: string, help: string, read: () => Promise<number | null | undefined>) =>
    ctx.metrics.labelledGauge(name, help, ['shape'], async () => {
      const v = await read().catch(() => undefined);
      return v === null || v === undefined ? [] : [{ labels: { shape }, value: v }];
    }, 15);
  const seconds = (d: Date | undefined) => (d ? d.getTime() / 1000 : undefined);
  latestGauge('v01t_backup_last_success_timestamp_seconds', 'When the newest successful backup finished (v01t backup create or the BACKUP_SCHEDULE run)', async () => seconds((await runs.latest('backup'))?.finishedAt));
  latestGauge('v01t_backup_size_bytes', 'Bytes of the newest successful backup (before encryption overhead, which is none for AES-GCM)', async () => (await runs.latest('backup'))?.bytes);
  latestGauge('v01t_restore_drill_last_success_timestamp_seconds', 'When the newest passing restore drill finished', async () => seconds((await runs.latest('drill'))?.finishedAt));
  latestGauge('v01t_restore_drill_rto_seconds', 'Measured recovery time of the newest passing drill: start of the restore to a ready restored platform', async () => (await runs.latest('drill'))?.rtoSeconds);
  latestGauge('v01t_restore_drill_rpo_seconds', 'Age of the backup the newest passing drill restored (the data a loss at that moment would have cost)', async () => (await runs.latest('drill'))?.rpoSeconds);
  latestGauge('v01t_retention_last_run_timestamp_seconds', 'When the newest retention cleanup finished (v01t retention run or RETENTION_SCHEDULE)', async () => seconds((await runs.latest('retention', true))?.finishedAt));
  ctx.metrics.labelledGauge('v01t_retention_rows_deleted', 'Rows deleted by the newest retention cleanup, by retention class', ['class', 'shape'], async () => {
    const last = await runs.latest('retention', true).catch(() => undefined);
    const byClass = (last?.details?.byClass ?? {}) as Record<string, number>;
    return last ? RETENTION_CLASSES.map((c) => ({ labels: { class: c, shape }, value: Number(byClass[c] ?? 0) })) : [];
  }, 15);

  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;
  const tick = async () => {
    const result = await incidents.tick();
    await refresh();
    return result;
  };

  return {
    incidents,
    deployments,
    tick,
    routes(app) {
      opsHttpRoutes(app, { incidents, deployments, settings, user, responders, clock: ctx.clock, responses: ctx.cacheLayers.api_responses });
      dbReportRoutes(app, { reports: new DbReportRepository(ctx.database), settings });
    },
    async start() {
      if (!hub()) logger.warn('the integration-hub does not run in this process: incident escalations cannot be delivered (see docs/operations.md)');
      else if (!settings.workspaceId) logger.warn('V01T_OPS_WORKSPACE_ID is not set: incidents are tracked but escalations have no target');
      timer = setInterval(() => {
        if (running) return;
        running = tick()
          .catch((err) => logger.error({ err }, 'incident escalation tick failed'))
          .finally(() => {
            running = undefined;
          });
      }, settings.tickSeconds * 1000);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      await running;
    },
    personalData: {
      describes: [
        'incident roles held (incident commander, technical lead, communications lead), acknowledgements and resolutions: user ids',
        'incident timeline notes and public status updates written by the user (text, time, user id)',
      ],
      async exportUser(userId) {
        return incidents.repo.personalData(userId);
      },
      async eraseUser(userId) {
        return incidents.repo.eraseUser(userId);
      },
    },
  };
}

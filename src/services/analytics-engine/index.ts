import fs from 'node:fs';
import path from 'node:path';
import type { PermissionMap } from '../../kernel/auth/permissions.js';
import type { ServiceContext, ServiceInstance, ServiceModule } from '../../kernel/module.js';
import { openOlapStore } from '../../kernel/olap/index.js';
import { ANALYTICS_MIGRATIONS } from './migrations.js';
import { BufferRepository } from './buffer.repository.js';
import { FileBuffer } from './file-buffer.js';
import type { IngestBuffer } from './ingest-buffer.js';
import { EventStore, dayOf } from './event-store.js';
import { Flusher } from './flusher.js';
import { AnalyticsResultCache } from './result-cache.js';
import { IngestService, WriteKeyService } from './ingest.service.js';
import { QueryService } from './query.service.js';
import { ReportsService } from './reports.service.js';
import { ReportsRepository } from './reports.repository.js';
import { WriteKeysRepository } from './write-keys.repository.js';
import { SettingsRepository } from './settings.repository.js';
import { KpiService } from './kpi.service.js';
import { registerKpiGauges } from './gauges.js';
import { analyticsRoutes } from './routes.js';
import { subscribePlatformEvents } from './platform-events.js';
import type { AnalyticsContract } from './contract.js';
import { ANALYTICS_ERRORS } from './errors.js';
import { ANALYTICS_CONFIG, type AnalyticsSettings } from './config.js';
import { ANALYTICS_EVENTS } from './events.js';
import { SUBSCRIPTION_EVENTS } from './kpi.service.js';

/**
 * Financial records (runbook: 7 years), kept past the 3-year analytics purge: the subscription
 * events the MRR KPI reads and the revenue events of the common tracking plans.
 */
export const FINANCIAL_EVENTS: readonly string[] = [...SUBSCRIPTION_EVENTS, 'revenue', 'order.completed', 'payment.succeeded', 'payment.refunded', 'invoice.paid', 'refund'];
const yearsBefore = (now: Date, years: number) => dayOf(Date.UTC(now.getUTCFullYear() - years, now.getUTCMonth(), now.getUTCDate()));
import { publicOnlyRemote } from '../../kernel/http/public-remote.js';

export const ANALYTICS_PERMISSIONS: PermissionMap = {
  'analytics.read': { description: 'Run analytics queries, read saved reports, dashboards, KPIs and settings', roles: ['owner', 'admin', 'developer', 'analyst', 'viewer'] },
  'analytics.write': { description: 'Ingest events with a token; save reports and dashboards; set KPI settings and forecasts', roles: ['owner', 'admin', 'developer', 'analyst'] },
  'analytics.keys.manage': { description: 'Create, list and revoke workspace write keys for ingestion', roles: ['owner', 'admin'] },
};

const DAY = 86_400_000;
const DEDUPE_WINDOW_DAYS = 7;

export interface AnalyticsInstance extends ServiceInstance {
  contract: AnalyticsContract;
  services: { ingest: IngestService; flusher: Flusher; buffer: IngestBuffer; queries: QueryService; kpis: KpiService; store: EventStore; writeKeys: WriteKeyService };
}

export const analyticsModule: ServiceModule<AnalyticsSettings> & { create(ctx: ServiceContext<AnalyticsSettings>): Promise<AnalyticsInstance> } = {
  name: 'analytics-engine',
  publicRoutes: ['/v1/workspaces/:workspaceId/analytics', '/v1/workspaces/:workspaceId/events'],
  remote: publicOnlyRemote('analytics-engine', 'V01T_ANALYTICS_ENGINE_URL'),
  schema: 'analytics',
  migrations: ANALYTICS_MIGRATIONS,
  permissions: ANALYTICS_PERMISSIONS,
  events: ANALYTICS_EVENTS,
  errors: ANALYTICS_ERRORS,
  config: ANALYTICS_CONFIG,
  async create(ctx) {
    const cfg = ctx.settings;
    // DuckDB opens on first use (an event to dedupe or flush, a query): an idle analytics costs
    // neither its load time nor its memory (ADR 0065). Its table is made as it opens.
    const olap = await openOlapStore({
      clickhouseUrl: cfg.store === 'clickhouse' ? cfg.clickhouseUrl : undefined,
      duckdbPath: cfg.duckdbPath,
      lazy: true,
      prepare: (s) => new EventStore(s).init(),
    });
    const results = new AnalyticsResultCache(ctx.cacheLayers.analytics_data, ctx.logger);
    const store = new EventStore(olap, (workspaces) => results.changed(workspaces));
    const identities = new BufferRepository(ctx.database);
    const buffer: IngestBuffer =
      cfg.buffer === 'file'
        ? await FileBuffer.open({
            dir: cfg.bufferDir,
            logger: ctx.logger,
            now: () => ctx.clock.now().getTime(),
            segmentEvents: cfg.flushBatch,
            storedMessageIds: (since) => store.recentMessageIds(since),
            dedupeWindowMs: DEDUPE_WINDOW_DAYS * DAY,
          })
        : identities;
    const settings = new SettingsRepository(ctx.database, ctx.clock);
    const ingest = new IngestService(buffer, ctx.clock, { bufferMaxEvents: cfg.bufferMaxEvents });
    const flusher = new Flusher(buffer === identities ? [buffer] : [buffer, identities], identities, store, ctx.clock, ctx.logger, {
      batchSize: cfg.flushBatch,
      intervalMs: cfg.flushIntervalMs,
      onFlushed: () => ingest.forgetPendingCount(),
    });
    const writeKeys = new WriteKeyService(new WriteKeysRepository(ctx.database), ctx.audit, ctx.clock);
    const queries = new QueryService(olap);
    const reports = new ReportsService(new ReportsRepository(ctx.database), ctx.clock);
    const kpis = new KpiService(olap, settings, ctx.metrics.registry, ctx.clock, cfg.kpiRefreshSeconds);
    subscribePlatformEvents(ctx.events, { platformWorkspaceId: cfg.platformWorkspaceId, logger: ctx.logger });
    registerKpiGauges({ registry: ctx.metrics.registry, kpis, clock: ctx.clock, logger: ctx.logger, platformWorkspaceId: cfg.platformWorkspaceId, refreshSeconds: cfg.kpiRefreshSeconds });

    return {
      services: { ingest, flusher, buffer, queries, kpis, store, writeKeys },
      contract: {
        async kpis(workspaceId, from, to) {
          const [a, m] = await Promise.all([kpis.activation(workspaceId, from.getTime(), to.getTime()), kpis.mrr(workspaceId, from.getTime(), to.getTime())]);
          return { activationRate: a.rate, mrr: m.current };
        },
      },
      routes(app) {
        analyticsRoutes(app, { ingest, writeKeys, queries, reports, kpis, settings, clock: ctx.clock, events: ctx.events, results });
      },
      async start() {
        flusher.start();
      },
      async stop() {
        await flusher.stop();
        await buffer.close();
        await olap.close();
      },
      backup: {
        // No batch moves from the buffer to the store while the database and the store are copied.
        quiesce: (fn) => flusher.exclusive(fn),
        async dump(sink) {
          const dir = path.join(sink.scratch, 'olap');
          await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 });
          for (const f of await olap.backup(dir)) await sink.addFile(`analytics/olap/${f}`, path.join(dir, f), { store: olap.kind });
          // The file buffer's segments: a torn last line is skipped at load, like after a crash.
          if (cfg.buffer === 'file' && cfg.bufferDir && fs.existsSync(cfg.bufferDir)) {
            for (const f of (await fs.promises.readdir(cfg.bufferDir)).sort()) {
              const file = path.join(cfg.bufferDir, f);
              if ((await fs.promises.stat(file)).isFile()) await sink.addFile(`analytics/buffer/${f}`, file);
            }
          }
        },
      },
      readiness: { olap: () => olap.ping(), ...(buffer.readiness ? { buffer: () => buffer.readiness!() } : {}) },
      personalData: {
        describes: [
          'product analytics events keyed by the user id (event name, time, properties, anonymous ids linked by identify/alias)',
          'events still in the ingestion buffer',
        ],
        async exportUser(userId) {
          return {
            events: await store.eventsOfUser(userId),
            bufferedEvents: [...(await buffer.eventsOfUser(userId)), ...(buffer !== identities ? await identities.eventsOfUser(userId) : [])],
            linkedAnonymousIds: await identities.identitiesOfUser(userId),
          };
        },
        async eraseUser(userId) {
          const anonymousIds = (await identities.identitiesOfUser(userId)).map((r) => String(r.anonymousId));
          // The buffer first, so nothing of the user is flushed into the store after it was cleaned;
          // with no batch of this process on its way to the store meanwhile.
          return flusher.exclusive(async () => {
            let bufferedEvents = await buffer.eraseUser(userId, anonymousIds);
            if (buffer !== identities) bufferedEvents += await identities.eraseUser(userId, anonymousIds);
            const linkedAnonymousIds = await identities.eraseIdentities(userId);
            const events = await store.eraseUser(userId, anonymousIds);
            return { events, bufferedEvents, linkedAnonymousIds };
          });
        },
      },
      retention: [
        {
          name: 'analytics events',
          class: 'analytics_data',
          keep: '3 years',
          purge: (now) => store.removeBefore(yearsBefore(now, 3), { except: FINANCIAL_EVENTS }),
        },
        {
          name: 'analytics subscription and revenue events',
          class: 'financial_records',
          keep: '7 years',
          purge: (now) => store.removeBefore(yearsBefore(now, 7), { only: FINANCIAL_EVENTS }),
        },
        {
          name: 'analytics ingestion dedupe window',
          class: 'operational',
          keep: `${DEDUPE_WINDOW_DAYS} days`,
          async purge(now) {
            const before = new Date(now.getTime() - DEDUPE_WINDOW_DAYS * DAY);
            return (await buffer.purgeDedupe(before)) + (buffer !== identities ? await identities.purgeDedupe(before) : 0);
          },
        },
      ],
    };
  },
};

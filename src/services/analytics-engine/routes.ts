import { z } from 'zod';
import type { FastifyRequest } from 'fastify';
import type { App } from '../../kernel/http/server.js';
import type { Clock } from '../../kernel/clock.js';
import type { EventPublisher } from '../../kernel/events/envelope.js';
import { AppError } from '../../kernel/errors.js';
import { problemResponses } from '../../kernel/http/problem.js';
import type { IngestService, WriteKeyService } from './ingest.service.js';
import type { QueryService } from './query.service.js';
import { toCsv } from './query.service.js';
import type { ReportsService } from './reports.service.js';
import type { KpiService } from './kpi.service.js';
import type { AnalyticsResultCache } from './result-cache.js';
import type { SettingsRepository } from './settings.repository.js';
import {
  MAX_BATCH_BYTES,
  dashboardBody,
  dashboardPatch,
  dashboardSchema,
  eventCatalogSchema,
  forecastBody,
  ingestBody,
  ingestResult,
  querySpec,
  queryResult,
  reportBody,
  reportPatch,
  reportSchema,
  settingsBody,
  settingsSchema,
  writeKeySchema,
} from './schemas.js';

const id = z.uuid();
const ws = z.object({ workspaceId: id });
const tags = ['analytics'];

export interface AnalyticsRouteDeps {
  ingest: IngestService;
  writeKeys: WriteKeyService;
  queries: QueryService;
  reports: ReportsService;
  kpis: KpiService;
  /** Query and KPI results in the analytics_data cache layer (ADR 0059). */
  results: AnalyticsResultCache;
  settings: SettingsRepository;
  clock: Clock;
  events: EventPublisher;
}

/** The write key of a request: `X-Write-Key: wk_…`, or HTTP Basic with the key as user name (Segment's convention). */
export function writeKeyOf(req: FastifyRequest): string | null {
  const header = req.headers['x-write-key'];
  if (typeof header === 'string' && header.trim()) return header.trim();
  const auth = req.headers.authorization;
  const m = typeof auth === 'string' ? /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(auth) : null;
  if (m) {
    const user = Buffer.from(m[1]!, 'base64').toString('utf8').split(':')[0] ?? '';
    if (user.startsWith('wk_')) return user;
  }
  return null;
}

export function analyticsRoutes(app: App, deps: AnalyticsRouteDeps): void {
  const { ingest, writeKeys, queries, reports, kpis, settings, clock, events, results } = deps;
  const run = (workspaceId: string, spec: Parameters<QueryService['run']>[1]) => results.run(workspaceId, 'query', spec, () => queries.run(workspaceId, spec));
  // Other services (gamification) may score analysis work; the event says which report ran, never its data.
  const ran = (req: FastifyRequest, workspaceId: string, reportId: string | null, kind: string) =>
    events.publish({ name: 'analytics.report.run.v1', workspaceId, actorId: req.principal?.userId ?? null, payload: { reportId, kind } });
  const actor = (req: FastifyRequest) => ({ userId: req.principal!.userId, ip: req.ip });

  app.post('/v1/workspaces/:workspaceId/events', {
    // A bearer token takes the kernel's path (membership, analytics.write, scopes). Without one,
    // the route's own hook below demands a write key of this very workspace.
    config: { auth: 'optional', permission: 'analytics.write' },
    bodyLimit: MAX_BATCH_BYTES,
    onRequest: async (req) => {
      if (req.principal) return;
      const key = writeKeyOf(req);
      if (!key) throw new AppError('unauthenticated', 'Send a workspace write key (X-Write-Key: wk_…) or Authorization: Bearer <token>');
      const keyWorkspace = await writeKeys.authenticate(key);
      if (!keyWorkspace) throw new AppError('invalid_write_key');
      // A key of another workspace learns nothing about this one: the same 404 as for non-members.
      if (keyWorkspace !== (req.params as { workspaceId?: string }).workspaceId) throw new AppError('workspace_not_found');
    },
    schema: {
      tags,
      summary: 'Ingest a batch of up to 1,000 events (1 MB); 202 once durably buffered',
      description:
        'Authenticate with a workspace write key (`X-Write-Key: wk_…` or HTTP Basic with the key as user name) or a bearer token with analytics.write. ' +
        'Duplicate messageIds are dropped; timestamps are corrected by the batch or event `sentAt`; invalid events are reported by index while valid ones are accepted. ' +
        '429 with Retry-After when the buffer is full.',
      security: [{ bearer: [] }, {}],
      params: ws,
      body: ingestBody,
      response: { 202: ingestResult, ...problemResponses(401, 429) },
    },
    handler: async (req, reply) => reply.status(202).send(await ingest.ingest(req.params.workspaceId, req.body.batch, req.body.sentAt)),
  });

  app.post('/v1/workspaces/:workspaceId/analytics/write-keys', {
    config: { permission: 'analytics.keys.manage' },
    schema: {
      tags,
      summary: 'Create a write key for ingestion; the key is shown once',
      params: ws,
      body: z.object({ name: z.string().trim().min(1).max(100) }),
      response: { 201: z.object({ writeKey: writeKeySchema, key: z.string() }) },
    },
    handler: async (req, reply) => reply.status(201).send(await writeKeys.create(req.params.workspaceId, req.body.name, actor(req))),
  });

  app.get('/v1/workspaces/:workspaceId/analytics/write-keys', {
    config: { permission: 'analytics.keys.manage' },
    schema: { tags, summary: 'Write keys of the workspace (never the keys themselves)', params: ws, response: { 200: z.object({ writeKeys: z.array(writeKeySchema) }) } },
    handler: async (req) => ({ writeKeys: await writeKeys.list(req.params.workspaceId) }),
  });

  app.delete('/v1/workspaces/:workspaceId/analytics/write-keys/:writeKeyId', {
    config: { permission: 'analytics.keys.manage' },
    schema: { tags, summary: 'Revoke a write key', params: ws.extend({ writeKeyId: id }), response: { 204: z.null() } },
    handler: async (req, reply) => {
      await writeKeys.revoke(req.params.workspaceId, req.params.writeKeyId, actor(req));
      return reply.status(204).send(null);
    },
  });

  const format = z.object({ format: z.enum(['json', 'csv']).default('json') });
  const resultResponse = {
    description: 'The result table: JSON, or CSV with ?format=csv',
    content: { 'application/json': { schema: queryResult }, 'text/csv': { schema: z.string() } },
  };
  const sendResult = (reply: import('fastify').FastifyReply, result: z.infer<typeof queryResult>, fmt: 'json' | 'csv') => {
    if (fmt === 'csv') return reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${result.kind}.csv"`).serializer((p) => p as string).send(toCsv(result));
    return reply.send(result);
  };

  app.post('/v1/workspaces/:workspaceId/analytics/query', {
    config: { permission: 'analytics.read' },
    schema: {
      tags,
      summary: 'Run a query: trends, funnel, retention or active_users; ?format=csv exports the table',
      params: ws,
      querystring: format,
      body: z.object({ spec: querySpec }),
      response: { 200: resultResponse },
    },
    handler: async (req, reply) => {
      const result = await run(req.params.workspaceId, req.body.spec);
      await ran(req, req.params.workspaceId, null, result.kind);
      return sendResult(reply, result, req.query.format);
    },
  });

  app.get('/v1/workspaces/:workspaceId/analytics/events', {
    config: { permission: 'analytics.read' },
    schema: {
      tags,
      summary: 'The event names the workspace has, with counts and property keys, for a query builder',
      params: ws,
      querystring: z.object({
        from: z.coerce.date().optional().describe('default: 90 days before "to"'),
        to: z.coerce.date().optional().describe('default: now'),
      }),
      response: { 200: eventCatalogSchema },
    },
    handler: async (req) => {
      const to = req.query.to ?? clock.now();
      const from = req.query.from ?? new Date(to.getTime() - 90 * 86_400_000);
      if (to.getTime() <= from.getTime()) throw new AppError('validation_failed', '"to" must be after "from"', { errors: [{ path: 'querystring.to', message: 'must be after from' }] });
      return { from, to, events: await queries.catalog(req.params.workspaceId, from, to) };
    },
  });

  const reportParams = ws.extend({ reportId: id });
  app.post('/v1/workspaces/:workspaceId/analytics/reports', {
    config: { permission: 'analytics.write' },
    schema: { tags, summary: 'Save a report (a named query spec)', params: ws, body: reportBody, response: { 201: z.object({ report: reportSchema }) } },
    handler: async (req, reply) => reply.status(201).send({ report: await reports.createReport(req.params.workspaceId, req.principal!.userId, req.body.name, req.body.spec) }),
  });
  app.get('/v1/workspaces/:workspaceId/analytics/reports', {
    config: { permission: 'analytics.read' },
    schema: { tags, summary: 'Saved reports', params: ws, response: { 200: z.object({ reports: z.array(reportSchema) }) } },
    handler: async (req) => ({ reports: await reports.listReports(req.params.workspaceId) }),
  });
  app.get('/v1/workspaces/:workspaceId/analytics/reports/:reportId', {
    config: { permission: 'analytics.read' },
    schema: { tags, params: reportParams, response: { 200: z.object({ report: reportSchema }) } },
    handler: async (req) => ({ report: await reports.getReport(req.params.workspaceId, req.params.reportId) }),
  });
  app.patch('/v1/workspaces/:workspaceId/analytics/reports/:reportId', {
    config: { permission: 'analytics.write' },
    schema: { tags, params: reportParams, body: reportPatch, response: { 200: z.object({ report: reportSchema }) } },
    handler: async (req) => ({ report: await reports.updateReport(req.params.workspaceId, req.params.reportId, req.body) }),
  });
  app.delete('/v1/workspaces/:workspaceId/analytics/reports/:reportId', {
    config: { permission: 'analytics.write' },
    schema: { tags, summary: 'Delete a report (it leaves every dashboard too)', params: reportParams, response: { 204: z.null() } },
    handler: async (req, reply) => {
      await reports.deleteReport(req.params.workspaceId, req.params.reportId);
      return reply.status(204).send(null);
    },
  });
  app.get('/v1/workspaces/:workspaceId/analytics/reports/:reportId/results', {
    config: { permission: 'analytics.read' },
    schema: { tags, summary: 'Run a saved report; ?format=csv exports it', params: reportParams, querystring: format, response: { 200: resultResponse, ...problemResponses(409) } },
    handler: async (req, reply) => {
      const report = await reports.getReport(req.params.workspaceId, req.params.reportId);
      const spec = querySpec.safeParse(report.spec);
      if (!spec.success) throw new AppError('conflict', 'The saved spec no longer validates; update the report');
      const result = await run(req.params.workspaceId, spec.data);
      await ran(req, req.params.workspaceId, report.id, result.kind);
      return sendResult(reply, result, req.query.format);
    },
  });

  const dashParams = ws.extend({ dashboardId: id });
  app.post('/v1/workspaces/:workspaceId/analytics/dashboards', {
    config: { permission: 'analytics.write' },
    schema: { tags, summary: 'Create a dashboard of saved reports', params: ws, body: dashboardBody, response: { 201: z.object({ dashboard: dashboardSchema }) } },
    handler: async (req, reply) =>
      reply.status(201).send({ dashboard: await reports.createDashboard(req.params.workspaceId, req.principal!.userId, req.body.name, req.body.tiles) }),
  });
  app.get('/v1/workspaces/:workspaceId/analytics/dashboards', {
    config: { permission: 'analytics.read' },
    schema: { tags, params: ws, response: { 200: z.object({ dashboards: z.array(dashboardSchema) }) } },
    handler: async (req) => ({ dashboards: await reports.listDashboards(req.params.workspaceId) }),
  });
  app.get('/v1/workspaces/:workspaceId/analytics/dashboards/:dashboardId', {
    config: { permission: 'analytics.read' },
    schema: { tags, params: dashParams, response: { 200: z.object({ dashboard: dashboardSchema }) } },
    handler: async (req) => ({ dashboard: await reports.getDashboard(req.params.workspaceId, req.params.dashboardId) }),
  });
  app.patch('/v1/workspaces/:workspaceId/analytics/dashboards/:dashboardId', {
    config: { permission: 'analytics.write' },
    schema: { tags, params: dashParams, body: dashboardPatch, response: { 200: z.object({ dashboard: dashboardSchema }) } },
    handler: async (req) => ({ dashboard: await reports.updateDashboard(req.params.workspaceId, req.params.dashboardId, req.body) }),
  });
  app.delete('/v1/workspaces/:workspaceId/analytics/dashboards/:dashboardId', {
    config: { permission: 'analytics.write' },
    schema: { tags, params: dashParams, response: { 204: z.null() } },
    handler: async (req, reply) => {
      await reports.deleteDashboard(req.params.workspaceId, req.params.dashboardId);
      return reply.status(204).send(null);
    },
  });

  app.get('/v1/workspaces/:workspaceId/analytics/settings', {
    config: { permission: 'analytics.read' },
    schema: { tags, summary: 'KPI settings: the sign-up and activation events', params: ws, response: { 200: z.object({ settings: settingsSchema }) } },
    handler: async (req) => ({ settings: await settings.get(req.params.workspaceId) }),
  });
  app.put('/v1/workspaces/:workspaceId/analytics/settings', {
    config: { permission: 'analytics.write' },
    schema: { tags, params: ws, body: settingsBody, response: { 200: z.object({ settings: settingsSchema }) } },
    handler: async (req) => {
      const updated = await settings.update(req.params.workspaceId, req.body);
      await results.changed([req.params.workspaceId]);
      return { settings: updated };
    },
  });
  app.put('/v1/workspaces/:workspaceId/analytics/kpis/mrr-forecast', {
    config: { permission: 'analytics.write' },
    schema: { tags, summary: 'Supply the MRR forecast of a currency by day (replaces the trend forecast on those days)', params: ws, body: forecastBody, response: { 200: z.object({ saved: z.number().int() }) } },
    handler: async (req) => {
      const saved = await settings.putForecast(req.params.workspaceId, req.body.currency, req.body.points);
      await results.changed([req.params.workspaceId]);
      return { saved };
    },
  });

  const kpiQuery = z.object({
    from: z.coerce.date().optional().describe('default: 30 days before "to"'),
    to: z.coerce.date().optional().describe('default: now'),
  });
  app.get('/v1/workspaces/:workspaceId/analytics/kpis', {
    config: { permission: 'analytics.read' },
    schema: {
      tags,
      summary: "The runbook's KPIs: activation rate (weekly), MRR (daily, per currency, against forecast) and the error rate",
      params: ws,
      querystring: kpiQuery,
      response: {
        200: z.object({
          from: z.date(),
          to: z.date(),
          activation: z.record(z.string(), z.unknown()),
          mrr: z.object({ daily: z.array(z.record(z.string(), z.unknown())), current: z.record(z.string(), z.number()) }),
          errorRate: z.record(z.string(), z.unknown()),
        }),
      },
    },
    handler: async (req) => {
      const to = req.query.to ?? clock.now();
      const from = req.query.from ?? new Date(to.getTime() - 30 * 86_400_000);
      if (to.getTime() <= from.getTime()) throw new AppError('validation_failed', '"to" must be after "from"', { errors: [{ path: 'querystring.to', message: 'must be after from' }] });
      if (to.getTime() - from.getTime() > 3 * 366 * 86_400_000) throw new AppError('validation_failed', 'The range is limited to three years');
      const w = req.params.workspaceId;
      // Keyed by the range as asked: a default range ("the last 30 days") is the one of its computation,
      // at most the layer's TTL ago, and recomputed as soon as the workspace's data changes.
      const asked = { from: req.query.from?.toISOString() ?? null, to: req.query.to?.toISOString() ?? null };
      const [cached, errorRate] = await Promise.all([
        results.run(w, 'kpis', asked, async () => {
          const [activation, mrr] = await Promise.all([kpis.activation(w, from.getTime(), to.getTime()), kpis.mrr(w, from.getTime(), to.getTime())]);
          return { from: from.toISOString(), to: to.toISOString(), activation, mrr };
        }),
        kpis.errorRateSnapshotValue(),
      ]);
      return { from: new Date(cached.from), to: new Date(cached.to), activation: cached.activation as unknown as Record<string, unknown>, mrr: cached.mrr as never, errorRate: errorRate as unknown as Record<string, unknown> };
    },
  });
}

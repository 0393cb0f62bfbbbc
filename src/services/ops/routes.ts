import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { App } from '../../kernel/http/server.js';
import type { Clock } from '../../kernel/clock.js';
import type { SharedSecretMap } from '../../kernel/auth/shared-secrets.js';
import { problemResponses } from '../../kernel/http/problem.js';
import { mediaResponse } from '../../kernel/http/openapi.js';
import { alertmanagerWebhookSchema } from './alertmanager.js';
import type { IncidentService } from './incidents.service.js';
import { postMortemMarkdown } from './postmortem.js';
import { PLATFORM_TENANT, type CacheLayer } from '../../kernel/cache/layers.js';
import { COMPONENT_IDS, statusDocument, statusHtml } from './status-page.js';
import { DEPLOYMENT_RESULTS, deploymentInput, type DeploymentHistory } from './deployments.js';
import { SEVERITIES } from './severity.js';
import { OPS_CONFIG } from './config.js';

/** Permissions an operator holds through their role in the ops workspace (V01T_OPS_WORKSPACE_ID). */
export const OPS_PERMISSIONS = {
  'ops.read': { description: 'Ops workspace: see incidents and the deployment history (platform admins always may)', roles: ['owner', 'admin', 'developer'] as const },
  'ops.manage': {
    description: 'Ops workspace: acknowledge, assign, annotate and resolve incidents, mark post-mortems done, set the escalation routes (platform admins always may)',
    roles: ['owner', 'admin', 'developer'] as const,
  },
};

/** The bearer secrets of the Alertmanager receiver and of CI recording deployments (the kernel guard checks them). */
export const OPS_SHARED_SECRETS: SharedSecretMap = {
  'ops.alertmanager': {
    carrier: 'bearer',
    value: (config) => OPS_CONFIG.read(config).alertmanagerToken,
    missing: 'Send Authorization: Bearer <V01T_ALERTMANAGER_TOKEN> (http_config.authorization in alertmanager.yml)',
    unset: 'The Alertmanager receiver is off: set V01T_ALERTMANAGER_TOKEN',
    wrong: { code: 'invalid_token', detail: 'Not the Alertmanager bearer secret' },
  },
  'ops.deploy': {
    carrier: 'bearer',
    value: (config) => OPS_CONFIG.read(config).deployToken,
    missing: 'Send Authorization: Bearer <V01T_DEPLOY_TOKEN or a platform admin token>',
    orUser: true,
  },
};

export interface OpsRouteDeps {
  incidents: IncidentService;
  deployments: DeploymentHistory;
  settings: { workspaceId?: string; statusPageTitle: string };
  user: (id: string) => Promise<{ id: string; name: string } | null>;
  /** You first, then the ops workspace's members who may manage incidents, by name. */
  responders: (me: string) => Promise<{ id: string; name: string; email: string; you: boolean }[]>;
  clock: Clock;
  /** The api_responses cache layer: the public status document, under the version statusChanged replaces. */
  responses?: CacheLayer;
}

const tags = ['operations'];

const roles = z.object({ incidentCommander: z.uuid().nullable(), technicalLead: z.uuid().nullable(), communicationsLead: z.uuid().nullable() });
const incidentTimer = z.object({ dueAt: z.date(), doneAt: z.date().nullable(), breached: z.boolean() });
const incidentView = z.object({
  id: z.uuid(),
  number: z.number(),
  title: z.string(),
  severity: z.string(),
  severityLevel: z.number(),
  status: z.enum(['open', 'acknowledged', 'resolved']),
  source: z.string(),
  components: z.array(z.string()),
  openedAt: z.date(),
  firstAlertAt: z.date().nullable(),
  respondBy: z.date(),
  responseTarget: z.string(),
  overdue: z.boolean(),
  acknowledgedAt: z.date().nullable(),
  acknowledgedBy: z.uuid().nullable(),
  escalatedAt: z.date().nullable(),
  resolvedAt: z.date().nullable(),
  resolvedBy: z.uuid().nullable(),
  resolution: z.string().nullable(),
  roles,
  publicTitle: z.string().nullable(),
  internalUpdateDueAt: z.date().nullable(),
  publicUpdateDueAt: z.date().nullable(),
  postmortemDueAt: z.date().nullable(),
  timers: z
    .object(Object.fromEntries(['acknowledge', 'assess', 'assemble'].map((k) => [k, incidentTimer])) as Record<'acknowledge' | 'assess' | 'assemble', typeof incidentTimer>)
    .nullable()
    .describe("The first minutes (Sev1-3; null for Sev4): acknowledge within 5 minutes of opening, assess (the first internal update) within 10, assemble the team (all three roles) within 15"),
  postmortemDoneAt: z.date().nullable(),
  postmortemDoneBy: z.uuid().nullable(),
  postmortemUrl: z.string().nullable(),
});
const timelineEntry = z.object({ id: z.number(), at: z.date(), kind: z.string(), actorId: z.uuid().nullable(), text: z.string(), data: z.record(z.string(), z.unknown()) });
const publicStatus = z.enum(['investigating', 'identified', 'monitoring', 'resolved']);
const publicUpdate = z.object({ id: z.uuid(), at: z.date(), status: publicStatus, message: z.string(), authorId: z.uuid().nullable() });
const incidentDetail = incidentView.extend({
  alerts: z.array(
    z.object({
      fingerprint: z.string(),
      status: z.enum(['firing', 'resolved']),
      alertname: z.string().nullable(),
      labels: z.record(z.string(), z.string()),
      annotations: z.record(z.string(), z.string()),
      startsAt: z.date().nullable(),
      endsAt: z.date().nullable(),
      lastSeenAt: z.date(),
    }),
  ),
  timeline: z.array(timelineEntry),
  publicUpdates: z.array(publicUpdate),
  notifications: z.array(
    z.object({
      id: z.uuid(),
      connectionId: z.uuid(),
      connector: z.string(),
      event: z.enum(['trigger', 'acknowledge', 'resolve', 'open', 'ticket', 'reminder']),
      status: z.enum(['pending', 'sent', 'failed']),
      attempts: z.number(),
      lastError: z.string().nullable(),
      createdAt: z.date(),
      sentAt: z.date().nullable(),
      reminder: z.string().nullable(),
    }),
  ),
});
const idParams = z.object({ incidentId: z.uuid() });
/** The server's clock when it answered: a countdown to `respondBy` runs from it, not from the browser's clock. */
const serverNow = z.date().describe("The server's time of the answer (a countdown to respondBy counts from it)");
const severityList = z.array(z.number().int().min(1).max(4)).max(4);
const routeView = z.object({ connectionId: z.uuid(), severities: z.array(z.number()), immediate: z.array(z.number()), reminders: z.boolean(), updatedAt: z.date(), stale: z.boolean() });
const routesDocument = z.object({
  workspaceId: z.uuid(),
  routes: z.array(routeView),
  connections: z.array(
    z.object({
      connectionId: z.uuid(),
      connector: z.string(),
      name: z.string(),
      status: z.string(),
      routed: z.boolean(),
      severities: z.array(z.number()),
      immediate: z.array(z.number()),
      reminders: z.boolean(),
    }),
  ),
});
const deploymentView = z.object({
  seq: z.number().optional(),
  id: z.uuid(),
  recordedAt: z.date(),
  version: z.string(),
  environment: z.string(),
  result: z.string(),
  notes: z.string().nullable(),
  via: z.string(),
  actorId: z.uuid().nullable(),
});

/**
 * /v1/ops/*: the Alertmanager receiver (bearer V01T_ALERTMANAGER_TOKEN), incidents for operators
 * (platform admins, or members of the ops workspace whose role holds ops.read / ops.manage), the
 * deployment history (platform admins, or CI with V01T_DEPLOY_TOKEN), and the public status page.
 */
export function opsHttpRoutes(app: App, deps: OpsRouteDeps): void {
  // Platform admins, or members of the ops workspace whose role holds the permission (the kernel guard).
  const operator = (permission: 'ops.read' | 'ops.manage') => ({ permission, workspace: () => deps.settings.workspaceId, platformAdmins: 'pass' as const });
  const actor = (req: FastifyRequest) => ({ userId: req.principal!.userId, ip: req.ip ?? null });

  app.post('/v1/ops/alertmanager', {
    // Checked in onRequest, before the body is validated: an unauthenticated caller learns nothing about the payload format.
    config: { auth: 'secret:ops.alertmanager' },
    schema: {
      tags,
      summary: "Alertmanager webhook receiver (payload version 4): opens, updates and resolves one incident per alert group",
      security: [{ bearer: [] }],
      body: alertmanagerWebhookSchema,
      response: { 200: z.object({ action: z.enum(['opened', 'updated', 'resolved', 'ignored']), incidentId: z.uuid().nullable(), number: z.number().nullable() }), ...problemResponses(401, 503) },
    },
    handler: async (req) => deps.incidents.ingest(req.body),
  });

  app.get('/v1/ops/incidents', {
    config: operator('ops.read'),
    schema: {
      tags,
      summary: 'Incidents, newest first (platform admins and operators)',
      querystring: z.object({
        status: z.enum(['open', 'acknowledged', 'resolved', 'active']).optional(),
        severity: z.coerce.number().int().refine((n) => (SEVERITIES as readonly number[]).includes(n), 'one of 1, 2, 3, 4').optional(),
        cursor: z.coerce.number().int().positive().optional(),
        limit: z.coerce.number().int().min(1).max(200).default(50),
      }),
      response: { ...problemResponses(403), 200: z.object({ incidents: z.array(incidentView), nextCursor: z.number().nullable(), now: serverNow }) },
    },
    handler: async (req) => ({ ...(await deps.incidents.list({ ...req.query, severity: req.query.severity as 1 | 2 | 3 | 4 | undefined })), now: deps.clock.now() }),
  });

  app.get('/v1/ops/incidents/:incidentId', {
    config: operator('ops.read'),
    schema: { tags, summary: 'An incident with its alerts, timeline, public updates and escalation deliveries', params: idParams, response: { ...problemResponses(403), 200: z.object({ incident: incidentDetail, now: serverNow }) } },
    handler: async (req) => ({ incident: await deps.incidents.detail(req.params.incidentId), now: deps.clock.now() }),
  });

  app.post('/v1/ops/incidents/:incidentId/acknowledge', {
    config: operator('ops.manage'),
    schema: { tags, summary: 'Acknowledge: stops the escalation (idempotent)', params: idParams, response: { ...problemResponses(403, 409), 200: z.object({ incident: incidentView }) } },
    handler: async (req) => ({ incident: await deps.incidents.acknowledge(req.params.incidentId, actor(req)) }),
  });

  app.post('/v1/ops/incidents/:incidentId/roles', {
    config: operator('ops.manage'),
    schema: {
      tags,
      summary: 'Assign (or clear with null) the incident commander, technical lead and communications lead: platform users',
      params: idParams,
      body: roles.partial().strict(),
      response: { ...problemResponses(403, 409), 200: z.object({ incident: incidentView }) },
    },
    handler: async (req) => ({ incident: await deps.incidents.assignRoles(req.params.incidentId, actor(req), req.body) }),
  });

  app.post('/v1/ops/incidents/:incidentId/notes', {
    config: operator('ops.manage'),
    schema: { tags, summary: 'Add a note to the timeline', params: idParams, body: z.object({ text: z.string().trim().min(1).max(10_000) }), response: { ...problemResponses(403, 409), 201: z.object({ entry: timelineEntry }) } },
    handler: async (req, reply) => reply.status(201).send({ entry: await deps.incidents.addNote(req.params.incidentId, actor(req), req.body.text) }),
  });

  app.post('/v1/ops/incidents/:incidentId/resolve', {
    config: operator('ops.manage'),
    schema: { tags, summary: 'Resolve (sends resolve to every target the escalation paged)', params: idParams, body: z.object({ resolution: z.string().trim().min(1).max(5000).optional() }).default({}), response: { ...problemResponses(403, 409), 200: z.object({ incident: incidentView }) } },
    handler: async (req) => ({ incident: await deps.incidents.resolve(req.params.incidentId, actor(req), req.body.resolution) }),
  });

  app.post('/v1/ops/incidents/:incidentId/public-updates', {
    config: operator('ops.manage'),
    schema: {
      tags,
      summary: "Post a status page update (the incident's communications lead only); the first one needs a public title",
      params: idParams,
      body: z.object({
        status: publicStatus,
        message: z.string().trim().min(1).max(5000),
        title: z.string().trim().min(1).max(200).optional(),
        components: z.array(z.enum(COMPONENT_IDS)).max(COMPONENT_IDS.length).optional(),
      }),
      response: { ...problemResponses(403, 409), 201: z.object({ update: publicUpdate }) },
    },
    handler: async (req, reply) => reply.status(201).send({ update: await deps.incidents.postPublicUpdate(req.params.incidentId, actor(req), req.body) }),
  });

  app.post('/v1/ops/incidents/:incidentId/postmortem/done', {
    config: operator('ops.manage'),
    schema: {
      tags,
      summary: 'Mark the post-mortem of a resolved incident done (optionally with a link to it): its 24 h reminder stops; audit-logged',
      params: idParams,
      body: z
        .object({ url: z.url({ protocol: /^https?$/ }).max(2000).optional() })
        .strict()
        .default({}),
      response: { ...problemResponses(403, 409), 200: z.object({ incident: incidentView }) },
    },
    handler: async (req) => ({ incident: await deps.incidents.markPostmortemDone(req.params.incidentId, actor(req), req.body.url) }),
  });

  app.get('/v1/ops/responders', {
    config: operator('ops.read'),
    schema: {
      tags,
      summary: 'People who can take an incident role: you, and the members of the ops workspace whose role holds ops.manage',
      response: { ...problemResponses(403), 200: z.object({ responders: z.array(z.object({ id: z.uuid(), name: z.string(), email: z.string(), you: z.boolean() })) }) },
    },
    handler: async (req) => ({ responders: await deps.responders(req.principal!.userId) }),
  });

  // ---- escalation routes (ADR 0802)

  app.get('/v1/ops/escalation-routes', {
    config: operator('ops.read'),
    schema: {
      tags,
      summary: 'Escalation routes of the ops workspace, and what each of its connections receives (no route: escalations of Sev1-3)',
      response: { ...problemResponses(403, 409, 503), 200: routesDocument },
    },
    handler: async () => deps.incidents.describeRoutes(),
  });

  app.put('/v1/ops/escalation-routes', {
    config: operator('ops.manage'),
    schema: {
      tags,
      summary:
        'Replace the escalation routes: per connection, the severities it receives (Sev1-3 escalation pages, Sev4 bug tickets), those notified at open, and whether it gets communication reminders; audit-logged',
      body: z
        .object({
          routes: z
            .array(
              z
                .object({
                  connectionId: z.uuid(),
                  severities: severityList,
                  immediate: severityList.optional(),
                  reminders: z.boolean().optional(),
                })
                .strict(),
            )
            .max(100),
        })
        .strict(),
      response: { ...problemResponses(403, 409, 503), 200: routesDocument },
    },
    handler: async (req) => deps.incidents.replaceRoutes(actor(req), req.body.routes),
  });

  app.get('/v1/ops/incidents/:incidentId/postmortem', {
    config: operator('ops.read'),
    schema: {
      tags,
      summary: "The runbook's post-mortem template as Markdown, pre-filled with times, duration, severity, team, alerts and timeline",
      params: idParams,
      response: { ...problemResponses(403), 200: mediaResponse('text/markdown', z.string(), 'The post-mortem Markdown') },
    },
    handler: async (req, reply) => {
      const detail = await deps.incidents.detail(req.params.incidentId);
      const ids = new Set<string>([...Object.values(detail.roles), detail.acknowledgedBy, detail.resolvedBy, ...detail.timeline.map((t) => t.actorId)].filter((x): x is string => Boolean(x)));
      const names = new Map<string, string>();
      for (const id of ids) {
        const u = await deps.user(id);
        if (u) names.set(id, u.name);
      }
      return reply
        .type('text/markdown; charset=utf-8')
        .header('content-disposition', `inline; filename="postmortem-incident-${detail.number}.md"`)
        .send(postMortemMarkdown(detail, names, deps.clock.now()));
    },
  });

  // ---- deployment history

  app.get('/v1/ops/deployments', {
    config: operator('ops.read'),
    schema: {
      tags,
      summary: 'Deployment history, newest first, with success rates per environment',
      querystring: z.object({
        environment: deploymentInput.shape.environment.optional(),
        cursor: z.coerce.number().int().positive().optional(),
        limit: z.coerce.number().int().min(1).max(500).default(50),
      }),
      response: {
        ...problemResponses(403),
        200: z.object({
          deployments: z.array(deploymentView),
          environments: z.array(
            z.object({
              environment: z.string(),
              total: z.number(),
              success: z.number(),
              failed: z.number(),
              rolledBack: z.number(),
              successRate: z.number(),
              lastDeployment: z.object({ version: z.string(), result: z.string(), recordedAt: z.date() }).nullable(),
            }),
          ),
          nextCursor: z.number().nullable(),
        }),
      },
    },
    handler: async (req) => deps.deployments.history({ environment: req.query.environment, before: req.query.cursor, limit: req.query.limit }),
  });

  app.post('/v1/ops/deployments', {
    // CI with the V01T_DEPLOY_TOKEN bearer, or a platform admin's token with the ops.manage scope.
    config: { auth: 'secret:ops.deploy', permission: 'ops.manage', platformAdmins: 'only' },
    schema: {
      tags,
      summary: 'Record a deployment (as v01t deploy record does): CI with the V01T_DEPLOY_TOKEN bearer, or a platform admin',
      security: [{ bearer: [] }],
      body: z.object({ ...deploymentInput.shape, result: z.enum(DEPLOYMENT_RESULTS) }),
      response: { 201: z.object({ deployment: deploymentView }), ...problemResponses(401, 403) },
    },
    handler: async (req, reply) => {
      const via = req.sharedSecret === 'ops.deploy' ? 'ci' : 'api';
      const deployment = await deps.deployments.record(req.body, { via, actorId: req.principal?.userId ?? null, ip: req.ip ?? null });
      return reply.status(201).send({ deployment });
    },
  });

  // ---- public status page

  const statusJson = z.object({
    title: z.string(),
    status: z.enum(['operational', 'degraded_performance', 'partial_outage', 'major_outage']),
    description: z.string(),
    updatedAt: z.string(),
    components: z.array(z.object({ id: z.string(), name: z.string(), status: z.string() })),
    incidents: z.array(
      z.object({
        id: z.uuid(),
        title: z.string(),
        impact: z.string(),
        status: publicStatus,
        components: z.array(z.string()),
        startedAt: z.string(),
        resolvedAt: z.string().nullable(),
        updates: z.array(z.object({ at: z.string(), status: publicStatus, message: z.string() })),
      }),
    ),
  });
  const compute = () => statusDocument(deps.incidents.repo, deps.clock, deps.settings.statusPageTitle);
  const doc = () => (deps.responses ? deps.responses.through(PLATFORM_TENANT, 'status', compute, { versioned: true }) : compute());
  app.get('/status.json', {
    config: { auth: 'none' },
    schema: { tags, summary: 'Public status: components and published incident updates', security: [], response: { 200: statusJson } },
    handler: async (_req, reply) => {
      reply.header('cache-control', 'public, max-age=15');
      return doc();
    },
  });
  app.get('/status', {
    config: { auth: 'none' },
    schema: {
      tags,
      summary: 'Public status page (HTML; JSON with Accept: application/json)',
      security: [],
      response: { 200: { description: 'The status page: HTML, or with Accept: application/json the /status.json document', content: { 'text/html': { schema: z.string() }, 'application/json': { schema: statusJson } } } },
    },
    handler: async (req, reply) => {
      const accept = String(req.headers.accept ?? '');
      const d = await doc();
      reply.header('cache-control', 'public, max-age=15').header('vary', 'accept');
      if (accept.includes('application/json') && !accept.includes('text/html')) return reply.type('application/json; charset=utf-8').send(JSON.stringify(d));
      return reply.type('text/html; charset=utf-8').send(statusHtml(d));
    },
  });
}

import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { problemResponses } from '../../kernel/http/problem.js';
import type { App } from '../../kernel/http/server.js';
import { AppError } from '../../kernel/errors.js';
import type { Clock } from '../../kernel/clock.js';
import { GDPR_REQUEST_CHANNELS, GDPR_REQUEST_KINDS, GDPR_REQUEST_STATUSES } from './gdpr-requests.repository.js';
import { GDPR_ANSWER_DAYS, type GdprRequestService, type GdprRequestView } from './gdpr-requests.service.js';

export const gdprRequestSchema = z.object({
  id: z.uuid(),
  number: z.number(),
  kind: z.enum(GDPR_REQUEST_KINDS).describe('access (art. 15/20: a copy of the data, an export), erasure (art. 17), rectification (16), restriction (18), objection (21)'),
  userId: z.uuid().nullable(),
  email: z.string().nullable(),
  channel: z.enum(GDPR_REQUEST_CHANNELS),
  details: z.string().nullable(),
  receivedAt: z.date(),
  dueAt: z.date().describe(`receivedAt + ${GDPR_ANSWER_DAYS} days (GDPR art. 12(3): one month)`),
  status: z.enum(GDPR_REQUEST_STATUSES),
  overdue: z.boolean().describe('Open (received or in progress) and past dueAt'),
  refusalReason: z.string().nullable(),
  resolution: z.string().nullable(),
  recordedBy: z.uuid().nullable(),
  handledBy: z.uuid().nullable(),
  startedAt: z.date().nullable(),
  closedAt: z.date().nullable(),
});
const auditEntry = z.object({ id: z.uuid(), seq: z.number(), occurredAt: z.date(), action: z.string(), actorId: z.uuid().nullable(), data: z.record(z.string(), z.unknown()) });
const serverNow = z.date().describe("The server's time of the answer (overdue is judged against it)");
const idParams = z.object({ requestId: z.uuid() });
const tags = ['admin'];

const publicView = (r: GdprRequestView) => {
  const { auditIds: _links, ...rest } = r;
  return rest;
};

const adminOnly = (req: FastifyRequest) => {
  if (!req.principal!.platformAdmin) throw new AppError('forbidden', 'Platform administrators only');
};
const actor = (req: FastifyRequest) => ({ actorId: req.principal!.userId, ip: req.ip ?? null });

/**
 * /v1/admin/gdpr-requests: the register of data subject requests for platform admins (ADR 0064);
 * /v1/me/gdpr-requests: a user's own requests, and the requests the web app cannot fulfil at once.
 */
export function gdprRequestRoutes(app: App, deps: { gdpr: GdprRequestService; clock: Clock }): void {
  app.get('/v1/admin/gdpr-requests', {
    schema: {
      tags,
      summary: 'GDPR requests register: open ones by due date (status=open, the default), overdue ones, or by status; platform admins only',
      querystring: z.object({
        status: z.enum(['open', 'overdue', 'all', ...GDPR_REQUEST_STATUSES]).default('open'),
        kind: z.enum(GDPR_REQUEST_KINDS).optional(),
        userId: z.uuid().optional(),
        cursor: z.coerce.number().int().positive().optional().describe('number of the last request of the previous page (status all, completed, refused)'),
        limit: z.coerce.number().int().min(1).max(500).default(100),
      }),
      response: { ...problemResponses(403), 200: z.object({ requests: z.array(gdprRequestSchema), nextCursor: z.number().nullable(), now: serverNow }) },
    },
    handler: async (req) => {
      adminOnly(req);
      const q = req.query;
      const list = await deps.gdpr.list({ status: q.status === 'all' ? undefined : q.status, kind: q.kind, userId: q.userId, before: q.cursor, limit: q.limit });
      const paged = q.status !== 'open' && q.status !== 'overdue' && list.length === q.limit;
      return { requests: list.map(publicView), nextCursor: paged ? list[list.length - 1]!.number : null, now: deps.clock.now() };
    },
  });

  app.post('/v1/admin/gdpr-requests', {
    schema: {
      tags,
      summary: `Record a data subject request received outside the web app (an email): due ${GDPR_ANSWER_DAYS} days after receipt; platform admins only`,
      body: z
        .object({
          kind: z.enum(GDPR_REQUEST_KINDS),
          userId: z.uuid().optional(),
          email: z.email().max(254).optional(),
          details: z.string().trim().min(1).max(5000).optional(),
          receivedAt: z.coerce.date().optional().describe('When the request arrived (default: now); the deadline counts from it'),
        })
        .strict()
        .refine((b) => b.userId || b.email, { message: 'the subject: userId or email', path: ['email'] }),
      response: { ...problemResponses(400, 403, 404), 201: z.object({ request: gdprRequestSchema }) },
    },
    handler: async (req, reply) => {
      adminOnly(req);
      const request = await deps.gdpr.record({ ...req.body, channel: 'api' }, actor(req));
      return reply.status(201).send({ request: publicView(request) });
    },
  });

  app.get('/v1/admin/gdpr-requests/:requestId', {
    schema: {
      tags,
      summary: 'One GDPR request with its audit trail (received, started, the export or erasure, completed or refused); platform admins only',
      params: idParams,
      response: { ...problemResponses(403, 404), 200: z.object({ request: gdprRequestSchema, audit: z.array(auditEntry), now: serverNow }) },
    },
    handler: async (req) => {
      adminOnly(req);
      const request = await deps.gdpr.get(req.params.requestId);
      const audit = (await deps.gdpr.auditTrail(request)).map((e) => ({ id: e.id, seq: e.seq, occurredAt: e.occurredAt, action: e.action, actorId: e.actorId, data: e.data }));
      return { request: publicView(request), audit, now: deps.clock.now() };
    },
  });

  app.post('/v1/admin/gdpr-requests/:requestId/start', {
    schema: { tags, summary: 'Mark a received request in progress (you handle it); platform admins only', params: idParams, response: { ...problemResponses(403, 404, 409), 200: z.object({ request: gdprRequestSchema }) } },
    handler: async (req) => {
      adminOnly(req);
      return { request: publicView(await deps.gdpr.start(req.params.requestId, actor(req))) };
    },
  });

  app.post('/v1/admin/gdpr-requests/:requestId/complete', {
    schema: {
      tags,
      summary: 'Mark a request completed, saying what was done (an export or erasure is best run with v01t gdpr export|erase --request, which completes it); platform admins only',
      params: idParams,
      body: z.object({ resolution: z.string().trim().min(1).max(5000).optional() }).strict().default({}),
      response: { ...problemResponses(403, 404, 409), 200: z.object({ request: gdprRequestSchema }) },
    },
    handler: async (req) => {
      adminOnly(req);
      return { request: publicView(await deps.gdpr.complete(req.params.requestId, actor(req), req.body.resolution)) };
    },
  });

  app.post('/v1/admin/gdpr-requests/:requestId/refuse', {
    schema: {
      tags,
      summary: 'Refuse a request with the reason given to the requester (art. 12(4): e.g. identity not confirmed, manifestly unfounded); platform admins only',
      params: idParams,
      body: z.object({ reason: z.string().trim().min(1).max(5000) }).strict(),
      response: { ...problemResponses(400, 403, 404, 409), 200: z.object({ request: gdprRequestSchema }) },
    },
    handler: async (req) => {
      adminOnly(req);
      return { request: publicView(await deps.gdpr.refuse(req.params.requestId, actor(req), req.body.reason)) };
    },
  });

  // ---- the user's own requests

  app.get('/v1/me/gdpr-requests', {
    config: { scope: 'account.read' },
    schema: {
      tags: ['me'],
      summary: 'Your data subject requests (exports, erasure, and those you sent for an operator to handle), newest first',
      response: { 200: z.object({ requests: z.array(gdprRequestSchema), now: serverNow }) },
    },
    handler: async (req) => ({ requests: (await deps.gdpr.list({ status: undefined, userId: req.principal!.userId, limit: 200 })).map(publicView), now: deps.clock.now() }),
  });

  app.post('/v1/me/gdpr-requests', {
    config: { sessionOnly: true },
    schema: {
      tags: ['me'],
      summary: `Ask for a rectification, a restriction of processing, or object to processing (GDPR art. 16, 18, 21): an operator answers within ${GDPR_ANSWER_DAYS} days. Exports and erasure are self-service (GET /v1/me/export, DELETE /v1/me).`,
      body: z.object({ kind: z.enum(['rectification', 'restriction', 'objection']), details: z.string().trim().min(1).max(5000) }).strict(),
      response: { ...problemResponses(400), 201: z.object({ request: gdprRequestSchema }) },
    },
    handler: async (req, reply) => {
      const request = await deps.gdpr.record({ kind: req.body.kind, userId: req.principal!.userId, details: req.body.details, channel: 'self_service' }, actor(req));
      return reply.status(201).send({ request: publicView(request) });
    },
  });
}

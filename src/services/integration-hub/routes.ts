import { z } from 'zod';
import { problemResponses } from '../../kernel/http/problem.js';
import type { App } from '../../kernel/http/server.js';
import type { ConnectionsService, Actor } from './connections.service.js';
import type { OAuthService } from './oauth.service.js';
import type { InboundService } from './inbound.service.js';
import { catalog, CONNECTORS } from './connectors/index.js';
import { rateLimitInput, rateLimitView } from './rate-limit.js';

const idParam = z.uuid();
const ws = z.object({ workspaceId: idParam });
const conn = ws.extend({ connectionId: idParam });

const connectionSchema = z.object({
  id: z.uuid(),
  workspaceId: z.uuid(),
  connector: z.string(),
  name: z.string(),
  config: z.record(z.string(), z.unknown()),
  status: z.enum(['active', 'needs_reauth', 'disabled']),
  statusDetail: z.string().nullable(),
  canPublish: z.boolean(),
  credentialFields: z.array(z.string()).describe('Which credential fields are set; values are never returned'),
  tokenExpiresAt: z.date().nullable(),
  rateLimit: rateLimitView,
  createdAt: z.date(),
  updatedAt: z.date(),
});

const requestLogSchema = z.object({
  id: z.number(),
  occurredAt: z.date(),
  actorId: z.uuid().nullable(),
  method: z.string(),
  host: z.string(),
  path: z.string(),
  status: z.number().nullable(),
  errorCode: z.string().nullable(),
  durationMs: z.number(),
});

const actorOf = (req: { principal?: { userId: string }; ip: string }): Actor => ({ userId: req.principal?.userId ?? null, ip: req.ip });

export function integrationRoutes(app: App, deps: { connections: ConnectionsService; oauth: OAuthService; inbound: InboundService }): void {
  const { connections, oauth, inbound } = deps;
  const tags = ['integrations'];

  app.get('/v1/connectors', {
    schema: {
      tags,
      summary: 'The connector catalog: credential, config and action schemas (JSON Schema), and which connectors can publish',
      response: { 200: z.object({ connectors: z.array(z.record(z.string(), z.unknown())) }) },
    },
    handler: async () => ({ connectors: catalog() }),
  });

  app.post('/v1/workspaces/:workspaceId/connections', {
    config: { permission: 'integrations.write' },
    schema: {
      tags,
      summary: 'Create a connection; credentials are write-only. inboundUrl (webhook receivers) is shown once',
      params: ws,
      body: z.object({
        connector: z.enum(Object.keys(CONNECTORS) as [string, ...string[]]),
        name: z.string().trim().min(1).max(100),
        credentials: z.record(z.string(), z.unknown()).default({}),
        config: z.record(z.string(), z.unknown()).default({}),
        rateLimit: rateLimitInput.nullable().optional().describe('Outbound rate limit of this connection (requests per windowSeconds, optional burst); omitted or null = the process default'),
      }),
      response: { 201: z.object({ connection: connectionSchema, inboundUrl: z.string().nullable() }), ...problemResponses(409, 422, 502, 503, 504) },
    },
    handler: async (req, reply) => reply.status(201).send(await connections.create(actorOf(req), req.params.workspaceId, req.body)),
  });

  app.get('/v1/workspaces/:workspaceId/connections', {
    config: { permission: 'integrations.read' },
    schema: { tags, params: ws, response: { 200: z.object({ connections: z.array(connectionSchema) }) } },
    handler: async (req) => ({ connections: await connections.list(req.params.workspaceId) }),
  });

  app.get('/v1/workspaces/:workspaceId/connections/health', {
    config: { permission: 'integrations.read' },
    schema: {
      tags,
      summary: 'Checks every connection concurrently (each bounded by a timeout)',
      params: ws,
      response: {
        200: z.object({
          checkedAt: z.date(),
          healthy: z.boolean(),
          connections: z.array(z.object({ id: z.uuid(), name: z.string(), connector: z.string(), status: z.enum(['up', 'down', 'disabled']), detail: z.string().nullable() })),
        }),
      },
    },
    handler: async (req) => connections.health(actorOf(req), req.params.workspaceId),
  });

  app.get('/v1/workspaces/:workspaceId/connections/:connectionId', {
    config: { permission: 'integrations.read' },
    schema: { tags, params: conn, response: { 200: z.object({ connection: connectionSchema }) } },
    handler: async (req) => ({ connection: await connections.get(req.params.workspaceId, req.params.connectionId) }),
  });

  app.patch('/v1/workspaces/:workspaceId/connections/:connectionId', {
    config: { permission: 'integrations.write' },
    schema: {
      tags,
      summary: 'Rename, reconfigure, disable, set the outbound rate limit, or replace credential fields (merged over the stored ones)',
      params: conn,
      body: z.object({
        name: z.string().trim().min(1).max(100).optional(),
        config: z.record(z.string(), z.unknown()).optional(),
        credentials: z.record(z.string(), z.unknown()).optional(),
        status: z.enum(['active', 'disabled']).optional(),
        rateLimit: rateLimitInput.nullable().optional().describe('Replaces the outbound rate limit as a whole; null = back to the process default'),
      }),
      response: { 200: z.object({ connection: connectionSchema }), ...problemResponses(409) },
    },
    handler: async (req) => ({ connection: await connections.update(actorOf(req), req.params.workspaceId, req.params.connectionId, req.body) }),
  });

  app.delete('/v1/workspaces/:workspaceId/connections/:connectionId', {
    config: { permission: 'integrations.write' },
    schema: { tags, params: conn, response: { 204: z.null() } },
    handler: async (req, reply) => {
      await connections.remove(actorOf(req), req.params.workspaceId, req.params.connectionId);
      return reply.status(204).send(null);
    },
  });

  app.post('/v1/workspaces/:workspaceId/connections/:connectionId/test', {
    config: { permission: 'integrations.write' },
    schema: { tags, summary: 'Runs the connector\'s health check against the provider', params: conn, response: { 200: z.object({ ok: z.boolean(), detail: z.string().nullable(), durationMs: z.number() }), ...problemResponses(409, 422, 429, 502, 503, 504) } },
    handler: async (req) => connections.test(actorOf(req), req.params.workspaceId, req.params.connectionId),
  });

  app.post('/v1/workspaces/:workspaceId/connections/:connectionId/actions/:action', {
    config: { permission: 'integrations.write' },
    schema: {
      tags,
      summary: 'Runs a connector action with validated input (see GET /v1/connectors for the schemas)',
      description: 'With an Idempotency-Key header, the same key on the same connection answers the first successful output instead of running the action again.',
      params: conn.extend({ action: z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,63}$/) }),
      headers: z.object({ 'idempotency-key': z.string().min(1).max(200).optional() }),
      body: z.object({ input: z.record(z.string(), z.unknown()).default({}) }),
      response: { 200: z.object({ output: z.record(z.string(), z.unknown()) }), ...problemResponses(409, 422, 429, 502, 503, 504) },
    },
    handler: async (req) =>
      connections.runAction(actorOf(req), req.params.workspaceId, req.params.connectionId, req.params.action, req.body.input, { idempotencyKey: req.headers['idempotency-key'] }),
  });

  app.get('/v1/workspaces/:workspaceId/connections/:connectionId/requests', {
    config: { permission: 'integrations.read' },
    schema: {
      tags,
      summary: 'The connection\'s outbound request log, newest first (method, host, path, status, duration; never secrets)',
      params: conn,
      querystring: z.object({ cursor: z.coerce.number().int().positive().optional(), limit: z.coerce.number().int().min(1).max(200).default(50) }),
      response: { 200: z.object({ requests: z.array(requestLogSchema), nextCursor: z.number().nullable() }) },
    },
    handler: async (req) => {
      const rows = await connections.requestLog(req.params.workspaceId, req.params.connectionId, req.query.cursor, req.query.limit);
      return {
        requests: rows.map((r) => ({ id: r.id, occurredAt: r.occurredAt, actorId: r.actorId, method: r.method, host: r.host, path: r.path, status: r.status, errorCode: r.errorCode, durationMs: r.durationMs })),
        nextCursor: rows.length === req.query.limit ? rows[rows.length - 1]!.id : null,
      };
    },
  });

  app.post('/v1/workspaces/:workspaceId/connections/:connectionId/oauth/start', {
    config: { permission: 'integrations.write' },
    schema: {
      tags,
      summary: 'Starts the OAuth 2.0 authorisation code flow (PKCE S256 + state); open authorizeUrl in a browser',
      params: conn,
      body: z
        .object({
          redirectUri: z.url().optional().describe('Defaults to V01T_PUBLIC_URL + /oauth/integrations/callback'),
          returnTo: z
            .string()
            .max(500)
            .regex(/^\/(?![/\\])[^\s]*$/, 'a path on this server, starting with a single /')
            .optional()
            .describe('A path of the web app: the callback then redirects (303) there with ?oauth=connected or ?oauth=failed&code=... instead of answering JSON'),
        })
        .default({}),
      response: { 200: z.object({ authorizeUrl: z.string(), expiresAt: z.date() }), ...problemResponses(409) },
    },
    handler: async (req) => oauth.start(actorOf(req), req.params.workspaceId, req.params.connectionId, req.body.redirectUri, req.body.returnTo),
  });

  app.get('/oauth/integrations/callback', {
    schema: {
      tags,
      summary: 'OAuth redirect target: exchanges the code (with the PKCE verifier) and stores the tokens',
      querystring: z.object({ state: z.string().min(1).max(200), code: z.string().min(1).max(2000).optional(), error: z.string().max(200).optional() }),
      response: {
        200: z.object({ connectionId: z.uuid(), status: z.string() }).describe('A flow started without returnTo: the connection is authorised'),
        303: z.null().describe('A flow started with returnTo (the web app): Location is that page with ?oauth=connected or ?oauth=failed&code=...'),
        ...problemResponses(404, 409, 422, 429, 502, 503, 504),
      },
    },
    handler: async (req, reply) => {
      const { redirect, ...done } = await oauth.callback(req.query);
      if (redirect) return reply.redirect(redirect, 303);
      return done;
    },
  });

  // Inbound deliveries need the raw bytes for signature checks: this scope parses every body as a Buffer.
  app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    scope.post('/hooks/connections/:token', {
      schema: {
        tags,
        summary: 'Inbound webhook of a connection (GitHub X-Hub-Signature-256, Slack signing secret, Standard Webhooks)',
        params: z.object({ token: z.string().min(20).max(100) }),
        response: { 200: z.object({ status: z.enum(['accepted', 'duplicate']), challenge: z.string().optional() }), ...problemResponses(401, 503) },
      },
      handler: async (req) => inbound.receive((req.params as { token: string }).token, req.headers as Record<string, string | undefined>, Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0)),
    });
  });
}

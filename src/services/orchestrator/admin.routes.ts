import { z } from 'zod';
import { problemResponses } from '../../kernel/http/problem.js';
import type { App } from '../../kernel/http/server.js';
import { AppError } from '../../kernel/errors.js';
import type { IdentityRepository } from './identity.repository.js';
import type { AuthService } from './auth.service.js';
import { pageQuery } from './schemas.js';

export function adminRoutes(app: App, deps: { identity: IdentityRepository }): void {
  app.get('/v1/admin/security-events', {
    schema: {
      tags: ['admin'],
      summary: 'Security events (failed sign-ins, blocked addresses, backoffs); platform admins only',
      querystring: z.object({
        kind: z.string().max(50).optional(),
        ip: z.string().max(64).optional(),
        userId: z.uuid().optional(),
        from: z.coerce.date().optional(),
        to: z.coerce.date().optional(),
        ...pageQuery,
      }),
      response: { ...problemResponses(403),
        200: z.object({
          events: z.array(
            z.object({ id: z.number(), occurredAt: z.date(), kind: z.string(), ip: z.string().nullable(), userId: z.string().nullable(), email: z.string().nullable(), detail: z.record(z.string(), z.unknown()) }),
          ),
          nextCursor: z.number().nullable(),
        }),
      },
    },
    handler: async (req) => {
      if (!req.principal!.platformAdmin) throw new AppError('forbidden', 'Platform administrators only');
      const q = req.query;
      const rows = await deps.identity.securityEvents({ kind: q.kind, ip: q.ip, userId: q.userId, from: q.from, to: q.to, before: q.cursor, limit: q.limit });
      return {
        events: rows.map((r) => ({ id: r.id, occurredAt: r.occurredAt, kind: r.kind, ip: r.ip, userId: r.userId, email: r.emailNormalized, detail: r.detail })),
        nextCursor: rows.length === q.limit ? rows[rows.length - 1]!.id : null,
      };
    },
  });
}

/**
 * The identity API other services call when v01t runs split (one service per process).
 * Guarded by the shared V01T_INTERNAL_TOKEN; hidden from the public OpenAPI document.
 */
export function internalRoutes(app: App, deps: { auth: AuthService }): void {
  app.post('/internal/identity/authenticate', {
    config: { auth: 'secret:internal' },
    schema: { hide: true, body: z.object({ token: z.string().max(300) }) },
    handler: async (req) => ({ principal: await deps.auth.authenticate(req.body.token) }),
  });
  app.post('/internal/identity/access', {
    config: { auth: 'secret:internal' },
    schema: { hide: true, body: z.object({ userId: z.uuid(), workspaceId: z.uuid() }) },
    handler: async (req) => ({ access: await deps.auth.workspaceAccess(req.body.userId, req.body.workspaceId) }),
  });
}

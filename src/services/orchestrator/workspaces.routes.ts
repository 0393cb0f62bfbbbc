import { z } from 'zod';
import { problemResponses } from '../../kernel/http/problem.js';
import type { App } from '../../kernel/http/server.js';
import { ROLES } from '../../kernel/auth/permissions.js';
import type { AuditLog } from '../../kernel/audit/index.js';
import type { WorkspacesService } from './workspaces.service.js';
import { auditEntrySchema, emailSchema, idParam, invitationSchema, memberSchema, pageQuery, personasBody, workspaceSchema } from './schemas.js';

const ws = z.object({ workspaceId: idParam });

export function workspaceRoutes(app: App, deps: { workspaces: WorkspacesService; audit: AuditLog }): void {
  const { workspaces, audit } = deps;
  const tags = ['workspaces'];
  const actor = (req: { principal?: unknown; access?: unknown; ip: string }) =>
    ({ principal: req.principal, access: req.access, ip: req.ip }) as Parameters<WorkspacesService['create']>[0];

  app.post('/v1/workspaces', {
    config: { scope: 'account.manage' },
    schema: {
      tags,
      summary: 'Create a workspace; the creator becomes its owner',
      description: 'With V01T_REQUIRE_VERIFIED_EMAIL=true an account whose address is not confirmed gets 403 `email_unverified`.',
      body: z.object({ name: z.string().trim().min(1).max(100) }),
      response: { ...problemResponses(403), 201: z.object({ workspace: workspaceSchema }) },
    },
    handler: async (req, reply) => reply.status(201).send({ workspace: await workspaces.create(actor(req), req.body.name) }),
  });

  app.get('/v1/workspaces', {
    config: { scope: 'account.read' },
    schema: { tags, summary: 'Workspaces the caller belongs to, with the caller\'s role', response: { 200: z.object({ workspaces: z.array(workspaceSchema) }) } },
    handler: async (req) => ({ workspaces: await workspaces.listForUser(req.principal!.userId) }),
  });

  app.get('/v1/workspaces/:workspaceId', {
    config: { permission: 'workspace.read' },
    schema: { tags, params: ws, response: { 200: z.object({ workspace: workspaceSchema }) } },
    handler: async (req) => ({ workspace: await workspaces.get(req.params.workspaceId, req.access!.role) }),
  });

  app.patch('/v1/workspaces/:workspaceId', {
    config: { permission: 'workspace.update' },
    schema: {
      tags,
      summary: 'Rename the workspace or require MFA of every member',
      params: ws,
      body: z.object({ name: z.string().trim().min(1).max(100).optional(), requireMfa: z.boolean().optional() }),
      response: { 200: z.object({ workspace: workspaceSchema }) },
    },
    handler: async (req) => ({ workspace: await workspaces.update(actor(req), req.params.workspaceId, req.body) }),
  });

  app.delete('/v1/workspaces/:workspaceId', {
    config: { permission: 'workspace.delete' },
    schema: { tags, summary: 'Delete the workspace (owners only)', params: ws, response: { 204: z.null() } },
    handler: async (req, reply) => {
      await workspaces.remove(actor(req), req.params.workspaceId);
      return reply.status(204).send(null);
    },
  });

  app.get('/v1/workspaces/:workspaceId/members', {
    config: { permission: 'members.read' },
    schema: { tags, params: ws, response: { 200: z.object({ members: z.array(memberSchema) }) } },
    handler: async (req) => ({ members: await workspaces.members(req.params.workspaceId) }),
  });

  app.delete('/v1/workspaces/:workspaceId/members/me', {
    config: { permission: 'workspace.read' },
    schema: { tags, summary: 'Leave the workspace (the last owner cannot)', params: ws, response: { ...problemResponses(409), 204: z.null() } },
    handler: async (req, reply) => {
      await workspaces.removeMember(actor(req), req.params.workspaceId, req.principal!.userId);
      return reply.status(204).send(null);
    },
  });

  app.get('/v1/workspaces/:workspaceId/members/me/personas', {
    config: { permission: 'workspace.read' },
    schema: { tags, summary: 'Your personas in this workspace', params: ws, response: { 200: personasBody } },
    handler: async (req) => ({ personas: await workspaces.personas(req.params.workspaceId, req.principal!.userId) }),
  });

  app.put('/v1/workspaces/:workspaceId/members/me/personas', {
    config: { permission: 'workspace.read' },
    schema: { tags, summary: 'Pick your personas (founder, vCreator, vBuilder, vAnalyst, vAutomator)', params: ws, body: personasBody, response: { 200: personasBody } },
    handler: async (req) => ({ personas: await workspaces.setPersonas(actor(req), req.params.workspaceId, req.body.personas) }),
  });

  const member = ws.extend({ userId: idParam });
  app.patch('/v1/workspaces/:workspaceId/members/:userId', {
    config: { permission: 'members.manage' },
    schema: {
      tags,
      summary: 'Change a member\'s role',
      params: member,
      body: z.object({ role: z.enum(ROLES) }),
      response: { ...problemResponses(409), 200: z.object({ member: z.object({ userId: z.uuid(), role: z.enum(ROLES), personas: z.array(z.string()), joinedAt: z.date() }) }) },
    },
    handler: async (req) => ({ member: await workspaces.changeRole(actor(req), req.params.workspaceId, req.params.userId, req.body.role) }),
  });

  app.delete('/v1/workspaces/:workspaceId/members/:userId', {
    config: { permission: 'members.manage' },
    schema: { tags, summary: 'Remove a member', params: member, response: { ...problemResponses(409), 204: z.null() } },
    handler: async (req, reply) => {
      await workspaces.removeMember(actor(req), req.params.workspaceId, req.params.userId);
      return reply.status(204).send(null);
    },
  });

  app.post('/v1/workspaces/:workspaceId/invitations', {
    config: { permission: 'members.manage' },
    schema: {
      tags,
      summary: 'Invite someone by email; the invitee is mailed a link to the accept page (the token is also shown here, once)',
      params: ws,
      body: z.object({ email: emailSchema, role: z.enum(ROLES).default('viewer') }),
      response: { ...problemResponses(409), 201: z.object({ invitation: invitationSchema, token: z.string() }) },
    },
    handler: async (req, reply) => reply.status(201).send(await workspaces.invite(actor(req), req.params.workspaceId, req.body.email, req.body.role)),
  });

  app.get('/v1/workspaces/:workspaceId/invitations', {
    config: { permission: 'members.manage' },
    schema: { tags, summary: 'Pending invitations', params: ws, response: { 200: z.object({ invitations: z.array(invitationSchema) }) } },
    handler: async (req) => ({ invitations: await workspaces.invitations(req.params.workspaceId) }),
  });

  app.delete('/v1/workspaces/:workspaceId/invitations/:invitationId', {
    config: { permission: 'members.manage' },
    schema: { tags, summary: 'Revoke a pending invitation', params: ws.extend({ invitationId: idParam }), response: { 204: z.null() } },
    handler: async (req, reply) => {
      await workspaces.revokeInvitation(actor(req), req.params.workspaceId, req.params.invitationId);
      return reply.status(204).send(null);
    },
  });

  app.post('/v1/workspaces/:workspaceId/invitations/:invitationId/resend', {
    config: { permission: 'members.manage' },
    schema: {
      tags,
      summary: 'Mail a pending invitation again with a new link (the previous link stops working; the expiry restarts)',
      params: ws.extend({ invitationId: idParam }),
      response: { 200: z.object({ invitation: invitationSchema, token: z.string() }) },
    },
    handler: async (req) => workspaces.resendInvitation(actor(req), req.params.workspaceId, req.params.invitationId),
  });

  app.post('/v1/invitations/accept', {
    config: { sessionOnly: true },
    schema: { tags, summary: 'Accept an invitation sent to your email address', body: z.object({ token: z.string().min(10).max(200) }), response: { ...problemResponses(404, 409, 410), 200: z.object({ workspace: workspaceSchema }) } },
    handler: async (req) => ({ workspace: await workspaces.accept(actor(req), req.body.token) }),
  });

  app.get('/v1/workspaces/:workspaceId/audit', {
    config: { permission: 'audit.read' },
    schema: {
      tags: ['audit'],
      summary: 'The workspace audit log, newest first',
      params: ws,
      querystring: z.object({
        action: z.string().max(100).optional().describe('exact action, or a prefix ending in * (e.g. member.*)'),
        actorId: idParam.optional(),
        from: z.coerce.date().optional(),
        to: z.coerce.date().optional(),
        ...pageQuery,
      }),
      response: { 200: z.object({ entries: z.array(auditEntrySchema), nextCursor: z.number().nullable() }) },
    },
    handler: async (req) => {
      const q = req.query;
      const entries = await audit.list({ workspaceId: req.params.workspaceId, action: q.action, actorId: q.actorId, from: q.from, to: q.to, before: q.cursor, limit: q.limit });
      return { entries, nextCursor: entries.length === q.limit ? entries[entries.length - 1]!.seq : null };
    },
  });
}

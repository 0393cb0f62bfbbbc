import { z } from 'zod';
import type { FastifyRequest } from 'fastify';
import type { App } from '../../kernel/http/server.js';
import { AppError } from '../../kernel/errors.js';
import type { IdentityPort } from '../../kernel/auth/principal.js';
import type { ConfigRepository } from './config.repository.js';
import type { ProfileService } from './profile.service.js';
import type { ScoringService } from './scoring.service.js';
import { problemResponses } from '../../kernel/http/problem.js';
import { LEDGER_KINDS, type LedgerReadRepository } from './ledger-read.repository.js';
import { badgeBody, badgeSchema, boardName, persona, ruleBody, rulePatch, ruleSchema, settingsPatch, settingsSchema } from './schemas.js';

const id = z.uuid();
const ws = z.object({ workspaceId: id });
const tags = ['gamification'];
const base = '/v1/workspaces/:workspaceId/gamification';

const standing = z.object({ rank: z.number().int(), userId: z.string(), score: z.number() });
const profileSchema = z.object({
  userId: z.string(),
  timezone: z.string(),
  points: z.array(z.object({ persona: z.string(), metric: z.string(), points: z.number() })),
  levels: z.array(z.object({ persona: z.string(), level: z.number().int(), xp: z.number(), levelXp: z.number(), nextLevelXp: z.number().nullable(), progress: z.number() })),
  badges: z.array(z.object({ id: z.string(), key: z.string(), name: z.string(), awardedAt: z.string() })),
  streaks: z.array(z.object({ activity: z.string(), cadence: z.string(), current: z.number().int(), longest: z.number().int(), freezes: z.number().int(), freezesUsed: z.number().int(), alive: z.boolean() })),
  rank: z.record(z.string(), z.number().int().nullable()),
  entitlements: z.array(z.object({ rewardKey: z.string(), kind: z.string(), source: z.string(), grantedAt: z.string() })),
});
const ledgerEntrySchema = z.object({
  id: z.uuid(),
  userId: z.uuid(),
  persona: z.string(),
  metric: z.string(),
  points: z.number().int(),
  kind: z.enum(LEDGER_KINDS).describe('award (a rule scored an event), adjustment (an admin\'s correction) or reversal (cancels `reverses`)'),
  eventId: z.uuid().nullable(),
  eventName: z.string().nullable(),
  ruleId: z.uuid().nullable(),
  reverses: z.uuid().nullable().describe('The entry a reversal cancels'),
  reversedBy: z.uuid().nullable().describe('The reversal of this entry; an entry is reversed at most once'),
  reason: z.string().nullable(),
  actorId: z.uuid().nullable().describe('Who adjusted or reversed'),
  occurredAt: z.iso.datetime({ offset: true }),
  recordedAt: z.iso.datetime({ offset: true }),
});
const period = z.string().regex(/^(all|week|month|week:\d{4}-W\d{2}|month:\d{4}-\d{2})$/, 'all, week, month, week:YYYY-Www or month:YYYY-MM').default('all');

export interface GamificationRouteDeps {
  configs: ConfigRepository;
  scoring: ScoringService;
  profiles: ProfileService;
  ledger: LedgerReadRepository;
  identity: () => IdentityPort;
}

export function gamificationRoutes(app: App, deps: GamificationRouteDeps): void {
  const { configs, scoring, profiles, ledger, identity } = deps;
  const actor = (req: FastifyRequest) => ({ userId: req.principal!.userId, ip: req.ip });
  // A user id of someone outside the workspace is as unknown as a missing one.
  const requireMember = async (workspaceId: string, userId: string) => {
    if (!(await identity().workspaceAccess(userId, workspaceId))) throw new AppError('not_found', 'No such member in this workspace');
  };

  app.get(`${base}/me`, {
    config: { permission: 'gamification.read' },
    schema: { tags, summary: 'Your profile: points per metric, level and progress per persona, badges, streaks, rank, entitlements', params: ws, response: { 200: z.object({ profile: profileSchema }) } },
    handler: async (req) => ({ profile: await profiles.profile(req.params.workspaceId, req.principal!.userId) }),
  });

  const day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/);
  app.get(`${base}/me/calendar`, {
    config: { permission: 'gamification.read' },
    schema: {
      tags,
      summary: 'Your streak calendar: the local days each streak activity scored, and the days (weeks) your current streaks bridged with freezes',
      params: ws,
      querystring: z.object({ days: z.coerce.number().int().min(7).max(90).default(35).describe('Days back from today, in your time zone (the ledger keeps 90)') }),
      response: {
        200: z.object({
          timezone: z.string(),
          from: day,
          to: day,
          streaks: z.array(
            z.object({
              activity: z.string(),
              cadence: z.enum(['daily', 'weekly']),
              current: z.number().int(),
              longest: z.number().int(),
              freezes: z.number().int().describe('Freezes held now'),
              alive: z.boolean(),
              activeDays: z.array(day),
              frozenPeriods: z.array(day).describe('First day of each period a freeze covered (a Monday for weekly streaks)'),
            }),
          ),
        }),
      },
    },
    handler: async (req) => profiles.calendar(req.params.workspaceId, req.principal!.userId, req.query.days),
  });

  app.get(`${base}/me/badges`, {
    config: { permission: 'gamification.read' },
    schema: {
      tags,
      summary: 'The badge catalog from your side: earned (when) or locked, with your progress towards each',
      params: ws,
      response: { 200: z.object({ badges: z.array(z.object({ badge: badgeSchema, earned: z.boolean(), awardedAt: z.string().nullable(), current: z.number(), target: z.number() })) }) },
    },
    handler: async (req) => ({ badges: await profiles.badgeProgress(req.params.workspaceId, req.principal!.userId) }),
  });

  app.put(`${base}/me/settings`, {
    config: { permission: 'gamification.participate' },
    schema: { tags, summary: 'Set your time zone (IANA), which decides your streak days and daily caps', params: ws, body: z.object({ timezone: z.string().min(1).max(64) }), response: { 200: z.object({ timezone: z.string() }) } },
    handler: async (req) => {
      await scoring.setUserTimezone(req.params.workspaceId, req.principal!.userId, req.body.timezone);
      return { timezone: req.body.timezone };
    },
  });

  app.get(`${base}/members/:userId`, {
    config: { permission: 'gamification.read' },
    schema: { tags, summary: "A member's profile", params: ws.extend({ userId: id }), response: { 200: z.object({ profile: profileSchema }) } },
    handler: async (req) => {
      await requireMember(req.params.workspaceId, req.params.userId);
      return { profile: await profiles.profile(req.params.workspaceId, req.params.userId) };
    },
  });

  const boardQuery = z.object({ board: boardName.default('workspace'), period });
  app.get(`${base}/leaderboards`, {
    config: { permission: 'gamification.read' },
    schema: {
      tags,
      summary: 'Top N of a leaderboard: board "workspace" or a persona; period all, week, month (current) or a closed period key',
      params: ws,
      querystring: boardQuery.extend({ limit: z.coerce.number().int().min(1).max(100).default(10) }),
      response: { 200: z.object({ board: z.string(), period: z.string(), standings: z.array(standing) }) },
    },
    handler: async (req) => profiles.top(req.params.workspaceId, req.query.board, req.query.period, req.query.limit),
  });

  app.get(`${base}/leaderboards/around-me`, {
    config: { permission: 'gamification.read' },
    schema: {
      tags,
      summary: 'Your rank with up to `radius` neighbours above and below',
      params: ws,
      querystring: boardQuery.extend({ radius: z.coerce.number().int().min(0).max(25).default(3) }),
      response: { 200: z.object({ board: z.string(), period: z.string(), me: standing.nullable(), neighbours: z.array(standing) }) },
    },
    handler: async (req) => profiles.around(req.params.workspaceId, req.query.board, req.query.period, req.principal!.userId, req.query.radius),
  });

  app.get(`${base}/badges`, {
    config: { permission: 'gamification.read' },
    schema: { tags, summary: 'Badge catalog', params: ws, response: { 200: z.object({ badges: z.array(badgeSchema) }) } },
    handler: async (req) => ({ badges: await configs.listBadges(req.params.workspaceId) }),
  });
  app.post(`${base}/badges`, {
    config: { permission: 'gamification.manage' },
    schema: { tags, summary: 'Add a badge (count of an event, streak, or points within a window)', params: ws, body: badgeBody, response: { 201: z.object({ badge: badgeSchema }), ...problemResponses(409) } },
    handler: async (req, reply) => reply.status(201).send({ badge: await configs.createBadge(req.params.workspaceId, req.body) }),
  });
  app.delete(`${base}/badges/:badgeId`, {
    config: { permission: 'gamification.manage' },
    schema: { tags, summary: 'Retire a badge (earned ones stay)', params: ws.extend({ badgeId: id }), response: { 204: z.null() } },
    handler: async (req, reply) => {
      await configs.archiveBadge(req.params.workspaceId, req.params.badgeId);
      return reply.status(204).send(null);
    },
  });

  app.get(`${base}/rules`, {
    config: { permission: 'gamification.read' },
    schema: { tags, summary: 'Scoring rules', params: ws, response: { 200: z.object({ rules: z.array(ruleSchema) }) } },
    handler: async (req) => ({ rules: await configs.listRules(req.params.workspaceId) }),
  });
  app.post(`${base}/rules`, {
    config: { permission: 'gamification.manage' },
    schema: { tags, summary: 'Create a rule: event + JSONata filter → points of a metric for a persona', params: ws, body: ruleBody, response: { 201: z.object({ rule: ruleSchema }) } },
    handler: async (req, reply) => reply.status(201).send({ rule: await configs.createRule(req.params.workspaceId, req.body) }),
  });
  const ruleParams = ws.extend({ ruleId: id });
  app.get(`${base}/rules/:ruleId`, {
    config: { permission: 'gamification.read' },
    schema: { tags, params: ruleParams, response: { 200: z.object({ rule: ruleSchema }) } },
    handler: async (req) => ({ rule: await configs.getRule(req.params.workspaceId, req.params.ruleId) }),
  });
  app.patch(`${base}/rules/:ruleId`, {
    config: { permission: 'gamification.manage' },
    schema: { tags, params: ruleParams, body: rulePatch, response: { 200: z.object({ rule: ruleSchema }) } },
    handler: async (req) => ({ rule: await configs.updateRule(req.params.workspaceId, req.params.ruleId, req.body) }),
  });
  app.delete(`${base}/rules/:ruleId`, {
    config: { permission: 'gamification.manage' },
    schema: { tags, summary: 'Archive a rule (its ledger entries stay)', params: ruleParams, response: { 204: z.null() } },
    handler: async (req, reply) => {
      await configs.archiveRule(req.params.workspaceId, req.params.ruleId);
      return reply.status(204).send(null);
    },
  });

  app.get(`${base}/settings`, {
    config: { permission: 'gamification.read' },
    schema: { tags, summary: 'Time zone, XP curves, freeze policy and rewards', params: ws, response: { 200: z.object({ settings: settingsSchema }) } },
    handler: async (req) => ({ settings: await configs.settings(req.params.workspaceId) }),
  });
  app.patch(`${base}/settings`, {
    config: { permission: 'gamification.manage' },
    schema: { tags, params: ws, body: settingsPatch, response: { 200: z.object({ settings: settingsSchema }) } },
    handler: async (req) => ({ settings: await configs.updateSettings(req.params.workspaceId, req.body) }),
  });

  app.post(`${base}/adjustments`, {
    config: { permission: 'gamification.manage' },
    schema: {
      tags,
      summary: "Adjust a member's points with a reason (audited)",
      params: ws,
      body: z.object({ userId: id, persona, metric: z.string().trim().min(1).max(64), points: z.number().int().min(-1_000_000).max(1_000_000), reason: z.string().trim().min(3).max(500) }),
      response: { 201: z.object({ entryId: z.string() }) },
    },
    handler: async (req, reply) => {
      await requireMember(req.params.workspaceId, req.body.userId);
      return reply.status(201).send(await scoring.adjust(req.params.workspaceId, req.body, actor(req)));
    },
  });

  app.get(`${base}/ledger`, {
    config: { permission: 'gamification.manage' },
    schema: {
      tags,
      summary: 'Ledger entries, newest recorded first: what scored, adjusted or reversed points (the ids a reversal needs)',
      params: ws,
      querystring: z.object({
        userId: id.optional(),
        kind: z.enum(LEDGER_KINDS).optional(),
        persona: z.string().min(1).max(64).optional(),
        metric: z.string().min(1).max(64).optional(),
        ruleId: id.optional(),
        from: z.iso.datetime({ offset: true }).optional().describe('Entries that occurred at or after this instant'),
        to: z.iso.datetime({ offset: true }).optional().describe('Entries that occurred before this instant'),
        cursor: z.string().max(500).optional().describe('nextCursor of the previous page'),
        limit: z.coerce.number().int().min(1).max(200).default(50),
      }),
      response: { 200: z.object({ entries: z.array(ledgerEntrySchema), nextCursor: z.string().nullable().describe('Pass as cursor for the next page; null on the last') }) },
    },
    handler: async (req) => ledger.list(req.params.workspaceId, req.query),
  });

  app.post(`${base}/ledger/:entryId/reversal`, {
    config: { permission: 'gamification.manage' },
    schema: {
      tags,
      summary: 'Reverse a ledger entry with an opposite entry (audited; once per entry)',
      params: ws.extend({ entryId: id }),
      body: z.object({ reason: z.string().trim().min(3).max(500) }),
      response: { 201: z.object({ entryId: z.string() }), ...problemResponses(409) },
    },
    handler: async (req, reply) => reply.status(201).send(await scoring.reverse(req.params.workspaceId, req.params.entryId, req.body.reason, actor(req))),
  });
}

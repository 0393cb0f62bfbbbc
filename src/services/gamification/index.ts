import client from 'prom-client';
import type { PermissionMap } from '../../kernel/auth/permissions.js';
import { eventNames, type EventName } from '../../kernel/events/index.js';
import type { ServiceContext, ServiceInstance, ServiceModule } from '../../kernel/module.js';
import { RedisCache } from '../../kernel/cache/index.js';
import { ConfigRepository } from './config.repository.js';
import type { GamificationContract } from './contract.js';
import { PostgresLeaderboard, RedisLeaderboard } from './leaderboard.js';
import { LeaderboardRepository } from './leaderboard.repository.js';
import { ProfileRepository } from './profile.repository.js';
import { ScoringRepository } from './scoring.repository.js';
import { GAMIFICATION_MIGRATIONS } from './migrations.js';
import { ProfileService } from './profile.service.js';
import { gamificationRoutes } from './routes.js';
import { LedgerReadRepository } from './ledger-read.repository.js';
import { ScoringService } from './scoring.service.js';
import { GAMIFICATION_EVENTS } from './events.js';
import { publicOnlyRemote } from '../../kernel/http/public-remote.js';
import { GAMIFICATION_CONFIG, type GamificationSettings } from './config.js';

export const GAMIFICATION_PERMISSIONS: PermissionMap = {
  'gamification.read': { description: 'See profiles, leaderboards, the badge catalog, rules and settings', roles: ['owner', 'admin', 'developer', 'analyst', 'viewer'] },
  'gamification.participate': { description: 'Set your own gamification preferences (time zone of your streak days)', roles: ['owner', 'admin', 'developer', 'analyst', 'viewer'] },
  'gamification.manage': { description: 'Edit scoring rules, badges and settings; adjust and reverse points', roles: ['owner', 'admin'] },
};

/** Events the service scores: workflow, content, integration and analytics activity (never its own). */
export const consumedEvents = (): EventName[] => eventNames().filter((n) => /^(workflow|content|integration|analytics)\./.test(n));
export const CONSUMER_GROUP = 'gamification.scoring';

const DAY = 86_400_000;

export interface GamificationInstance extends ServiceInstance {
  contract: GamificationContract;
  services: { configs: ConfigRepository; scoring: ScoringService; profiles: ProfileService; redis: RedisLeaderboard | null; pg: PostgresLeaderboard };
}

export const gamificationModule: ServiceModule<GamificationSettings> & { create(ctx: ServiceContext<GamificationSettings>): GamificationInstance } = {
  name: 'gamification',
  publicRoutes: ['/v1/workspaces/:workspaceId/gamification'],
  remote: publicOnlyRemote('gamification', 'V01T_GAMIFICATION_URL'),
  schema: 'gamification',
  migrations: GAMIFICATION_MIGRATIONS,
  permissions: GAMIFICATION_PERMISSIONS,
  events: GAMIFICATION_EVENTS,
  config: GAMIFICATION_CONFIG,
  create(ctx) {
    const configs = new ConfigRepository(ctx.db, ctx.clock);
    const boards = new LeaderboardRepository(ctx.db, ctx.database);
    const pg = new PostgresLeaderboard(boards);
    const redis = ctx.cache instanceof RedisCache ? new RedisLeaderboard(ctx.cache.client, boards, ctx.config.redis.keyPrefix) : null;
    const awarded = new client.Counter({ name: 'v01t_gamification_points_awarded_total', help: 'Points awarded by rules, adjustments excluded', labelNames: ['persona'], registers: [ctx.metrics.registry] });
    const handled = new client.Counter({ name: 'v01t_gamification_events_total', help: 'Events seen by the scoring consumer, by outcome', labelNames: ['outcome'], registers: [ctx.metrics.registry] });
    const scoring = new ScoringService(ctx.db, new ScoringRepository(ctx.db), configs, ctx.events, ctx.audit, ctx.clock, { redis: redis !== null, onAwarded: (persona, points) => awarded.inc({ persona }, points) });
    const profiles = new ProfileService(new ProfileRepository(ctx.db), configs, scoring, redis ?? pg, pg, redis, ctx.clock);

    // A batch transaction's events are scored together (four set-based statements per batch, ADR
    // 0069); the per-event handler is the bus's fallback when a batch fails, and Kafka's handler.
    ctx.events.subscribe(
      CONSUMER_GROUP,
      consumedEvents(),
      async (event, { tx }) => {
        const outcome = await scoring.handle(event, tx);
        handled.inc({ outcome: outcome.status });
      },
      {
        batch: async (events, { tx }) => {
          for (const outcome of await scoring.handleBatch(events, tx)) handled.inc({ outcome: outcome.status });
        },
        batchMax: ctx.settings.scoringBatch ?? (ctx.database.kind === 'pglite' ? 200 : 500),
      },
    );

    let timers: NodeJS.Timeout[] = [];
    let draining: Promise<unknown> | undefined;
    const drain = () => {
      draining ??= (async () => {
        while ((await redis!.drain()) > 0);
      })()
        .catch((err) => ctx.logger.warn({ err }, 'leaderboard projection to Redis failed; retrying'))
        .finally(() => (draining = undefined));
      return draining;
    };

    return {
      services: { configs, scoring, profiles, redis, pg },
      contract: {
        hasEntitlement: async (workspaceId, userId, rewardKey) => (await profiles.entitlements(workspaceId, userId)).some((e) => e.rewardKey === rewardKey),
        entitlements: (workspaceId, userId) => profiles.entitlements(workspaceId, userId),
      },
      routes(app) {
        gamificationRoutes(app, { configs, scoring, profiles, ledger: new LedgerReadRepository(ctx.db), identity: ctx.identity });
      },
      async start() {
        if (redis) timers.push(setInterval(() => void drain(), 250));
        const archive = () => void profiles.archiveClosedPeriods().catch((err) => ctx.logger.warn({ err }, 'leaderboard archiving failed'));
        timers.push(setInterval(archive, 3_600_000));
        archive();
      },
      async stop() {
        for (const t of timers) clearInterval(t);
        timers = [];
        await draining;
      },
      personalData: {
        describes: [
          'points ledger per user (events scored, adjustments and reversals with reasons)',
          'balances, levels, streaks, badges and reward entitlements per user',
          'leaderboard scores and archived standings, and the user\'s time-zone setting',
        ],
        exportUser: (userId) => profiles.exportUser(userId),
        eraseUser: (userId) => profiles.eraseUser(userId),
      },
      retention: [
        { name: 'gamification ledger entries and scored event ids', class: 'user_activity_logs', keep: '90 days', purge: (now) => profiles.purgeLedger(new Date(now.getTime() - 90 * DAY)) },
        { name: 'gamification daily cap counters', class: 'operational', keep: '7 days', purge: (now) => profiles.purgeDailyCaps(new Date(now.getTime() - 7 * DAY)) },
        { name: 'gamification leaderboard archives', class: 'analytics_data', keep: '3 years', purge: (now) => profiles.purgeArchive(new Date(Date.UTC(now.getUTCFullYear() - 3, now.getUTCMonth(), now.getUTCDate()))) },
      ],
    };
  },
};

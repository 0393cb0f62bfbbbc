import { sql } from 'drizzle-orm';
import type { Clock } from '../../kernel/clock.js';
import type { Db } from '../../kernel/db/database.js';
import { PERSONAS } from '../../kernel/auth/permissions.js';
import type { Entitlement } from './contract.js';
import type { ConfigRepository } from './config.repository.js';
import type { LeaderboardStore, PostgresLeaderboard, RedisLeaderboard, Standing } from './leaderboard.js';
import { levelProgress } from './levels.js';
import { streakAt } from './streaks.js';
import { LEADERBOARD_PERIODS, localDayNumber, periodEndDay, periodIndex, periodKey, type Cadence, type LeaderboardPeriod } from './time.js';
import { rows } from './sql.js';
import type { ScoringService } from './scoring.service.js';

const iso = (d: string | Date) => new Date(d).toISOString();

/** Read side: profiles, leaderboards, archives, entitlements, and the personal-data handlers. */
export class ProfileService {
  constructor(
    private readonly db: Db,
    private readonly configs: ConfigRepository,
    private readonly scoring: ScoringService,
    readonly board: LeaderboardStore,
    private readonly pgBoard: PostgresLeaderboard,
    private readonly redisBoard: RedisLeaderboard | null,
    private readonly clock: Clock,
  ) {}

  /** The stored key of a period name ("week") or an explicit key ("week:2026-W47"), in the workspace's calendar. */
  async resolvePeriod(workspaceId: string, period: string): Promise<string> {
    if (!(LEADERBOARD_PERIODS as string[]).includes(period)) return period;
    const { timezone } = await this.configs.settings(workspaceId);
    return periodKey(period as LeaderboardPeriod, localDayNumber(this.clock.now(), timezone));
  }

  async top(workspaceId: string, board: string, period: string, limit: number): Promise<{ board: string; period: string; standings: Standing[] }> {
    const key = await this.resolvePeriod(workspaceId, period);
    const archived = await this.archived(workspaceId, board, key, limit);
    if (archived) return { board, period: key, standings: archived };
    return { board, period: key, standings: await this.board.top({ workspaceId, board, period: key }, limit) };
  }

  async around(workspaceId: string, board: string, period: string, userId: string, radius: number) {
    const key = await this.resolvePeriod(workspaceId, period);
    const r = await this.board.around({ workspaceId, board, period: key }, userId, radius);
    return { board, period: key, me: r?.me ?? null, neighbours: r?.neighbours ?? [] };
  }

  private async archived(workspaceId: string, board: string, period: string, limit: number): Promise<Standing[] | null> {
    const r = await rows<{ rank: number; user_id: string; score: string | number }>(
      this.db,
      sql`SELECT rank, user_id, score FROM gamification.leaderboard_archive WHERE workspace_id = ${workspaceId} AND board = ${board} AND period = ${period} ORDER BY rank LIMIT ${limit}`,
    );
    return r.length ? r.map((x) => ({ rank: x.rank, userId: x.user_id, score: Number(x.score) })) : null;
  }

  async profile(workspaceId: string, userId: string) {
    const config = await this.configs.load(this.db, workspaceId);
    const timezone = await this.scoring.userTimezone(this.db, workspaceId, userId, config.settings.timezone);
    const today = localDayNumber(this.clock.now(), timezone);
    const balances = await rows<{ persona: string; metric: string; points: string | number }>(
      this.db,
      sql`SELECT persona, metric, points FROM gamification.balances WHERE workspace_id = ${workspaceId} AND user_id = ${userId} ORDER BY persona, metric`,
    );
    const levels = PERSONAS.map((persona) => {
      const xp = balances.filter((b) => b.persona === persona).reduce((n, b) => n + Number(b.points), 0);
      return { persona, ...levelProgress(config.settings.levels[persona], xp) };
    });
    const badgeDefs = await this.configs.badgesById(workspaceId);
    const badges = (
      await rows<{ badge_id: string; awarded_at: string | Date }>(
        this.db,
        sql`SELECT badge_id, awarded_at FROM gamification.user_badges WHERE workspace_id = ${workspaceId} AND user_id = ${userId} ORDER BY awarded_at, badge_id`,
      )
    ).map((b) => {
      const def = badgeDefs.get(b.badge_id);
      return { id: b.badge_id, key: def?.key ?? 'unknown', name: def?.name ?? 'Unknown badge', awardedAt: iso(b.awarded_at) };
    });
    const streaks = (
      await rows<{ activity: string; cadence: Cadence; current: number; longest: number; last_period: number | null; freezes: number; freezes_used: number }>(
        this.db,
        sql`SELECT activity, cadence, current, longest, last_period, freezes, freezes_used FROM gamification.streaks WHERE workspace_id = ${workspaceId} AND user_id = ${userId} ORDER BY activity, cadence`,
      )
    ).map((r) => {
      const s = streakAt({ current: r.current, longest: r.longest, lastPeriod: r.last_period, freezes: r.freezes, freezesUsed: r.freezes_used }, periodIndex(today, r.cadence));
      return { activity: r.activity, cadence: r.cadence, current: s.current, longest: s.longest, freezes: s.freezes, freezesUsed: s.freezesUsed, alive: s.alive };
    });
    const rank: Record<string, number | null> = {};
    for (const p of LEADERBOARD_PERIODS) {
      const key = await this.resolvePeriod(workspaceId, p);
      rank[p] = (await this.board.around({ workspaceId, board: 'workspace', period: key }, userId, 0))?.me.rank ?? null;
    }
    return {
      userId,
      timezone,
      points: balances.map((b) => ({ persona: b.persona, metric: b.metric, points: Number(b.points) })),
      levels,
      badges,
      streaks,
      rank,
      entitlements: await this.entitlements(workspaceId, userId),
    };
  }

  async entitlements(workspaceId: string, userId: string): Promise<Entitlement[]> {
    return (
      await rows<{ reward_key: string; kind: string; source: string; granted_at: string | Date }>(
        this.db,
        sql`SELECT reward_key, kind, source, granted_at FROM gamification.entitlements WHERE workspace_id = ${workspaceId} AND user_id = ${userId} ORDER BY reward_key`,
      )
    ).map((r) => ({ rewardKey: r.reward_key, kind: r.kind, source: r.source, grantedAt: iso(r.granted_at) }));
  }

  /**
   * Freezes the standings of weekly and monthly periods that ended more than a day ago (a day of
   * grace covers every time zone and late deliveries), then drops their live rows and sorted sets.
   */
  async archiveClosedPeriods(): Promise<number> {
    const today = Math.floor(this.clock.now().getTime() / 86_400_000);
    const live = await rows<{ workspace_id: string; board: string; period: string }>(
      this.db,
      sql`SELECT DISTINCT workspace_id, board, period FROM gamification.scores WHERE period <> 'all'`,
    );
    let archived = 0;
    for (const ref of live) {
      const end = periodEndDay(ref.period);
      if (end === null || end + 1 > today) continue;
      await this.db.transaction(async (tx) => {
        await tx.execute(sql`INSERT INTO gamification.leaderboard_archive (workspace_id, board, period, rank, user_id, score, archived_at)
          SELECT workspace_id, board, period, row_number() OVER (ORDER BY score DESC, user_id DESC), user_id, score, ${this.clock.now().toISOString()}
          FROM gamification.scores WHERE workspace_id = ${ref.workspace_id} AND board = ${ref.board} AND period = ${ref.period}
          ON CONFLICT DO NOTHING`);
        await tx.execute(sql`DELETE FROM gamification.scores WHERE workspace_id = ${ref.workspace_id} AND board = ${ref.board} AND period = ${ref.period}`);
        await tx.execute(sql`DELETE FROM gamification.board_sync WHERE workspace_id = ${ref.workspace_id} AND board = ${ref.board} AND period = ${ref.period}`);
      });
      await this.redisBoard?.remove({ workspaceId: ref.workspace_id, board: ref.board, period: ref.period });
      archived++;
    }
    return archived;
  }

  async exportUser(userId: string): Promise<Record<string, unknown>> {
    const q = (table: string, order: string) => rows(this.db, sql`SELECT * FROM ${sql.raw(`gamification.${table}`)} WHERE user_id = ${userId} ORDER BY ${sql.raw(order)}`);
    return {
      ledger: await q('ledger', 'recorded_at, id'),
      balances: await q('balances', 'workspace_id, persona, metric'),
      levels: await q('levels', 'workspace_id, persona'),
      streaks: await q('streaks', 'workspace_id, activity, cadence'),
      badges: await q('user_badges', 'workspace_id, awarded_at'),
      entitlements: await q('entitlements', 'workspace_id, reward_key'),
      settings: await q('user_settings', 'workspace_id'),
      leaderboardScores: await q('scores', 'workspace_id, board, period'),
      leaderboardArchive: await q('leaderboard_archive', 'workspace_id, board, period'),
    };
  }

  async eraseUser(userId: string): Promise<Record<string, number>> {
    const boards = await rows<{ workspace_id: string; board: string; period: string }>(this.db, sql`SELECT workspace_id, board, period FROM gamification.scores WHERE user_id = ${userId}`);
    const counts: Record<string, number> = {};
    await this.db.transaction(async (tx) => {
      await tx.execute(sql`SELECT set_config('v01t.gamification_purge', 'on', true)`);
      for (const table of ['ledger', 'balances', 'levels', 'streaks', 'user_badges', 'entitlements', 'user_settings', 'event_counts', 'daily_caps', 'scores', 'board_sync', 'leaderboard_archive']) {
        const r = await rows<{ n: string | number }>(tx, sql`WITH d AS (DELETE FROM ${sql.raw(`gamification.${table}`)} WHERE user_id = ${userId} RETURNING 1) SELECT count(*) AS n FROM d`);
        counts[table] = Number(r[0]?.n ?? 0);
      }
    });
    for (const b of boards) await this.redisBoard?.removeMember({ workspaceId: b.workspace_id, board: b.board, period: b.period }, userId);
    return counts;
  }

  /** Retention of ledger entries (runbook: user activity logs, 90 days); balances and levels stay. */
  async purgeLedger(before: Date): Promise<number> {
    return this.db.transaction(async (tx) => {
      await tx.execute(sql`SELECT set_config('v01t.gamification_purge', 'on', true)`);
      const r = await rows<{ n: string | number }>(tx, sql`WITH d AS (DELETE FROM gamification.ledger WHERE occurred_at < ${before.toISOString()} RETURNING 1) SELECT count(*) AS n FROM d`);
      const p = await rows<{ n: string | number }>(tx, sql`WITH d AS (DELETE FROM gamification.processed_events WHERE processed_at < ${before.toISOString()} RETURNING 1) SELECT count(*) AS n FROM d`);
      return Number(r[0]?.n ?? 0) + Number(p[0]?.n ?? 0);
    });
  }

  async purgeDailyCaps(before: Date): Promise<number> {
    const r = await rows<{ n: string | number }>(this.db, sql`WITH d AS (DELETE FROM gamification.daily_caps WHERE day < ${before.toISOString().slice(0, 10)} RETURNING 1) SELECT count(*) AS n FROM d`);
    return Number(r[0]?.n ?? 0);
  }

  async purgeArchive(before: Date): Promise<number> {
    const r = await rows<{ n: string | number }>(this.db, sql`WITH d AS (DELETE FROM gamification.leaderboard_archive WHERE archived_at < ${before.toISOString()} RETURNING 1) SELECT count(*) AS n FROM d`);
    return Number(r[0]?.n ?? 0);
  }

  get pg(): PostgresLeaderboard {
    return this.pgBoard;
  }
}

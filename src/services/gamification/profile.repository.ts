import { sql } from 'drizzle-orm';
import type { Db } from '../../kernel/db/database.js';
import { rows } from '../../kernel/db/rows.js';
import { lockWorkspaces } from './scoring.repository.js';
import type { Cadence } from './time.js';

/** Every table holding a user's gamification data, in the order erasure deletes them. */
const USER_TABLES = ['ledger', 'balances', 'levels', 'streaks', 'user_badges', 'entitlements', 'user_settings', 'event_counts', 'daily_caps', 'scores', 'board_sync', 'leaderboard_archive'] as const;

/** The read side (profiles, archives, entitlements), archiving, retention and personal data. */
export class ProfileRepository {
  constructor(private readonly db: Db) {}

  async archivedStandings(workspaceId: string, board: string, period: string, limit: number): Promise<{ rank: number; user_id: string; score: string | number }[]> {
    return rows<{ rank: number; user_id: string; score: string | number }>(
      this.db,
      sql`SELECT rank, user_id, score FROM gamification.leaderboard_archive WHERE workspace_id = ${workspaceId} AND board = ${board} AND period = ${period} ORDER BY rank LIMIT ${limit}`,
    );
  }

  async balances(workspaceId: string, userId: string): Promise<{ persona: string; metric: string; points: string | number }[]> {
    return rows<{ persona: string; metric: string; points: string | number }>(
      this.db,
      sql`SELECT persona, metric, points FROM gamification.balances WHERE workspace_id = ${workspaceId} AND user_id = ${userId} ORDER BY persona, metric`,
    );
  }

  async badges(workspaceId: string, userId: string): Promise<{ badge_id: string; awarded_at: string | Date }[]> {
    return rows<{ badge_id: string; awarded_at: string | Date }>(
      this.db,
      sql`SELECT badge_id, awarded_at FROM gamification.user_badges WHERE workspace_id = ${workspaceId} AND user_id = ${userId} ORDER BY awarded_at, badge_id`,
    );
  }

  async streaks(workspaceId: string, userId: string) {
    return rows<{ activity: string; cadence: Cadence; current: number; longest: number; last_period: number | null; freezes: number; freezes_used: number }>(
      this.db,
      sql`SELECT activity, cadence, current, longest, last_period, freezes, freezes_used FROM gamification.streaks WHERE workspace_id = ${workspaceId} AND user_id = ${userId} ORDER BY activity, cadence`,
    );
  }

  /** Awards since `since` with the rule that gave them (the streak calendar maps rules to activities). */
  async awardsSince(workspaceId: string, userId: string, since: string): Promise<{ rule_id: string | null; occurred_at: string | Date }[]> {
    return rows<{ rule_id: string | null; occurred_at: string | Date }>(
      this.db,
      sql`SELECT rule_id, occurred_at FROM gamification.ledger WHERE workspace_id = ${workspaceId} AND user_id = ${userId} AND kind = 'award' AND occurred_at >= ${since} ORDER BY occurred_at`,
    );
  }

  /** Rule id → streak of its definition, archived rules included (their ledger entries still count). */
  async ruleStreaks(workspaceId: string): Promise<{ id: string; activity: string | null; cadence: Cadence | null }[]> {
    return rows<{ id: string; activity: string | null; cadence: Cadence | null }>(
      this.db,
      sql`SELECT id, definition->'streak'->>'activity' AS activity, definition->'streak'->>'cadence' AS cadence FROM gamification.rules WHERE workspace_id = ${workspaceId}`,
    );
  }

  async eventCounts(workspaceId: string, userId: string): Promise<{ event_name: string; count: string | number }[]> {
    return rows<{ event_name: string; count: string | number }>(this.db, sql`SELECT event_name, count FROM gamification.event_counts WHERE workspace_id = ${workspaceId} AND user_id = ${userId}`);
  }

  /** Points of a metric (awards, adjustments and reversals) that occurred in (from, to], as the scoring's badge check counts them. */
  async pointsBetween(workspaceId: string, userId: string, metric: string, from: string, to: string): Promise<number> {
    const r = await rows<{ n: string | number | null }>(
      this.db,
      sql`SELECT sum(points) AS n FROM gamification.ledger WHERE workspace_id = ${workspaceId} AND user_id = ${userId} AND metric = ${metric} AND occurred_at > ${from} AND occurred_at <= ${to}`,
    );
    return Number(r[0]?.n ?? 0);
  }

  async entitlements(workspaceId: string, userId: string): Promise<{ reward_key: string; kind: string; source: string; granted_at: string | Date }[]> {
    return rows<{ reward_key: string; kind: string; source: string; granted_at: string | Date }>(
      this.db,
      sql`SELECT reward_key, kind, source, granted_at FROM gamification.entitlements WHERE workspace_id = ${workspaceId} AND user_id = ${userId} ORDER BY reward_key`,
    );
  }

  /** Boards with live (not yet archived) rows, all-time boards excepted. */
  async liveBoards(): Promise<{ workspace_id: string; board: string; period: string }[]> {
    return rows<{ workspace_id: string; board: string; period: string }>(this.db, sql`SELECT DISTINCT workspace_id, board, period FROM gamification.scores WHERE period <> 'all'`);
  }

  /** Freezes a board's standings into the archive and drops its live rows and projection marks, in one transaction. */
  async archiveBoard(ref: { workspace_id: string; board: string; period: string }, now: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.execute(sql`INSERT INTO gamification.leaderboard_archive (workspace_id, board, period, rank, user_id, score, archived_at)
          SELECT workspace_id, board, period, row_number() OVER (ORDER BY score DESC, user_id DESC), user_id, score, ${now}
          FROM gamification.scores WHERE workspace_id = ${ref.workspace_id} AND board = ${ref.board} AND period = ${ref.period}
          ON CONFLICT DO NOTHING`);
      // The workspace's score lock first, as every scoring writer takes it (ADR 0075).
      await lockWorkspaces([ref.workspace_id], tx);
      // The board's projection marks are locked, not deleted: a mark also names the member's other
      // boards and periods (ADR 0088). A drain holding one finishes its copy first; a later drain
      // finds this board's entries gone and removes them (from a key already removed).
      await tx.execute(sql`SELECT 1 FROM gamification.board_sync WHERE workspace_id = ${ref.workspace_id} AND ${ref.board} = ANY(boards) AND ${ref.period} = ANY(periods) FOR UPDATE`);
      await tx.execute(sql`DELETE FROM gamification.scores WHERE workspace_id = ${ref.workspace_id} AND board = ${ref.board} AND period = ${ref.period}`);
    });
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

  async boardsOfUser(userId: string): Promise<{ workspace_id: string; board: string; period: string }[]> {
    return rows<{ workspace_id: string; board: string; period: string }>(this.db, sql`SELECT workspace_id, board, period FROM gamification.scores WHERE user_id = ${userId}`);
  }

  /** Deletes every row of the user (the append-only ledger lets the purge through); counts per table. */
  async eraseUser(userId: string): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    await this.db.transaction(async (tx) => {
      await tx.execute(sql`SELECT set_config('v01t.gamification_purge', 'on', true)`);
      // The score locks of the user's workspaces first, as every scoring writer takes them (ADR 0075).
      const workspaces = await rows<{ w: string }>(
        tx,
        sql`SELECT workspace_id::text AS w FROM gamification.event_counts WHERE user_id = ${userId} UNION SELECT workspace_id::text FROM gamification.balances WHERE user_id = ${userId}
            UNION SELECT workspace_id::text FROM gamification.scores WHERE user_id = ${userId}`,
      );
      await lockWorkspaces(workspaces.map((r) => r.w), tx);
      for (const table of USER_TABLES) {
        const r = await rows<{ n: string | number }>(tx, sql`WITH d AS (DELETE FROM ${sql.raw(`gamification.${table}`)} WHERE user_id = ${userId} RETURNING 1) SELECT count(*) AS n FROM d`);
        counts[table] = Number(r[0]?.n ?? 0);
      }
    });
    return counts;
  }

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
}

import { sql } from 'drizzle-orm';
import type { Db } from '../../kernel/db/database.js';
import { rows } from '../../kernel/db/rows.js';

export type ScoreRow = { user_id: string; score: string | number };
export type SyncedScoreRow = { workspace_id: string; board: string; period: string; user_id: string; score: string | number | null };

/** Reads of gamification.scores for both leaderboard stores, and the Redis projection's marks (board_sync). */
export class LeaderboardRepository {
  constructor(private readonly db: Db) {}

  async top(ref: BoardRef, limit: number): Promise<ScoreRow[]> {
    return rows<ScoreRow>(
      this.db,
      sql`SELECT user_id, score FROM gamification.scores WHERE workspace_id = ${ref.workspaceId} AND board = ${ref.board} AND period = ${ref.period}
          ORDER BY score DESC, user_id DESC LIMIT ${limit}`,
    );
  }

  async score(ref: BoardRef, userId: string): Promise<number | null> {
    const [mine] = await rows<{ score: string | number }>(this.db, sql`SELECT score FROM gamification.scores WHERE ${where(ref)} AND user_id = ${userId}`);
    return mine ? Number(mine.score) : null;
  }

  /**
   * How many entries rank above (score, user id), ties broken by user id descending, from the
   * maintained bucket counts (migration 0002, ADR 0062): members of higher 2^24-wide buckets, of
   * higher 2^16-wide buckets in the same 2^24 one, of higher 2^8-wide buckets in the same 2^16
   * one, and an index range count of the entries above in the entry's own 2^8-wide bucket. Each
   * part reads at most 256 bucket rows (the first: one per 2^24 points), so the cost does not
   * grow with the board, only with how many members share the entry's 256-wide score bucket.
   * (`score >= s` is implied by the row comparison but tells the planner how narrow the range is;
   * without it PostgreSQL estimates a large part of the board and starts parallel workers.)
   */
  async countAbove(ref: BoardRef, score: number, userId: string): Promise<number> {
    const s = BigInt(score);
    const b = (shift: bigint) => (s >> shift).toString();
    const next = (shift: bigint) => (((s >> shift) + 1n) << 8n).toString();
    const [{ above }] = (await rows<{ above: string | number }>(
      this.db,
      sql`SELECT
            coalesce((SELECT sum(members) FROM gamification.score_counts WHERE ${where(ref)} AND lvl = 24 AND bucket > ${b(24n)}::bigint), 0)
          + coalesce((SELECT sum(members) FROM gamification.score_counts WHERE ${where(ref)} AND lvl = 16 AND bucket > ${b(16n)}::bigint AND bucket < ${next(24n)}::bigint), 0)
          + coalesce((SELECT sum(members) FROM gamification.score_counts WHERE ${where(ref)} AND lvl = 8 AND bucket > ${b(8n)}::bigint AND bucket < ${next(16n)}::bigint), 0)
          + (SELECT count(*) FROM gamification.scores WHERE ${where(ref)} AND (score, user_id) > (${score}::bigint, ${userId}::uuid)
               AND score >= ${score}::bigint AND score < ${next(8n)}::bigint) AS above`,
    )) as [{ above: string | number }];
    return Number(above);
  }

  /** The same count by scanning every entry above (the query before ADR 0062; kept as the reference in tests and the bench). */
  async countAboveByScan(ref: BoardRef, score: number, userId: string): Promise<number> {
    const [{ above }] = (await rows<{ above: string | number }>(
      this.db,
      sql`SELECT count(*) AS above FROM gamification.scores WHERE ${where(ref)} AND (score, user_id) > (${score}::bigint, ${userId}::uuid)`,
    )) as [{ above: string | number }];
    return Number(above);
  }

  /** Up to `limit` entries just above (score, user id), nearest first. */
  async above(ref: BoardRef, score: number, userId: string, limit: number): Promise<ScoreRow[]> {
    return rows<ScoreRow>(
      this.db,
      sql`SELECT user_id, score FROM gamification.scores WHERE ${where(ref)} AND (score, user_id) > (${score}::bigint, ${userId}::uuid)
          ORDER BY score ASC, user_id ASC LIMIT ${limit}`,
    );
  }

  /** Up to `limit` entries just below (score, user id), nearest first. */
  async below(ref: BoardRef, score: number, userId: string, limit: number): Promise<ScoreRow[]> {
    return rows<ScoreRow>(
      this.db,
      sql`SELECT user_id, score FROM gamification.scores WHERE ${where(ref)} AND (score, user_id) < (${score}::bigint, ${userId}::uuid)
          ORDER BY score DESC, user_id DESC LIMIT ${limit}`,
    );
  }

  async size(ref: BoardRef): Promise<number> {
    const [r] = await rows<{ n: string | number }>(
      this.db,
      sql`SELECT count(*) AS n FROM gamification.scores WHERE workspace_id = ${ref.workspaceId} AND board = ${ref.board} AND period = ${ref.period}`,
    );
    return Number(r?.n ?? 0);
  }

  /** A page of the board in user id order, after `after` (for rebuilding a sorted set). */
  async pageAfter(ref: BoardRef, after: string, limit: number): Promise<ScoreRow[]> {
    return rows<ScoreRow>(
      this.db,
      sql`SELECT user_id, score FROM gamification.scores WHERE workspace_id = ${ref.workspaceId} AND board = ${ref.board} AND period = ${ref.period}
            AND user_id > ${after}::uuid ORDER BY user_id LIMIT ${limit}`,
    );
  }

  /**
   * Takes up to `batchSize` marks of changed entries and hands them to `project` with their
   * committed scores (null: the entry is gone), in one transaction: if `project` throws, the
   * marks are rolled back and taken again on the next call.
   */
  async drainMarks(batchSize: number, project: (changed: SyncedScoreRow[]) => Promise<void>): Promise<number> {
    return this.db.transaction(async (tx) => {
      const changed = await rows<SyncedScoreRow>(
        tx,
        sql`WITH picked AS (
              SELECT workspace_id, board, period, user_id FROM gamification.board_sync
              ORDER BY workspace_id, board, period, user_id LIMIT ${batchSize} FOR UPDATE SKIP LOCKED),
            gone AS (
              DELETE FROM gamification.board_sync b USING picked p
              WHERE b.workspace_id = p.workspace_id AND b.board = p.board AND b.period = p.period AND b.user_id = p.user_id
              RETURNING b.workspace_id, b.board, b.period, b.user_id)
            SELECT g.workspace_id, g.board, g.period, g.user_id, s.score FROM gone g
            LEFT JOIN gamification.scores s ON s.workspace_id = g.workspace_id AND s.board = g.board AND s.period = g.period AND s.user_id = g.user_id`,
      );
      if (!changed.length) return 0;
      await project(changed);
      return changed.length;
    });
  }
}

/** One leaderboard: a workspace's board (e.g. points per persona) in a period (all-time, a week, a month). */
export interface BoardRef {
  workspaceId: string;
  board: string;
  period: string;
}

const where = (ref: BoardRef) => sql`workspace_id = ${ref.workspaceId} AND board = ${ref.board} AND period = ${ref.period}`;

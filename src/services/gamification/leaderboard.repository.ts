import { sql, type SQL } from 'drizzle-orm';
import type { Database, Db } from '../../kernel/db/database.js';
import { rows } from '../../kernel/db/rows.js';

export type ScoreRow = { user_id: string; score: string | number };
export type SyncedScoreRow = { workspace_id: string; board: string; period: string; user_id: string; score: string | number | null };

/** Reads of gamification.scores for both leaderboard stores, and the Redis projection's marks (board_sync). */
export class LeaderboardRepository {
  constructor(
    private readonly db: Db,
    /** For the around-me prepared statement; without it the statement goes through drizzle. */
    private readonly database?: Pick<Database, 'prepared'>,
  ) {}

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

  /** How many entries rank above (score, user id), ties broken by user id descending: `rankAbove` (from the bucket counts). */
  async countAbove(ref: BoardRef, score: number, userId: string): Promise<number> {
    const [{ above }] = (await rows<{ above: string | number }>(this.db, bind(COUNT_ABOVE, [ref.workspaceId, ref.board, ref.period, score, userId]))) as [{ above: string | number }];
    return Number(above);
  }

  /**
   * Around-me in one statement (AROUND_ME): the member's score (primary key), the number of
   * entries above it (`rankAbove`, from the bucket counts) and up to `radius` neighbours on each
   * side (keyset reads on the rank index). One row per entry: `side` 0 for the member (with
   * `above`), 1 above, -1 below, `n` the distance (rows ordered by side descending, then n); no
   * rows when the member is not on the board. With the Database at hand it runs as a named
   * prepared statement (planned once per connection).
   */
  async around(ref: BoardRef, userId: string, radius: number): Promise<AroundRow[]> {
    const params = [ref.workspaceId, ref.board, ref.period, userId, radius];
    if (this.database) return this.database.prepared<AroundRow>('gamification.around_me', AROUND_ME, params);
    return rows<AroundRow>(this.db, bind(AROUND_ME, params));
  }

  /** The same count by scanning every entry above (the query before ADR 0062; kept as the reference in tests and the bench). */
  async countAboveByScan(ref: BoardRef, score: number, userId: string): Promise<number> {
    const [{ above }] = (await rows<{ above: string | number }>(
      this.db,
      sql`SELECT count(*) AS above FROM gamification.scores WHERE ${where(ref)} AND (score, user_id) > (${score}::bigint, ${userId}::uuid)`,
    )) as [{ above: string | number }];
    return Number(above);
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
   * Takes up to `batchSize` marks and hands their changed entries (every pair of a mark's boards ×
   * periods, ADR 0088) to `project` with their committed scores (null: the entry is gone), in one
   * transaction: if `project` throws, the marks are rolled back and taken again on the next call.
   */
  async drainMarks(batchSize: number, project: (changed: SyncedScoreRow[]) => Promise<void>): Promise<number> {
    return this.db.transaction(async (tx) => {
      const changed = await rows<SyncedScoreRow>(
        tx,
        sql`WITH picked AS (
              SELECT workspace_id, user_id, boards, periods FROM gamification.board_sync
              ORDER BY workspace_id, user_id, boards, periods LIMIT ${batchSize} FOR UPDATE SKIP LOCKED),
            gone AS (
              DELETE FROM gamification.board_sync b USING picked p
              WHERE b.workspace_id = p.workspace_id AND b.user_id = p.user_id AND b.boards = p.boards AND b.periods = p.periods
              RETURNING b.workspace_id, b.user_id, b.boards, b.periods),
            entries AS (
              SELECT DISTINCT g.workspace_id, x.board, y.period, g.user_id FROM gone g, unnest(g.boards) AS x(board), unnest(g.periods) AS y(period))
            SELECT e.workspace_id, e.board, e.period, e.user_id, s.score FROM entries e
            LEFT JOIN gamification.scores s ON s.workspace_id = e.workspace_id AND s.board = e.board AND s.period = e.period AND s.user_id = e.user_id`,
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

/** `$1..$n` of a statement text as drizzle parameters (the statement without a prepared name). */
function bind(text: string, params: unknown[]): SQL {
  const parts = text.split(/\$(\d+)/);
  return sql.join(
    parts.map((part, i) => (i % 2 === 0 ? sql.raw(part) : sql`${params[Number(part) - 1]}`)),
    sql``,
  );
}

/** The board of $1 (workspace), $2 (board), $3 (period). */
const BOARD = `workspace_id = $1::uuid AND board = $2::text AND period = $3::text`;

/**
 * How many entries rank above (score s, user id u) on the board, ties broken by user id
 * descending, from the maintained bucket counts (migrations 0002 and 0003, ADR 0062 and 0069):
 * members of higher 2^24-wide buckets, of higher 2^16-wide buckets in the same 2^24 one, of higher
 * 2^8-wide buckets in the same 2^16 one, of higher 2^4-wide buckets in the same 2^8 one, and an
 * index range count of the entries above in s's own 2^4-wide bucket. Each sum reads at most 256
 * bucket rows (the first: one per 2^24 points; the last at most 16), so the cost does not grow
 * with the board, only with how many members share s's 16-wide score bucket. `score >= s`
 * is implied by the row comparison but bounds the index range for the planner (without it
 * PostgreSQL estimates a large part of the board and starts parallel workers). `s` and `u` are SQL
 * expressions (parameters, or a column of the statement).
 */
const rankAbove = (s: string, u: string) => `(coalesce((SELECT sum(members) FROM gamification.score_counts WHERE ${BOARD} AND lvl = 24 AND bucket > (${s} >> 24)), 0)
   + coalesce((SELECT sum(members) FROM gamification.score_counts WHERE ${BOARD} AND lvl = 16 AND bucket > (${s} >> 16) AND bucket < (((${s} >> 24) + 1) << 8)), 0)
   + coalesce((SELECT sum(members) FROM gamification.score_counts WHERE ${BOARD} AND lvl = 8 AND bucket > (${s} >> 8) AND bucket < (((${s} >> 16) + 1) << 8)), 0)
   + coalesce((SELECT sum(members) FROM gamification.score_counts WHERE ${BOARD} AND lvl = 4 AND bucket > (${s} >> 4) AND bucket < (((${s} >> 8) + 1) << 4)), 0)
   + (SELECT count(*) FROM gamification.scores WHERE ${BOARD} AND (score, user_id) > (${s}, ${u})
        AND score >= ${s} AND score < (((${s} >> 4) + 1) << 4)))`;

/** The rank count of ($4 score, $5 user id). */
const COUNT_ABOVE = `SELECT ${rankAbove('$4::bigint', '$5::uuid')} AS above`;

/** Around-me of $4 (user id) with $5 neighbours a side: see LeaderboardRepository.around. */
const AROUND_ME = `WITH me AS MATERIALIZED (SELECT score FROM gamification.scores WHERE ${BOARD} AND user_id = $4::uuid)
SELECT 0 AS side, 0::bigint AS n, $4::uuid AS user_id, me.score, ${rankAbove('me.score', '$4::uuid')} AS above
FROM me
UNION ALL
SELECT 1, a.n, a.user_id, a.score, NULL FROM me, LATERAL (
  SELECT user_id, score, row_number() OVER (ORDER BY score ASC, user_id ASC) AS n FROM gamification.scores
  WHERE ${BOARD} AND (score, user_id) > (me.score, $4::uuid) ORDER BY score ASC, user_id ASC LIMIT $5::int) a
UNION ALL
SELECT -1, b.n, b.user_id, b.score, NULL FROM me, LATERAL (
  SELECT user_id, score, row_number() OVER (ORDER BY score DESC, user_id DESC) AS n FROM gamification.scores
  WHERE ${BOARD} AND (score, user_id) < (me.score, $4::uuid) ORDER BY score DESC, user_id DESC LIMIT $5::int) b
ORDER BY side DESC, n`;

export type AroundRow = { side: number; user_id: string; score: string | number; above: string | number | null };

const where = (ref: BoardRef) => sql`workspace_id = ${ref.workspaceId} AND board = ${ref.board} AND period = ${ref.period}`;

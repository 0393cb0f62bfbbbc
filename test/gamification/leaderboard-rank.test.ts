import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows } from '../../src/kernel/db/rows.js';
import { PostgresLeaderboard } from '../../src/services/gamification/leaderboard.js';
import { LeaderboardRepository, type BoardRef } from '../../src/services/gamification/leaderboard.repository.js';
import { createTestPlatform, type TestPlatform } from '../helpers/platform.js';

/**
 * The PostgreSQL leaderboard's rank from the maintained bucket counts (ADR 0062) against the count
 * of every row above it (the query before): the same rank for every member, with ties, negative
 * scores and scores on both sides of every bucket boundary, after inserts, updates and deletes.
 */
let t: TestPlatform;
const db = () => t.platform.database.orm;

beforeAll(async () => {
  t = await createTestPlatform({ V01T_SERVICES: 'orchestrator,gamification' });
}, 60_000);

afterAll(async () => {
  await t?.close();
});

const BOUNDARY_SCORES = [-70_000, -257, -256, -255, -17, -16, -15, -1, 0, 1, 10, 10, 10, 15, 16, 17, 31, 32, 255, 256, 257, 65_535, 65_536, 65_537, 16_777_215, 16_777_216, 16_777_217, 3_000_000_000];

async function put(ref: BoardRef, entries: { userId: string; score: number }[]): Promise<void> {
  if (!entries.length) return;
  const values = sql.join(
    entries.map((e) => sql`(${ref.workspaceId}::uuid, ${ref.board}, ${ref.period}, ${e.userId}::uuid, ${e.score}::bigint)`),
    sql`, `,
  );
  await db().execute(sql`INSERT INTO gamification.scores (workspace_id, board, period, user_id, score) VALUES ${values}
    ON CONFLICT (workspace_id, board, period, user_id) DO UPDATE SET score = EXCLUDED.score`);
}

async function expectRanksAgree(repo: LeaderboardRepository, ref: BoardRef): Promise<number> {
  const members = await rows<{ user_id: string; score: string }>(db(), sql`SELECT user_id, score::text FROM gamification.scores WHERE workspace_id = ${ref.workspaceId} AND board = ${ref.board} AND period = ${ref.period}`);
  for (const m of members) {
    const score = Number(m.score);
    expect([m.user_id, score, await repo.countAbove(ref, score, m.user_id)]).toEqual([m.user_id, score, await repo.countAboveByScan(ref, score, m.user_id)]);
  }
  return members.length;
}

describe('leaderboard rank from bucket counts', () => {
  it('gives every member the rank the count of rows above gives, through inserts, updates and deletes', async () => {
    const repo = new LeaderboardRepository(db());
    const ref: BoardRef = { workspaceId: randomUUID(), board: 'workspace', period: 'all' };
    const other: BoardRef = { ...ref, board: 'vCreator' };
    // Many ties (a few scores shared by many members, ordered by user id) and every boundary.
    const users = Array.from({ length: 160 }, () => randomUUID());
    await put(ref, users.map((userId, i) => ({ userId, score: i < 100 ? [0, 10, 10, 250, 300][i % 5]! : BOUNDARY_SCORES[i % BOUNDARY_SCORES.length]! })));
    await put(other, users.slice(0, 30).map((userId) => ({ userId, score: 1_000_000 }))); // another board: not counted
    expect(await expectRanksAgree(repo, ref)).toBe(160);

    // Updates that stay in their buckets, cross 2^8, 2^16 and 2^24 boundaries, and go negative.
    await put(ref, users.slice(0, 60).map((userId, i) => ({ userId, score: [11, 256, 65_536, 16_777_216, -300, 10, 16, 47][i % 8]! })));
    expect(await expectRanksAgree(repo, ref)).toBe(160);
    // Increments as the scoring writes them.
    await db().execute(sql`UPDATE gamification.scores SET score = score + 7 WHERE workspace_id = ${ref.workspaceId} AND board = ${ref.board} AND user_id IN (${sql.join(users.slice(50, 90).map((u) => sql`${u}::uuid`), sql`, `)})`);
    await db().execute(sql`DELETE FROM gamification.scores WHERE workspace_id = ${ref.workspaceId} AND board = ${ref.board} AND user_id IN (${sql.join(users.slice(100, 120).map((u) => sql`${u}::uuid`), sql`, `)})`);
    expect(await expectRanksAgree(repo, ref)).toBe(140);

    // Every bucket row the triggers keep equals a recount of the scores at its width (none missing, none extra).
    const kept = await rows<{ lvl: number; b: string; members: string }>(
      db(),
      sql`SELECT lvl, bucket::text AS b, members::text FROM gamification.score_counts WHERE workspace_id = ${ref.workspaceId} AND board = ${ref.board} AND period = ${ref.period} AND members <> 0 ORDER BY lvl, bucket`,
    );
    const recount = await rows<{ lvl: number; b: string; members: string }>(
      db(),
      sql`SELECT l.lvl, (s.score >> l.lvl)::text AS b, count(*)::text AS members FROM gamification.scores s CROSS JOIN (VALUES (4), (8), (16), (24)) AS l(lvl)
          WHERE s.workspace_id = ${ref.workspaceId} AND s.board = ${ref.board} AND s.period = ${ref.period} GROUP BY 1, s.score >> l.lvl ORDER BY 1, s.score >> l.lvl`,
    );
    expect(kept).toEqual(recount);
    // The bucket counts hold exactly the board's members at each width.
    const counts = await rows<{ lvl: number; n: string }>(db(), sql`SELECT lvl, sum(members)::text AS n FROM gamification.score_counts WHERE workspace_id = ${ref.workspaceId} AND board = ${ref.board} AND period = ${ref.period} GROUP BY lvl ORDER BY lvl`);
    expect(counts.map((c) => [c.lvl, c.n])).toEqual([
      [4, '140'],
      [8, '140'],
      [16, '140'],
      [24, '140'],
    ]);
  }, 60_000);

  it('answers around-me in one statement with the same neighbours and ranks as a full sort, ties, negatives and bucket boundaries included', async () => {
    // The platform's way (a named prepared statement on PostgreSQL) and through drizzle: the same answers.
    const board = new PostgresLeaderboard(new LeaderboardRepository(db(), t.platform.database));
    const viaDrizzle = new PostgresLeaderboard(new LeaderboardRepository(db()));
    const ref: BoardRef = { workspaceId: randomUUID(), board: 'workspace', period: 'week:2026-W48' };
    const users = Array.from({ length: 60 }, () => randomUUID());
    await put(ref, users.map((userId, i) => ({ userId, score: i < 30 ? [5, 5, 5, 5, 260, 255][i % 6]! : BOUNDARY_SCORES[(i - 30) % BOUNDARY_SCORES.length]! })));
    const ordered = (await rows<{ user_id: string; score: string }>(db(), sql`SELECT s.user_id, s.score::text AS score FROM gamification.scores s WHERE s.workspace_id = ${ref.workspaceId} AND s.period = ${ref.period} ORDER BY s.score DESC, s.user_id DESC`)).map(
      (r, i) => ({ rank: i + 1, userId: r.user_id, score: Number(r.score) }),
    );
    for (const me of ordered) {
      const got = await board.around(ref, me.userId, 3);
      const i = me.rank - 1;
      expect(got).toEqual({ me, neighbours: ordered.slice(Math.max(0, i - 3), i + 4) });
      expect(await viaDrizzle.around(ref, me.userId, 3)).toEqual(got);
    }
    expect(await board.around(ref, randomUUID(), 3)).toBeNull();
    // A radius wider than the board: everyone, in order.
    expect((await board.around(ref, ordered[30]!.userId, 100))!.neighbours).toEqual(ordered);
  }, 60_000);
});

import type { Redis } from 'ioredis';
import type { BoardRef, LeaderboardRepository } from './leaderboard.repository.js';

export interface Standing {
  rank: number;
  userId: string;
  score: number;
}

export type { BoardRef } from './leaderboard.repository.js';

/**
 * Reads a leaderboard. Ranks are ordinal (1, 2, 3 …) and ties are broken by user id descending,
 * which is the order Redis gives members of equal score in ZREVRANGE, so both stores agree.
 */
export interface LeaderboardStore {
  readonly kind: 'postgres' | 'redis';
  top(ref: BoardRef, limit: number): Promise<Standing[]>;
  /** The user's standing with up to `radius` neighbours above and below; null when not ranked. */
  around(ref: BoardRef, userId: string, radius: number): Promise<{ me: Standing; neighbours: Standing[] } | null>;
  size(ref: BoardRef): Promise<number>;
}

export class PostgresLeaderboard implements LeaderboardStore {
  readonly kind = 'postgres' as const;
  constructor(private readonly repo: LeaderboardRepository) {}

  async top(ref: BoardRef, limit: number): Promise<Standing[]> {
    const r = await this.repo.top(ref, limit);
    return r.map((x, i) => ({ rank: i + 1, userId: x.user_id, score: Number(x.score) }));
  }

  /** One statement (LeaderboardRepository.around): the rank from bucket counts and the neighbours from index scans. */
  async around(ref: BoardRef, userId: string, radius: number) {
    const found = await this.repo.around(ref, userId, radius);
    const mine = found.find((r) => Number(r.side) === 0);
    if (!mine) return null;
    const rank = Number(mine.above) + 1;
    const me = { rank, userId, score: Number(mine.score) };
    const up = found.filter((r) => Number(r.side) === 1);
    const down = found.filter((r) => Number(r.side) === -1);
    const neighbours = [
      ...up.map((x, i) => ({ rank: rank - i - 1, userId: x.user_id, score: Number(x.score) })).reverse(),
      me,
      ...down.map((x, i) => ({ rank: rank + i + 1, userId: x.user_id, score: Number(x.score) })),
    ];
    return { me, neighbours };
  }

  async size(ref: BoardRef): Promise<number> {
    return this.repo.size(ref);
  }
}

/** A member's 0-based rank and the entries `radius` above and below it, read atomically. */
const AROUND_ME_SCRIPT = `
local r = redis.call('ZREVRANK', KEYS[1], ARGV[1])
if not r then return false end
local start = math.max(0, r - tonumber(ARGV[2]))
return { start, redis.call('ZREVRANGE', KEYS[1], start, r + tonumber(ARGV[2]), 'WITHSCORES') }
`;

/**
 * Sorted sets projected from gamification.scores. Scoring transactions mark changed entries in
 * gamification.board_sync; `drain()` copies their committed scores (absolute values, so a repeat
 * is harmless) and removes the marks in one transaction, so a crash loses nothing. A board whose
 * "ready" marker is missing (new, or Redis lost its data) is rebuilt from PostgreSQL on first read.
 */
export class RedisLeaderboard implements LeaderboardStore {
  readonly kind = 'redis' as const;
  constructor(
    private readonly redis: Redis,
    private readonly repo: LeaderboardRepository,
    private readonly prefix: string,
  ) {}

  key(ref: BoardRef): string {
    return `${this.prefix}gam:lb:${ref.workspaceId}:${ref.board}:${ref.period}`;
  }

  /** Boards seen ready recently: the marker is re-checked at most once a second per board. */
  private readonly seenReady = new Map<string, number>();

  private async ready(ref: BoardRef): Promise<string> {
    const key = this.key(ref);
    const seen = this.seenReady.get(key);
    if (seen !== undefined && performance.now() - seen < 1000) return key;
    if ((await this.redis.exists(`${key}:ready`)) !== 1) await this.rebuild(ref);
    if (this.seenReady.size > 10_000) this.seenReady.clear();
    this.seenReady.set(key, performance.now());
    return key;
  }

  /** Replaces the sorted set with the board's rows in PostgreSQL. */
  async rebuild(ref: BoardRef): Promise<void> {
    const key = this.key(ref);
    const tmp = `${key}:rebuild`;
    await this.redis.del(tmp);
    let after = '00000000-0000-0000-0000-000000000000';
    for (;;) {
      const batch = await this.repo.pageAfter(ref, after, 10000);
      if (!batch.length) break;
      const args: (string | number)[] = [];
      for (const r of batch) args.push(Number(r.score), r.user_id);
      await this.redis.zadd(tmp, ...args);
      after = batch[batch.length - 1]!.user_id;
    }
    const multi = this.redis.multi();
    if ((await this.redis.exists(tmp)) === 1) multi.rename(tmp, key);
    else multi.del(key);
    await multi.set(`${key}:ready`, '1').exec();
  }

  async top(ref: BoardRef, limit: number): Promise<Standing[]> {
    const key = await this.ready(ref);
    const flat = await this.redis.zrevrange(key, 0, limit - 1, 'WITHSCORES');
    const out: Standing[] = [];
    for (let i = 0; i < flat.length; i += 2) out.push({ rank: i / 2 + 1, userId: flat[i]!, score: Number(flat[i + 1]) });
    return out;
  }

  async around(ref: BoardRef, userId: string, radius: number) {
    const key = await this.ready(ref);
    // The rank and the range in one script: read apart, a drain copying new scores in between could
    // move the member out of the range it was ranked for (a profile then failed with a 500).
    const found = (await this.redis.eval(AROUND_ME_SCRIPT, 1, key, userId, String(radius))) as [number, string[]] | null;
    if (!found) return null;
    const [start, flat] = found;
    const neighbours: Standing[] = [];
    for (let i = 0; i < flat.length; i += 2) neighbours.push({ rank: start + i / 2 + 1, userId: flat[i]!, score: Number(flat[i + 1]) });
    const me = neighbours.find((s) => s.userId === userId)!;
    return { me, neighbours };
  }

  async size(ref: BoardRef): Promise<number> {
    return this.redis.zcard(await this.ready(ref));
  }

  /** Copies pending score changes to Redis; returns how many entries were copied. */
  async drain(batchSize = 1000): Promise<number> {
    return this.repo.drainMarks(batchSize, async (changed) => {
      const pipe = this.redis.pipeline();
      for (const c of changed) {
        const key = this.key({ workspaceId: c.workspace_id, board: c.board, period: c.period });
        if (c.score === null) pipe.zrem(key, c.user_id);
        else pipe.zadd(key, Number(c.score), c.user_id);
      }
      const results = (await pipe.exec()) ?? [];
      const failed = results.find(([err]) => err);
      // Throwing rolls the marks back: the same entries are copied on the next drain.
      if (failed) throw failed[0];
    });
  }

  async remove(ref: BoardRef): Promise<void> {
    const key = this.key(ref);
    this.seenReady.delete(key);
    await this.redis.del(key, `${key}:ready`);
  }

  async removeMember(ref: BoardRef, userId: string): Promise<void> {
    await this.redis.zrem(this.key(ref), userId);
  }
}

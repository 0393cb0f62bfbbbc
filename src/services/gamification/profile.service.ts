import type { Clock } from '../../kernel/clock.js';
import { PERSONAS } from '../../kernel/auth/permissions.js';
import type { Entitlement } from './contract.js';
import type { ConfigRepository } from './config.repository.js';
import type { LeaderboardStore, PostgresLeaderboard, RedisLeaderboard, Standing } from './leaderboard.js';
import { levelProgress } from './levels.js';
import { streakAt } from './streaks.js';
import { dayString, LEADERBOARD_PERIODS, localDayNumber, periodEndDay, periodIndex, periodKey, type Cadence, type LeaderboardPeriod } from './time.js';
import type { Badge } from './schemas.js';
import type { ProfileRepository } from './profile.repository.js';
import type { ScoringService } from './scoring.service.js';

const iso = (d: string | Date) => new Date(d).toISOString();

/** Read side: profiles, leaderboards, archives, entitlements, and the personal-data handlers. */
export class ProfileService {
  constructor(
    private readonly repo: ProfileRepository,
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
    const r = await this.repo.archivedStandings(workspaceId, board, period, limit);
    return r.length ? r.map((x) => ({ rank: x.rank, userId: x.user_id, score: Number(x.score) })) : null;
  }

  async profile(workspaceId: string, userId: string) {
    const config = await this.configs.current(workspaceId);
    const timezone = await this.scoring.userTimezone(workspaceId, userId, config.settings.timezone);
    const today = localDayNumber(this.clock.now(), timezone);
    const balances = await this.repo.balances(workspaceId, userId);
    const levels = PERSONAS.map((persona) => {
      const xp = balances.filter((b) => b.persona === persona).reduce((n, b) => n + Number(b.points), 0);
      return { persona, ...levelProgress(config.settings.levels[persona], xp) };
    });
    const badgeDefs = await this.configs.badgesById(workspaceId);
    const badges = (await this.repo.badges(workspaceId, userId)).map((b) => {
      const def = badgeDefs.get(b.badge_id);
      return { id: b.badge_id, key: def?.key ?? 'unknown', name: def?.name ?? 'Unknown badge', awardedAt: iso(b.awarded_at) };
    });
    const streaks = (await this.repo.streaks(workspaceId, userId)).map((r) => {
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

  /**
   * The streak calendar of the last `days` days in the user's zone: on which local dates each
   * streak activity scored, and which days the current streaks bridged with freezes. Built from the
   * ledger (90-day retention), so an event whose points a daily cap swallowed entirely is not shown.
   */
  async calendar(workspaceId: string, userId: string, days: number) {
    const config = await this.configs.current(workspaceId);
    const timezone = await this.scoring.userTimezone(workspaceId, userId, config.settings.timezone);
    const now = this.clock.now();
    const today = localDayNumber(now, timezone);
    const from = today - days + 1;
    const rules = new Map((await this.repo.ruleStreaks(workspaceId)).map((r) => [r.id, r]));
    // A day's first instant is at most 14 h before its UTC midnight: read a day more, filter by local date.
    const awards = await this.repo.awardsSince(workspaceId, userId, new Date((from - 1) * 86_400_000).toISOString());
    const active = new Map<string, Set<number>>(); // "activity|cadence" → local day numbers
    for (const a of awards) {
      const rule = a.rule_id ? rules.get(a.rule_id) : undefined;
      if (!rule?.activity || !rule.cadence) continue;
      const day = localDayNumber(new Date(a.occurred_at), timezone);
      if (day < from) continue;
      const k = `${rule.activity}|${rule.cadence}`;
      if (!active.has(k)) active.set(k, new Set());
      active.get(k)!.add(day);
    }
    const streaks = (await this.repo.streaks(workspaceId, userId)).map((r) => {
      const cadence: Cadence = r.cadence;
      const idx = (d: number) => periodIndex(d, cadence);
      const days = active.get(`${r.activity}|${cadence}`) ?? new Set<number>();
      const periods = new Set([...days].map(idx));
      const state = streakAt({ current: r.current, longest: r.longest, lastPeriod: r.last_period, freezes: r.freezes, freezesUsed: r.freezes_used }, idx(today));
      // Walk back from the last active period over the current streak: gaps inside it were frozen.
      const frozen: number[] = [];
      if (state.alive && r.last_period !== null) {
        for (let p = idx(today) - 1; p > r.last_period; p--) frozen.push(p); // to be spent at the next activity
        let counted = 0;
        for (let p = r.last_period; counted < r.current && p >= idx(from); p--) {
          if (periods.has(p)) counted++;
          else frozen.push(p);
        }
      }
      const startOf = (p: number) => (cadence === 'daily' ? p : p * 7 - 3);
      return {
        activity: r.activity,
        cadence,
        current: state.current,
        longest: state.longest,
        freezes: state.freezes,
        alive: state.alive,
        activeDays: [...days].sort((a, b) => a - b).map(dayString),
        frozenPeriods: frozen
          .filter((p) => startOf(p) + (cadence === 'daily' ? 0 : 6) >= from)
          .sort((a, b) => a - b)
          .map((p) => dayString(startOf(p))),
      };
    });
    return { timezone, from: dayString(from), to: dayString(today), streaks };
  }

  /** Every badge of the catalog with whether the user holds it and how far they are from it. */
  async badgeProgress(workspaceId: string, userId: string) {
    const config = await this.configs.current(workspaceId);
    const timezone = await this.scoring.userTimezone(workspaceId, userId, config.settings.timezone);
    const today = localDayNumber(this.clock.now(), timezone);
    const held = new Map((await this.repo.badges(workspaceId, userId)).map((b) => [b.badge_id, iso(b.awarded_at)]));
    const counts = new Map((await this.repo.eventCounts(workspaceId, userId)).map((c) => [c.event_name, Number(c.count)]));
    const streaks = await this.repo.streaks(workspaceId, userId);
    const now = this.clock.now();
    const out: { badge: Badge; earned: boolean; awardedAt: string | null; current: number; target: number }[] = [];
    for (const badge of config.badges) {
      const c = badge.criteria;
      let current = 0;
      if (c.kind === 'count') current = counts.get(c.event) ?? 0;
      else if (c.kind === 'streak') {
        const r = streaks.find((s) => s.activity === c.activity && s.cadence === c.cadence);
        if (r) current = streakAt({ current: r.current, longest: r.longest, lastPeriod: r.last_period, freezes: r.freezes, freezesUsed: r.freezes_used }, periodIndex(today, c.cadence)).current;
      } else current = await this.repo.pointsBetween(workspaceId, userId, c.metric, new Date(now.getTime() - c.windowDays * 86_400_000).toISOString(), now.toISOString());
      const awardedAt = held.get(badge.id) ?? null;
      out.push({ badge, earned: awardedAt !== null, awardedAt, current: Math.max(0, current), target: c.atLeast });
    }
    // Held badges since retired from the catalog stay on the profile.
    const all = await this.configs.badgesById(workspaceId);
    for (const [id, at] of held) {
      if (out.some((b) => b.badge.id === id)) continue;
      const badge = all.get(id);
      if (badge) out.push({ badge, earned: true, awardedAt: at, current: badge.criteria.atLeast, target: badge.criteria.atLeast });
    }
    return out;
  }

  async entitlements(workspaceId: string, userId: string): Promise<Entitlement[]> {
    return (await this.repo.entitlements(workspaceId, userId)).map((r) => ({ rewardKey: r.reward_key, kind: r.kind, source: r.source, grantedAt: iso(r.granted_at) }));
  }

  /**
   * Freezes the standings of weekly and monthly periods that ended more than a day ago (a day of
   * grace covers every time zone and late deliveries), then drops their live rows and sorted sets.
   */
  async archiveClosedPeriods(): Promise<number> {
    const today = Math.floor(this.clock.now().getTime() / 86_400_000);
    const live = await this.repo.liveBoards();
    let archived = 0;
    for (const ref of live) {
      const end = periodEndDay(ref.period);
      if (end === null || end + 1 > today) continue;
      await this.repo.archiveBoard(ref, this.clock.now().toISOString());
      await this.redisBoard?.remove({ workspaceId: ref.workspace_id, board: ref.board, period: ref.period });
      archived++;
    }
    return archived;
  }

  async exportUser(userId: string): Promise<Record<string, unknown>> {
    return this.repo.exportUser(userId);
  }

  async eraseUser(userId: string): Promise<Record<string, number>> {
    const boards = await this.repo.boardsOfUser(userId);
    const counts = await this.repo.eraseUser(userId);
    for (const b of boards) await this.redisBoard?.removeMember({ workspaceId: b.workspace_id, board: b.board, period: b.period }, userId);
    return counts;
  }

  /** Retention of ledger entries (runbook: user activity logs, 90 days); balances and levels stay. */
  async purgeLedger(before: Date): Promise<number> {
    return this.repo.purgeLedger(before);
  }

  async purgeDailyCaps(before: Date): Promise<number> {
    return this.repo.purgeDailyCaps(before);
  }

  async purgeArchive(before: Date): Promise<number> {
    return this.repo.purgeArchive(before);
  }

  get pg(): PostgresLeaderboard {
    return this.pgBoard;
  }
}

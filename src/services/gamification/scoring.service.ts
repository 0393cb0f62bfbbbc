import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { AuditLog } from '../../kernel/audit/index.js';
import type { Clock } from '../../kernel/clock.js';
import type { Db, DbExecutor } from '../../kernel/db/database.js';
import { AppError, notFound } from '../../kernel/errors.js';
import type { EventEnvelope, EventPublisher } from '../../kernel/events/index.js';
import type { Persona } from '../../kernel/auth/permissions.js';
import type { ConfigRepository, WorkspaceConfig } from './config.repository.js';
import { addScores } from './leaderboard.js';
import { levelFor } from './levels.js';
import { pointsWithBonus } from './rules.js';
import type { Rule } from './schemas.js';
import { emptyStreak, streakAt, touchStreak, type StreakState } from './streaks.js';
import { LEADERBOARD_PERIODS, isTimeZone, localDayNumber, periodIndex, periodKey, type Cadence } from './time.js';
import { UUID, rows } from './sql.js';

export interface ScoringOptions {
  /** Whether score changes are marked for the Redis projection. */
  redis: boolean;
  onAwarded?: (persona: string, points: number) => void;
}

export type Outcome = { status: 'skipped' | 'duplicate' } | { status: 'scored'; entries: { ruleId: string; points: number }[] };

type StreakRow = { current: number; longest: number; last_period: number | null; freezes: number; freezes_used: number };
const toState = (r: StreakRow | undefined): StreakState =>
  r ? { current: r.current, longest: r.longest, lastPeriod: r.last_period, freezes: r.freezes, freezesUsed: r.freezes_used } : emptyStreak();

interface Subject {
  workspaceId: string;
  userId: string;
  config: WorkspaceConfig;
}

/**
 * Turns events into ledger entries, balances, levels, streaks, badges, rewards and leaderboard
 * scores. Every write goes through the caller's transaction: for a bus delivery that is the
 * delivery's own transaction, so a redelivered event is scored exactly once.
 */
export class ScoringService {
  constructor(
    private readonly db: Db,
    private readonly configs: ConfigRepository,
    private readonly events: EventPublisher,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
    private readonly opts: ScoringOptions,
  ) {}

  async userTimezone(ex: DbExecutor, workspaceId: string, userId: string, fallback: string): Promise<string> {
    const [r] = await rows<{ timezone: string }>(ex, sql`SELECT timezone FROM gamification.user_settings WHERE workspace_id = ${workspaceId} AND user_id = ${userId}`);
    return r?.timezone ?? fallback;
  }

  async setUserTimezone(workspaceId: string, userId: string, timezone: string): Promise<void> {
    if (!isTimeZone(timezone)) throw new AppError('validation_failed', `Unknown time zone "${timezone}"`, { errors: [{ path: 'timezone', message: 'not an IANA time zone' }] });
    await this.db.execute(sql`INSERT INTO gamification.user_settings (workspace_id, user_id, timezone) VALUES (${workspaceId}, ${userId}, ${timezone})
      ON CONFLICT (workspace_id, user_id) DO UPDATE SET timezone = EXCLUDED.timezone`);
  }

  /** Scores one event inside `tx`. */
  async handle(event: EventEnvelope, tx: DbExecutor): Promise<Outcome> {
    const workspaceId = event.workspaceId;
    const userId = event.actorId;
    if (!workspaceId || !userId || !UUID.test(userId) || !UUID.test(event.id)) return { status: 'skipped' };
    const fresh = await rows(tx, sql`INSERT INTO gamification.processed_events (event_id, workspace_id, processed_at) VALUES (${event.id}, ${workspaceId}, ${this.clock.now().toISOString()})
      ON CONFLICT (event_id) DO NOTHING RETURNING event_id`);
    if (!fresh.length) return { status: 'duplicate' };

    const config = await this.configs.load(tx, workspaceId);
    const subject: Subject = { workspaceId, userId, config };
    const at = new Date(event.occurredAt);
    const tz = await this.userTimezone(tx, workspaceId, userId, config.settings.timezone);
    const day = localDayNumber(at, tz);

    const [{ count }] = (await rows<{ count: string | number }>(
      tx,
      sql`INSERT INTO gamification.event_counts (workspace_id, user_id, event_name, count) VALUES (${workspaceId}, ${userId}, ${event.name}, 1)
          ON CONFLICT (workspace_id, user_id, event_name) DO UPDATE SET count = gamification.event_counts.count + 1 RETURNING count`,
    )) as [{ count: string | number }];

    const matched = await config.ruleSet.match({ name: event.name, payload: event.payload, actorId: event.actorId, occurredAt: event.occurredAt });

    // Streaks first, so today's activity counts towards today's streak bonus.
    const streaks = new Map<string, StreakState>();
    const streakKey = (a: string, c: Cadence) => `${a}|${c}`;
    const loadStreak = async (activity: string, cadence: Cadence) => {
      const k = streakKey(activity, cadence);
      if (!streaks.has(k)) {
        const [r] = await rows<StreakRow>(
          tx,
          sql`SELECT current, longest, last_period, freezes, freezes_used FROM gamification.streaks
              WHERE workspace_id = ${workspaceId} AND user_id = ${userId} AND activity = ${activity} AND cadence = ${cadence} FOR UPDATE`,
        );
        streaks.set(k, toState(r));
      }
      return streaks.get(k)!;
    };
    const touched: { activity: string; cadence: Cadence; state: StreakState }[] = [];
    for (const rule of matched) {
      if (!rule.streak) continue;
      const { activity, cadence } = rule.streak;
      if (touched.some((t) => t.activity === activity && t.cadence === cadence)) continue;
      const { state } = touchStreak(await loadStreak(activity, cadence), periodIndex(day, cadence), config.settings.freezes);
      streaks.set(streakKey(activity, cadence), state);
      touched.push({ activity, cadence, state });
      await tx.execute(sql`INSERT INTO gamification.streaks (workspace_id, user_id, activity, cadence, current, longest, last_period, freezes, freezes_used, updated_at)
        VALUES (${workspaceId}, ${userId}, ${activity}, ${cadence}, ${state.current}, ${state.longest}, ${state.lastPeriod}, ${state.freezes}, ${state.freezesUsed}, ${this.clock.now().toISOString()})
        ON CONFLICT (workspace_id, user_id, activity, cadence) DO UPDATE SET current = EXCLUDED.current, longest = EXCLUDED.longest, last_period = EXCLUDED.last_period,
          freezes = EXCLUDED.freezes, freezes_used = EXCLUDED.freezes_used, updated_at = EXCLUDED.updated_at`);
    }
    const streakNow = new Map<string, number>();
    for (const rule of matched) {
      for (const m of rule.multipliers) {
        const k = streakKey(m.activity, m.cadence);
        if (!streakNow.has(k)) streakNow.set(k, streakAt(await loadStreak(m.activity, m.cadence), periodIndex(day, m.cadence)).current);
      }
    }

    const entries: { ruleId: string; points: number }[] = [];
    const metrics = new Set<string>();
    for (const rule of matched) {
      const { points } = pointsWithBonus(rule, (a, c) => streakNow.get(streakKey(a, c)) ?? 0);
      const granted = await this.applyCap(tx, subject, rule, day, points);
      if (granted <= 0) continue;
      const inserted = await rows(
        tx,
        sql`INSERT INTO gamification.ledger (id, workspace_id, user_id, persona, metric, points, kind, event_id, event_name, rule_id, occurred_at, recorded_at)
            VALUES (${randomUUID()}, ${workspaceId}, ${userId}, ${rule.persona}, ${rule.metric}, ${granted}, 'award', ${event.id}, ${event.name}, ${rule.id}, ${at.toISOString()}, ${this.clock.now().toISOString()})
            ON CONFLICT (event_id, rule_id) DO NOTHING RETURNING id`,
      );
      if (!inserted.length) continue;
      entries.push({ ruleId: rule.id, points: granted });
      metrics.add(rule.metric);
      await this.credit(tx, subject, rule.persona, rule.metric, granted, at);
    }

    await this.checkBadges(tx, subject, at, { event: { name: event.name, count: Number(count) }, streaks: touched, metrics });
    return { status: 'scored', entries };
  }

  /** Points of `want` still allowed today by the rule's daily cap; records them against the cap. */
  private async applyCap(tx: DbExecutor, s: Subject, rule: Rule, day: number, want: number): Promise<number> {
    if (rule.dailyCap === null) return want;
    const date = new Date(day * 86_400_000).toISOString().slice(0, 10);
    const [r] = await rows<{ points: number }>(
      tx,
      sql`SELECT points FROM gamification.daily_caps WHERE workspace_id = ${s.workspaceId} AND user_id = ${s.userId} AND rule_id = ${rule.id} AND day = ${date} FOR UPDATE`,
    );
    const used = r?.points ?? 0;
    const granted = Math.max(0, Math.min(want, rule.dailyCap - used));
    if (granted > 0) {
      await tx.execute(sql`INSERT INTO gamification.daily_caps (workspace_id, user_id, rule_id, day, points) VALUES (${s.workspaceId}, ${s.userId}, ${rule.id}, ${date}, ${granted})
        ON CONFLICT (workspace_id, user_id, rule_id, day) DO UPDATE SET points = gamification.daily_caps.points + EXCLUDED.points`);
    }
    return granted;
  }

  /** Applies a ledger delta to balances, leaderboards and levels. */
  private async credit(tx: DbExecutor, s: Subject, persona: Persona, metric: string, delta: number, at: Date): Promise<void> {
    const { workspaceId, userId, config } = s;
    await tx.execute(sql`INSERT INTO gamification.balances (workspace_id, user_id, persona, metric, points) VALUES (${workspaceId}, ${userId}, ${persona}, ${metric}, ${delta})
      ON CONFLICT (workspace_id, user_id, persona, metric) DO UPDATE SET points = gamification.balances.points + EXCLUDED.points`);
    // Leaderboard periods follow the workspace's calendar, so everyone competes in the same week.
    const day = localDayNumber(at, config.settings.timezone);
    const scoreRows = (['workspace', persona] as const).flatMap((board) =>
      LEADERBOARD_PERIODS.map((p) => ({ workspaceId, board, period: periodKey(p, day), userId, delta })),
    );
    await addScores(tx, scoreRows, this.opts.redis);
    if (delta > 0) this.opts.onAwarded?.(persona, delta);

    const [{ xp }] = (await rows<{ xp: string | number }>(
      tx,
      sql`SELECT coalesce(sum(points), 0) AS xp FROM gamification.balances WHERE workspace_id = ${workspaceId} AND user_id = ${userId} AND persona = ${persona}`,
    )) as [{ xp: string | number }];
    const [cur] = await rows<{ level: number }>(tx, sql`SELECT level FROM gamification.levels WHERE workspace_id = ${workspaceId} AND user_id = ${userId} AND persona = ${persona} FOR UPDATE`);
    const previous = cur?.level ?? 1;
    const level = levelFor(config.settings.levels[persona], Number(xp));
    if (level === previous && cur) return;
    await tx.execute(sql`INSERT INTO gamification.levels (workspace_id, user_id, persona, level) VALUES (${workspaceId}, ${userId}, ${persona}, ${level})
      ON CONFLICT (workspace_id, user_id, persona) DO UPDATE SET level = EXCLUDED.level`);
    for (let l = previous + 1; l <= level; l++) {
      await this.events.publish({ name: 'gamification.level.up.v1', workspaceId, actorId: userId, payload: { userId, persona, level: l, previousLevel: l - 1, xp: Number(xp) } }, tx);
    }
    if (level > previous) {
      for (const reward of config.settings.rewards) {
        if ('level' in reward.unlock && reward.unlock.persona === persona && reward.unlock.level <= level) await this.grant(tx, s, reward.key, reward.kind, `level:${persona}:${reward.unlock.level}`);
      }
    }
  }

  private async grant(tx: DbExecutor, s: Subject, rewardKey: string, kind: string, source: string): Promise<void> {
    const granted = await rows(
      tx,
      sql`INSERT INTO gamification.entitlements (workspace_id, user_id, reward_key, kind, source, granted_at) VALUES (${s.workspaceId}, ${s.userId}, ${rewardKey}, ${kind}, ${source}, ${this.clock.now().toISOString()})
          ON CONFLICT DO NOTHING RETURNING reward_key`,
    );
    if (granted.length) await this.events.publish({ name: 'gamification.reward.granted.v1', workspaceId: s.workspaceId, actorId: s.userId, payload: { userId: s.userId, rewardKey, kind } }, tx);
  }

  private async checkBadges(
    tx: DbExecutor,
    s: Subject,
    at: Date,
    what: { event?: { name: string; count: number }; streaks: { activity: string; cadence: Cadence; state: StreakState }[]; metrics: Set<string> },
  ): Promise<void> {
    for (const badge of s.config.badges) {
      const c = badge.criteria;
      let earned = false;
      if (c.kind === 'count') earned = what.event?.name === c.event && what.event.count >= c.atLeast;
      else if (c.kind === 'streak') earned = what.streaks.some((t) => t.activity === c.activity && t.cadence === c.cadence && t.state.current >= c.atLeast);
      else if (c.kind === 'points' && what.metrics.has(c.metric)) {
        const since = new Date(at.getTime() - c.windowDays * 86_400_000).toISOString();
        const [{ total }] = (await rows<{ total: string | number }>(
          tx,
          sql`SELECT coalesce(sum(points), 0) AS total FROM gamification.ledger
              WHERE workspace_id = ${s.workspaceId} AND user_id = ${s.userId} AND metric = ${c.metric} AND occurred_at > ${since} AND occurred_at <= ${at.toISOString()}`,
        )) as [{ total: string | number }];
        earned = Number(total) >= c.atLeast;
      }
      if (!earned) continue;
      const awarded = await rows(
        tx,
        sql`INSERT INTO gamification.user_badges (workspace_id, user_id, badge_id, awarded_at) VALUES (${s.workspaceId}, ${s.userId}, ${badge.id}, ${this.clock.now().toISOString()})
            ON CONFLICT DO NOTHING RETURNING badge_id`,
      );
      if (!awarded.length) continue;
      await this.events.publish(
        { name: 'gamification.badge.awarded.v1', workspaceId: s.workspaceId, actorId: s.userId, payload: { userId: s.userId, badgeId: badge.id, badgeKey: badge.key, name: badge.name } },
        tx,
      );
      for (const reward of s.config.settings.rewards) {
        if ('badge' in reward.unlock && reward.unlock.badge === badge.key) await this.grant(tx, s, reward.key, reward.kind, `badge:${badge.key}`);
      }
    }
  }

  /** An admin's correction: a ledger entry with a reason, recorded in the audit log in the same transaction. */
  async adjust(
    workspaceId: string,
    input: { userId: string; persona: Persona; metric: string; points: number; reason: string },
    actor: { userId: string; ip?: string },
  ): Promise<{ entryId: string }> {
    if (input.points === 0) throw new AppError('validation_failed', 'An adjustment must change the balance', { errors: [{ path: 'points', message: 'must not be 0' }] });
    const entryId = randomUUID();
    await this.db.transaction(async (tx) => {
      const config = await this.configs.load(tx, workspaceId);
      const s: Subject = { workspaceId, userId: input.userId, config };
      const now = this.clock.now();
      await tx.execute(sql`INSERT INTO gamification.ledger (id, workspace_id, user_id, persona, metric, points, kind, reason, actor_id, occurred_at, recorded_at)
        VALUES (${entryId}, ${workspaceId}, ${input.userId}, ${input.persona}, ${input.metric}, ${input.points}, 'adjustment', ${input.reason}, ${actor.userId}, ${now.toISOString()}, ${now.toISOString()})`);
      await this.credit(tx, s, input.persona, input.metric, input.points, now);
      await this.audit.record(
        {
          action: 'gamification.points.adjusted',
          workspaceId,
          actorId: actor.userId,
          actorIp: actor.ip ?? null,
          targetType: 'user',
          targetId: input.userId,
          data: { entryId, persona: input.persona, metric: input.metric, points: input.points, reason: input.reason },
        },
        tx,
      );
      if (input.points > 0) await this.checkBadges(tx, s, now, { streaks: [], metrics: new Set([input.metric]) });
    });
    return { entryId };
  }

  /** Cancels a ledger entry with an opposite entry (the original stays); each entry can be reversed once. */
  async reverse(workspaceId: string, entryId: string, reason: string, actor: { userId: string; ip?: string }): Promise<{ entryId: string }> {
    const reversalId = randomUUID();
    await this.db.transaction(async (tx) => {
      const [e] = await rows<{ user_id: string; persona: Persona; metric: string; points: number; kind: string; occurred_at: string | Date }>(
        tx,
        sql`SELECT user_id, persona, metric, points, kind, occurred_at FROM gamification.ledger WHERE workspace_id = ${workspaceId} AND id = ${entryId}`,
      );
      if (!e) throw notFound('Ledger entry');
      if (e.kind === 'reversal') throw new AppError('conflict', 'A reversal cannot be reversed; adjust instead');
      const taken = await rows(tx, sql`SELECT 1 FROM gamification.ledger WHERE reverses = ${entryId}`);
      if (taken.length) throw new AppError('conflict', 'This entry was already reversed');
      const config = await this.configs.load(tx, workspaceId);
      const now = this.clock.now();
      const original = new Date(e.occurred_at);
      await tx.execute(sql`INSERT INTO gamification.ledger (id, workspace_id, user_id, persona, metric, points, kind, reverses, reason, actor_id, occurred_at, recorded_at)
        VALUES (${reversalId}, ${workspaceId}, ${e.user_id}, ${e.persona}, ${e.metric}, ${-e.points}, 'reversal', ${entryId}, ${reason}, ${actor.userId}, ${original.toISOString()}, ${now.toISOString()})`);
      // Counted in the periods the original fell in, so last week's board is corrected too.
      await this.credit(tx, { workspaceId, userId: e.user_id, config }, e.persona, e.metric, -e.points, original);
      await this.audit.record(
        { action: 'gamification.points.reversed', workspaceId, actorId: actor.userId, actorIp: actor.ip ?? null, targetType: 'ledger_entry', targetId: entryId, data: { reversalId, userId: e.user_id, points: -e.points, reason } },
        tx,
      );
    });
    return { entryId: reversalId };
  }
}

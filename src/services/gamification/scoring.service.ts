import { randomUUID } from 'node:crypto';
import type { AuditLog } from '../../kernel/audit/index.js';
import type { Clock } from '../../kernel/clock.js';
import type { Transactor, Tx } from '../../kernel/db/transaction.js';
import { AppError, notFound } from '../../kernel/errors.js';
import type { EventEnvelope, EventPublisher } from '../../kernel/events/index.js';
import type { Persona } from '../../kernel/auth/permissions.js';
import type { ConfigRepository, WorkspaceConfig } from './config.repository.js';
import { levelFor } from './levels.js';
import { pointsWithBonus } from './rules.js';
import type { Rule } from './schemas.js';
import { emptyStreak, streakAt, touchStreak, type StreakState } from './streaks.js';
import { LEADERBOARD_PERIODS, isTimeZone, localDayNumber, periodIndex, periodKey, type Cadence } from './time.js';
import { BatchScoringRepository, type ScoringRepository, type StreakRow } from './scoring.repository.js';
import { scoreBatch, type Outcome } from './scoring.batch.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface ScoringOptions {
  /** Whether score changes are marked for the Redis projection. */
  redis: boolean;
  onAwarded?: (persona: string, points: number) => void;
}

export type { Outcome };

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
    private readonly db: Transactor,
    private readonly repo: ScoringRepository,
    private readonly configs: ConfigRepository,
    private readonly events: EventPublisher,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
    private readonly opts: ScoringOptions,
  ) {}

  async userTimezone(workspaceId: string, userId: string, fallback: string, tx?: Tx): Promise<string> {
    return (await this.repo.userTimezone(workspaceId, userId, tx)) ?? fallback;
  }

  async setUserTimezone(workspaceId: string, userId: string, timezone: string): Promise<void> {
    if (!isTimeZone(timezone)) throw new AppError('validation_failed', `Unknown time zone "${timezone}"`, { errors: [{ path: 'timezone', message: 'not an IANA time zone' }] });
    await this.repo.setUserTimezone(workspaceId, userId, timezone);
  }

  private readonly batchRepo = new BatchScoringRepository();

  /**
   * Scores several events inside `tx` with a fixed number of set-based statements (scoring.batch.ts):
   * the same effects and outcomes as calling `handle` for each event in order.
   */
  async handleBatch(events: EventEnvelope[], tx: Tx): Promise<Outcome[]> {
    return scoreBatch(
      { repo: this.repo, batch: this.batchRepo, configs: this.configs, events: this.events, clock: this.clock, redis: this.opts.redis, onAwarded: this.opts.onAwarded },
      events,
      tx,
    );
  }

  /** Scores one event inside `tx` (the per-event path: the bus's fallback when a batch fails). */
  async handle(event: EventEnvelope, tx: Tx): Promise<Outcome> {
    const workspaceId = event.workspaceId;
    const userId = event.actorId;
    if (!workspaceId || !userId || !UUID.test(userId) || !UUID.test(event.id)) return { status: 'skipped' };
    // The workspace's score lock before any row (ADR 0075): the order every scoring writer keeps.
    await this.repo.lockWorkspaces([workspaceId], tx);
    if (!(await this.repo.markProcessed(event.id, workspaceId, this.clock.now().toISOString(), tx))) return { status: 'duplicate' };

    const config = await this.configs.load(tx, workspaceId);
    const subject: Subject = { workspaceId, userId, config };
    const at = new Date(event.occurredAt);
    const tz = await this.userTimezone(workspaceId, userId, config.settings.timezone, tx);
    const day = localDayNumber(at, tz);

    const count = await this.repo.countEvent(workspaceId, userId, event.name, tx);

    const matched = await config.ruleSet.match({ name: event.name, payload: event.payload, actorId: event.actorId, occurredAt: event.occurredAt });

    // Streaks first, so today's activity counts towards today's streak bonus.
    const streaks = new Map<string, StreakState>();
    const streakKey = (a: string, c: Cadence) => `${a}|${c}`;
    const loadStreak = async (activity: string, cadence: Cadence) => {
      const k = streakKey(activity, cadence);
      if (!streaks.has(k)) {
        streaks.set(k, toState(await this.repo.lockStreak(workspaceId, userId, activity, cadence, tx)));
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
      await this.repo.saveStreak(workspaceId, userId, activity, cadence, state, this.clock.now().toISOString(), tx);
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
      const inserted = await this.repo.insertAward(
        {
          id: randomUUID(),
          workspaceId,
          userId,
          persona: rule.persona,
          metric: rule.metric,
          points: granted,
          eventId: event.id,
          eventName: event.name,
          ruleId: rule.id,
          occurredAt: at.toISOString(),
          recordedAt: this.clock.now().toISOString(),
        },
        tx,
      );
      if (!inserted) continue;
      entries.push({ ruleId: rule.id, points: granted });
      metrics.add(rule.metric);
      await this.credit(tx, subject, rule.persona, rule.metric, granted, at);
    }

    await this.checkBadges(tx, subject, at, { event: { name: event.name, count }, streaks: touched, metrics });
    return { status: 'scored', entries };
  }

  /** Points of `want` still allowed today by the rule's daily cap; records them against the cap. */
  private async applyCap(tx: Tx, s: Subject, rule: Rule, day: number, want: number): Promise<number> {
    if (rule.dailyCap === null) return want;
    const date = new Date(day * 86_400_000).toISOString().slice(0, 10);
    const used = await this.repo.lockDailyCap(s.workspaceId, s.userId, rule.id, date, tx);
    const granted = Math.max(0, Math.min(want, rule.dailyCap - used));
    if (granted > 0) await this.repo.addToDailyCap(s.workspaceId, s.userId, rule.id, date, granted, tx);
    return granted;
  }

  /** Applies a ledger delta to balances, leaderboards and levels. */
  private async credit(tx: Tx, s: Subject, persona: Persona, metric: string, delta: number, at: Date): Promise<void> {
    const { workspaceId, userId, config } = s;
    await this.repo.addToBalance(workspaceId, userId, persona, metric, delta, tx);
    // Leaderboard periods follow the workspace's calendar, so everyone competes in the same week.
    const day = localDayNumber(at, config.settings.timezone);
    const scoreRows = (['workspace', persona] as const).flatMap((board) =>
      LEADERBOARD_PERIODS.map((p) => ({ workspaceId, board, period: periodKey(p, day), userId, delta })),
    );
    await this.repo.addScores(scoreRows, this.opts.redis, tx);
    if (delta > 0) this.opts.onAwarded?.(persona, delta);

    const xp = await this.repo.personaXp(workspaceId, userId, persona, tx);
    const stored = await this.repo.lockLevel(workspaceId, userId, persona, tx);
    const previous = stored ?? 1;
    const level = levelFor(config.settings.levels[persona], xp);
    if (level === previous && stored !== null) return;
    await this.repo.saveLevel(workspaceId, userId, persona, level, tx);
    for (let l = previous + 1; l <= level; l++) {
      await this.events.publish({ name: 'gamification.level.up.v1', workspaceId, actorId: userId, payload: { userId, persona, level: l, previousLevel: l - 1, xp } }, tx);
    }
    if (level > previous) {
      for (const reward of config.settings.rewards) {
        if ('level' in reward.unlock && reward.unlock.persona === persona && reward.unlock.level <= level) await this.grant(tx, s, reward.key, reward.kind, `level:${persona}:${reward.unlock.level}`);
      }
    }
  }

  private async grant(tx: Tx, s: Subject, rewardKey: string, kind: string, source: string): Promise<void> {
    const granted = await this.repo.grantEntitlement(s.workspaceId, s.userId, rewardKey, kind, source, this.clock.now().toISOString(), tx);
    if (granted) await this.events.publish({ name: 'gamification.reward.granted.v1', workspaceId: s.workspaceId, actorId: s.userId, payload: { userId: s.userId, rewardKey, kind } }, tx);
  }

  private async checkBadges(
    tx: Tx,
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
        earned = (await this.repo.pointsBetween(s.workspaceId, s.userId, c.metric, since, at.toISOString(), tx)) >= c.atLeast;
      }
      if (!earned) continue;
      if (!(await this.repo.awardBadge(s.workspaceId, s.userId, badge.id, this.clock.now().toISOString(), tx))) continue;
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
      await this.repo.lockWorkspaces([workspaceId], tx);
      const config = await this.configs.load(tx, workspaceId);
      const s: Subject = { workspaceId, userId: input.userId, config };
      const now = this.clock.now();
      await this.repo.insertAdjustment(
        { id: entryId, workspaceId, userId: input.userId, persona: input.persona, metric: input.metric, points: input.points, reason: input.reason, actorId: actor.userId, at: now.toISOString() },
        tx,
      );
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
      await this.repo.lockWorkspaces([workspaceId], tx);
      const e = await this.repo.ledgerEntry(workspaceId, entryId, tx);
      if (!e) throw notFound('Ledger entry');
      if (e.kind === 'reversal') throw new AppError('conflict', 'A reversal cannot be reversed; adjust instead');
      if (await this.repo.isReversed(entryId, tx)) throw new AppError('conflict', 'This entry was already reversed');
      const config = await this.configs.load(tx, workspaceId);
      const now = this.clock.now();
      const original = new Date(e.occurred_at);
      await this.repo.insertReversal(
        {
          id: reversalId,
          workspaceId,
          userId: e.user_id,
          persona: e.persona,
          metric: e.metric,
          points: -e.points,
          reverses: entryId,
          reason,
          actorId: actor.userId,
          occurredAt: original.toISOString(),
          recordedAt: now.toISOString(),
        },
        tx,
      );
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

import { randomUUID } from 'node:crypto';
import type { Clock } from '../../kernel/clock.js';
import type { Tx } from '../../kernel/db/transaction.js';
import type { EventEnvelope, EventName, EventPublisher, NewEvent } from '../../kernel/events/index.js';
import type { Persona } from '../../kernel/auth/permissions.js';
import type { ConfigRepository, WorkspaceConfig } from './config.repository.js';
import { levelFor } from './levels.js';
import { pointsWithBonus } from './rules.js';
import type { Rule } from './schemas.js';
import { emptyStreak, streakAt, touchStreak, type StreakState } from './streaks.js';
import { LEADERBOARD_PERIODS, dayString, localDayNumber, periodIndex, periodKey, type Cadence } from './time.js';
import type { BatchScoringRepository, BatchWrites, PointsWindow, ScoreDelta, ScoringRepository } from './scoring.repository.js';

/** What scoring one event came to (the bus counts these in v01t_gamification_events_total). */
export type Outcome = { status: 'skipped' | 'duplicate' } | { status: 'scored'; entries: { ruleId: string; points: number }[] };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DAY = 86_400_000;

export interface BatchDeps {
  repo: ScoringRepository;
  batch: BatchScoringRepository;
  configs: ConfigRepository;
  events: EventPublisher;
  clock: Clock;
  redis: boolean;
  onAwarded?: (persona: string, points: number) => void;
}

interface Item {
  index: number;
  event: EventEnvelope;
  workspaceId: string;
  userId: string;
  /** The event's actor and workspace ids as given (published payloads carry them unchanged). */
  actor: string;
  ws: string;
  config: WorkspaceConfig;
  at: Date;
  /** The zone `day` is reckoned in: the user's, else the workspace's. */
  zone: string;
  day: number;
  /** `day` as a date string (the daily-cap key). */
  dayKey: string;
  /** The leaderboard period keys of the event (workspace calendar), computed on first credit. */
  periods?: string[];
  /** The personas the event credited (their boards and the workspace's changed in `periods`). */
  personas?: Set<string>;
  matched: Rule[];
  count: number;
}

const k = (...parts: (string | number)[]) => parts.join('|');

/**
 * Scores a batch of events in one transaction with a fixed number of statements whatever the
 * batch size: every row the per-event path (ScoringService.handle) reads is read for the whole
 * batch at once (locking reads stay locking), the events are then applied one by one in memory in
 * delivery order, exactly as the per-event path would apply them against the database, and the
 * result is written with one set-based statement per table. The answers (ledger, balances,
 * levels, streaks, caps, badges, rewards, scores, published events and their order) are the same
 * as scoring the events one by one in the same order; test/gamification/batch-scoring.test.ts
 * holds the two paths to that.
 */
export async function scoreBatch(d: BatchDeps, events: EventEnvelope[], tx: Tx): Promise<Outcome[]> {
  const outcomes: Outcome[] = events.map(() => ({ status: 'skipped' }));
  const now = d.clock.now().toISOString();
  const candidates = events
    .map((event, index) => ({ event, index }))
    .filter(({ event }) => event.workspaceId && event.actorId && UUID.test(event.actorId) && UUID.test(event.id));
  if (!candidates.length) return outcomes;

  // The workspaces' score locks before any row (ADR 0075): adjustments, reversals, archiving and
  // erasure take them first too, so none of them holds a row this batch waits for while waiting for
  // a row the batch holds (levels, streaks and caps are locked in the read, balances in the write).
  // JIT off for the batch's statements (ADR 0081): their array parameters make large cost estimates
  // on large tables, and compiling costs more than running them.
  await d.repo.lockWorkspaces(
    candidates.map(({ event }) => event.workspaceId!),
    tx,
    { jitOff: true },
  );

  // Processed-event marks: one INSERT; an id seen twice in the batch counts once (the first).
  const firstOf = new Map<string, number>();
  for (const c of candidates) if (!firstOf.has(c.event.id.toLowerCase())) firstOf.set(c.event.id.toLowerCase(), c.index);
  const fresh = await d.batch.markProcessed(
    [...firstOf.keys()].map((id) => ({ id, workspaceId: events[firstOf.get(id)!]!.workspaceId! })),
    now,
    tx,
  );
  const accepted = candidates.filter(({ event, index }) => {
    const id = event.id.toLowerCase();
    const ok = fresh.has(id) && firstOf.get(id) === index;
    if (!ok) outcomes[index] = { status: 'duplicate' };
    return ok;
  });
  if (!accepted.length) return outcomes;

  const configs = new Map<string, WorkspaceConfig>();
  for (const { event } of accepted) if (!configs.has(event.workspaceId!)) configs.set(event.workspaceId!, await d.configs.load(tx, event.workspaceId!));

  const pairs = new Map<string, { workspaceId: string; userId: string }>();
  // Event counts: one upsert adding each key's number of events; the k-th event of a key sees total − n + k.
  const countN = new Map<string, { workspaceId: string; userId: string; eventName: string; n: number }>();
  for (const { event } of accepted) {
    const [workspaceId, userId] = [event.workspaceId!.toLowerCase(), event.actorId!.toLowerCase()];
    pairs.set(k(workspaceId, userId), { workspaceId, userId });
    const key = k(workspaceId, userId, event.name);
    const c = countN.get(key) ?? { workspaceId, userId, eventName: event.name, n: 0 };
    c.n++;
    countN.set(key, c);
  }
  // Keys sorted with the default comparison (UTF-16 code units, as `<` compares them), then looked up: cheaper than a comparator over entries.
  const sorted = <T>(m: Map<string, T>) => [...m.keys()].sort().map((key) => m.get(key)!);
  const countsAndZones = await d.batch.countAndZones(sorted(countN), [...pairs.values()], tx);
  const zones = new Map(countsAndZones.zones.map((r) => [k(r.workspace_id, r.user_id), r.timezone]));
  const counted = new Map<string, number>();
  for (const r of countsAndZones.counts) counted.set(k(r.workspace_id, r.user_id, r.event_name), Number(r.count) - countN.get(k(r.workspace_id, r.user_id, r.event_name))!.n);

  const items: Item[] = [];
  for (const { event, index } of accepted) {
    const workspaceId = event.workspaceId!.toLowerCase();
    const userId = event.actorId!.toLowerCase();
    const config = configs.get(event.workspaceId!)!;
    const at = new Date(event.occurredAt);
    const zone = zones.get(k(workspaceId, userId)) ?? config.settings.timezone;
    const day = localDayNumber(at, zone);
    const ck = k(workspaceId, userId, event.name);
    const count = counted.get(ck)! + 1;
    counted.set(ck, count);
    const matched = await config.ruleSet.match({ name: event.name, payload: event.payload, actorId: event.actorId, occurredAt: event.occurredAt });
    items.push({ index, event, workspaceId, userId, actor: event.actorId!, ws: event.workspaceId!, config, at, zone, day, dayKey: dayString(day), matched, count });
  }

  // Everything the items may read, read once (locking where the per-event path locks).
  const streakKeys = new Map<string, { workspaceId: string; userId: string; activity: string; cadence: Cadence }>();
  const capKeys = new Map<string, { workspaceId: string; userId: string; ruleId: string; day: string }>();
  const personaKeys = new Map<string, { workspaceId: string; userId: string; persona: Persona }>();
  for (const it of items) {
    const { workspaceId, userId } = it;
    for (const rule of it.matched) {
      const streaks = [...(rule.streak ? [rule.streak] : []), ...rule.multipliers];
      for (const s of streaks) streakKeys.set(k(workspaceId, userId, s.activity, s.cadence), { workspaceId, userId, activity: s.activity, cadence: s.cadence });
      if (rule.dailyCap !== null) capKeys.set(k(workspaceId, userId, rule.id, it.dayKey), { workspaceId, userId, ruleId: rule.id, day: it.dayKey });
      personaKeys.set(k(workspaceId, userId, rule.persona), { workspaceId, userId, persona: rule.persona });
    }
  }
  const anyBadges = [...configs.values()].some((c) => c.badges.length > 0);
  const anyRewards = [...configs.values()].some((c) => c.settings.rewards.length > 0);
  const users = [...new Map(items.map((i) => [k(i.workspaceId, i.userId), { workspaceId: i.workspaceId, userId: i.userId }])).values()];
  // Points badges: the committed part of each window the items may ask about (a superset: every
  // matched metric, whether or not a cap leaves points or the badge is held); this batch's own
  // entries are added in memory.
  const windows: PointsWindow[] = [];
  const windowOf = new Map<string, number>();
  for (const [n, it] of items.entries()) {
    const metrics = new Set(it.matched.map((r) => r.metric));
    for (const badge of it.config.badges) {
      const c = badge.criteria;
      if (c.kind !== 'points' || !metrics.has(c.metric)) continue;
      windowOf.set(k(n, badge.id), windows.length);
      windows.push({ workspaceId: it.workspaceId, userId: it.userId, metric: c.metric, since: new Date(it.at.getTime() - c.windowDays * DAY).toISOString(), until: it.at.toISOString() });
    }
  }
  const read = await d.batch.readState(
    {
      streaks: sorted(streakKeys),
      caps: sorted(capKeys),
      eventIds: items.map((i) => i.event.id),
      personas: sorted(personaKeys),
      users,
      badges: anyBadges,
      entitlements: anyRewards,
      windows,
    },
    tx,
  );
  const streakState = new Map<string, StreakState>();
  for (const r of read.streaks) {
    streakState.set(k(r.workspace_id, r.user_id, r.activity, r.cadence), { current: r.current, longest: r.longest, lastPeriod: r.last_period, freezes: r.freezes, freezesUsed: r.freezes_used });
  }
  const capUsed = new Map<string, number>();
  for (const r of read.caps) capUsed.set(k(r.workspace_id, r.user_id, r.rule_id, r.day), r.points);
  const awardedBefore = new Set(read.awarded.map((r) => k(r.event_id, r.rule_id)));
  const xp = new Map<string, number>();
  for (const r of read.xp) xp.set(k(r.workspace_id, r.user_id, r.persona), r.xp);
  const levels = new Map<string, number>();
  for (const r of read.levels) levels.set(k(r.workspace_id, r.user_id, r.persona), r.level);
  const badgesHeld = new Set(read.badges.map((r) => k(r.workspace_id, r.user_id, r.badge_id)));
  const entitled = new Set(read.entitlements.map((r) => k(r.workspace_id, r.user_id, r.reward_key)));
  const committedInWindow = read.windows;

  // Apply the items in order, in memory.
  const touchedStreaks = new Set<string>();
  const capAdded = new Map<string, number>();
  const savedLevels = new Set<string>();
  const awards: BatchWrites['awards'] = [];
  const batchLedger = new Map<string, { at: number; points: number }[]>();
  const balances = new Map<string, { workspaceId: string; userId: string; persona: Persona; metric: string; delta: number }>();
  const scores = new Map<string, ScoreDelta>();
  const badgeAwards: { workspaceId: string; userId: string; badgeId: string }[] = [];
  const grants: { workspaceId: string; userId: string; rewardKey: string; kind: string; source: string }[] = [];
  const publish: NewEvent<EventName>[] = [];

  const grant = (it: Item, rewardKey: string, kind: string, source: string) => {
    const key = k(it.workspaceId, it.userId, rewardKey);
    if (entitled.has(key)) return;
    entitled.add(key);
    grants.push({ workspaceId: it.workspaceId, userId: it.userId, rewardKey, kind, source });
    publish.push({ name: 'gamification.reward.granted.v1', workspaceId: it.ws, actorId: it.actor, payload: { userId: it.actor, rewardKey, kind } });
  };

  const credit = (it: Item, persona: Persona, metric: string, delta: number) => {
    const { workspaceId, userId, config } = it;
    const bk = k(workspaceId, userId, persona, metric);
    const b = balances.get(bk) ?? { workspaceId, userId, persona, metric, delta: 0 };
    b.delta += delta;
    balances.set(bk, b);
    if (!it.periods) {
      // Leaderboard periods follow the workspace calendar; most users have no zone of their own, and then it is `day`.
      const day = it.zone === config.settings.timezone ? it.day : localDayNumber(it.at, config.settings.timezone);
      it.periods = LEADERBOARD_PERIODS.map((p) => periodKey(p, day));
    }
    for (const board of ['workspace', persona]) {
      for (const period of it.periods) {
        const sk = `${workspaceId}|${board}|${period}|${userId}`;
        const s = scores.get(sk) ?? { workspaceId, board, period, userId, delta: 0 };
        s.delta += delta;
        scores.set(sk, s);
      }
    }
    (it.personas ??= new Set()).add(persona);
    if (delta > 0) d.onAwarded?.(persona, delta);
    const pk = k(workspaceId, userId, persona);
    const total = (xp.get(pk) ?? 0) + delta;
    xp.set(pk, total);
    const stored = levels.get(pk) ?? null;
    const previous = stored ?? 1;
    const level = levelFor(config.settings.levels[persona], total);
    if (level === previous && stored !== null) return;
    levels.set(pk, level);
    savedLevels.add(pk);
    for (let l = previous + 1; l <= level; l++) {
      publish.push({ name: 'gamification.level.up.v1', workspaceId: it.ws, actorId: it.actor, payload: { userId: it.actor, persona, level: l, previousLevel: l - 1, xp: total } });
    }
    if (level > previous) {
      for (const reward of config.settings.rewards) {
        if ('level' in reward.unlock && reward.unlock.persona === persona && reward.unlock.level <= level) grant(it, reward.key, reward.kind, `level:${persona}:${reward.unlock.level}`);
      }
    }
  };

  for (const [n, it] of items.entries()) {
    const { workspaceId, userId, config, day, matched, event } = it;
    const streakOf = (activity: string, cadence: Cadence) => streakState.get(k(workspaceId, userId, activity, cadence)) ?? emptyStreak();
    const touched: { activity: string; cadence: Cadence; state: StreakState }[] = [];
    for (const rule of matched) {
      if (!rule.streak) continue;
      const { activity, cadence } = rule.streak;
      if (touched.some((t) => t.activity === activity && t.cadence === cadence)) continue;
      const { state } = touchStreak(streakOf(activity, cadence), periodIndex(day, cadence), config.settings.freezes);
      streakState.set(k(workspaceId, userId, activity, cadence), state);
      touchedStreaks.add(k(workspaceId, userId, activity, cadence));
      touched.push({ activity, cadence, state });
    }
    const entries: { ruleId: string; points: number }[] = [];
    const metrics = new Set<string>();
    for (const rule of matched) {
      const { points } = pointsWithBonus(rule, (a, c) => streakAt(streakOf(a, c), periodIndex(day, c)).current);
      let granted = points;
      if (rule.dailyCap !== null) {
        const ck = k(workspaceId, userId, rule.id, it.dayKey);
        const used = capUsed.get(ck) ?? 0;
        granted = Math.max(0, Math.min(points, rule.dailyCap - used));
        if (granted > 0) {
          capUsed.set(ck, used + granted);
          capAdded.set(ck, (capAdded.get(ck) ?? 0) + granted);
        }
      }
      if (granted <= 0) continue;
      if (awardedBefore.has(k(event.id.toLowerCase(), rule.id))) continue;
      awards.push({
        id: randomUUID(),
        workspaceId,
        userId,
        persona: rule.persona,
        metric: rule.metric,
        points: granted,
        eventId: event.id,
        eventName: event.name,
        ruleId: rule.id,
        occurredAt: it.at.toISOString(),
        recordedAt: d.clock.now().toISOString(),
      });
      const lk = k(workspaceId, userId, rule.metric);
      batchLedger.set(lk, [...(batchLedger.get(lk) ?? []), { at: it.at.getTime(), points: granted }]);
      entries.push({ ruleId: rule.id, points: granted });
      metrics.add(rule.metric);
      credit(it, rule.persona, rule.metric, granted);
    }

    for (const badge of config.badges) {
      const bk = k(workspaceId, userId, badge.id);
      if (badgesHeld.has(bk)) continue; // awarding again would change nothing
      const c = badge.criteria;
      let earned = false;
      if (c.kind === 'count') earned = event.name === c.event && it.count >= c.atLeast;
      else if (c.kind === 'streak') earned = touched.some((t) => t.activity === c.activity && t.cadence === c.cadence && t.state.current >= c.atLeast);
      else if (c.kind === 'points' && metrics.has(c.metric)) {
        const since = it.at.getTime() - c.windowDays * DAY;
        const until = it.at.getTime();
        let total = committedInWindow[windowOf.get(k(n, badge.id))!]!;
        for (const e of batchLedger.get(k(workspaceId, userId, c.metric)) ?? []) if (e.at > since && e.at <= until) total += e.points;
        earned = total >= c.atLeast;
      }
      if (!earned) continue;
      badgesHeld.add(bk);
      badgeAwards.push({ workspaceId, userId, badgeId: badge.id });
      publish.push({ name: 'gamification.badge.awarded.v1', workspaceId: it.ws, actorId: it.actor, payload: { userId: it.actor, badgeId: badge.id, badgeKey: badge.key, name: badge.name } });
      for (const reward of config.settings.rewards) {
        if ('badge' in reward.unlock && reward.unlock.badge === badge.key) grant(it, reward.key, reward.kind, `badge:${badge.key}`);
      }
    }
    outcomes[it.index] = { status: 'scored', entries };
  }

  // Redis marks (ADR 0088): per member and set of periods, the boards credited in them (the workspace's
  // and each credited persona's); every pair of a mark is a changed score.
  const marks = new Map<string, { workspaceId: string; userId: string; boards: Set<string>; periods: string[] }>();
  if (d.redis) {
    for (const it of items) {
      if (!it.personas) continue;
      const mk = `${it.workspaceId}|${it.userId}|${it.periods!.join('|')}`;
      let m = marks.get(mk);
      if (!m) marks.set(mk, (m = { workspaceId: it.workspaceId, userId: it.userId, boards: new Set(['workspace']), periods: [...it.periods!].sort() }));
      for (const p of it.personas) m.boards.add(p);
    }
  }

  // One statement for every table, keys sorted so concurrent writers lock rows in one order (the workspace locks taken first make that order moot among scoring writers).
  await d.batch.write(
    {
      streaks: [...touchedStreaks].sort().map((key) => ({ ...streakKeys.get(key)!, state: streakState.get(key)! })),
      caps: sorted(new Map([...capAdded].map(([key, points]) => [key, { ...capKeys.get(key)!, points }]))),
      awards,
      balances: sorted(balances),
      scores: sorted(scores),
      marks: sorted(marks).map((m) => ({ ...m, boards: [...m.boards].sort() })),
      levels: [...savedLevels].sort().map((key) => ({ ...personaKeys.get(key)!, level: levels.get(key)! })),
      badges: badgeAwards,
      entitlements: grants,
    },
    d.redis,
    now,
    tx,
  );
  if (publish.length) {
    if (d.events.publishMany) await d.events.publishMany(publish, tx);
    else for (const e of publish) await d.events.publish(e, tx);
  }
  return outcomes;
}

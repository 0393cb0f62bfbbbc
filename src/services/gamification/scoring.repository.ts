import { sql, type SQL } from 'drizzle-orm';
import type { Db, DbExecutor } from '../../kernel/db/database.js';
import { rows } from '../../kernel/db/rows.js';
import type { Persona } from '../../kernel/auth/permissions.js';
import type { Cadence } from './time.js';

export type StreakRow = { current: number; longest: number; last_period: number | null; freezes: number; freezes_used: number };

export interface LedgerEntryRow {
  user_id: string;
  persona: Persona;
  metric: string;
  points: number;
  kind: string;
  occurred_at: string | Date;
}

/** One user's score change on one board and period. */
export interface ScoreDelta {
  workspaceId: string;
  board: string;
  period: string;
  userId: string;
  delta: number;
}

/**
 * The scoring writes: processed events, counts, streaks, daily caps, ledger, balances, levels,
 * leaderboard scores, badges and entitlements. Every method runs in the caller's transaction
 * (for a bus delivery, the delivery's own), one statement per call as before the move: scoring is
 * a hot path and another change will batch it, so no method adds a round trip.
 */
export class ScoringRepository {
  constructor(private readonly db: Db) {}

  async userTimezone(workspaceId: string, userId: string, ex: DbExecutor = this.db): Promise<string | null> {
    const [r] = await rows<{ timezone: string }>(ex, sql`SELECT timezone FROM gamification.user_settings WHERE workspace_id = ${workspaceId} AND user_id = ${userId}`);
    return r?.timezone ?? null;
  }

  async setUserTimezone(workspaceId: string, userId: string, timezone: string): Promise<void> {
    await this.db.execute(sql`INSERT INTO gamification.user_settings (workspace_id, user_id, timezone) VALUES (${workspaceId}, ${userId}, ${timezone})
      ON CONFLICT (workspace_id, user_id) DO UPDATE SET timezone = EXCLUDED.timezone`);
  }

  /** Records the event as processed; false when it already was (a redelivery). */
  async markProcessed(eventId: string, workspaceId: string, now: string, tx: DbExecutor): Promise<boolean> {
    const fresh = await rows(tx, sql`INSERT INTO gamification.processed_events (event_id, workspace_id, processed_at) VALUES (${eventId}, ${workspaceId}, ${now})
      ON CONFLICT (event_id) DO NOTHING RETURNING event_id`);
    return fresh.length > 0;
  }

  /** Counts one more event of this name for the user; returns the new count. */
  async countEvent(workspaceId: string, userId: string, eventName: string, tx: DbExecutor): Promise<number> {
    const [{ count }] = (await rows<{ count: string | number }>(
      tx,
      sql`INSERT INTO gamification.event_counts (workspace_id, user_id, event_name, count) VALUES (${workspaceId}, ${userId}, ${eventName}, 1)
          ON CONFLICT (workspace_id, user_id, event_name) DO UPDATE SET count = gamification.event_counts.count + 1 RETURNING count`,
    )) as [{ count: string | number }];
    return Number(count);
  }

  async lockStreak(workspaceId: string, userId: string, activity: string, cadence: Cadence, tx: DbExecutor): Promise<StreakRow | undefined> {
    const [r] = await rows<StreakRow>(
      tx,
      sql`SELECT current, longest, last_period, freezes, freezes_used FROM gamification.streaks
              WHERE workspace_id = ${workspaceId} AND user_id = ${userId} AND activity = ${activity} AND cadence = ${cadence} FOR UPDATE`,
    );
    return r;
  }

  async saveStreak(
    workspaceId: string,
    userId: string,
    activity: string,
    cadence: Cadence,
    state: { current: number; longest: number; lastPeriod: number | null; freezes: number; freezesUsed: number },
    now: string,
    tx: DbExecutor,
  ): Promise<void> {
    await tx.execute(sql`INSERT INTO gamification.streaks (workspace_id, user_id, activity, cadence, current, longest, last_period, freezes, freezes_used, updated_at)
        VALUES (${workspaceId}, ${userId}, ${activity}, ${cadence}, ${state.current}, ${state.longest}, ${state.lastPeriod}, ${state.freezes}, ${state.freezesUsed}, ${now})
        ON CONFLICT (workspace_id, user_id, activity, cadence) DO UPDATE SET current = EXCLUDED.current, longest = EXCLUDED.longest, last_period = EXCLUDED.last_period,
          freezes = EXCLUDED.freezes, freezes_used = EXCLUDED.freezes_used, updated_at = EXCLUDED.updated_at`);
  }

  /** Points of the rule already granted to the user on `date` (row locked for the rest of `tx`). */
  async lockDailyCap(workspaceId: string, userId: string, ruleId: string, date: string, tx: DbExecutor): Promise<number> {
    const [r] = await rows<{ points: number }>(
      tx,
      sql`SELECT points FROM gamification.daily_caps WHERE workspace_id = ${workspaceId} AND user_id = ${userId} AND rule_id = ${ruleId} AND day = ${date} FOR UPDATE`,
    );
    return r?.points ?? 0;
  }

  async addToDailyCap(workspaceId: string, userId: string, ruleId: string, date: string, points: number, tx: DbExecutor): Promise<void> {
    await tx.execute(sql`INSERT INTO gamification.daily_caps (workspace_id, user_id, rule_id, day, points) VALUES (${workspaceId}, ${userId}, ${ruleId}, ${date}, ${points})
        ON CONFLICT (workspace_id, user_id, rule_id, day) DO UPDATE SET points = gamification.daily_caps.points + EXCLUDED.points`);
  }

  /** A rule's award for an event; false when the (event, rule) pair was already awarded. */
  async insertAward(
    e: { id: string; workspaceId: string; userId: string; persona: Persona; metric: string; points: number; eventId: string; eventName: string; ruleId: string; occurredAt: string; recordedAt: string },
    tx: DbExecutor,
  ): Promise<boolean> {
    const inserted = await rows(
      tx,
      sql`INSERT INTO gamification.ledger (id, workspace_id, user_id, persona, metric, points, kind, event_id, event_name, rule_id, occurred_at, recorded_at)
            VALUES (${e.id}, ${e.workspaceId}, ${e.userId}, ${e.persona}, ${e.metric}, ${e.points}, 'award', ${e.eventId}, ${e.eventName}, ${e.ruleId}, ${e.occurredAt}, ${e.recordedAt})
            ON CONFLICT (event_id, rule_id) DO NOTHING RETURNING id`,
    );
    return inserted.length > 0;
  }

  async insertAdjustment(
    e: { id: string; workspaceId: string; userId: string; persona: Persona; metric: string; points: number; reason: string; actorId: string; at: string },
    tx: DbExecutor,
  ): Promise<void> {
    await tx.execute(sql`INSERT INTO gamification.ledger (id, workspace_id, user_id, persona, metric, points, kind, reason, actor_id, occurred_at, recorded_at)
        VALUES (${e.id}, ${e.workspaceId}, ${e.userId}, ${e.persona}, ${e.metric}, ${e.points}, 'adjustment', ${e.reason}, ${e.actorId}, ${e.at}, ${e.at})`);
  }

  async ledgerEntry(workspaceId: string, entryId: string, tx: DbExecutor): Promise<LedgerEntryRow | undefined> {
    const [e] = await rows<LedgerEntryRow>(
      tx,
      sql`SELECT user_id, persona, metric, points, kind, occurred_at FROM gamification.ledger WHERE workspace_id = ${workspaceId} AND id = ${entryId}`,
    );
    return e;
  }

  async isReversed(entryId: string, tx: DbExecutor): Promise<boolean> {
    const taken = await rows(tx, sql`SELECT 1 FROM gamification.ledger WHERE reverses = ${entryId}`);
    return taken.length > 0;
  }

  async insertReversal(
    e: { id: string; workspaceId: string; userId: string; persona: Persona; metric: string; points: number; reverses: string; reason: string; actorId: string; occurredAt: string; recordedAt: string },
    tx: DbExecutor,
  ): Promise<void> {
    await tx.execute(sql`INSERT INTO gamification.ledger (id, workspace_id, user_id, persona, metric, points, kind, reverses, reason, actor_id, occurred_at, recorded_at)
        VALUES (${e.id}, ${e.workspaceId}, ${e.userId}, ${e.persona}, ${e.metric}, ${e.points}, 'reversal', ${e.reverses}, ${e.reason}, ${e.actorId}, ${e.occurredAt}, ${e.recordedAt})`);
  }

  async addToBalance(workspaceId: string, userId: string, persona: Persona, metric: string, delta: number, tx: DbExecutor): Promise<void> {
    await tx.execute(sql`INSERT INTO gamification.balances (workspace_id, user_id, persona, metric, points) VALUES (${workspaceId}, ${userId}, ${persona}, ${metric}, ${delta})
      ON CONFLICT (workspace_id, user_id, persona, metric) DO UPDATE SET points = gamification.balances.points + EXCLUDED.points`);
  }

  /** Score changes for the given boards and periods (PostgreSQL rows; marks for the Redis projection when used). */
  async addScores(entries: ScoreDelta[], markForRedis: boolean, tx: DbExecutor): Promise<void> {
    if (!entries.length) return;
    // Several workspaces in one statement: take their score locks (migration 0002) in workspace order first.
    const workspaces = [...new Set(entries.map((e) => e.workspaceId.toLowerCase()))].sort();
    if (workspaces.length > 1) {
      await tx.execute(sql`SELECT pg_advisory_xact_lock(hashtextextended('gamification.scores:' || w, 0))
        FROM (SELECT w FROM unnest(ARRAY[${sql.join(workspaces.map((w) => sql`${w}`), sql`, `)}]::text[]) AS w ORDER BY w) x`);
    }
    const values = sql.join(
      entries.map((e) => sql`(${e.workspaceId}::uuid, ${e.board}, ${e.period}, ${e.userId}::uuid, ${e.delta}::bigint)`),
      sql`, `,
    );
    await tx.execute(sql`INSERT INTO gamification.scores (workspace_id, board, period, user_id, score) VALUES ${values}
    ON CONFLICT (workspace_id, board, period, user_id) DO UPDATE SET score = gamification.scores.score + EXCLUDED.score`);
    if (markForRedis) {
      const marks = sql.join(entries.map((e) => sql`(${e.workspaceId}::uuid, ${e.board}, ${e.period}, ${e.userId}::uuid)`), sql`, `);
      await tx.execute(sql`INSERT INTO gamification.board_sync (workspace_id, board, period, user_id) VALUES ${marks} ON CONFLICT DO NOTHING`);
    }
  }

  /** The user's total points under a persona (the XP its level is computed from). */
  async personaXp(workspaceId: string, userId: string, persona: Persona, tx: DbExecutor): Promise<number> {
    const [{ xp }] = (await rows<{ xp: string | number }>(
      tx,
      sql`SELECT coalesce(sum(points), 0) AS xp FROM gamification.balances WHERE workspace_id = ${workspaceId} AND user_id = ${userId} AND persona = ${persona}`,
    )) as [{ xp: string | number }];
    return Number(xp);
  }

  /** The user's stored level under a persona (locked for the rest of `tx`); null when none is stored. */
  async lockLevel(workspaceId: string, userId: string, persona: Persona, tx: DbExecutor): Promise<number | null> {
    const [cur] = await rows<{ level: number }>(tx, sql`SELECT level FROM gamification.levels WHERE workspace_id = ${workspaceId} AND user_id = ${userId} AND persona = ${persona} FOR UPDATE`);
    return cur?.level ?? null;
  }

  async saveLevel(workspaceId: string, userId: string, persona: Persona, level: number, tx: DbExecutor): Promise<void> {
    await tx.execute(sql`INSERT INTO gamification.levels (workspace_id, user_id, persona, level) VALUES (${workspaceId}, ${userId}, ${persona}, ${level})
      ON CONFLICT (workspace_id, user_id, persona) DO UPDATE SET level = EXCLUDED.level`);
  }

  /** Grants a reward unless the user has it; true when granted now. */
  async grantEntitlement(workspaceId: string, userId: string, rewardKey: string, kind: string, source: string, now: string, tx: DbExecutor): Promise<boolean> {
    const granted = await rows(
      tx,
      sql`INSERT INTO gamification.entitlements (workspace_id, user_id, reward_key, kind, source, granted_at) VALUES (${workspaceId}, ${userId}, ${rewardKey}, ${kind}, ${source}, ${now})
          ON CONFLICT DO NOTHING RETURNING reward_key`,
    );
    return granted.length > 0;
  }

  /** Points of a metric the user earned in (since, until]. */
  async pointsBetween(workspaceId: string, userId: string, metric: string, since: string, until: string, tx: DbExecutor): Promise<number> {
    const [{ total }] = (await rows<{ total: string | number }>(
      tx,
      sql`SELECT coalesce(sum(points), 0) AS total FROM gamification.ledger
              WHERE workspace_id = ${workspaceId} AND user_id = ${userId} AND metric = ${metric} AND occurred_at > ${since} AND occurred_at <= ${until}`,
    )) as [{ total: string | number }];
    return Number(total);
  }

  /** Awards a badge unless the user has it; true when awarded now. */
  async awardBadge(workspaceId: string, userId: string, badgeId: string, now: string, tx: DbExecutor): Promise<boolean> {
    const awarded = await rows(
      tx,
      sql`INSERT INTO gamification.user_badges (workspace_id, user_id, badge_id, awarded_at) VALUES (${workspaceId}, ${userId}, ${badgeId}, ${now})
            ON CONFLICT DO NOTHING RETURNING badge_id`,
    );
    return awarded.length > 0;
  }
}

/** Keys of the batch reads: (workspace, user) plus one more column. */
export interface UserKey {
  workspaceId: string;
  userId: string;
}

const tuples = (list: SQL[]) => sql.join(list, sql`, `);
const pairKey = (k: UserKey) => sql`(${k.workspaceId}::uuid, ${k.userId}::uuid)`;

/**
 * The set-based statements of batch scoring (ScoringService.handleBatch): each reads or writes the
 * rows of a whole batch of events in one statement, in the caller's transaction. Locking reads
 * (FOR UPDATE) take the same rows the per-event path locks one by one; writes of counters add
 * deltas (so they commute with the per-event path and with adjustments), writes of state computed
 * from a locked read (streaks, levels) store the value.
 */
export class BatchScoringRepository {
  /** Records the events as processed; returns the ids that were not processed before. */
  async markProcessed(events: { id: string; workspaceId: string }[], now: string, tx: DbExecutor): Promise<Set<string>> {
    if (!events.length) return new Set();
    const fresh = await rows<{ event_id: string }>(
      tx,
      sql`INSERT INTO gamification.processed_events (event_id, workspace_id, processed_at)
          VALUES ${tuples(events.map((e) => sql`(${e.id}::uuid, ${e.workspaceId}::uuid, ${now}::timestamptz)`))}
          ON CONFLICT (event_id) DO NOTHING RETURNING event_id`,
    );
    return new Set(fresh.map((r) => r.event_id));
  }

  async userTimezones(keys: UserKey[], tx: DbExecutor): Promise<{ workspace_id: string; user_id: string; timezone: string }[]> {
    if (!keys.length) return [];
    return rows(tx, sql`SELECT workspace_id, user_id, timezone FROM gamification.user_settings WHERE (workspace_id, user_id) IN (${tuples(keys.map(pairKey))})`);
  }

  /** Adds `n` to each (workspace, user, event name) count; returns the new totals. */
  async addCounts(counts: (UserKey & { eventName: string; n: number })[], tx: DbExecutor): Promise<{ workspace_id: string; user_id: string; event_name: string; count: string | number }[]> {
    if (!counts.length) return [];
    return rows(
      tx,
      sql`INSERT INTO gamification.event_counts (workspace_id, user_id, event_name, count)
          VALUES ${tuples(counts.map((c) => sql`(${c.workspaceId}::uuid, ${c.userId}::uuid, ${c.eventName}, ${c.n}::bigint)`))}
          ON CONFLICT (workspace_id, user_id, event_name) DO UPDATE SET count = gamification.event_counts.count + EXCLUDED.count
          RETURNING workspace_id, user_id, event_name, count`,
    );
  }

  async lockStreaks(keys: (UserKey & { activity: string; cadence: Cadence })[], tx: DbExecutor): Promise<(StreakRow & { workspace_id: string; user_id: string; activity: string; cadence: Cadence })[]> {
    if (!keys.length) return [];
    return rows(
      tx,
      sql`SELECT workspace_id, user_id, activity, cadence, current, longest, last_period, freezes, freezes_used FROM gamification.streaks
          WHERE (workspace_id, user_id, activity, cadence) IN (${tuples(keys.map((k) => sql`(${k.workspaceId}::uuid, ${k.userId}::uuid, ${k.activity}, ${k.cadence})`))})
          ORDER BY workspace_id, user_id, activity, cadence FOR UPDATE`,
    );
  }

  async saveStreaks(
    list: (UserKey & { activity: string; cadence: Cadence; state: { current: number; longest: number; lastPeriod: number | null; freezes: number; freezesUsed: number } })[],
    now: string,
    tx: DbExecutor,
  ): Promise<void> {
    if (!list.length) return;
    await tx.execute(sql`INSERT INTO gamification.streaks (workspace_id, user_id, activity, cadence, current, longest, last_period, freezes, freezes_used, updated_at)
        VALUES ${tuples(
          list.map(
            (s) =>
              sql`(${s.workspaceId}::uuid, ${s.userId}::uuid, ${s.activity}, ${s.cadence}, ${s.state.current}::int, ${s.state.longest}::int, ${s.state.lastPeriod}::int, ${s.state.freezes}::int, ${s.state.freezesUsed}::int, ${now}::timestamptz)`,
          ),
        )}
        ON CONFLICT (workspace_id, user_id, activity, cadence) DO UPDATE SET current = EXCLUDED.current, longest = EXCLUDED.longest, last_period = EXCLUDED.last_period,
          freezes = EXCLUDED.freezes, freezes_used = EXCLUDED.freezes_used, updated_at = EXCLUDED.updated_at`);
  }

  async lockDailyCaps(keys: (UserKey & { ruleId: string; day: string })[], tx: DbExecutor): Promise<{ workspace_id: string; user_id: string; rule_id: string; day: string; points: number }[]> {
    if (!keys.length) return [];
    return rows(
      tx,
      sql`SELECT workspace_id, user_id, rule_id, to_char(day, 'YYYY-MM-DD') AS day, points FROM gamification.daily_caps
          WHERE (workspace_id, user_id, rule_id, day) IN (${tuples(keys.map((k) => sql`(${k.workspaceId}::uuid, ${k.userId}::uuid, ${k.ruleId}::uuid, ${k.day}::date)`))})
          ORDER BY workspace_id, user_id, rule_id, day FOR UPDATE`,
    );
  }

  async addToDailyCaps(list: (UserKey & { ruleId: string; day: string; points: number })[], tx: DbExecutor): Promise<void> {
    if (!list.length) return;
    await tx.execute(sql`INSERT INTO gamification.daily_caps (workspace_id, user_id, rule_id, day, points)
        VALUES ${tuples(list.map((c) => sql`(${c.workspaceId}::uuid, ${c.userId}::uuid, ${c.ruleId}::uuid, ${c.day}::date, ${c.points}::int)`))}
        ON CONFLICT (workspace_id, user_id, rule_id, day) DO UPDATE SET points = gamification.daily_caps.points + EXCLUDED.points`);
  }

  /** (event id, rule id) pairs of these events already in the ledger. */
  async awardedPairs(eventIds: string[], tx: DbExecutor): Promise<{ event_id: string; rule_id: string }[]> {
    if (!eventIds.length) return [];
    return rows(tx, sql`SELECT event_id, rule_id FROM gamification.ledger WHERE event_id IN (${tuples(eventIds.map((id) => sql`${id}::uuid`))})`);
  }

  async insertAwards(
    list: { id: string; workspaceId: string; userId: string; persona: Persona; metric: string; points: number; eventId: string; eventName: string; ruleId: string; occurredAt: string; recordedAt: string }[],
    tx: DbExecutor,
  ): Promise<void> {
    if (!list.length) return;
    await tx.execute(sql`INSERT INTO gamification.ledger (id, workspace_id, user_id, persona, metric, points, kind, event_id, event_name, rule_id, occurred_at, recorded_at)
        VALUES ${tuples(
          list.map(
            (e) =>
              sql`(${e.id}::uuid, ${e.workspaceId}::uuid, ${e.userId}::uuid, ${e.persona}, ${e.metric}, ${e.points}::int, 'award', ${e.eventId}::uuid, ${e.eventName}, ${e.ruleId}::uuid, ${e.occurredAt}::timestamptz, ${e.recordedAt}::timestamptz)`,
          ),
        )}
        ON CONFLICT (event_id, rule_id) DO NOTHING`);
  }

  /** Total points per (workspace, user, persona): the XP levels are computed from. */
  async personaXp(keys: (UserKey & { persona: Persona })[], tx: DbExecutor): Promise<{ workspace_id: string; user_id: string; persona: Persona; xp: string | number }[]> {
    if (!keys.length) return [];
    return rows(
      tx,
      sql`SELECT workspace_id, user_id, persona, sum(points) AS xp FROM gamification.balances
          WHERE (workspace_id, user_id, persona) IN (${tuples(keys.map((k) => sql`(${k.workspaceId}::uuid, ${k.userId}::uuid, ${k.persona})`))})
          GROUP BY workspace_id, user_id, persona`,
    );
  }

  async addToBalances(list: (UserKey & { persona: Persona; metric: string; delta: number })[], tx: DbExecutor): Promise<void> {
    if (!list.length) return;
    await tx.execute(sql`INSERT INTO gamification.balances (workspace_id, user_id, persona, metric, points)
        VALUES ${tuples(list.map((b) => sql`(${b.workspaceId}::uuid, ${b.userId}::uuid, ${b.persona}, ${b.metric}, ${b.delta}::bigint)`))}
        ON CONFLICT (workspace_id, user_id, persona, metric) DO UPDATE SET points = gamification.balances.points + EXCLUDED.points`);
  }

  async lockLevels(keys: (UserKey & { persona: Persona })[], tx: DbExecutor): Promise<{ workspace_id: string; user_id: string; persona: Persona; level: number }[]> {
    if (!keys.length) return [];
    return rows(
      tx,
      sql`SELECT workspace_id, user_id, persona, level FROM gamification.levels
          WHERE (workspace_id, user_id, persona) IN (${tuples(keys.map((k) => sql`(${k.workspaceId}::uuid, ${k.userId}::uuid, ${k.persona})`))})
          ORDER BY workspace_id, user_id, persona FOR UPDATE`,
    );
  }

  async saveLevels(list: (UserKey & { persona: Persona; level: number })[], tx: DbExecutor): Promise<void> {
    if (!list.length) return;
    await tx.execute(sql`INSERT INTO gamification.levels (workspace_id, user_id, persona, level)
        VALUES ${tuples(list.map((l) => sql`(${l.workspaceId}::uuid, ${l.userId}::uuid, ${l.persona}, ${l.level}::int)`))}
        ON CONFLICT (workspace_id, user_id, persona) DO UPDATE SET level = EXCLUDED.level`);
  }

  async heldBadges(keys: UserKey[], tx: DbExecutor): Promise<{ workspace_id: string; user_id: string; badge_id: string }[]> {
    if (!keys.length) return [];
    return rows(tx, sql`SELECT workspace_id, user_id, badge_id FROM gamification.user_badges WHERE (workspace_id, user_id) IN (${tuples(keys.map(pairKey))})`);
  }

  async awardBadges(list: (UserKey & { badgeId: string })[], now: string, tx: DbExecutor): Promise<void> {
    if (!list.length) return;
    await tx.execute(sql`INSERT INTO gamification.user_badges (workspace_id, user_id, badge_id, awarded_at)
        VALUES ${tuples(list.map((b) => sql`(${b.workspaceId}::uuid, ${b.userId}::uuid, ${b.badgeId}::uuid, ${now}::timestamptz)`))} ON CONFLICT DO NOTHING`);
  }

  async heldEntitlements(keys: UserKey[], tx: DbExecutor): Promise<{ workspace_id: string; user_id: string; reward_key: string }[]> {
    if (!keys.length) return [];
    return rows(tx, sql`SELECT workspace_id, user_id, reward_key FROM gamification.entitlements WHERE (workspace_id, user_id) IN (${tuples(keys.map(pairKey))})`);
  }

  async grantEntitlements(list: (UserKey & { rewardKey: string; kind: string; source: string })[], now: string, tx: DbExecutor): Promise<void> {
    if (!list.length) return;
    await tx.execute(sql`INSERT INTO gamification.entitlements (workspace_id, user_id, reward_key, kind, source, granted_at)
        VALUES ${tuples(list.map((e) => sql`(${e.workspaceId}::uuid, ${e.userId}::uuid, ${e.rewardKey}, ${e.kind}, ${e.source}, ${now}::timestamptz)`))} ON CONFLICT DO NOTHING`);
  }

  /** Points of a metric per (workspace, user, metric, window) in (since, until], one answer per window in the order given. */
  async pointsInWindows(windows: (UserKey & { metric: string; since: string; until: string })[], tx: DbExecutor): Promise<number[]> {
    if (!windows.length) return [];
    const found = await rows<{ i: number; total: string | number }>(
      tx,
      sql`SELECT w.i, (SELECT coalesce(sum(l.points), 0) FROM gamification.ledger l
                        WHERE l.workspace_id = w.ws AND l.user_id = w.u AND l.metric = w.m AND l.occurred_at > w.since AND l.occurred_at <= w.until) AS total
          FROM (VALUES ${tuples(windows.map((w, i) => sql`(${i}::int, ${w.workspaceId}::uuid, ${w.userId}::uuid, ${w.metric}, ${w.since}::timestamptz, ${w.until}::timestamptz)`))})
            AS w(i, ws, u, m, since, until)`,
    );
    const out = new Array<number>(windows.length).fill(0);
    for (const r of found) out[Number(r.i)] = Number(r.total);
    return out;
  }
}

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
 * A Redis projection mark (gamification.board_sync, ADR 0088): the member's entries on every pair
 * (board, period) of `boards` × `periods` changed and are to be copied to Redis.
 */
export interface ScoreMark {
  workspaceId: string;
  userId: string;
  boards: string[];
  periods: string[];
}

/**
 * The marks of a set of score changes, exact: every pair of a mark's boards × periods is a changed
 * entry, and every changed entry is in a mark. Per member, the periods changed on the same set of
 * boards share one mark. An award changes two boards in three periods, so a member's awards of a
 * batch in one week usually come to one mark (a late event in another week adds one).
 */
export function marksOf(entries: readonly ScoreDelta[]): ScoreMark[] {
  // member → period → boards
  const members = new Map<string, { workspaceId: string; userId: string; periods: Map<string, Set<string>> }>();
  for (const e of entries) {
    const mk = `${e.workspaceId}|${e.userId}`;
    let m = members.get(mk);
    if (!m) members.set(mk, (m = { workspaceId: e.workspaceId, userId: e.userId, periods: new Map() }));
    let boards = m.periods.get(e.period);
    if (!boards) m.periods.set(e.period, (boards = new Set()));
    boards.add(e.board);
  }
  const out: ScoreMark[] = [];
  for (const m of members.values()) {
    // boards (as a key) → periods
    const byBoards = new Map<string, { boards: string[]; periods: string[] }>();
    for (const [period, set] of m.periods) {
      const boards = [...set].sort();
      const key = boards.join('\u0000');
      const g = byBoards.get(key);
      if (g) g.periods.push(period);
      else byBoards.set(key, { boards, periods: [period] });
    }
    for (const g of byBoards.values()) out.push({ workspaceId: m.workspaceId, userId: m.userId, boards: g.boards, periods: g.periods.sort() });
  }
  return out;
}

/**
 * The scoring writes: processed events, counts, streaks, daily caps, ledger, balances, levels,
 * leaderboard scores, badges and entitlements. Every method runs in the caller's transaction
 * (for a bus delivery, the delivery's own), one statement per call as before the move: scoring is
 * a hot path and another change will batch it, so no method adds a round trip.
 */
export class ScoringRepository {
  constructor(private readonly db: Db) {}

  /**
   * Takes the workspaces' score locks (the per-workspace advisory lock of migration 0002), in
   * workspace order, held to commit. Every writer of a workspace's scoring state (event scoring, a
   * batch, an adjustment, a reversal, archiving, erasure) takes it before its first row lock, so
   * two writers never hold rows the other waits for (ADR 0075); the score triggers' own take of it
   * is then a re-entry.
   */
  async lockWorkspaces(workspaceIds: string[], tx: DbExecutor, opts?: LockOptions): Promise<void> {
    await lockWorkspaces(workspaceIds, tx, opts);
  }

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
    await lockScoreWriters(entries, tx);
    const values = sql.join(
      entries.map((e) => sql`(${e.workspaceId}::uuid, ${e.board}, ${e.period}, ${e.userId}::uuid, ${e.delta}::bigint)`),
      sql`, `,
    );
    await tx.execute(sql`INSERT INTO gamification.scores (workspace_id, board, period, user_id, score) VALUES ${values}
    ON CONFLICT (workspace_id, board, period, user_id) DO UPDATE SET score = gamification.scores.score + EXCLUDED.score`);
    if (markForRedis) {
      const marks = sql.join(
        marksOf(entries).map((m) => sql`(${m.workspaceId}::uuid, ${m.userId}::uuid, ${arrayLiteral(m.boards)}::text[], ${arrayLiteral(m.periods)}::text[])`),
        sql`, `,
      );
      await tx.execute(sql`INSERT INTO gamification.board_sync (workspace_id, user_id, boards, periods) VALUES ${marks} ON CONFLICT DO NOTHING`);
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

/**
 * Takes the workspaces' score locks (migration 0002) in workspace order: the same lock the score
 * triggers take, so writers queue on it before their first row lock (ScoringRepository.lockWorkspaces).
 */
export async function lockWorkspaces(workspaceIds: string[], tx: DbExecutor, opts?: LockOptions): Promise<void> {
  const workspaces = [...new Set(workspaceIds.map((w) => w.toLowerCase()))].sort();
  if (!workspaces.length) return;
  const jit = opts?.jitOff ? sql`, set_config('jit', 'off', true)` : sql``;
  if (workspaces.length === 1) {
    await tx.execute(sql`SELECT pg_advisory_xact_lock(hashtextextended('gamification.scores:' || ${workspaces[0]}::uuid::text, 0))${jit}`);
    return;
  }
  await tx.execute(sql`SELECT pg_advisory_xact_lock(hashtextextended('gamification.scores:' || w, 0))${jit}
    FROM (SELECT w FROM unnest(${arrayLiteral(workspaces)}::uuid[]) AS j(w) ORDER BY w) x`);
}

export interface LockOptions {
  /**
   * Also turn JIT compilation off for the rest of the transaction (`SET LOCAL jit = off`, in the
   * same statement). A batch's statements take a few hundred keys each as arrays; their cost
   * estimates pass jit_above_cost (100,000) as the tables grow, and compiling then took 30-77 ms
   * per statement, for statements that run in 5-20 ms (ADR 0081).
   */
  jitOff?: boolean;
}

/**
 * Several workspaces in one statement: takes their score locks in workspace order first, so the
 * triggers' per-workspace locks never wait in opposite orders.
 */
async function lockScoreWriters(entries: ScoreDelta[], tx: DbExecutor): Promise<void> {
  const workspaces = [...new Set(entries.map((e) => e.workspaceId.toLowerCase()))];
  if (workspaces.length < 2) return;
  await lockWorkspaces(workspaces, tx);
}

/** Keys of the batch reads: (workspace, user) plus more columns. */
export interface UserKey {
  workspaceId: string;
  userId: string;
}

/**
 * One column of a list sent as an array: its name in the statement, its PostgreSQL type, its value
 * per row, and `dict` for a column with few distinct values (a rule id, a persona, a metric, an event
 * name, a board, a period, a day): its distinct values go once and each row names its value by number
 * (ADR 0098).
 */
type Col<T> = readonly [name: string, type: string, get: (row: T) => string | number | null, dict?: 'dict'];

/**
 * A PostgreSQL array literal of the values (`{"a","b",NULL,3}`), sent as one text parameter: the
 * server parses it with the element type's input function, cheaper than decoding a JSON record
 * per row (ADR 0075), and no per-row key names cross the wire.
 */
export function arrayLiteral(values: readonly (string | number | null)[]): string {
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (i) out += ',';
    if (v === null || v === undefined) out += 'NULL';
    else if (typeof v === 'number') out += String(v);
    else out += /["\\]/.test(v) ? `"${v.replace(/["\\]/g, '\\$&')}"` : `"${v}"`;
  }
  return out + '}';
}

/**
 * A text[] literal of names (a mark's boards or periods) for one element of an outer array literal:
 * plain names (letters, digits, `_:.-`) go unquoted, so the outer literal escapes no quotes; any
 * other name (or one PostgreSQL would read as NULL) goes through `arrayLiteral`.
 */
function nameList(values: readonly string[]): string {
  return values.every((v) => /^[\w:.-]+$/.test(v) && !/^null$/i.test(v)) ? `{${values.join(',')}}` : arrayLiteral(values);
}

/**
 * The (workspace, user) pairs of one statement (ADR 0098; the score rows' `m` of ADR 0081 and 0088
 * for every list): each pair goes once, in the CTE `m` (`ws[]`, `u[]`), and each row of a list names
 * its pair by number, instead of two uuids (78 bytes of text, two uuid parses) per row of every list.
 * A batch names its ~200 members in ~1,300 rows per statement.
 */
class Pairs {
  private readonly numbers = new Map<string, number>();
  private readonly ws: string[] = [];
  private readonly u: string[] = [];

  no(key: UserKey): number {
    const k = `${key.workspaceId}|${key.userId}`;
    let n = this.numbers.get(k);
    if (n === undefined) {
      this.ws.push(key.workspaceId);
      this.u.push(key.userId);
      this.numbers.set(k, (n = this.ws.length));
    }
    return n;
  }

  /** The CTE `m`, first in the statement's WITH: built after every list that names a pair. */
  cte(): SQL {
    return sql`m AS MATERIALIZED (SELECT ${arrayLiteral(this.ws)}::uuid[] AS ws, ${arrayLiteral(this.u)}::uuid[] AS u)`;
  }
}

/**
 * A list as one array parameter per column read back as rows `r` (`unnest($1::uuid[], $2::text[], …)`):
 * a fixed number of parameters whatever the batch size, so the statement text is fixed and neither
 * drizzle nor the server handles a parameter per value. With `pairs`, each row's (workspace, user)
 * goes as its pair's number (`r.ws`, `r.u` read from `m`); a `dict` column goes as its distinct
 * values plus a number per row. Rows keep the list's order.
 */
function recs<T>(list: readonly T[], cols: readonly Col<T>[], pairs?: Pairs): SQL {
  const names: string[] = [];
  const arrays: SQL[] = [];
  const select: SQL[] = [];
  let plain = !pairs;
  if (pairs) {
    names.push('pn');
    // byPair() is the only caller with pairs, and its rows are UserKeys.
    arrays.push(sql`${arrayLiteral(list.map((row) => pairs.no(row as UserKey)))}::int[]`);
    select.push(sql`m.ws[x.pn] AS ws, m.u[x.pn] AS u`);
  }
  for (const [name, type, get, dict] of cols) {
    names.push(name);
    if (!dict) {
      arrays.push(sql`${arrayLiteral(list.map(get))}::${sql.raw(type)}[]`);
      select.push(sql.raw(`x.${name}`));
      continue;
    }
    plain = false;
    const numbers = new Map<string | number | null, number>();
    const values: (string | number | null)[] = [];
    const refs = list.map((row) => {
      const v = get(row);
      let n = numbers.get(v);
      if (n === undefined) {
        values.push(v);
        numbers.set(v, (n = values.length));
      }
      return n;
    });
    arrays.push(sql`${arrayLiteral(refs)}::int[]`);
    select.push(sql`(${arrayLiteral(values)}::${sql.raw(type)}[])[x.${sql.raw(name)}] AS ${sql.raw(name)}`);
  }
  if (plain) return sql`unnest(${sql.join(arrays, sql`, `)}) AS r(${sql.raw(names.join(', '))})`;
  return sql`(SELECT ${sql.join(select, sql`, `)} FROM ${pairs ? sql`m, ` : sql``}unnest(${sql.join(arrays, sql`, `)}) AS x(${sql.raw(names.join(', '))})) r`;
}

/** `recs` of a list of (workspace, user) keys: `r.ws` and `r.u` through the statement's pairs, then `cols`. */
const byPair = <T extends UserKey>(pairs: Pairs, list: readonly T[], cols: readonly Col<T>[] = []): SQL => recs(list, cols, pairs);

export type StreakKey = UserKey & { activity: string; cadence: Cadence };
export type CapKey = UserKey & { ruleId: string; day: string };
export type PersonaKey = UserKey & { persona: Persona };
export type PointsWindow = UserKey & { metric: string; since: string; until: string };

/** What a batch reads before applying its events (ScoringRepository's per-event reads, for every key at once). */
export interface BatchState {
  streaks: (StreakRow & { workspace_id: string; user_id: string; activity: string; cadence: Cadence })[];
  caps: { workspace_id: string; user_id: string; rule_id: string; day: string; points: number }[];
  awarded: { event_id: string; rule_id: string }[];
  xp: { workspace_id: string; user_id: string; persona: Persona; xp: number }[];
  levels: { workspace_id: string; user_id: string; persona: Persona; level: number }[];
  badges: { workspace_id: string; user_id: string; badge_id: string }[];
  entitlements: { workspace_id: string; user_id: string; reward_key: string }[];
  /** One total per window, in the order given. */
  windows: number[];
}

/** Everything a batch writes (one statement, BatchScoringRepository.write). */
export interface BatchWrites {
  streaks: (StreakKey & { state: { current: number; longest: number; lastPeriod: number | null; freezes: number; freezesUsed: number } })[];
  caps: (CapKey & { points: number })[];
  awards: { id: string; workspaceId: string; userId: string; persona: Persona; metric: string; points: number; eventId: string; eventName: string; ruleId: string; occurredAt: string; recordedAt: string }[];
  balances: (PersonaKey & { metric: string; delta: number })[];
  scores: ScoreDelta[];
  /** The Redis marks of `scores` (exact, as `marksOf` gives them); computed from `scores` when absent. */
  marks?: ScoreMark[];
  levels: (PersonaKey & { level: number })[];
  badges: (UserKey & { badgeId: string })[];
  entitlements: (UserKey & { rewardKey: string; kind: string; source: string })[];
}

/**
 * The set-based statements of batch scoring (ScoringService.handleBatch): four statements per batch
 * whatever its size, each taking its rows as arrays (`recs`: members by pair number, few-valued
 * columns as dictionaries, ADR 0098). Locking reads (FOR UPDATE) take
 * the rows the per-event path locks one by one, in key order; writes of counters add deltas (so
 * they commute with the per-event path and with adjustments), writes of state computed from a
 * locked read (streaks, levels) store the value.
 */
export class BatchScoringRepository {
  /** Records the events as processed; returns the ids that were not processed before. */
  async markProcessed(events: { id: string; workspaceId: string }[], now: string, tx: DbExecutor): Promise<Set<string>> {
    if (!events.length) return new Set();
    const fresh = await rows<{ event_id: string }>(
      tx,
      sql`INSERT INTO gamification.processed_events (event_id, workspace_id, processed_at)
          SELECT r.id, r.ws, ${now}::timestamptz FROM ${recs(events, [['id', 'uuid', (e) => e.id], ['ws', 'uuid', (e) => e.workspaceId, 'dict']])}
          ON CONFLICT (event_id) DO NOTHING RETURNING event_id`,
    );
    return new Set(fresh.map((r) => r.event_id));
  }

  /**
   * Adds `n` to each (workspace, user, event name) count and reads the users' time zones, in one
   * statement: the new count totals and the zones set.
   */
  async countAndZones(
    counts: (UserKey & { eventName: string; n: number })[],
    users: UserKey[],
    tx: DbExecutor,
  ): Promise<{ counts: { workspace_id: string; user_id: string; event_name: string; count: number }[]; zones: { workspace_id: string; user_id: string; timezone: string }[] }> {
    type Counted = { workspace_id: string; user_id: string; event_name: string; count: number };
    const pairs = new Pairs();
    const countRows = byPair(pairs, counts, [['e', 'text', (c) => c.eventName, 'dict'], ['n', 'bigint', (c) => c.n]]);
    const userRows = byPair(pairs, users);
    const [r] = await rows<{ counts: Counted[] | null; zones: { workspace_id: string; user_id: string; timezone: string }[] | null }>(
      tx,
      sql`WITH ${pairs.cte()}, c AS (
            INSERT INTO gamification.event_counts AS t (workspace_id, user_id, event_name, count)
            SELECT r.ws, r.u, r.e, r.n FROM ${countRows}
            ON CONFLICT (workspace_id, user_id, event_name) DO UPDATE SET count = t.count + EXCLUDED.count
            RETURNING workspace_id, user_id, event_name, count)
          SELECT (SELECT json_agg(c) FROM c) AS counts,
                 (SELECT json_agg(z) FROM (SELECT s.workspace_id, s.user_id, s.timezone FROM ${userRows}
                    CROSS JOIN LATERAL (SELECT s.workspace_id, s.user_id, s.timezone FROM gamification.user_settings s WHERE s.workspace_id = r.ws AND s.user_id = r.u OFFSET 0) s) z) AS zones`,
    );
    return { counts: r?.counts ?? [], zones: r?.zones ?? [] };
  }

  /**
   * Every row the batch's events may read, in one statement: streaks, daily caps and levels locked
   * (FOR UPDATE, each in key order, as the per-event path locks them), the (event, rule) pairs
   * already in the ledger, XP per persona, held badges and rewards, and the committed ledger sum of
   * each points-badge window. Every read is a key lookup per row of the batch (`CROSS JOIN LATERAL`
   * on the table's primary or unique index; `OFFSET 0` keeps PostgreSQL from flattening the
   * unlocked ones into a join), so its cost follows the batch, not the tables: as joins the planner
   * hashed or sorted whole tables (ADR 0081). The ledger's (event, rule) pairs too: as
   * `event_id = ANY(…)` PGlite, whose tables are analysed only by the maintenance pass (ADR 0094),
   * scanned the whole ledger every batch (ADR 0098).
   */
  async readState(
    keys: { streaks: StreakKey[]; caps: CapKey[]; eventIds: string[]; personas: PersonaKey[]; users: UserKey[]; badges: boolean; entitlements: boolean; windows: PointsWindow[] },
    tx: DbExecutor,
  ): Promise<BatchState> {
    const pairs = new Pairs();
    const persona: Col<PersonaKey> = ['p', 'text', (k) => k.persona, 'dict'];
    const streakRows = byPair(pairs, keys.streaks, [
      ['a', 'text', (k) => k.activity, 'dict'],
      ['c', 'text', (k) => k.cadence, 'dict'],
    ]);
    const capRows = byPair(pairs, keys.caps, [
      ['rule', 'uuid', (k) => k.ruleId, 'dict'],
      ['d', 'date', (k) => k.day, 'dict'],
    ]);
    const levelRows = byPair(pairs, keys.personas, [persona]);
    const xpRows = byPair(pairs, keys.personas, [persona]);
    const badgeRows = keys.badges ? byPair(pairs, keys.users) : null;
    const entitlementRows = keys.entitlements ? byPair(pairs, keys.users) : null;
    const windowRows = byPair(
      pairs,
      keys.windows.map((w, i) => ({ ...w, i })),
      [
        ['i', 'int', (w) => w.i],
        ['m', 'text', (w) => w.metric, 'dict'],
        ['since', 'timestamptz', (w) => w.since],
        ['until', 'timestamptz', (w) => w.until],
      ],
    );
    const [r] = await rows<Record<keyof BatchState, unknown[] | null>>(
      tx,
      sql`WITH ${pairs.cte()},
          st AS (SELECT t.* FROM ${streakRows}
                 CROSS JOIN LATERAL (SELECT t.workspace_id, t.user_id, t.activity, t.cadence, t.current, t.longest, t.last_period, t.freezes, t.freezes_used
                   FROM gamification.streaks t WHERE t.workspace_id = r.ws AND t.user_id = r.u AND t.activity = r.a AND t.cadence = r.c FOR UPDATE) t),
          ca AS (SELECT t.* FROM ${capRows}
                 CROSS JOIN LATERAL (SELECT t.workspace_id, t.user_id, t.rule_id, to_char(t.day, 'YYYY-MM-DD') AS day, t.points
                   FROM gamification.daily_caps t WHERE t.workspace_id = r.ws AND t.user_id = r.u AND t.rule_id = r.rule AND t.day = r.d FOR UPDATE) t),
          lv AS (SELECT t.* FROM ${levelRows}
                 CROSS JOIN LATERAL (SELECT t.workspace_id, t.user_id, t.persona, t.level
                   FROM gamification.levels t WHERE t.workspace_id = r.ws AND t.user_id = r.u AND t.persona = r.p FOR UPDATE) t)
          SELECT (SELECT json_agg(st) FROM st) AS streaks,
                 (SELECT json_agg(ca) FROM ca) AS caps,
                 (SELECT json_agg(lv) FROM lv) AS levels,
                 (SELECT json_agg(x) FROM (SELECT l.event_id, l.rule_id FROM unnest(${arrayLiteral(keys.eventIds)}::uuid[]) AS e(id)
                    CROSS JOIN LATERAL (SELECT l.event_id, l.rule_id FROM gamification.ledger l WHERE l.event_id = e.id OFFSET 0) l) x) AS awarded,
                 (SELECT json_agg(x) FROM (SELECT r.ws AS workspace_id, r.u AS user_id, r.p AS persona, b.xp FROM ${xpRows}
                    CROSS JOIN LATERAL (SELECT sum(b.points) AS xp FROM gamification.balances b
                      WHERE b.workspace_id = r.ws AND b.user_id = r.u AND b.persona = r.p HAVING count(*) > 0) b) x) AS xp,
                 ${
                   badgeRows
                     ? sql`(SELECT json_agg(x) FROM (SELECT b.workspace_id, b.user_id, b.badge_id FROM ${badgeRows}
                    CROSS JOIN LATERAL (SELECT b.workspace_id, b.user_id, b.badge_id FROM gamification.user_badges b WHERE b.workspace_id = r.ws AND b.user_id = r.u OFFSET 0) b) x)`
                     : sql`NULL::json`
                 } AS badges,
                 ${
                   entitlementRows
                     ? sql`(SELECT json_agg(x) FROM (SELECT e.workspace_id, e.user_id, e.reward_key FROM ${entitlementRows}
                    CROSS JOIN LATERAL (SELECT e.workspace_id, e.user_id, e.reward_key FROM gamification.entitlements e WHERE e.workspace_id = r.ws AND e.user_id = r.u OFFSET 0) e) x)`
                     : sql`NULL::json`
                 } AS entitlements,
                 (SELECT json_agg(x.total ORDER BY x.i) FROM (
                    SELECT r.i, (SELECT coalesce(sum(l.points), 0) FROM gamification.ledger l
                                 WHERE l.workspace_id = r.ws AND l.user_id = r.u AND l.metric = r.m AND l.occurred_at > r.since AND l.occurred_at <= r.until) AS total
                    FROM ${windowRows}) x) AS windows`,
    );
    const list = <T>(v: unknown[] | null | undefined) => (v ?? []) as T[];
    return {
      streaks: list(r?.streaks),
      caps: list(r?.caps),
      awarded: list(r?.awarded),
      xp: list<BatchState['xp'][number]>(r?.xp).map((x) => ({ ...x, xp: Number(x.xp) })),
      levels: list(r?.levels),
      badges: list(r?.badges),
      entitlements: list(r?.entitlements),
      windows: list<number | string>(r?.windows).map(Number),
    };
  }

  /**
   * Every write of the batch in one statement (a data-modifying CTE per table that has rows):
   * streaks and levels store the computed value, caps, balances and scores add deltas, ledger
   * entries, badges and rewards insert. Rows come sorted by key (the caller sorts them), so
   * concurrent writers lock them in one order. The score_counts triggers fire once, at its end.
   * Every list names its member by the statement's pair number (CTE `m`; a member's six score rows
   * and its Redis marks too, ADR 0081, 0088, 0098).
   */
  async write(w: BatchWrites, markForRedis: boolean, now: string, tx: DbExecutor): Promise<void> {
    const pairs = new Pairs();
    const parts: SQL[] = [];
    if (w.streaks.length)
      parts.push(sql`INSERT INTO gamification.streaks AS t (workspace_id, user_id, activity, cadence, current, longest, last_period, freezes, freezes_used, updated_at)
        SELECT r.ws, r.u, r.a, r.c, r.cur, r.lng, r.lp, r.fz, r.fu, ${now}::timestamptz FROM ${byPair(pairs, w.streaks, [
          ['a', 'text', (s) => s.activity, 'dict'],
          ['c', 'text', (s) => s.cadence, 'dict'],
          ['cur', 'int', (s) => s.state.current],
          ['lng', 'int', (s) => s.state.longest],
          ['lp', 'int', (s) => s.state.lastPeriod],
          ['fz', 'int', (s) => s.state.freezes],
          ['fu', 'int', (s) => s.state.freezesUsed],
        ])}
        ON CONFLICT (workspace_id, user_id, activity, cadence) DO UPDATE SET current = EXCLUDED.current, longest = EXCLUDED.longest, last_period = EXCLUDED.last_period,
          freezes = EXCLUDED.freezes, freezes_used = EXCLUDED.freezes_used, updated_at = EXCLUDED.updated_at`);
    if (w.caps.length)
      parts.push(sql`INSERT INTO gamification.daily_caps AS t (workspace_id, user_id, rule_id, day, points)
        SELECT r.ws, r.u, r.rule, r.d, r.p FROM ${byPair(pairs, w.caps, [
          ['rule', 'uuid', (c) => c.ruleId, 'dict'],
          ['d', 'date', (c) => c.day, 'dict'],
          ['p', 'int', (c) => c.points],
        ])}
        ON CONFLICT (workspace_id, user_id, rule_id, day) DO UPDATE SET points = t.points + EXCLUDED.points`);
    if (w.awards.length)
      parts.push(sql`INSERT INTO gamification.ledger (id, workspace_id, user_id, persona, metric, points, kind, event_id, event_name, rule_id, occurred_at, recorded_at)
        SELECT r.id, r.ws, r.u, r.p, r.m, r.pts, 'award', r.ev, r.en, r.rule, r.oa, r.ra FROM ${byPair(pairs, w.awards, [
          ['id', 'uuid', (e) => e.id],
          ['p', 'text', (e) => e.persona, 'dict'],
          ['m', 'text', (e) => e.metric, 'dict'],
          ['pts', 'int', (e) => e.points],
          ['ev', 'uuid', (e) => e.eventId],
          ['en', 'text', (e) => e.eventName, 'dict'],
          ['rule', 'uuid', (e) => e.ruleId, 'dict'],
          ['oa', 'timestamptz', (e) => e.occurredAt],
          ['ra', 'timestamptz', (e) => e.recordedAt, 'dict'],
        ])}
        ON CONFLICT (event_id, rule_id) DO NOTHING`);
    if (w.balances.length)
      parts.push(sql`INSERT INTO gamification.balances AS t (workspace_id, user_id, persona, metric, points)
        SELECT r.ws, r.u, r.p, r.m, r.d FROM ${byPair(pairs, w.balances, [
          ['p', 'text', (b) => b.persona, 'dict'],
          ['m', 'text', (b) => b.metric, 'dict'],
          ['d', 'bigint', (b) => b.delta],
        ])}
        ON CONFLICT (workspace_id, user_id, persona, metric) DO UPDATE SET points = t.points + EXCLUDED.points`);
    if (w.scores.length) {
      parts.push(sql`INSERT INTO gamification.scores AS t (workspace_id, board, period, user_id, score)
        SELECT r.ws, r.b, r.p, r.u, r.d FROM ${byPair(pairs, w.scores, [
          ['b', 'text', (e) => e.board, 'dict'],
          ['p', 'text', (e) => e.period, 'dict'],
          ['d', 'bigint', (e) => e.delta],
        ])}
        ON CONFLICT (workspace_id, board, period, user_id) DO UPDATE SET score = t.score + EXCLUDED.score`);
      // One mark per member and set of changed entries (ADR 0088), not one per entry.
      const marks = markForRedis ? (w.marks ?? marksOf(w.scores)) : [];
      if (marks.length)
        parts.push(sql`INSERT INTO gamification.board_sync (workspace_id, user_id, boards, periods)
          SELECT r.ws, r.u, r.b::text[], r.p::text[] FROM ${byPair(pairs, marks, [
            ['b', 'text', (m) => nameList(m.boards), 'dict'],
            ['p', 'text', (m) => nameList(m.periods), 'dict'],
          ])}
          ON CONFLICT DO NOTHING`);
    }
    if (w.levels.length)
      parts.push(sql`INSERT INTO gamification.levels AS t (workspace_id, user_id, persona, level)
        SELECT r.ws, r.u, r.p, r.l FROM ${byPair(pairs, w.levels, [
          ['p', 'text', (l) => l.persona, 'dict'],
          ['l', 'int', (l) => l.level],
        ])}
        ON CONFLICT (workspace_id, user_id, persona) DO UPDATE SET level = EXCLUDED.level`);
    if (w.badges.length)
      parts.push(sql`INSERT INTO gamification.user_badges (workspace_id, user_id, badge_id, awarded_at)
        SELECT r.ws, r.u, r.b, ${now}::timestamptz FROM ${byPair(pairs, w.badges, [['b', 'uuid', (b) => b.badgeId, 'dict']])} ON CONFLICT DO NOTHING`);
    if (w.entitlements.length)
      parts.push(sql`INSERT INTO gamification.entitlements (workspace_id, user_id, reward_key, kind, source, granted_at)
        SELECT r.ws, r.u, r.k, r.kind, r.src, ${now}::timestamptz FROM ${byPair(pairs, w.entitlements, [
          ['k', 'text', (e) => e.rewardKey, 'dict'],
          ['kind', 'text', (e) => e.kind, 'dict'],
          ['src', 'text', (e) => e.source, 'dict'],
        ])} ON CONFLICT DO NOTHING`);
    if (!parts.length) return;
    const ctes = sql.join([pairs.cte(), ...parts.map((p, i) => sql`${sql.raw(`w${i}`)} AS (${p})`)], sql`, `);
    await tx.execute(sql`WITH ${ctes} SELECT 1`);
  }
}

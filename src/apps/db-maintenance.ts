import { performance } from 'node:perf_hooks';
import { setImmediate as nextTurn } from 'node:timers/promises';
import client from 'prom-client';
import { systemClock, type Clock } from '../kernel/clock.js';
import type { Database } from '../kernel/db/database.js';
import type { Logger } from '../kernel/telemetry/logger.js';
import type { CoreMetrics } from '../kernel/telemetry/metrics.js';
import { processProbe } from './idle-memory.js';

/**
 * The embedded database's autovacuum (ADR 0094). PGlite runs PostgreSQL in single-user mode: no
 * autovacuum launcher, so nothing ever vacuumed or analysed an embedded install (5,000 scored
 * gamification events left 5,002 dead rows in the outbox and 6,113 in gamification.scores, and the
 * planner kept the statistics of an empty database). This pass does what autovacuum would:
 * it reads the server's autovacuum settings from pg_settings and each table's counters from
 * pg_stat_all_tables, and for each table past autovacuum's formulas runs one statement:
 * `VACUUM (ANALYZE)` (dead tuples, inserts since the last vacuum, or transaction-ID age past the
 * formulas) or `ANALYZE` (changes since the last analyze past theirs). PostgreSQL servers have
 * autovacuum: this runs on PGlite only (`runServer`).
 *
 * One statement per tick (a second by default): PGlite runs statements on the main thread, so a
 * request waits for at most one table's VACUUM; between two the event loop serves everything
 * else. A pass is due every `intervalMs` and runs when the main thread was idle over the last tick
 * (the CPU share of ADR 0085, below `idleBelow`), or, if the process stays busy, once it has been due
 * for `maxDeferMs` (a busy install is the one that bloats). `stop()` waits for the statement in
 * flight: a VACUUM is never cut off at exit.
 */

export type MaintenanceAction = 'vacuum' | 'analyze';

/** A table past autovacuum's formulas, and why. */
export interface TableDue {
  schema: string;
  table: string;
  action: MaintenanceAction;
  /** 'dead tuples', 'inserts', 'xid age' (vacuum) or 'changes' (analyze). */
  reason: string;
  dead: number;
  changes: number;
}

export interface MaintenanceStep extends TableDue {
  ms: number;
  error?: string;
}

/** Autovacuum's settings (pg_settings), with PostgreSQL's defaults where the server reports none. */
export interface AutovacuumSettings {
  vacuumThreshold: number;
  vacuumScaleFactor: number;
  /** PostgreSQL 18: a cap on the dead-tuple threshold of big tables (-1: none). */
  vacuumMaxThreshold: number;
  /** -1: inserts never trigger a vacuum. */
  insertThreshold: number;
  insertScaleFactor: number;
  analyzeThreshold: number;
  analyzeScaleFactor: number;
  freezeMaxAge: number;
}

export const AUTOVACUUM_DEFAULTS: AutovacuumSettings = {
  vacuumThreshold: 50,
  vacuumScaleFactor: 0.2,
  vacuumMaxThreshold: 100_000_000,
  insertThreshold: 1000,
  insertScaleFactor: 0.2,
  analyzeThreshold: 50,
  analyzeScaleFactor: 0.1,
  freezeMaxAge: 200_000_000,
};

const SETTING_NAMES: Record<keyof AutovacuumSettings, string> = {
  vacuumThreshold: 'autovacuum_vacuum_threshold',
  vacuumScaleFactor: 'autovacuum_vacuum_scale_factor',
  vacuumMaxThreshold: 'autovacuum_vacuum_max_threshold',
  insertThreshold: 'autovacuum_vacuum_insert_threshold',
  insertScaleFactor: 'autovacuum_vacuum_insert_scale_factor',
  analyzeThreshold: 'autovacuum_analyze_threshold',
  analyzeScaleFactor: 'autovacuum_analyze_scale_factor',
  freezeMaxAge: 'autovacuum_freeze_max_age',
};

/** One table's counters, as read from pg_stat_all_tables and pg_class. */
export interface TableCounters {
  schema: string;
  table: string;
  /** pg_class.reltuples (-1 before the first VACUUM or ANALYZE: counted as 0, as autovacuum does). */
  reltuples: number;
  dead: number;
  changes: number;
  inserts: number;
  xidAge: number;
}

/** relation_needs_vacanalyze of PostgreSQL's autovacuum.c, without per-table reloptions. */
export function tableDue(t: TableCounters, s: AutovacuumSettings): TableDue | undefined {
  const tuples = Math.max(0, t.reltuples);
  let vacuumThreshold = s.vacuumThreshold + s.vacuumScaleFactor * tuples;
  if (s.vacuumMaxThreshold >= 0) vacuumThreshold = Math.min(vacuumThreshold, s.vacuumMaxThreshold);
  const base = { schema: t.schema, table: t.table, dead: t.dead, changes: t.changes };
  if (t.xidAge > s.freezeMaxAge) return { ...base, action: 'vacuum', reason: 'xid age' };
  if (t.dead > vacuumThreshold) return { ...base, action: 'vacuum', reason: 'dead tuples' };
  if (s.insertThreshold >= 0 && t.inserts > s.insertThreshold + s.insertScaleFactor * tuples) return { ...base, action: 'vacuum', reason: 'inserts' };
  // Autovacuum never analyses pg_statistic (ANALYZE's own output).
  if (!(t.schema === 'pg_catalog' && t.table === 'pg_statistic') && t.changes > s.analyzeThreshold + s.analyzeScaleFactor * tuples) {
    return { ...base, action: 'analyze', reason: 'changes' };
  }
  return undefined;
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function maintenanceStatement(t: Pick<TableDue, 'schema' | 'table' | 'action'>): string {
  const name = `${quoteIdent(t.schema)}.${quoteIdent(t.table)}`;
  return t.action === 'vacuum' ? `VACUUM (ANALYZE) ${name}` : `ANALYZE ${name}`;
}

type Queryable = Pick<Database, 'query'>;

export async function autovacuumSettings(db: Queryable): Promise<AutovacuumSettings> {
  const rows = await db.query<{ name: string; setting: string }>('SELECT name, setting FROM pg_settings WHERE name = ANY($1)', [Object.values(SETTING_NAMES)]);
  const byName = new Map(rows.map((r) => [r.name, Number(r.setting)]));
  const s = { ...AUTOVACUUM_DEFAULTS };
  for (const [key, name] of Object.entries(SETTING_NAMES) as [keyof AutovacuumSettings, string][]) {
    const v = byName.get(name);
    if (v !== undefined && Number.isFinite(v)) s[key] = v;
  }
  return s;
}

/**
 * Every table past autovacuum's formulas, the most dead tuples first. The backend's pending
 * statistics are flushed first: single-user PostgreSQL reports them at most once a second, so the
 * counters of the last second's statements would be missing.
 */
export async function tablesDue(db: Queryable): Promise<TableDue[]> {
  const settings = await autovacuumSettings(db);
  await db.query('SELECT pg_stat_force_next_flush()');
  const rows = await db.query<{ schema: string; table: string; reltuples: number; dead: string; changes: string; inserts: string; xid_age: number }>(
    `SELECT s.schemaname AS schema, s.relname AS table, c.reltuples::float8 AS reltuples, s.n_dead_tup AS dead,
            s.n_mod_since_analyze AS changes, s.n_ins_since_vacuum AS inserts, age(c.relfrozenxid) AS xid_age
       FROM pg_stat_all_tables s JOIN pg_class c ON c.oid = s.relid
      WHERE c.relkind IN ('r', 'm') AND c.relpersistence <> 't' AND s.schemaname NOT IN ('pg_toast', 'information_schema')`,
  );
  return rows
    .map((r) => tableDue({ schema: r.schema, table: r.table, reltuples: Number(r.reltuples), dead: Number(r.dead), changes: Number(r.changes), inserts: Number(r.inserts), xidAge: Number(r.xid_age) }, settings))
    .filter((t): t is TableDue => t !== undefined)
    .sort((a, b) => b.dead - a.dead || b.changes - a.changes);
}

export interface DatabaseMaintenanceOptions {
  database: Queryable;
  logger: Pick<Logger, 'debug' | 'info' | 'warn'>;
  clock?: Clock;
  /** Registers v01t_db_maintenance_* in this registry. */
  metrics?: Pick<CoreMetrics, 'registry'>;
  /** The main thread's CPU share since the previous call (0–1); default: this process's (ADR 0085). */
  busy?: () => number;
  /** Idle below this CPU share over the last tick (0.25, as the idle memory reducer). */
  idleBelow?: number;
  /** A pass is due this long after the previous one started (10 minutes). */
  intervalMs?: number;
  /** A due pass waits for an idle tick at most this long, then runs while busy (intervalMs). */
  maxDeferMs?: number;
  /** How often start() ticks (1 s). */
  tickMs?: number;
}

interface Pass {
  queue: TableDue[];
  startedAt: number;
  steps: MaintenanceStep[];
}

export class DatabaseMaintenance {
  private readonly db: Queryable;
  private readonly logger: DatabaseMaintenanceOptions['logger'];
  private readonly clock: Clock;
  private readonly busy: () => number;
  private readonly idleBelow: number;
  private readonly intervalMs: number;
  private readonly maxDeferMs: number;
  private readonly tickMs: number;
  private readonly duration?: client.Histogram<'action'>;
  private readonly deadRemoved?: client.Counter;
  /** When the last pass started (none yet: the first is due at once). */
  private lastPassAt = Number.NEGATIVE_INFINITY;
  /** When the pending pass became due (waiting for an idle tick). */
  private dueSince: number | undefined;
  private pass: Pass | undefined;
  private running: Promise<unknown> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(opts: DatabaseMaintenanceOptions) {
    this.db = opts.database;
    this.logger = opts.logger;
    this.clock = opts.clock ?? systemClock;
    this.busy = opts.busy ?? processProbe().busy;
    this.idleBelow = opts.idleBelow ?? 0.25;
    this.intervalMs = opts.intervalMs ?? 10 * 60_000;
    this.maxDeferMs = opts.maxDeferMs ?? this.intervalMs;
    this.tickMs = opts.tickMs ?? 1000;
    if (opts.metrics) {
      const registers = [opts.metrics.registry];
      this.duration = new client.Histogram({
        name: 'v01t_db_maintenance_seconds',
        help: "Embedded database maintenance statements (PGlite has no autovacuum): VACUUM (ANALYZE) or ANALYZE of one table, by action; the count is the number of tables",
        labelNames: ['action'],
        buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
        registers,
      });
      this.deadRemoved = new client.Counter({
        name: 'v01t_db_maintenance_dead_tuples_total',
        help: 'Dead tuples the embedded database maintenance found in the tables it vacuumed',
        registers,
      });
    }
  }

  /**
   * One look: lists the tables due when a pass is due, or runs the next table's statement of the
   * pass under way, when the last tick was idle (or the pass has waited maxDeferMs). At most one
   * statement per call; undefined when nothing ran.
   */
  tick(): Promise<MaintenanceStep | 'listed' | undefined> {
    if (this.stopped || this.running) return Promise.resolve(undefined);
    const busy = this.busy();
    const now = this.clock.now().getTime();
    if (!this.pass) {
      if (now - this.lastPassAt < this.intervalMs) return Promise.resolve(undefined);
      this.dueSince ??= now;
    }
    if (busy >= this.idleBelow && now - (this.dueSince ?? now) < this.maxDeferMs) return Promise.resolve(undefined);
    const work = (this.pass ? this.next(this.pass) : this.list(now)).finally(() => {
      this.running = undefined;
      // The statement itself kept the thread busy: not counted as the next tick's load.
      this.busy();
    });
    this.running = work;
    return work;
  }

  private async list(now: number): Promise<'listed'> {
    this.lastPassAt = now;
    let queue: TableDue[] = [];
    try {
      queue = await tablesDue(this.db);
    } catch (err) {
      this.logger.warn({ err }, 'database maintenance: the tables due could not be listed');
    }
    this.logger.debug({ tables: queue.map((t) => `${t.schema}.${t.table}`) }, 'database maintenance: pass starts');
    if (queue.length) this.pass = { queue, startedAt: now, steps: [] };
    else this.dueSince = undefined;
    return 'listed';
  }

  private async next(pass: Pass): Promise<MaintenanceStep> {
    const step = await this.runTable(pass.queue.shift()!);
    pass.steps.push(step);
    if (!pass.queue.length) {
      this.pass = undefined;
      this.dueSince = undefined;
      this.logger.info(
        {
          vacuumed: pass.steps.filter((s) => s.action === 'vacuum' && !s.error).map((s) => `${s.schema}.${s.table}`),
          analyzed: pass.steps.filter((s) => s.action === 'analyze' && !s.error).map((s) => `${s.schema}.${s.table}`),
          failed: pass.steps.filter((s) => s.error).length,
          deadTuples: pass.steps.reduce((n, s) => n + (s.action === 'vacuum' ? s.dead : 0), 0),
          ms: Math.round(pass.steps.reduce((n, s) => n + s.ms, 0)),
        },
        'database maintenance: pass done',
      );
    }
    return step;
  }

  private async runTable(t: TableDue): Promise<MaintenanceStep> {
    const started = performance.now();
    let error: string | undefined;
    try {
      await this.db.query(maintenanceStatement(t));
    } catch (err) {
      // A table dropped since the listing, a lock: the next pass tries again.
      error = (err as Error).message.slice(0, 300);
      this.logger.warn({ err, table: `${t.schema}.${t.table}`, action: t.action }, 'database maintenance: statement failed');
    }
    const ms = performance.now() - started;
    const step: MaintenanceStep = { ...t, ms, ...(error ? { error } : {}) };
    if (!error) {
      this.duration?.observe({ action: t.action }, ms / 1000);
      if (t.action === 'vacuum') this.deadRemoved?.inc(t.dead);
    }
    this.logger.debug({ table: `${t.schema}.${t.table}`, action: t.action, reason: t.reason, deadTuples: t.dead, changes: t.changes, ms: Math.round(ms * 10) / 10 }, 'database maintenance: table done');
    return step;
  }

  /**
   * A whole pass now, whatever the load and the interval (benches, tests): every table due, one
   * statement at a time, the event loop served between two.
   */
  async runPass(): Promise<MaintenanceStep[]> {
    const steps: MaintenanceStep[] = [];
    for (const t of await tablesDue(this.db)) {
      if (this.stopped) break;
      const step = this.runTable(t);
      this.running = step;
      steps.push(await step);
      this.running = undefined;
      await nextTurn();
    }
    return steps;
  }

  start(): void {
    if (this.timer || this.stopped) return;
    this.busy(); // the first tick's interval starts now
    this.timer = setInterval(() => void this.tick(), this.tickMs);
    this.timer.unref();
  }

  /** Stops ticking and waits for the statement in flight (a VACUUM is never cut off at exit). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => {});
  }
}

import { AppError } from '../../kernel/errors.js';
import { PROPERTY_KEY, type OlapStore } from '../../kernel/olap/index.js';
import { EVENTS_TABLE, dayOf, safeJson } from './event-store.js';
import type { ActiveUsersSpec, FunnelSpec, QueryResult, QuerySpec, RetentionSpec, TrendsSpec } from './schemas.js';

const T = EVENTS_TABLE.name;
const HOUR = 3_600_000;
const DAY = 86_400_000;
const WEEK = 7 * DAY;
/** 1970-01-05, a Monday: week buckets are aligned to it (ISO weeks). */
const MONDAY_OFFSET = 4 * DAY;
const MAX_BUCKETS = 5_000;

type Cell = string | number | null;
const num = (v: unknown) => Number(v ?? 0);
const round = (v: number, digits = 6) => Math.round(v * 10 ** digits) / 10 ** digits;
const ratio = (a: number, b: number) => (b > 0 ? round(a / b) : null);

/** The lower-and-upper-middle average of a distribution given as (value, count) pairs. */
export function medianOf(dist: { value: number; count: number }[]): number | null {
  const total = dist.reduce((s, d) => s + d.count, 0);
  if (total === 0) return null;
  const sorted = [...dist].sort((a, b) => a.value - b.value);
  const at = (rank: number) => {
    let seen = 0;
    for (const d of sorted) {
      seen += d.count;
      if (rank < seen) return d.value;
    }
    return sorted[sorted.length - 1]!.value;
  };
  return total % 2 === 1 ? at((total - 1) / 2) : (at(total / 2 - 1) + at(total / 2)) / 2;
}

/**
 * Trends, funnels, retention and active users over the event table, as SQL both OLAP
 * engines run (see kernel/olap). Values from the request reach SQL only through the dialect's
 * quoting; names of properties are checked against a strict pattern by the schemas.
 */
export class QueryService {
  constructor(private readonly olap: OlapStore) {}

  async run(workspaceId: string, spec: QuerySpec): Promise<QueryResult> {
    if (spec.to.getTime() <= spec.from.getTime()) throw new AppError('validation_failed', '"to" must be after "from"', { errors: [{ path: 'body.spec.to', message: 'must be after from' }] });
    switch (spec.kind) {
      case 'trends':
        return this.trends(workspaceId, spec);
      case 'funnel':
        return this.funnel(workspaceId, spec);
      case 'retention':
        return this.retention(workspaceId, spec);
      case 'active_users':
        return this.activeUsers(workspaceId, spec);
    }
  }

  /** Event names and property keys of the workspace in [from, to). */
  async catalog(workspaceId: string, from: Date, to: Date): Promise<EventCatalogEntry[]> {
    return eventCatalog(this.olap, workspaceId, from.getTime(), to.getTime());
  }

  private base(workspaceId: string, from: number, to: number, filters: { property: string; op: 'eq' | 'neq'; value: string }[] = []): string {
    const d = this.olap.dialect;
    const parts = [`workspace_id = ${d.str(workspaceId)}`, `ts >= ${d.int(from)}`, `ts < ${d.int(to)}`];
    for (const f of filters) parts.push(`${d.jsonString('properties', f.property)} ${f.op === 'eq' ? '=' : '<>'} ${d.str(f.value)}`);
    return parts.join(' AND ');
  }

  async trends(workspaceId: string, s: TrendsSpec): Promise<QueryResult> {
    const d = this.olap.dialect;
    const from = s.from.getTime();
    const to = s.to.getTime();
    const buckets = bucketStarts(s.interval, from, to);
    if (buckets.length > MAX_BUCKETS) throw new AppError('validation_failed', `The range has more than ${MAX_BUCKETS} ${s.interval} buckets; pick a wider interval`);
    if (s.measure === 'sum' && !s.property) throw new AppError('validation_failed', 'measure "sum" needs "property"', { errors: [{ path: 'body.spec.property', message: 'required for sum' }] });
    const bucket =
      s.interval === 'hour'
        ? `${d.idiv('ts', String(HOUR))} * ${HOUR}`
        : s.interval === 'day'
          ? `${d.idiv('ts', String(DAY))} * ${DAY}`
          : s.interval === 'week'
            ? `${d.idiv(`ts - ${MONDAY_OFFSET}`, String(WEEK))} * ${WEEK} + ${MONDAY_OFFSET}`
            : d.dateString(d.monthStart('day'));
    const measure = s.measure === 'count' ? 'count(*)' : s.measure === 'unique_users' ? 'count(DISTINCT person_id)' : `sum(${d.jsonNumber('properties', s.property!)})`;
    const breakdown = s.breakdown ? `${d.jsonString('properties', s.breakdown)}` : `''`;
    const rows = await this.olap.query(
      `SELECT ${bucket} AS bucket, ${breakdown} AS breakdown_value, ${measure} AS value FROM ${T}
       WHERE ${this.base(workspaceId, from, to, s.filters)} AND event = ${d.str(s.event)}
       GROUP BY bucket, breakdown_value ORDER BY bucket, breakdown_value`,
    );
    const key = (b: unknown) => (typeof b === 'string' && b.includes('-') ? Date.parse(`${b}T00:00:00Z`) : num(b));
    const values = new Map<string, Map<number, number>>();
    for (const r of rows) {
      const series = String(r.breakdown_value ?? '');
      if (!values.has(series)) values.set(series, new Map());
      values.get(series)!.set(key(r.bucket), round(num(r.value)));
    }
    if (values.size === 0) values.set('', new Map());
    const out: Cell[][] = [];
    const totals: Record<string, number> = {};
    for (const series of [...values.keys()].sort()) {
      let total = 0;
      for (const b of buckets) {
        const v = values.get(series)!.get(b) ?? 0;
        total += v;
        out.push(s.breakdown ? [new Date(b).toISOString(), series, v] : [new Date(b).toISOString(), v]);
      }
      totals[series] = round(total);
    }
    return {
      kind: 'trends',
      columns: s.breakdown ? ['bucket', s.breakdown, s.measure] : ['bucket', s.measure],
      rows: out,
      // Unique users do not add up across buckets; the total is given for count and sum only: one
      // number, or with a breakdown one per breakdown value.
      summary: s.measure === 'unique_users' ? { interval: s.interval } : s.breakdown ? { interval: s.interval, totals } : { interval: s.interval, total: totals[''] ?? 0 },
    };
  }

  async funnel(workspaceId: string, s: FunnelSpec): Promise<QueryResult> {
    const d = this.olap.dialect;
    const from = s.from.getTime();
    const to = s.to.getTime();
    const windowMs = s.windowSeconds * 1000;
    // Stage k: each person's earliest step-k time after step k-1, within the window from step 1.
    const stages: string[] = [];
    stages[0] = `SELECT person_id, min(ts) AS t1 FROM ${T} WHERE ${this.base(workspaceId, from, to, s.filters)} AND event = ${d.str(s.steps[0]!)} GROUP BY person_id`;
    for (let k = 1; k < s.steps.length; k++) {
      const prev = Array.from({ length: k }, (_, i) => `t${i + 1}`).join(', ');
      const after = s.steps[k] === s.steps[k - 1] ? '>' : '>=';
      stages[k] =
        `SELECT person_id, ${prev}, min(ts) AS t${k + 1} FROM ` +
        `(SELECT person_id, ts FROM ${T} WHERE ${this.base(workspaceId, from, to + windowMs, s.filters)} AND event = ${d.str(s.steps[k]!)}) AS e${k} ` +
        `INNER JOIN (${stages[k - 1]}) AS s${k} USING (person_id) ` +
        `WHERE ts ${after} t${k} AND ts <= t1 + ${d.int(windowMs)} GROUP BY person_id, ${prev}`;
    }
    const counts: number[] = [];
    const medians: (number | null)[] = [];
    if (this.olap.kind === 'duckdb') {
      const steps = await this.olap.query(this.funnelOneStatement(workspaceId, s));
      for (const r of steps.sort((a, b) => num(a.step) - num(b.step))) {
        counts.push(num(r.users));
        medians.push(r.median_ms === null || r.median_ms === undefined ? null : round(num(r.median_ms) / 1000, 3));
      }
    }
    for (let k = counts.length; k < s.steps.length; k++) {
      if (k === 0) {
        const [r] = await this.olap.query(`SELECT count(*) AS c FROM (${stages[0]}) AS f`);
        counts.push(num(r?.c));
        medians.push(null);
        continue;
      }
      if (counts[k - 1] === 0) {
        counts.push(0);
        medians.push(null);
        continue;
      }
      const dist = await this.olap.query(`SELECT t${k + 1} - t${k} AS dt, count(*) AS c FROM (${stages[k]}) AS f GROUP BY dt`);
      counts.push(dist.reduce((sum, r) => sum + num(r.c), 0));
      const m = medianOf(dist.map((r) => ({ value: num(r.dt), count: num(r.c) })));
      medians.push(m === null ? null : round(m / 1000, 3));
    }
    const rows: Cell[][] = s.steps.map((event, k) => [
      k + 1,
      event,
      counts[k]!,
      ratio(counts[k]!, counts[0]!),
      k === 0 ? null : ratio(counts[k]!, counts[k - 1]!),
      k === 0 ? 0 : counts[k - 1]! - counts[k]!,
      medians[k]!,
    ]);
    return {
      kind: 'funnel',
      columns: ['step', 'event', 'users', 'conversion_rate', 'step_conversion_rate', 'drop_off', 'median_seconds_from_previous'],
      rows,
      summary: { windowSeconds: s.windowSeconds, overallConversionRate: ratio(counts[counts.length - 1]!, counts[0]!) },
    };
  }

  /**
   * The same funnel as the stage-by-stage queries, as one DuckDB statement: each stage is a CTE
   * computed once (the generic form re-runs every earlier stage for each step), and the exact
   * median comes from quantile_cont (the mean of the two middle values, as medianOf). ClickHouse
   * 18.16 has no CTE subqueries, so it keeps the generic form; query.test.ts holds both to the
   * same hand-computed answers.
   */
  private funnelOneStatement(workspaceId: string, s: FunnelSpec): string {
    const d = this.olap.dialect;
    const from = s.from.getTime();
    const to = s.to.getTime();
    const windowMs = d.int(s.windowSeconds * 1000);
    const ctes = [`s1 AS (SELECT person_id, min(ts) AS t1, min(ts) AS tk FROM ${T} WHERE ${this.base(workspaceId, from, to, s.filters)} AND event = ${d.str(s.steps[0]!)} GROUP BY person_id)`];
    for (let k = 1; k < s.steps.length; k++) {
      const after = s.steps[k] === s.steps[k - 1] ? '>' : '>=';
      ctes.push(
        `s${k + 1} AS (SELECT s.person_id, s.t1, s.tk AS tprev, min(e.ts) AS tk FROM s${k} AS s ` +
          `INNER JOIN (SELECT person_id, ts FROM ${T} WHERE ${this.base(workspaceId, from, to + s.windowSeconds * 1000, s.filters)} AND event = ${d.str(s.steps[k]!)}) AS e ` +
          `ON e.person_id = s.person_id WHERE e.ts ${after} s.tk AND e.ts <= s.t1 + ${windowMs} GROUP BY s.person_id, s.t1, s.tk)`,
      );
    }
    const selects = s.steps.map((_, k) =>
      k === 0 ? `SELECT 1 AS step, count(*) AS users, CAST(NULL AS DOUBLE) AS median_ms FROM s1` : `SELECT ${k + 1}, count(*), quantile_cont(CAST(tk - tprev AS DOUBLE), 0.5) FROM s${k + 1}`,
    );
    return `WITH ${ctes.join(',\n')}\n${selects.join('\nUNION ALL ')}`;
  }

  async retention(workspaceId: string, s: RetentionSpec): Promise<QueryResult> {
    const d = this.olap.dialect;
    const from = s.from.getTime();
    const to = s.to.getTime();
    const firstWeek = weekStartMs(from);
    const horizon = dayOf(weekStartMs(to - 1) + s.weeks * WEEK);
    const cohorts = `SELECT person_id, ${d.weekStart('min(day)')} AS cohort FROM ${T} WHERE ${this.base(workspaceId, from, to)} AND event = ${d.str(s.startEvent)} GROUP BY person_id`;
    const returns =
      `SELECT DISTINCT person_id, day AS rday FROM ${T} WHERE workspace_id = ${d.str(workspaceId)} AND event = ${d.str(s.returnEvent)} ` +
      `AND day >= ${d.date(dayOf(firstWeek))} AND day < ${d.date(horizon)}`;
    const sizes = await this.olap.query(`SELECT ${d.dateString('cohort')} AS cohort_week, count(*) AS users FROM (${cohorts}) AS c GROUP BY cohort_week ORDER BY cohort_week`);
    const back = await this.olap.query(
      `SELECT ${d.dateString('cohort')} AS cohort_week, ${d.idiv('rday - cohort', '7')} AS period, count(DISTINCT person_id) AS users ` +
        `FROM (${returns}) AS r INNER JOIN (${cohorts}) AS c USING (person_id) ` +
        `WHERE rday >= cohort AND rday < cohort + ${d.int(s.weeks * 7)} GROUP BY cohort_week, period`,
    );
    const byCohort = new Map<string, Map<number, number>>();
    for (const r of back) {
      const c = String(r.cohort_week);
      if (!byCohort.has(c)) byCohort.set(c, new Map());
      byCohort.get(c)!.set(num(r.period), num(r.users));
    }
    const rows: Cell[][] = sizes.map((r) => {
      const cohort = String(r.cohort_week);
      const start = Date.parse(`${cohort}T00:00:00Z`);
      const periods = Array.from({ length: s.weeks }, (_, k) =>
        // A week that has not begun by "to" is unknown, not zero.
        start + k * WEEK >= to ? null : (byCohort.get(cohort)?.get(k) ?? 0),
      );
      return [cohort, num(r.users), ...periods];
    });
    return {
      kind: 'retention',
      columns: ['cohort_week', 'users', ...Array.from({ length: s.weeks }, (_, k) => `week_${k}`)],
      rows,
      summary: {
        rates: rows.map((r) => ({ cohortWeek: r[0], rates: r.slice(2).map((v) => (v === null ? null : ratio(Number(v), Number(r[1])))) })),
      },
    };
  }

  async activeUsers(workspaceId: string, s: ActiveUsersSpec): Promise<QueryResult> {
    const d = this.olap.dialect;
    const firstDay = Date.parse(`${dayOf(s.from.getTime())}T00:00:00Z`);
    const lastDay = Date.parse(`${dayOf(s.to.getTime() - 1)}T00:00:00Z`);
    const days = Math.round((lastDay - firstDay) / DAY) + 1;
    if (days > MAX_BUCKETS) throw new AppError('validation_failed', `At most ${MAX_BUCKETS} days`);
    const eventCond = s.event ? ` AND event = ${d.str(s.event)}` : '';
    const pairs =
      `SELECT DISTINCT person_id, day FROM ${T} WHERE workspace_id = ${d.str(workspaceId)}${eventCond} ` +
      `AND day >= ${d.date(dayOf(firstDay - 29 * DAY))} AND day <= ${d.date(dayOf(lastDay))}`;
    // Each (person, day) counts for the 30 days from it: offset 0 is DAU, < 7 WAU, < 30 MAU.
    const e = d.expand(30, 'k');
    const rows = await this.olap.query(
      `SELECT ${d.dateString('day + k')} AS d, ${d.countDistinctIf('person_id', 'k < 1')} AS dau, ${d.countDistinctIf('person_id', 'k < 7')} AS wau, count(DISTINCT person_id) AS mau ` +
        `FROM (SELECT person_id, day, ${e.select} FROM (${pairs}) AS p ${e.from}) AS x ` +
        `WHERE day + k >= ${d.date(dayOf(firstDay))} AND day + k <= ${d.date(dayOf(lastDay))} GROUP BY d ORDER BY d`,
    );
    const byDay = new Map(rows.map((r) => [String(r.d), r]));
    const out: Cell[][] = [];
    for (let i = 0; i < days; i++) {
      const day = dayOf(firstDay + i * DAY);
      const r = byDay.get(day);
      const dau = num(r?.dau);
      const mau = num(r?.mau);
      out.push([day, dau, num(r?.wau), mau, ratio(dau, mau)]);
    }
    return { kind: 'active_users', columns: ['day', 'dau', 'wau', 'mau', 'stickiness'], rows: out };
  }
}

/** Events sampled for property keys: the most recent ones of the range, enough to see every key in use. */
export const CATALOG_SAMPLE = 5_000;
export const CATALOG_MAX_EVENTS = 500;

export interface EventCatalogEntry {
  name: string;
  count: number;
  lastSeen: string;
  properties: string[];
}

/** The event names of a workspace with their counts, and the property keys their recent events carry (what a query builder offers). */
export async function eventCatalog(olap: OlapStore, workspaceId: string, from: number, to: number): Promise<EventCatalogEntry[]> {
  const d = olap.dialect;
  const where = `workspace_id = ${d.str(workspaceId)} AND ts >= ${d.int(from)} AND ts < ${d.int(to)}`;
  const [names, sample] = await Promise.all([
    olap.query(`SELECT event, count(*) AS n, max(ts) AS last_ts FROM ${T} WHERE ${where} GROUP BY event ORDER BY n DESC, event LIMIT ${d.int(CATALOG_MAX_EVENTS)}`),
    olap.query(`SELECT event, properties FROM ${T} WHERE ${where} ORDER BY ts DESC LIMIT ${d.int(CATALOG_SAMPLE)}`),
  ]);
  const keys = new Map<string, Set<string>>();
  for (const r of sample) {
    const event = String(r.event);
    if (!keys.has(event)) keys.set(event, new Set());
    const set = keys.get(event)!;
    for (const k of Object.keys(safeJson(String(r.properties ?? '{}')))) if (PROPERTY_KEY.test(k)) set.add(k);
  }
  return names.map((r) => ({
    name: String(r.event),
    count: num(r.n),
    lastSeen: new Date(num(r.last_ts)).toISOString(),
    properties: [...(keys.get(String(r.event)) ?? [])].sort(),
  }));
}

function weekStartMs(ms: number): number {
  return Math.floor((ms - MONDAY_OFFSET) / WEEK) * WEEK + MONDAY_OFFSET;
}

/** Bucket start times covering [from, to), aligned like the SQL buckets. */
export function bucketStarts(interval: TrendsSpec['interval'], from: number, to: number): number[] {
  const out: number[] = [];
  if (interval === 'month') {
    const f = new Date(from);
    let y = f.getUTCFullYear();
    let m = f.getUTCMonth();
    for (let t = Date.UTC(y, m, 1); t < to; t = Date.UTC(y, m, 1)) {
      out.push(t);
      m++;
      if (m === 12) {
        m = 0;
        y++;
      }
      if (out.length > MAX_BUCKETS) break;
    }
    return out;
  }
  const step = interval === 'hour' ? HOUR : interval === 'day' ? DAY : WEEK;
  const first = interval === 'week' ? weekStartMs(from) : Math.floor(from / step) * step;
  for (let t = first; t < to; t += step) {
    out.push(t);
    if (out.length > MAX_BUCKETS) break;
  }
  return out;
}

/** RFC 4180 CSV of any query result; cells that a spreadsheet would run as formulas are quoted with a leading '. */
export function toCsv(result: QueryResult): string {
  const cell = (v: unknown) => {
    if (v === null || v === undefined) return '';
    let s = String(v);
    if (typeof v === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [result.columns, ...result.rows].map((r) => r.map(cell).join(',')).join('\r\n') + '\r\n';
}

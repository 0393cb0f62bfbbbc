import type { Clock } from '../../kernel/clock.js';
import type { OlapStore } from '../../kernel/olap/index.js';
import type { MetricsRegistry } from '../../kernel/telemetry/metrics.js';
import { EVENTS_TABLE, dayOf, safeJson } from './event-store.js';
import type { SettingsRepository } from './settings.repository.js';

const DAY = 86_400_000;
const WEEK = 7 * DAY;
const MONDAY_OFFSET = 4 * DAY;
export const ACTIVATION_WINDOW_DAYS = 7;
/** Runbook: activation target > 70 %, warning < 60 %; MRR critical beyond 5 % off forecast; errors target < 0.1 %, critical > 1 %. */
export const THRESHOLDS = { activationTarget: 0.7, activationWarning: 0.6, mrrDeviationCritical: 0.05, errorRateTarget: 0.001, errorRateCritical: 0.01 };
export const SUBSCRIPTION_EVENTS = ['subscription.started', 'subscription.changed', 'subscription.cancelled'] as const;
const TREND_DAYS = 28;
const MIN_TREND_DAYS = 7;

const round = (v: number, digits = 6) => Math.round(v * 10 ** digits) / 10 ** digits;

export interface ActivationKpi {
  signupEvent: string;
  activationEvent: string | null;
  windowDays: number;
  signups: number;
  activated: number;
  rate: number | null;
  status: 'ok' | 'below_target' | 'warning' | 'no_data' | 'not_configured';
  weekly: { week: string; signups: number; activated: number; rate: number | null; complete: boolean }[];
}

export interface MrrDay {
  date: string;
  currency: string;
  mrr: number;
  forecast: number | null;
  forecastSource: 'supplied' | 'trend' | null;
  deviation: number | null;
  status: 'ok' | 'critical' | 'no_forecast';
}

export interface ErrorRateKpi {
  requests: number;
  errors: number;
  rate: number | null;
  status: 'ok' | 'warning' | 'critical' | 'no_data';
  scope: string;
}

/**
 * The runbook's business KPIs, computed from the workspace's events (activation, MRR) and from
 * the process's own request counter (error rate).
 */
export class KpiService {
  private errorRateSnapshot: { at: number; value: ErrorRateKpi } | undefined;

  constructor(
    private readonly olap: OlapStore,
    private readonly settings: SettingsRepository,
    private readonly registry: MetricsRegistry,
    private readonly clock: Clock,
    private readonly refreshSeconds = 60,
  ) {}

  /** The error rate as of the last refresh (at most refreshSeconds old), so repeated reads agree. */
  async errorRateSnapshotValue(): Promise<ErrorRateKpi> {
    const now = this.clock.now().getTime();
    if (!this.errorRateSnapshot || now - this.errorRateSnapshot.at >= this.refreshSeconds * 1000 || now < this.errorRateSnapshot.at) {
      this.errorRateSnapshot = { at: now, value: await this.errorRate() };
    }
    return this.errorRateSnapshot.value;
  }

  /** Identified users (a userId) with at least one event in [from, to). */
  async activeUsers(workspaceId: string, from: number, to: number): Promise<number> {
    const d = this.olap.dialect;
    const [r] = await this.olap.query(
      `SELECT count(DISTINCT person_id) AS n FROM ${EVENTS_TABLE.name} WHERE workspace_id = ${d.str(workspaceId)} AND user_id <> '' AND ts >= ${d.int(from)} AND ts < ${d.int(to)}`,
    );
    return Number(r?.n ?? 0);
  }

  async activation(workspaceId: string, from: number, to: number): Promise<ActivationKpi> {
    const s = await this.settings.get(workspaceId);
    const base: Omit<ActivationKpi, 'status'> = { signupEvent: s.signupEvent, activationEvent: s.activationEvent, windowDays: ACTIVATION_WINDOW_DAYS, signups: 0, activated: 0, rate: null, weekly: [] };
    if (!s.activationEvent) return { ...base, status: 'not_configured' };
    const d = this.olap.dialect;
    const T = EVENTS_TABLE.name;
    const ws = d.str(workspaceId);
    const windowMs = ACTIVATION_WINDOW_DAYS * DAY;
    // A person's first sign-up counts, and only when it falls in [from, to).
    const signups = `SELECT person_id, min(ts) AS st FROM ${T} WHERE workspace_id = ${ws} AND event = ${d.str(s.signupEvent)} GROUP BY person_id HAVING min(ts) >= ${d.int(from)} AND min(ts) < ${d.int(to)}`;
    const activated =
      `SELECT person_id, st FROM (SELECT person_id, ts FROM ${T} WHERE workspace_id = ${ws} AND event = ${d.str(s.activationEvent)} ` +
      `AND ts >= ${d.int(from)} AND ts <= ${d.int(to + windowMs)}) AS a INNER JOIN (${signups}) AS s USING (person_id) ` +
      `WHERE ts >= st AND ts <= st + ${d.int(windowMs)} GROUP BY person_id, st`;
    const week = `${d.idiv(`st - ${MONDAY_OFFSET}`, String(WEEK))} * ${WEEK} + ${MONDAY_OFFSET}`;
    const [sw, aw] = await Promise.all([
      this.olap.query(`SELECT ${week} AS week, count(*) AS n FROM (${signups}) AS x GROUP BY week`),
      this.olap.query(`SELECT ${week} AS week, count(*) AS n FROM (${activated}) AS x GROUP BY week`),
    ]);
    const act = new Map(aw.map((r) => [Number(r.week), Number(r.n)]));
    const now = this.clock.now().getTime();
    const weekly = sw
      .map((r) => {
        const w = Number(r.week);
        const n = Number(r.n);
        const a = act.get(w) ?? 0;
        // The last sign-up of the week needs its full 7 days before the week's rate is final.
        return { week: dayOf(w), signups: n, activated: a, rate: n > 0 ? round(a / n) : null, complete: w + WEEK + windowMs <= now };
      })
      .sort((a, b) => a.week.localeCompare(b.week));
    const signupsTotal = weekly.reduce((t, w) => t + w.signups, 0);
    const activatedTotal = weekly.reduce((t, w) => t + w.activated, 0);
    const rate = signupsTotal > 0 ? round(activatedTotal / signupsTotal) : null;
    const status = rate === null ? 'no_data' : rate >= THRESHOLDS.activationTarget ? 'ok' : rate >= THRESHOLDS.activationWarning ? 'below_target' : 'warning';
    return { ...base, signups: signupsTotal, activated: activatedTotal, rate, status, weekly };
  }

  /**
   * Daily MRR per currency from subscription events: each subscription's latest state by the end
   * of the day counts (started/changed set amount and currency, cancelled removes it); yearly
   * plans count a twelfth. Currencies are never converted into each other.
   */
  async mrr(workspaceId: string, from: number, to: number): Promise<{ daily: MrrDay[]; current: Record<string, number> }> {
    const d = this.olap.dialect;
    const firstDay = Date.parse(`${dayOf(from)}T00:00:00Z`);
    const lastDay = Date.parse(`${dayOf(to - 1)}T00:00:00Z`);
    const historyStart = firstDay - TREND_DAYS * DAY;
    const rows = await this.olap.query(
      `SELECT event, ts, person_id, message_id, properties FROM ${EVENTS_TABLE.name} WHERE workspace_id = ${d.str(workspaceId)} ` +
        `AND event IN (${SUBSCRIPTION_EVENTS.map((e) => d.str(e)).join(', ')}) AND ts < ${d.int(lastDay + DAY)} ORDER BY ts, message_id`,
    );
    const changes = rows.map((r) => {
      const p = safeJson(String(r.properties));
      const interval = p.interval === 'year' ? 12 : 1;
      const amount = typeof p.amount === 'number' && Number.isFinite(p.amount) ? p.amount / interval : 0;
      const currency = typeof p.currency === 'string' && /^[A-Za-z]{3}$/.test(p.currency) ? p.currency.toUpperCase() : 'XXX';
      const subscription = typeof p.subscriptionId === 'string' || typeof p.subscriptionId === 'number' ? String(p.subscriptionId) : `person:${String(r.person_id)}`;
      return { ts: Number(r.ts), cancelled: r.event === 'subscription.cancelled', amount, currency, subscription };
    });
    const state = new Map<string, { amount: number; currency: string }>();
    const series = new Map<string, Map<number, number>>();
    let i = 0;
    for (let day = Math.min(historyStart, firstDay); day <= lastDay; day += DAY) {
      for (; i < changes.length && changes[i]!.ts < day + DAY; i++) {
        const c = changes[i]!;
        if (c.cancelled) state.delete(c.subscription);
        else state.set(c.subscription, { amount: c.amount, currency: c.currency });
      }
      const totals = new Map<string, number>();
      for (const s of state.values()) totals.set(s.currency, (totals.get(s.currency) ?? 0) + s.amount);
      for (const cur of new Set([...totals.keys(), ...series.keys()])) {
        if (!series.has(cur)) series.set(cur, new Map());
        series.get(cur)!.set(day, round(totals.get(cur) ?? 0, 4));
      }
    }
    const supplied = await this.settings.forecasts(workspaceId, dayOf(firstDay), dayOf(lastDay));
    const firstSeen = new Map<string, number>();
    for (const c of changes) if (!firstSeen.has(c.currency)) firstSeen.set(c.currency, Date.parse(`${dayOf(c.ts)}T00:00:00Z`));
    const daily: MrrDay[] = [];
    const current: Record<string, number> = {};
    for (const [currency, values] of [...series.entries()].sort(([a], [b]) => a.localeCompare(b))) {
      for (let day = firstDay; day <= lastDay; day += DAY) {
        const mrr = values.get(day) ?? 0;
        const given = supplied.get(`${currency}|${dayOf(day)}`);
        let forecast: number | null = null;
        let source: MrrDay['forecastSource'] = null;
        if (given !== undefined) {
          forecast = given;
          source = 'supplied';
        } else {
          forecast = trendForecast(values, day, firstSeen.get(currency) ?? day);
          source = forecast === null ? null : 'trend';
        }
        const deviation = forecast !== null && forecast > 0 ? round((mrr - forecast) / forecast) : null;
        daily.push({
          date: dayOf(day),
          currency,
          mrr,
          forecast: forecast === null ? null : round(forecast, 4),
          forecastSource: source,
          deviation,
          status: deviation === null ? 'no_forecast' : Math.abs(deviation) > THRESHOLDS.mrrDeviationCritical ? 'critical' : 'ok',
        });
      }
      current[currency] = values.get(lastDay) ?? 0;
    }
    return { daily, current };
  }

  /** Share of 5xx answers among the requests this process has served since it started. */
  async errorRate(): Promise<ErrorRateKpi> {
    const metric = this.registry.getSingleMetric('http_requests_total');
    let requests = 0;
    let errors = 0;
    if (metric) {
      const { values } = await metric.get();
      for (const v of values) {
        requests += v.value;
        if (/^5\d\d$/.test(String(v.labels.status ?? ''))) errors += v.value;
      }
    }
    const rate = requests > 0 ? round(errors / requests) : null;
    const status = rate === null ? 'no_data' : rate > THRESHOLDS.errorRateCritical ? 'critical' : rate >= THRESHOLDS.errorRateTarget ? 'warning' : 'ok';
    return { requests, errors, rate, status, scope: 'requests served by this process since it started (http_requests_total)' };
  }
}

/**
 * Least-squares line through the MRR of the 28 days before `day`, evaluated at `day`. Needs a
 * week of history since the currency's first subscription event; otherwise there is no forecast.
 */
export function trendForecast(values: Map<number, number>, day: number, firstSeenDay: number): number | null {
  const xs: number[] = [];
  const ys: number[] = [];
  for (let k = TREND_DAYS; k >= 1; k--) {
    const x = day - k * DAY;
    if (x < firstSeenDay) continue;
    const y = values.get(x);
    if (y === undefined) continue;
    xs.push(-k);
    ys.push(y);
  }
  if (xs.length < MIN_TREND_DAYS) return null;
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (let j = 0; j < n; j++) {
    sxx += (xs[j]! - mx) ** 2;
    sxy += (xs[j]! - mx) * (ys[j]! - my);
  }
  const slope = sxx === 0 ? 0 : sxy / sxx;
  return Math.max(0, my - slope * mx);
}

import client from 'prom-client';
import type { Clock } from '../../kernel/clock.js';
import type { Logger } from '../../kernel/telemetry/logger.js';
import type { MetricsRegistry } from '../../kernel/telemetry/metrics.js';
import { ACTIVATION_WINDOW_DAYS, type KpiService } from './kpi.service.js';

const DAY = 86_400_000;

interface Snapshot {
  at: number;
  activation: number;
  activeUsers: number;
  mrr: Record<string, number>;
  deviation: Record<string, number>;
}

/**
 * The runbook's business gauges. Activation and MRR come from the platform workspace
 * (ANALYTICS_PLATFORM_WORKSPACE_ID, where the platform's own sign-ups and subscription events
 * land); without it they read NaN. Values are recomputed at most once per refresh interval, so a
 * scrape never runs the KPI queries more often than that.
 */
export function registerKpiGauges(opts: {
  registry: MetricsRegistry;
  kpis: KpiService;
  clock: Clock;
  logger: Logger;
  platformWorkspaceId?: string;
  refreshSeconds: number;
}): void {
  let snapshot: Snapshot | undefined;
  let inflight: Promise<Snapshot> | undefined;
  const compute = async (): Promise<Snapshot> => {
    const now = opts.clock.now().getTime();
    const ws = opts.platformWorkspaceId;
    if (!ws) return { at: now, activation: NaN, activeUsers: NaN, mrr: {}, deviation: {} };
    // The cohort that signed up 14 to 7 days ago is the latest one whose 7-day window is complete.
    const activation = await opts.kpis.activation(ws, now - 2 * ACTIVATION_WINDOW_DAYS * DAY, now - ACTIVATION_WINDOW_DAYS * DAY);
    const mrr = await opts.kpis.mrr(ws, now - DAY + 1, now + 1);
    const deviation: Record<string, number> = {};
    for (const d of mrr.daily) deviation[d.currency] = d.deviation ?? NaN;
    const activeUsers = await opts.kpis.activeUsers(ws, now - 30 * DAY, now + 1);
    return { at: now, activation: activation.rate ?? NaN, activeUsers, mrr: mrr.current, deviation };
  };
  const current = async (): Promise<Snapshot | undefined> => {
    const now = opts.clock.now().getTime();
    if (snapshot && now - snapshot.at < opts.refreshSeconds * 1000) return snapshot;
    inflight ??= compute().finally(() => {
      inflight = undefined;
    });
    try {
      snapshot = await inflight;
    } catch (err) {
      opts.logger.warn({ err }, 'KPI gauges could not be computed; keeping the last values');
    }
    return snapshot;
  };

  new client.Gauge({
    name: 'v01t_user_activation_rate',
    help: 'Share of new users of the platform workspace who performed the activation event within 7 days of sign-up (latest complete weekly cohort)',
    registers: [opts.registry],
    async collect() {
      this.set((await current())?.activation ?? NaN);
    },
  });
  new client.Gauge({
    name: 'v01t_active_users',
    help: 'Users of the platform workspace with at least one event in the last 30 days (the divisor of cost per user)',
    registers: [opts.registry],
    async collect() {
      this.set((await current())?.activeUsers ?? NaN);
    },
  });
  new client.Gauge({
    name: 'v01t_mrr',
    help: 'Monthly recurring revenue of the platform workspace today, per currency',
    labelNames: ['currency'],
    registers: [opts.registry],
    async collect() {
      this.reset();
      for (const [currency, v] of Object.entries((await current())?.mrr ?? {})) this.set({ currency }, v);
    },
  });
  new client.Gauge({
    name: 'v01t_mrr_forecast_deviation_ratio',
    help: 'Relative deviation of today\'s MRR from its forecast ((actual - forecast) / forecast), per currency',
    labelNames: ['currency'],
    registers: [opts.registry],
    async collect() {
      this.reset();
      for (const [currency, v] of Object.entries((await current())?.deviation ?? {})) this.set({ currency }, v);
    },
  });
  new client.Gauge({
    name: 'v01t_error_rate',
    help: 'Share of 5xx responses among the requests this process served (from http_requests_total)',
    registers: [opts.registry],
    async collect() {
      this.set((await opts.kpis.errorRateSnapshotValue()).rate ?? 0);
    },
  });
}

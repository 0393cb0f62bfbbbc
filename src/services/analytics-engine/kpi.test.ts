import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreMetrics } from '../../kernel/telemetry/metrics.js';
import { CLICKHOUSE_SKIP_REASON, OLAP_KINDS, openTestOlap, type TestOlap } from '../../../test/helpers/olap.js';
import { EventStore, type StoredEvent } from './event-store.js';
import { KpiService, trendForecast } from './kpi.service.js';
import type { AnalyticsSettings, SettingsRepository } from './settings.repository.js';

const W = '33333333-3333-4333-8333-333333333333';
const EMPTY = '44444444-4444-4444-8444-444444444444';
const DAY = 86_400_000;
const at = (s: string) => Date.parse(s);
let n = 0;
const ev = (person: string, event: string, when: string, properties: Record<string, unknown> = {}): StoredEvent => ({
  workspaceId: W,
  event,
  personId: person,
  userId: person,
  anonymousId: '',
  ts: at(when),
  messageId: `k${++n}`,
  properties,
  receivedAt: at(when),
  batchId: 'fixture',
});

const EVENTS: StoredEvent[] = [
  // Activation (signup → activate within 7 days); answers in the test below.
  ev('p1', 'signup', '2026-01-05T10:00:00Z'),
  ev('p1', 'activate', '2026-01-07T10:00:00Z'),
  ev('p2', 'signup', '2026-01-06T10:00:00Z'),
  ev('p2', 'activate', '2026-01-14T10:00:01Z'),
  ev('p3', 'activate', '2026-01-08T09:00:00Z'),
  ev('p3', 'signup', '2026-01-08T10:00:00Z'),
  ev('p3', 'activate', '2026-01-15T09:00:00Z'),
  ev('p4', 'signup', '2026-01-13T10:00:00Z'),
  ev('p5', 'signup', '2025-12-20T10:00:00Z'),
  ev('p5', 'signup', '2026-01-06T10:00:00Z'),
  ev('p5', 'activate', '2026-01-06T11:00:00Z'),
  // MRR: s1 100 EUR → 150 EUR; s2 1200 USD a year; s3 50 EUR, cancelled; s4 30 usd.
  ev('c1', 'subscription.started', '2026-01-01T12:00:00Z', { subscriptionId: 's1', amount: 100, currency: 'EUR' }),
  ev('c2', 'subscription.started', '2026-01-02T12:00:00Z', { subscriptionId: 's2', amount: 1200, currency: 'USD', interval: 'year' }),
  ev('c3', 'subscription.started', '2026-01-03T12:00:00Z', { subscriptionId: 's3', amount: 50, currency: 'EUR' }),
  ev('c1', 'subscription.changed', '2026-01-04T12:00:00Z', { subscriptionId: 's1', amount: 150, currency: 'EUR' }),
  ev('c3', 'subscription.cancelled', '2026-01-05T08:00:00Z', { subscriptionId: 's3' }),
  ev('c4', 'subscription.started', '2026-01-05T09:00:00Z', { subscriptionId: 's4', amount: 30, currency: 'usd' }),
];

class FakeSettings {
  constructor(
    private readonly values: Record<string, AnalyticsSettings>,
    private readonly supplied: Map<string, number>,
  ) {}
  async get(ws: string) {
    return this.values[ws] ?? { signupEvent: 'signup', activationEvent: null };
  }
  async forecasts() {
    return this.supplied;
  }
}

describe('trendForecast', () => {
  it('extends a least-squares line through the previous days and needs a week of history', () => {
    const day0 = at('2026-02-01T00:00:00Z');
    const values = new Map<number, number>();
    for (let i = 1; i <= 7; i++) values.set(day0 - i * DAY, 170 - 10 * i);
    expect(trendForecast(values, day0, day0 - 7 * DAY)).toBeCloseTo(170, 6);
    expect(trendForecast(values, day0, day0 - 6 * DAY)).toBeNull();
  });
});

describe('error rate KPI', () => {
  it('is the share of 5xx in http_requests_total, null without requests', async () => {
    const metrics = new CoreMetrics({ collectDefaults: false });
    const kpis = new KpiService(null as never, null as never, metrics.registry, { now: () => new Date() });
    expect((await kpis.errorRate()).rate).toBeNull();
    metrics.httpRequests.inc({ method: 'GET', route: '/a', status: '200' }, 997);
    metrics.httpRequests.inc({ method: 'GET', route: '/a', status: '503' }, 2);
    metrics.httpRequests.inc({ method: 'POST', route: '/b', status: '500' }, 1);
    metrics.httpRequests.inc({ method: 'POST', route: '/b', status: '404' }, 10);
    const r = await kpis.errorRate();
    expect(r).toMatchObject({ requests: 1010, errors: 3, rate: 0.00297, status: 'warning' });
  });
});

for (const { kind, skip } of OLAP_KINDS) {
  describe.skipIf(skip)(`KPIs on ${kind}${skip ? ` (skipped: ${CLICKHOUSE_SKIP_REASON})` : ''}`, () => {
    let t: TestOlap;
    let kpis: KpiService;
    const supplied = new Map([
      ['EUR|2026-01-04', 200],
      ['EUR|2026-01-05', 160],
    ]);
    beforeAll(async () => {
      t = await openTestOlap(kind);
      const store = new EventStore(t.store);
      await store.init();
      await store.insert(EVENTS);
      const settings = new FakeSettings({ [W]: { signupEvent: 'signup', activationEvent: 'activate' } }, supplied);
      kpis = new KpiService(t.store, settings as unknown as SettingsRepository, new CoreMetrics({ collectDefaults: false }).registry, { now: () => new Date('2026-03-01T00:00:00Z') });
    });
    afterAll(async () => t?.close());

    it('activation: first sign-ups in range, activation event within 7 days after sign-up, per week', async () => {
      const a = await kpis.activation(W, at('2026-01-05T00:00:00Z'), at('2026-01-19T00:00:00Z'));
      expect(a).toMatchObject({ signups: 4, activated: 2, rate: 0.5, status: 'warning', activationEvent: 'activate' });
      expect(a.weekly).toEqual([
        { week: '2026-01-05', signups: 3, activated: 2, rate: 0.666667, complete: true },
        { week: '2026-01-12', signups: 1, activated: 0, rate: 0, complete: true },
      ]);
    });

    it('activation: no sign-ups gives no rate, and an unset activation event says so', async () => {
      const none = await kpis.activation(W, at('2026-02-01T00:00:00Z'), at('2026-02-08T00:00:00Z'));
      expect(none).toMatchObject({ signups: 0, activated: 0, rate: null, status: 'no_data', weekly: [] });
      expect((await kpis.activation(EMPTY, at('2026-01-01T00:00:00Z'), at('2026-02-01T00:00:00Z'))).status).toBe('not_configured');
    });

    it('MRR: daily per currency, yearly plans as a twelfth, changes and cancellations, deviation from a supplied forecast', async () => {
      const m = await kpis.mrr(W, at('2026-01-03T00:00:00Z'), at('2026-01-06T00:00:00Z'));
      expect(m.current).toEqual({ EUR: 150, USD: 130 });
      expect(m.daily.map((d) => [d.date, d.currency, d.mrr, d.forecast, d.deviation, d.status])).toEqual([
        ['2026-01-03', 'EUR', 150, null, null, 'no_forecast'],
        ['2026-01-04', 'EUR', 200, 200, 0, 'ok'],
        ['2026-01-05', 'EUR', 150, 160, -0.0625, 'critical'],
        ['2026-01-03', 'USD', 100, null, null, 'no_forecast'],
        ['2026-01-04', 'USD', 100, null, null, 'no_forecast'],
        ['2026-01-05', 'USD', 130, null, null, 'no_forecast'],
      ]);
    });

    it('MRR: a trend forecast once a week of history exists', async () => {
      const m = await kpis.mrr(W, at('2026-01-12T00:00:00Z'), at('2026-01-13T00:00:00Z'));
      const eur = m.daily.find((d) => d.currency === 'EUR')!;
      expect(eur.forecastSource).toBe('trend');
      expect(eur.mrr).toBe(150);
      // Least squares over Jan 1..11 (100, 100, 150, 200, then 150 × 7) evaluated at Jan 12: 164.5455.
      expect(eur.forecast).toBe(164.5455);
      expect(eur.deviation).toBe(-0.088398);
      expect(eur.status).toBe('critical');
      expect(await kpis.mrr(EMPTY, at('2026-01-01T00:00:00Z'), at('2026-01-02T00:00:00Z'))).toEqual({ daily: [], current: {} });
    });
  });
}

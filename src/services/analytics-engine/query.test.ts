import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLICKHOUSE_SKIP_REASON, OLAP_KINDS, openTestOlap, type TestOlap } from '../../../test/helpers/olap.js';
import { EventStore } from './event-store.js';
import { QueryService, medianOf, toCsv } from './query.service.js';
import { MIN } from './fixture.test-data.js';
import { querySpec } from './schemas.js';
import { D0, DAY, FIXTURE, W } from './fixture.test-data.js';

const iso = (ms: number) => new Date(ms).toISOString();
const range = (days: number) => ({ from: iso(D0), to: iso(D0 + days * DAY) });

describe('medianOf', () => {
  it('averages the two middle values of an even distribution and picks the middle of an odd one', () => {
    expect(medianOf([{ value: 3600, count: 2 }, { value: 600, count: 1 }, { value: 1800, count: 1 }])).toBe(2700);
    expect(medianOf([{ value: 3600, count: 1 }, { value: 7200, count: 1 }, { value: 600, count: 1 }])).toBe(3600);
    expect(medianOf([])).toBeNull();
  });
});

for (const { kind, skip } of OLAP_KINDS) {
  describe.skipIf(skip)(`analytics queries on ${kind}${skip ? ` (skipped: ${CLICKHOUSE_SKIP_REASON})` : ''}`, () => {
    let t: TestOlap;
    let q: QueryService;
    const run = (spec: unknown) => q.run(W, querySpec.parse(spec));

    beforeAll(async () => {
      t = await openTestOlap(kind);
      const store = new EventStore(t.store);
      await store.init();
      await store.insert(FIXTURE);
      q = new QueryService(t.store);
    });
    afterAll(async () => t?.close());

    it('counts events per day, filling empty days with zero', async () => {
      const r = await run({ kind: 'trends', event: 'view', interval: 'day', ...range(14) });
      expect(r.columns).toEqual(['bucket', 'count']);
      const counts = r.rows.map((row) => row[1]);
      expect(counts).toEqual([1, 2, 1, 1, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0]);
      expect(r.rows[0]![0]).toBe('2026-01-05T00:00:00.000Z');
      expect(r.summary).toEqual({ interval: 'day', total: 7 });
    });

    it('counts unique users per week and sums a property per week', async () => {
      const u = await run({ kind: 'trends', event: 'view', measure: 'unique_users', interval: 'week', ...range(14) });
      expect(u.rows).toEqual([['2026-01-05T00:00:00.000Z', 4], ['2026-01-12T00:00:00.000Z', 2]]);
      const s = await run({ kind: 'trends', event: 'purchase', measure: 'sum', property: 'amount', interval: 'week', ...range(14) });
      expect(s.rows.map((r) => r[1])).toEqual([15.5, 24.5]);
      const m = await run({ kind: 'trends', event: 'purchase', measure: 'count', interval: 'month', ...range(14) });
      expect(m.rows).toEqual([['2026-01-01T00:00:00.000Z', 4]]);
      const h = await run({ kind: 'trends', event: 'purchase', interval: 'hour', from: iso(D0), to: iso(D0 + 4 * 3_600_000) });
      expect(h.rows.map((r) => r[1])).toEqual([0, 0, 0, 1]);
    });

    it('breaks down by a property and filters on one', async () => {
      const b = await run({ kind: 'trends', event: 'view', interval: 'week', breakdown: 'plan', ...range(14) });
      expect(b.columns).toEqual(['bucket', 'plan', 'count']);
      expect(b.rows.map((r) => [r[1], r[2]])).toEqual([['', 1], ['', 2], ['free', 2], ['free', 0], ['pro', 2], ['pro', 0]]);
      // Events without the property form the '' series.
      expect(b.summary).toEqual({ interval: 'week', totals: { '': 3, free: 2, pro: 2 } });
      const f = await run({ kind: 'trends', event: 'view', interval: 'week', filters: [{ property: 'plan', value: 'pro' }], ...range(14) });
      expect(f.rows.map((r) => r[1])).toEqual([2, 0]);
      const neq = await run({ kind: 'trends', event: 'view', interval: 'week', filters: [{ property: 'plan', op: 'neq', value: "pro' OR '1'='1" }], ...range(14) });
      expect(neq.rows.map((r) => r[1])).toEqual([5, 2]);
    });

    it('computes a 3-step funnel with conversion, drop-off and median time between steps', async () => {
      const r = await run({ kind: 'funnel', steps: ['signup', 'view', 'purchase'], windowSeconds: 86_400, ...range(14) });
      expect(r.rows).toEqual([
        [1, 'signup', 4, 1, null, 0, null],
        [2, 'view', 4, 1, 1, 0, 2700],
        [3, 'purchase', 3, 0.75, 0.75, 1, 3600],
      ]);
      // A 15-minute window loses u2's and u1's later steps only where they fall outside it.
      const tight = await run({ kind: 'funnel', steps: ['signup', 'view', 'purchase'], windowSeconds: 900, ...range(14) });
      expect(tight.rows.map((row) => row[2])).toEqual([4, 1, 0]);
    });

    it('counts a repeated step only at a strictly later event', async () => {
      // view → view: u1 (2h, then day 1 +1h: 23 h later) and u2 (day 1 +30 min, then day 8: 7 days - 30 min later) repeat; u3, u4, a1 view once.
      const r = await run({ kind: 'funnel', steps: ['view', 'view'], ...range(14) });
      expect(r.rows).toEqual([
        [1, 'view', 5, 1, null, 0, null],
        [2, 'view', 2, 0.4, 0.4, 3, (82_800 + 603_000) / 2],
      ]);
    });

    it('builds weekly retention cohorts', async () => {
      const r = await run({ kind: 'retention', startEvent: 'signup', returnEvent: 'view', weeks: 3, ...range(14) });
      expect(r.columns).toEqual(['cohort_week', 'users', 'week_0', 'week_1', 'week_2']);
      expect(r.rows).toEqual([
        ['2026-01-05', 3, 3, 1, null],
        ['2026-01-12', 1, 1, null, null],
      ]);
    });

    it('counts DAU, WAU, MAU and stickiness', async () => {
      const r = await run({ kind: 'active_users', ...range(10) });
      expect(r.rows).toEqual([
        ['2026-01-05', 1, 1, 1, 1],
        ['2026-01-06', 2, 2, 2, 1],
        ['2026-01-07', 1, 3, 3, 0.333333],
        ['2026-01-08', 1, 4, 4, 0.25],
        ['2026-01-09', 0, 4, 4, 0],
        ['2026-01-10', 0, 4, 4, 0],
        ['2026-01-11', 0, 4, 4, 0],
        ['2026-01-12', 0, 4, 4, 0],
        ['2026-01-13', 2, 4, 5, 0.4],
        ['2026-01-14', 1, 4, 5, 0.2],
      ]);
    });

    it('lists the workspace\'s event names with counts and property keys, never another workspace\'s', async () => {
      const c = await q.catalog(W, new Date(D0), new Date(D0 + 14 * DAY));
      // view: u1 x2, u2 x2, u3, u4, a1 = 7; purchase: u1, u3 x2, u4 = 4; signup: u1-u4 = 4 (OTHER's purchase of 1000 not counted).
      expect(c).toEqual([
        { name: 'view', count: 7, lastSeen: iso(D0 + 8 * DAY + 10 * MIN), properties: ['plan'] },
        { name: 'purchase', count: 4, lastSeen: iso(D0 + 9 * DAY), properties: ['amount', 'plan'] },
        { name: 'signup', count: 4, lastSeen: iso(D0 + 8 * DAY), properties: [] },
      ]);
      const firstDay = await q.catalog(W, new Date(D0), new Date(D0 + DAY));
      expect(firstDay.map((e) => [e.name, e.count])).toEqual([['purchase', 1], ['signup', 1], ['view', 1]]);
      expect(await q.catalog('33333333-3333-4333-8333-333333333333', new Date(D0), new Date(D0 + 14 * DAY))).toEqual([]);
    });

    it('exports any result as CSV', async () => {
      const r = await run({ kind: 'funnel', steps: ['signup', 'purchase'], windowSeconds: 86_400, ...range(14) });
      expect(toCsv(r)).toBe(
        'step,event,users,conversion_rate,step_conversion_rate,drop_off,median_seconds_from_previous\r\n1,signup,4,1,,0,\r\n2,purchase,3,0.75,0.75,1,7200\r\n',
      );
    });
  });
}

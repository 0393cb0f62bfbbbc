import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { addMember, bearer, createWorkspace, problem, signup, type TestUser } from '../helpers/api.js';
import type { AnalyticsInstance } from '../../src/services/analytics-engine/index.js';

let t: TestPlatform;
let owner: TestUser;
let analyst: TestUser;
let viewer: TestUser;
let developer: TestUser;
let outsider: TestUser;
let ws: string;
let otherWs: string;
let analytics: AnalyticsInstance;

const HOUR = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString();
const track = (event: string, extra: Record<string, unknown> = {}) => ({ type: 'track', event, messageId: randomUUID(), userId: 'user-1', ...extra });

beforeAll(async () => {
  t = await createTestPlatform();
  t.clock.set('2026-03-02T12:00:00Z');
  analytics = t.platform.instances.get('analytics-engine') as AnalyticsInstance;
  [owner, analyst, viewer, developer, outsider] = await Promise.all([
    signup(t, 'Owner'),
    signup(t, 'Analyst'),
    signup(t, 'Viewer'),
    signup(t, 'Developer'),
    signup(t, 'Outsider'),
  ]);
  ws = await createWorkspace(t, owner, 'Analytics');
  otherWs = await createWorkspace(t, outsider, 'Other');
  await addMember(t, ws, owner, analyst, 'analyst');
  await addMember(t, ws, owner, viewer, 'viewer');
  await addMember(t, ws, owner, developer, 'developer');
}, 120_000);

afterAll(async () => {
  await t?.close();
});

async function newKey(workspaceId = ws, who = owner): Promise<{ key: string; id: string }> {
  const res = await t.inject({ method: 'POST', url: `/v1/workspaces/${workspaceId}/analytics/write-keys`, headers: bearer(who.token), payload: { name: 'web' } });
  expect(res.statusCode, res.body).toBe(201);
  return { key: res.json().key, id: res.json().writeKey.id };
}

const ingest = (payload: unknown, headers: Record<string, string>, workspaceId = ws) =>
  t.inject({ method: 'POST', url: `/v1/workspaces/${workspaceId}/events`, headers, payload: payload as object });

const query = async (spec: Record<string, unknown>, who = analyst) => {
  const res = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/analytics/query`, headers: bearer(who.token), payload: { spec } });
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as { columns: string[]; rows: unknown[][] };
};

describe('write keys', () => {
  it('are created by admins only, shown once and stored hashed', async () => {
    const { key, id } = await newKey();
    expect(key).toMatch(/^wk_[A-Za-z0-9_-]{40,}$/);
    const dev = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/analytics/write-keys`, headers: bearer(developer.token), payload: { name: 'x' } });
    expect(dev.statusCode).toBe(403);
    const list = await t.inject({ method: 'GET', url: `/v1/workspaces/${ws}/analytics/write-keys`, headers: bearer(owner.token) });
    expect(list.body).not.toContain(key);
    expect(list.json().writeKeys.map((k: { id: string }) => k.id)).toContain(id);
    const stored = await t.platform.database.query<{ key_hash: string }>('SELECT key_hash FROM analytics.write_keys WHERE id = $1', [id]);
    expect(stored[0]!.key_hash).not.toContain(key.slice(3));
  });

  it('authenticate ingestion into their own workspace only, by header or HTTP Basic, until revoked', async () => {
    const { key, id } = await newKey();
    const ok = await ingest({ batch: [track('opened')] }, { 'x-write-key': key });
    expect(ok.statusCode, ok.body).toBe(202);
    const basic = await ingest({ batch: [track('opened')] }, { authorization: `Basic ${Buffer.from(`${key}:`).toString('base64')}` });
    expect(basic.statusCode).toBe(202);

    const elsewhere = await ingest({ batch: [track('opened')] }, { 'x-write-key': key }, otherWs);
    expect(elsewhere.statusCode).toBe(404);
    expect(problem(elsewhere).code).toBe('workspace_not_found');

    expect(problem(await ingest({ batch: [track('opened')] }, {})).code).toBe('unauthenticated');
    expect(problem(await ingest({ batch: [track('opened')] }, { 'x-write-key': `wk_${'A'.repeat(43)}` })).code).toBe('invalid_write_key');

    const revoke = await t.inject({ method: 'DELETE', url: `/v1/workspaces/${ws}/analytics/write-keys/${id}`, headers: bearer(owner.token) });
    expect(revoke.statusCode).toBe(204);
    const after = await ingest({ batch: [track('opened')] }, { 'x-write-key': key });
    expect(after.statusCode).toBe(401);
    expect(problem(after).code).toBe('invalid_write_key');
  });

  it('lets a token with analytics.write ingest, but not a viewer', async () => {
    expect((await ingest({ batch: [track('opened')] }, bearer(analyst.token))).statusCode).toBe(202);
    const v = await ingest({ batch: [track('opened')] }, bearer(viewer.token));
    expect(v.statusCode).toBe(403);
    const stranger = await ingest({ batch: [track('opened')] }, bearer(outsider.token));
    expect(stranger.statusCode).toBe(404);
  });
});

describe('ingestion', () => {
  it('accepts valid events, reports invalid ones by index, drops duplicate messageIds', async () => {
    const dup = randomUUID();
    const res = await ingest(
      {
        batch: [
          track('a', { messageId: dup }),
          { type: 'track', messageId: randomUUID(), userId: 'u' },
          track('b', { messageId: dup }),
          'not an object',
          track('c', { timestamp: 'yesterday' }),
          { type: 'track', event: 'x', messageId: randomUUID() },
          track('d'),
        ],
      },
      bearer(analyst.token),
    );
    expect(res.statusCode, res.body).toBe(202);
    const body = res.json();
    expect(body.accepted).toBe(2);
    expect(body.duplicates).toBe(1);
    expect(body.errors.map((e: { index: number }) => e.index)).toEqual([1, 3, 4, 5]);
    expect(body.errors[0].errors[0].path).toBe('event');
    const again = await ingest({ batch: [track('a', { messageId: dup })] }, bearer(analyst.token));
    expect(again.json()).toEqual({ accepted: 0, duplicates: 1, errors: [] });
  });

  it('refuses batches over 1,000 events or 1 MB with problem+json', async () => {
    const many = await ingest({ batch: Array.from({ length: 1001 }, () => track('x')) }, bearer(analyst.token));
    expect(many.statusCode).toBe(400);
    expect(problem(many).code).toBe('validation_failed');
    const big = await ingest({ batch: Array.from({ length: 40 }, () => track('x', { properties: { blob: 'y'.repeat(30_000) } })) }, bearer(analyst.token));
    expect(big.statusCode).toBe(413);
    expect(problem(big).code).toBe('payload_too_large');
  });

  it('corrects clock skew from sentAt, flushes to the store, and merges anonymous ids on identify', async () => {
    await analytics.services.flusher.drain();
    const now = t.clock.now().getTime();
    // The client's clock is 2 hours behind: its "now" is the server's now - 2h.
    const clientNow = now - 2 * HOUR;
    const res = await ingest(
      {
        sentAt: iso(clientNow),
        batch: [
          { type: 'track', event: 'skewed', messageId: randomUUID(), anonymousId: 'anon-7', timestamp: iso(clientNow - HOUR) },
          { type: 'track', event: 'skewed', messageId: randomUUID(), anonymousId: 'anon-7', timestamp: iso(clientNow - HOUR), sentAt: iso(clientNow - HOUR) },
          { type: 'identify', messageId: randomUUID(), anonymousId: 'anon-7', userId: 'user-7', traits: { plan: 'pro' } },
          { type: 'track', event: 'skewed', messageId: randomUUID(), userId: 'user-7' },
        ],
      },
      bearer(analyst.token),
    );
    expect(res.json()).toMatchObject({ accepted: 4, errors: [] });
    expect(await analytics.services.flusher.drain()).toBe(4);
    const hours = await query({ kind: 'trends', event: 'skewed', interval: 'hour', from: iso(now - 3 * HOUR), to: iso(now + HOUR) });
    // Corrected: now - 1h (event 1: 2h of skew), now (event 2: its own sentAt says 3h of skew), now (event 4: no timestamp).
    const hourOf = (ms: number) => iso(Math.floor(ms / HOUR) * HOUR);
    const counts = Object.fromEntries(hours.rows.map((r) => [r[0], r[1]]));
    expect(counts[hourOf(now - HOUR)]).toBe(1);
    expect(counts[hourOf(now)]).toBe(2);
    const users = await query({ kind: 'trends', event: 'skewed', measure: 'unique_users', interval: 'day', from: iso(now - 3 * HOUR), to: iso(now + HOUR) });
    expect(users.rows.reduce((s, r) => s + Number(r[1]), 0)).toBe(1);
  });

  it('answers 429 with Retry-After when the buffer is full', async () => {
    const small = await createTestPlatform({ ANALYTICS_BUFFER_MAX_EVENTS: '3' });
    try {
      const o = await signup(small, 'Small');
      const w = await createWorkspace(small, o);
      const send = (n: number) => small.inject({ method: 'POST', url: `/v1/workspaces/${w}/events`, headers: bearer(o.token), payload: { batch: Array.from({ length: n }, () => track('x')) } });
      expect((await send(3)).statusCode).toBe(202);
      small.clock.advance(2000);
      const full = await send(1);
      expect(full.statusCode).toBe(429);
      expect(problem(full).code).toBe('analytics_buffer_full');
      expect(Number(full.headers['retry-after'])).toBeGreaterThan(0);
      const inst = small.platform.instances.get('analytics-engine') as AnalyticsInstance;
      await inst.services.flusher.drain();
      small.clock.advance(2000);
      expect((await send(1)).statusCode).toBe(202);
    } finally {
      await small.close();
    }
  });

  it('recovers an interrupted flush exactly once: nothing lost, nothing doubled', async () => {
    await analytics.services.flusher.drain();
    const before = await query({ kind: 'trends', event: 'crashy', interval: 'day', from: iso(t.clock.now().getTime() - 86_400_000), to: iso(t.clock.now().getTime() + HOUR) });
    expect(before.rows.reduce((s, r) => s + Number(r[1]), 0)).toBe(0);
    await ingest({ batch: Array.from({ length: 5 }, () => track('crashy')) }, bearer(analyst.token));
    // Simulate a flush that claimed the batch and wrote part of it to the store, then died.
    const claimed = await analytics.services.buffer.claim(100, t.clock.now());
    expect(claimed?.rows).toHaveLength(5);
    const batchId = claimed!.batchId;
    await analytics.services.store.insert(
      claimed!.rows.slice(0, 2).map((r) => ({ workspaceId: r.workspaceId, event: r.payload.event, personId: 'user-1', userId: 'user-1', anonymousId: '', ts: r.payload.ts, messageId: r.payload.messageId, properties: {}, receivedAt: 0, batchId })),
    );
    expect(await analytics.services.flusher.drain()).toBe(0);
    t.clock.advance(120_000);
    expect(await analytics.services.flusher.recover()).toBe(1);
    expect(await analytics.services.flusher.drain()).toBe(5);
    const after = await query({ kind: 'trends', event: 'crashy', interval: 'day', from: iso(t.clock.now().getTime() - 86_400_000), to: iso(t.clock.now().getTime() + HOUR) });
    expect(after.rows.reduce((s, r) => s + Number(r[1]), 0)).toBe(5);
  });
});

describe('queries, reports and dashboards', () => {
  it('exports CSV, validates specs with problem+json, and lets viewers read', async () => {
    const now = t.clock.now().getTime();
    const csv = await t.inject({
      method: 'POST',
      url: `/v1/workspaces/${ws}/analytics/query?format=csv`,
      headers: bearer(viewer.token),
      payload: { spec: { kind: 'trends', event: 'skewed', interval: 'day', from: iso(now - 86_400_000), to: iso(now + HOUR) } },
    });
    expect(csv.statusCode, csv.body).toBe(200);
    expect(csv.headers['content-type']).toMatch(/^text\/csv/);
    expect(csv.body.split('\r\n')[0]).toBe('bucket,count');
    const bad = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/analytics/query`, headers: bearer(analyst.token), payload: { spec: { kind: 'funnel', steps: ['one'], from: iso(now), to: iso(now + 1) } } });
    expect(bad.statusCode).toBe(400);
    expect(problem(bad).code).toBe('validation_failed');
    const inj = await t.inject({
      method: 'POST',
      url: `/v1/workspaces/${ws}/analytics/query`,
      headers: bearer(analyst.token),
      payload: { spec: { kind: 'trends', event: 'x', breakdown: "plan') --", interval: 'day', from: iso(now - 86_400_000), to: iso(now) } },
    });
    expect(inj.statusCode).toBe(400);
  });

  it('lists the workspace\'s event names and property keys for the query builder, to members only', async () => {
    const now = t.clock.now().getTime();
    await analytics.services.flusher.drain();
    const ok = await ingest({ batch: [track('catalogued', { properties: { plan: 'pro', seats: 3 } }), track('catalogued', { properties: { source: 'ad' } })] }, bearer(analyst.token));
    expect(ok.statusCode, ok.body).toBe(202);
    expect(await analytics.services.flusher.drain()).toBe(2);
    const res = await t.inject({ method: 'GET', url: `/v1/workspaces/${ws}/analytics/events?from=${iso(now - HOUR)}&to=${iso(now + HOUR)}`, headers: bearer(viewer.token) });
    expect(res.statusCode, res.body).toBe(200);
    const entry = res.json().events.find((e: { name: string }) => e.name === 'catalogued');
    expect(entry).toEqual({ name: 'catalogued', count: 2, lastSeen: iso(now), properties: ['plan', 'seats', 'source'] });
    // Another workspace's member learns nothing: 404 as for any non-member; its own catalog has none of these events.
    const outside = await t.inject({ method: 'GET', url: `/v1/workspaces/${ws}/analytics/events`, headers: bearer(outsider.token) });
    expect(outside.statusCode).toBe(404);
    const theirs = await t.inject({ method: 'GET', url: `/v1/workspaces/${otherWs}/analytics/events`, headers: bearer(outsider.token) });
    expect(theirs.statusCode, theirs.body).toBe(200);
    expect(theirs.json().events.map((e: { name: string }) => e.name)).not.toContain('catalogued');
    const bad = await t.inject({ method: 'GET', url: `/v1/workspaces/${ws}/analytics/events?from=${iso(now)}&to=${iso(now - HOUR)}`, headers: bearer(viewer.token) });
    expect(bad.statusCode).toBe(400);
    expect(problem(bad).code).toBe('validation_failed');
  });

  it('saves reports, runs them, arranges them on dashboards, and cleans dashboards when a report goes', async () => {
    const now = t.clock.now().getTime();
    const spec = { kind: 'trends', event: 'skewed', interval: 'day', from: iso(now - 86_400_000), to: iso(now + HOUR) };
    const denied = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/analytics/reports`, headers: bearer(viewer.token), payload: { name: 'r', spec } });
    expect(denied.statusCode).toBe(403);
    const created = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/analytics/reports`, headers: bearer(analyst.token), payload: { name: 'Skewed per day', spec } });
    expect(created.statusCode, created.body).toBe(201);
    const reportId = created.json().report.id;
    const run = await t.inject({ method: 'GET', url: `/v1/workspaces/${ws}/analytics/reports/${reportId}/results`, headers: bearer(viewer.token) });
    expect(run.statusCode, run.body).toBe(200);
    expect(run.json().rows.reduce((s: number, r: unknown[]) => s + Number(r[1]), 0)).toBe(3);

    const foreign = await t.inject({ method: 'POST', url: `/v1/workspaces/${otherWs}/analytics/reports`, headers: bearer(outsider.token), payload: { name: 'theirs', spec } });
    const foreignId = foreign.json().report.id;
    const badDash = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/analytics/dashboards`, headers: bearer(analyst.token), payload: { name: 'd', tiles: [{ reportId: foreignId }] } });
    expect(badDash.statusCode).toBe(400);

    const dash = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/analytics/dashboards`, headers: bearer(analyst.token), payload: { name: 'Main', tiles: [{ reportId, x: 0, y: 0, w: 6, h: 4 }] } });
    expect(dash.statusCode, dash.body).toBe(201);
    const dashboardId = dash.json().dashboard.id;
    const renamed = await t.inject({ method: 'PATCH', url: `/v1/workspaces/${ws}/analytics/dashboards/${dashboardId}`, headers: bearer(analyst.token), payload: { name: 'Renamed' } });
    expect(renamed.json().dashboard).toMatchObject({ name: 'Renamed', tiles: [{ reportId }] });

    expect((await t.inject({ method: 'DELETE', url: `/v1/workspaces/${ws}/analytics/reports/${reportId}`, headers: bearer(analyst.token) })).statusCode).toBe(204);
    const got = await t.inject({ method: 'GET', url: `/v1/workspaces/${ws}/analytics/dashboards/${dashboardId}`, headers: bearer(viewer.token) });
    expect(got.json().dashboard.tiles).toEqual([]);
    expect((await t.inject({ method: 'DELETE', url: `/v1/workspaces/${ws}/analytics/dashboards/${dashboardId}`, headers: bearer(analyst.token) })).statusCode).toBe(204);
    expect((await t.inject({ method: 'GET', url: `/v1/workspaces/${ws}/analytics/dashboards/${dashboardId}`, headers: bearer(viewer.token) })).statusCode).toBe(404);
  });
});

describe('KPIs, gauges, personal data and retention', () => {
  it('serves the KPIs and their settings over HTTP', async () => {
    const put = await t.inject({ method: 'PUT', url: `/v1/workspaces/${ws}/analytics/settings`, headers: bearer(analyst.token), payload: { signupEvent: 'signed_up', activationEvent: 'first_post' } });
    expect(put.json().settings).toEqual({ signupEvent: 'signed_up', activationEvent: 'first_post' });
    const now = t.clock.now().getTime();
    await ingest(
      {
        batch: [
          track('signed_up', { userId: 'k1', timestamp: iso(now - 3 * HOUR) }),
          track('first_post', { userId: 'k1', timestamp: iso(now - 2 * HOUR) }),
          track('signed_up', { userId: 'k2', timestamp: iso(now - 3 * HOUR) }),
          track('subscription.started', { userId: 'k1', timestamp: iso(now - HOUR), properties: { subscriptionId: 'sub1', amount: 49, currency: 'EUR' } }),
        ],
      },
      bearer(analyst.token),
    );
    await analytics.services.flusher.drain();
    const forecast = await t.inject({ method: 'PUT', url: `/v1/workspaces/${ws}/analytics/kpis/mrr-forecast`, headers: bearer(analyst.token), payload: { currency: 'EUR', points: [{ date: iso(now).slice(0, 10), amount: 50 }] } });
    expect(forecast.json()).toEqual({ saved: 1 });
    const res = await t.inject({ method: 'GET', url: `/v1/workspaces/${ws}/analytics/kpis?from=${iso(now - 86_400_000)}&to=${iso(now + HOUR)}`, headers: bearer(viewer.token) });
    expect(res.statusCode, res.body).toBe(200);
    const k = res.json();
    expect(k.activation).toMatchObject({ signups: 2, activated: 1, rate: 0.5 });
    expect(k.mrr.current).toEqual({ EUR: 49 });
    expect(k.mrr.daily.at(-1)).toMatchObject({ currency: 'EUR', mrr: 49, forecast: 50, deviation: -0.02, status: 'ok' });
    expect(k.errorRate.requests).toBeGreaterThan(0);
    const reversed = await t.inject({ method: 'GET', url: `/v1/workspaces/${ws}/analytics/kpis?from=${iso(now)}&to=${iso(now - HOUR)}`, headers: bearer(viewer.token) });
    expect(problem(reversed).code).toBe('validation_failed');
    const defaults = await t.inject({ method: 'GET', url: `/v1/workspaces/${ws}/analytics/kpis`, headers: bearer(viewer.token) });
    expect(defaults.statusCode).toBe(200);
    expect(Date.parse(defaults.json().to) - Date.parse(defaults.json().from)).toBe(30 * 86_400_000);
  });

  it('exports the gauges on /metrics from the platform workspace', async () => {
    const p = await createTestPlatform({ ANALYTICS_PLATFORM_WORKSPACE_ID: '55555555-5555-4555-8555-555555555555' });
    try {
      const inst = p.platform.instances.get('analytics-engine') as AnalyticsInstance;
      const now = p.clock.now().getTime();
      await inst.services.store.insert([
        { workspaceId: '55555555-5555-4555-8555-555555555555', event: 'subscription.started', personId: 'c', userId: 'c', anonymousId: '', ts: now - HOUR, messageId: 'm1', properties: { subscriptionId: 's', amount: 99, currency: 'USD' }, receivedAt: now, batchId: 'b' },
      ]);
      const metrics = (await p.inject({ method: 'GET', url: '/metrics' })).body;
      expect(metrics).toMatch(/^v01t_mrr\{currency="USD"[^}]*\} 99$/m);
      // No sign-ups in the platform workspace: the rate is unknown (NaN), which no alert threshold matches.
      expect(metrics).toMatch(/^v01t_user_activation_rate(\{[^}]*\})? NaN$/im);
      expect(metrics).toMatch(/^v01t_error_rate(\{[^}]*\})? \d/m);
      expect(metrics).toContain('v01t_mrr_forecast_deviation_ratio');
    } finally {
      await p.close();
    }
  });

  it('exports and erases a user\'s events, including buffered ones and linked anonymous ids', async () => {
    const userId = owner.id;
    await ingest(
      {
        batch: [
          { type: 'track', event: 'gdpr', messageId: randomUUID(), anonymousId: 'anon-gdpr' },
          { type: 'identify', messageId: randomUUID(), anonymousId: 'anon-gdpr', userId },
          track('gdpr', { userId }),
        ],
      },
      bearer(analyst.token),
    );
    await analytics.services.flusher.drain();
    await ingest({ batch: [track('gdpr-pending', { userId })] }, bearer(analyst.token));
    const exported = await analytics.personalData!.exportUser(userId);
    expect((exported.events as unknown[]).length).toBe(3);
    expect((exported.bufferedEvents as unknown[]).length).toBeGreaterThanOrEqual(1);
    const erased = await analytics.personalData!.eraseUser(userId);
    expect(erased).toMatchObject({ events: 3, linkedAnonymousIds: 1 });
    expect(erased.bufferedEvents).toBeGreaterThanOrEqual(1);
    const again = await analytics.personalData!.exportUser(userId);
    expect(again).toEqual({ events: [], bufferedEvents: [], linkedAnonymousIds: [] });
  });

  it('removes events older than three years in its retention rule', async () => {
    const rule = analytics.retention!.find((r) => r.keep === '3 years')!;
    const now = t.clock.now().getTime();
    const old = Date.parse('2022-06-01T00:00:00Z');
    await analytics.services.store.insert([
      { workspaceId: ws, event: 'ancient', personId: 'z', userId: 'z', anonymousId: '', ts: old, messageId: 'old-1', properties: {}, receivedAt: old, batchId: 'b' },
      { workspaceId: ws, event: 'ancient', personId: 'z', userId: 'z', anonymousId: '', ts: now - 86_400_000, messageId: 'new-1', properties: {}, receivedAt: now, batchId: 'b' },
    ]);
    expect(await rule.purge(t.clock.now())).toBeGreaterThanOrEqual(1);
    const left = await analytics.services.queries.run(ws, { kind: 'trends', event: 'ancient', measure: 'count', interval: 'month', filters: [], from: new Date(old), to: new Date(now + 1) });
    expect(left.rows.reduce((s, r) => s + Number(r[1]), 0)).toBe(1);
  });
});

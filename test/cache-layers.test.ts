import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPlatform, type TestPlatform } from './helpers/platform.js';
import { addMember, bearer, createWorkspace, signup, type TestUser } from './helpers/api.js';
import type { AnalyticsInstance } from '../src/services/analytics-engine/index.js';

// The runbook's cache layers over HTTP (ADR 0059), on the memory layers or, with V01T_TEST_REDIS=1,
// on Redis: a cached answer is never served to another workspace, nor after the write that changes it.

let t: TestPlatform;
let owner: TestUser;
let analyst: TestUser;
let other: TestUser;
let ws: string;
let otherWs: string;
let analytics: AnalyticsInstance;
const HOUR = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString();

beforeAll(async () => {
  t = await createTestPlatform();
  t.clock.set('2026-03-02T12:00:00Z');
  analytics = t.platform.instances.get('analytics-engine') as AnalyticsInstance;
  [owner, analyst, other] = await Promise.all([signup(t, 'Owner'), signup(t, 'Analyst'), signup(t, 'Other')]);
  ws = await createWorkspace(t, owner, 'Cached');
  otherWs = await createWorkspace(t, other, 'Other');
  await addMember(t, ws, owner, analyst, 'analyst');
  for (const [w, who] of [[ws, owner], [otherWs, other]] as const) {
    const res = await t.inject({ method: 'PUT', url: `/v1/workspaces/${w}/analytics/settings`, headers: bearer(who.token), payload: { signupEvent: 'signed_up', activationEvent: 'first_post' } });
    expect(res.statusCode, res.body).toBe(200);
  }
}, 120_000);

afterAll(async () => {
  await t?.close();
});

const metric = async (name: string, layer: string) => {
  const body = (await t.inject({ method: 'GET', url: '/metrics' })).body;
  const m = new RegExp(`^${name}\\{layer="${layer}"[^}]*\\} (\\d+)$`, 'm').exec(body);
  return Number(m?.[1] ?? NaN);
};

async function track(workspaceId: string, who: TestUser, events: { event: string; userId: string; at: number }[]) {
  const res = await t.inject({
    method: 'POST',
    url: `/v1/workspaces/${workspaceId}/events`,
    headers: bearer(who.token),
    payload: { batch: events.map((e) => ({ type: 'track', event: e.event, userId: e.userId, messageId: randomUUID(), timestamp: iso(e.at) })) },
  });
  expect(res.statusCode, res.body).toBe(202);
  await analytics.services.flusher.drain();
}

describe('analytics_data: KPI and query results', () => {
  it('are cached per workspace, and recomputed after an ingested event or a settings change', async () => {
    const now = t.clock.now().getTime();
    const range = `from=${iso(now - 2 * 86_400_000)}&to=${iso(now + HOUR)}`;
    const kpis = async (w: string, who: TestUser) => {
      const res = await t.inject({ method: 'GET', url: `/v1/workspaces/${w}/analytics/kpis?${range}`, headers: bearer(who.token) });
      expect(res.statusCode, res.body).toBe(200);
      return res.json() as { activation: { signups: number; activated: number } };
    };
    await track(ws, analyst, [
      { event: 'signed_up', userId: 'a1', at: now - 3 * HOUR },
      { event: 'signed_up', userId: 'a2', at: now - 3 * HOUR },
      { event: 'first_post', userId: 'a1', at: now - 2 * HOUR },
    ]);
    const hits0 = await metric('v01t_cache_hits_total', 'analytics_data');
    expect((await kpis(ws, analyst)).activation).toMatchObject({ signups: 2, activated: 1 });
    expect((await kpis(ws, analyst)).activation).toMatchObject({ signups: 2, activated: 1 });
    expect(await metric('v01t_cache_hits_total', 'analytics_data')).toBeGreaterThan(hits0);
    // The same query in another workspace: its own answer, never the first workspace's cached one.
    expect((await kpis(otherWs, other)).activation).toMatchObject({ signups: 0, activated: 0 });

    // An ingested event changes the KPI at once (the flush replaced the workspace's data version).
    await track(ws, analyst, [{ event: 'first_post', userId: 'a2', at: now - HOUR }]);
    expect((await kpis(ws, analyst)).activation).toMatchObject({ signups: 2, activated: 2 });
    expect((await kpis(otherWs, other)).activation).toMatchObject({ signups: 0, activated: 0 });

    // A settings change too.
    const put = await t.inject({ method: 'PUT', url: `/v1/workspaces/${ws}/analytics/settings`, headers: bearer(analyst.token), payload: { activationEvent: 'never_sent' } });
    expect(put.statusCode).toBe(200);
    expect((await kpis(ws, analyst)).activation).toMatchObject({ signups: 2, activated: 0 });
    await t.inject({ method: 'PUT', url: `/v1/workspaces/${ws}/analytics/settings`, headers: bearer(analyst.token), payload: { activationEvent: 'first_post' } });
  });

  it('serve a query to its workspace only, and drop it after an ingest or an erasure', async () => {
    const now = t.clock.now().getTime();
    const spec = { kind: 'trends', event: 'clicked', from: iso(now - 86_400_000), to: iso(now + HOUR), interval: 'day' };
    const total = async (w: string, who: TestUser) => {
      const res = await t.inject({ method: 'POST', url: `/v1/workspaces/${w}/analytics/query`, headers: bearer(who.token), payload: { spec } });
      expect(res.statusCode, res.body).toBe(200);
      return (res.json() as { summary: { total: number } }).summary.total;
    };
    await track(ws, analyst, [{ event: 'clicked', userId: 'c1', at: now - HOUR }]);
    expect(await total(ws, analyst)).toBe(1);
    expect(await total(otherWs, other)).toBe(0);
    await track(otherWs, other, [
      { event: 'clicked', userId: 'o1', at: now - HOUR },
      { event: 'clicked', userId: 'o2', at: now - HOUR },
    ]);
    expect(await total(otherWs, other)).toBe(2);
    expect(await total(ws, analyst)).toBe(1);
    // An erasure spans workspaces: every workspace's results are dropped.
    await analytics.personalData!.eraseUser('c1');
    expect(await total(ws, analyst)).toBe(0);
  });

  it("end at the layer's TTL by the clock", async () => {
    const now = t.clock.now().getTime();
    const spec = { kind: 'trends', event: 'ttl_probe', from: iso(now - 86_400_000), to: iso(now + 2 * HOUR), interval: 'day' };
    const run = () => t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/analytics/query`, headers: bearer(analyst.token), payload: { spec } });
    await run();
    const misses = await metric('v01t_cache_misses_total', 'analytics_data');
    await run();
    expect(await metric('v01t_cache_misses_total', 'analytics_data')).toBe(misses);
    if (t.platform.ctx.cacheLayers.analytics_data.kind === 'memory') {
      t.clock.advance(1_800_000);
      await run();
      expect(await metric('v01t_cache_misses_total', 'analytics_data')).toBeGreaterThan(misses);
    }
  });
});

describe('user_sessions: token, access and profile lookups', () => {
  it('refuse a signed-out session at once, and follow a role change at once', async () => {
    const u = await signup(t, 'Leaving');
    await addMember(t, ws, owner, u, 'analyst');
    const me = () => t.inject({ method: 'GET', url: '/v1/me', headers: bearer(u.token) });
    const hits0 = await metric('v01t_cache_hits_total', 'user_sessions');
    expect((await me()).statusCode).toBe(200);
    expect((await me()).statusCode).toBe(200);
    expect(await metric('v01t_cache_hits_total', 'user_sessions')).toBeGreaterThan(hits0);
    const write = () => t.inject({ method: 'PUT', url: `/v1/workspaces/${ws}/analytics/settings`, headers: bearer(u.token), payload: { activationEvent: 'first_post' } });
    expect((await write()).statusCode).toBe(200);
    // Demoted to viewer: the cached access is dropped with the change.
    const members = await t.inject({ method: 'GET', url: `/v1/workspaces/${ws}/members`, headers: bearer(owner.token) });
    const member = (members.json().members as { userId: string; id?: string }[]).find((m) => m.userId === u.id)!;
    const demote = await t.inject({ method: 'PATCH', url: `/v1/workspaces/${ws}/members/${member.userId}`, headers: bearer(owner.token), payload: { role: 'viewer' } });
    expect(demote.statusCode, demote.body).toBe(200);
    expect((await write()).statusCode).toBe(403);
    const out = await t.inject({ method: 'POST', url: '/v1/auth/logout', headers: bearer(u.token) });
    expect(out.statusCode).toBe(204);
    expect((await me()).statusCode).toBe(401);
  });
});

describe('api_responses: the public status page', () => {
  it('is cached and dropped when an incident is published', async () => {
    const ops = t.platform.ops!;
    const status = async () => (await t.inject({ method: 'GET', url: '/status.json' })).json() as { incidents: { title: string }[] };
    expect((await status()).incidents).toEqual([]);
    const hits0 = await metric('v01t_cache_hits_total', 'api_responses');
    expect((await status()).incidents).toEqual([]);
    expect(await metric('v01t_cache_hits_total', 'api_responses')).toBeGreaterThan(hits0);
    const now = t.clock.now().toISOString();
    const opened = await ops.incidents.ingest({
      version: '4',
      groupKey: `{}:{alertname="ApiDown-${randomUUID()}"}`,
      truncatedAlerts: 0,
      status: 'firing',
      receiver: 'v01t-incidents',
      groupLabels: { alertname: 'ApiDown' },
      commonLabels: { alertname: 'ApiDown', severity: 'critical', service: 'orchestrator' },
      commonAnnotations: { summary: 'API down' },
      externalURL: 'http://alertmanager.example:9093',
      alerts: [{ status: 'firing', labels: { alertname: 'ApiDown', severity: 'critical', service: 'orchestrator' }, annotations: {}, startsAt: now, endsAt: '0001-01-01T00:00:00Z', generatorURL: '', fingerprint: 'f1' }],
    } as never);
    await ops.incidents.assignRoles(opened.incidentId!, { userId: owner.id, ip: null }, { communicationsLead: owner.id });
    await ops.incidents.postPublicUpdate(opened.incidentId!, { userId: owner.id, ip: null }, { status: 'investigating', message: 'We are looking into it', title: 'API unavailable' });
    expect((await status()).incidents.map((i) => i.title)).toEqual(['API unavailable']);
  });
});

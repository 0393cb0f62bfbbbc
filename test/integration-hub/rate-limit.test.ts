import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestPlatform } from '../helpers/platform.js';
import { bearer, createWorkspace, problem, signup, type TestUser } from '../helpers/api.js';
import type { Fakes } from './fakes.js';
import { startHubFixture } from './hub-fixture.js';
import { AppError } from '../../src/kernel/errors.js';
import type { IntegrationHubContract } from '../../src/services/integration-hub/contract.js';

/**
 * A connection's own outbound rate limit (ADR 0200 addendum): set through the connections API,
 * shown and audited, enforced by the egress client on the platform's manual clock (no sleeps).
 */
let t: TestPlatform;
let f: Fakes;
let owner: TestUser;
let ws: string;
let fixture: Awaited<ReturnType<typeof startHubFixture>>;

beforeAll(async () => {
  fixture = await startHubFixture('Rates');
  ({ f, t, owner, ws } = fixture);
}, 60_000);

afterAll(async () => {
  await fixture?.close();
});

const base = () => `/v1/workspaces/${ws}/connections`;
const hub = () => t.platform.ctx.contracts.get<IntegrationHubContract>('integration-hub');

function create(payload: Record<string, unknown>) {
  return t.inject({ method: 'POST', url: base(), headers: bearer(owner.token), payload: { connector: 'http', name: 'rest', credentials: { type: 'none' }, config: { baseUrl: `${f.base}/rest` }, ...payload } });
}
async function createId(payload: Record<string, unknown>): Promise<string> {
  const res = await create(payload);
  if (res.statusCode !== 201) throw new Error(`create: ${res.statusCode} ${res.body}`);
  return res.json().connection.id;
}
function patch(id: string, payload: Record<string, unknown>) {
  return t.inject({ method: 'PATCH', url: `${base()}/${id}`, headers: bearer(owner.token), payload });
}
function call(id: string) {
  return t.inject({ method: 'POST', url: `${base()}/${id}/actions/request`, headers: bearer(owner.token), payload: { input: { method: 'GET', path: '/ping' } } });
}
/** Status codes of n actions in the same instant of the manual clock. */
async function burst(id: string, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await call(id)).statusCode);
  return out;
}
const count = (codes: number[], code: number) => codes.filter((c) => c === code).length;

describe('per-connection outbound rate limit', () => {
  it('is set on create, shown in the connection JSON with its resolved burst, null when absent', async () => {
    const res = await create({ rateLimit: { requests: 300, windowSeconds: 900 } });
    expect(res.statusCode, res.body).toBe(201);
    // "300 requests / 15 min": one every 3 s, a bucket of one second's worth, at least 1.
    expect(res.json().connection.rateLimit).toEqual({ requests: 300, windowSeconds: 900, burst: 1 });
    const id = res.json().connection.id;
    const got = await t.inject({ method: 'GET', url: `${base()}/${id}`, headers: bearer(owner.token) });
    expect(got.json().connection.rateLimit).toEqual({ requests: 300, windowSeconds: 900, burst: 1 });
    const bulk = await create({ rateLimit: { requests: 1000, windowSeconds: 10 } });
    expect(bulk.json().connection.rateLimit).toEqual({ requests: 1000, windowSeconds: 10, burst: 100 });
    const plain = await create({});
    expect(plain.json().connection.rateLimit).toBeNull();
    const list = await t.inject({ method: 'GET', url: base(), headers: bearer(owner.token) });
    const byId = Object.fromEntries((list.json().connections as { id: string; rateLimit: unknown }[]).map((c) => [c.id, c.rateLimit]));
    expect(byId[id]).toEqual({ requests: 300, windowSeconds: 900, burst: 1 });
    expect(byId[plain.json().connection.id]).toBeNull();
  });

  it('refuses bad limits on create and update with a pointed problem+json', async () => {
    const id = await createId({});
    const cases: [unknown, string][] = [
      [{ requests: 0, windowSeconds: 60 }, 'body.rateLimit.requests'],
      [{ requests: 1.5, windowSeconds: 60 }, 'body.rateLimit.requests'],
      [{ requests: 100_001, windowSeconds: 60 }, 'body.rateLimit.requests'],
      [{ requests: 10, windowSeconds: 0 }, 'body.rateLimit.windowSeconds'],
      [{ requests: 10, windowSeconds: 86_401 }, 'body.rateLimit.windowSeconds'],
      [{ requests: 10 }, 'body.rateLimit.windowSeconds'],
      [{ requests: 10, windowSeconds: 60, burst: 0 }, 'body.rateLimit.burst'],
      [{ requests: 10, windowSeconds: 60, burst: 11 }, 'body.rateLimit.burst'],
      [{ requests: '10', windowSeconds: 60 }, 'body.rateLimit.requests'],
      [{ requests: 10, windowSeconds: 60, perSecond: 5 }, 'body.rateLimit'],
      ['10/s', 'body.rateLimit'],
    ];
    for (const [rateLimit, path] of cases) {
      for (const res of [await create({ rateLimit }), await patch(id, { rateLimit })]) {
        expect(res.statusCode, `${JSON.stringify(rateLimit)}: ${res.body}`).toBe(400);
        const p = problem(res);
        expect(p.code).toBe('validation_failed');
        expect(p.errors?.map((e) => e.path), JSON.stringify(rateLimit)).toContain(path);
      }
    }
    // Nothing was stored by the refused updates.
    const got = await t.inject({ method: 'GET', url: `${base()}/${id}`, headers: bearer(owner.token) });
    expect(got.json().connection.rateLimit).toBeNull();
  });

  it('applies the connection\'s limit to its requests and the process default to a connection without one', async () => {
    const limited = await createId({ rateLimit: { requests: 2, windowSeconds: 60 } });
    const plain = await createId({});
    // 2 per minute, bucket of 1 (default burst): the second request in the same instant is refused.
    const first = await burst(limited, 2);
    expect(first).toEqual([200, 429]);
    const refused = await call(limited);
    const p = problem(refused);
    expect(p.code).toBe('egress_rate_limited');
    expect(refused.headers['retry-after']).toBe('30');
    expect(p.detail).toContain('1 per 30 s, burst 1');
    // The connection without a limit gets the process default: EGRESS_RATE_BURST 20 at once.
    const defaults = await burst(plain, 21);
    expect(count(defaults, 200)).toBe(20);
    expect(defaults[20]).toBe(429);
    // The limited connection refills at 2 per minute: nothing after 29 s, one after 30 s.
    t.clock.advance(29_000);
    expect(await burst(limited, 1)).toEqual([429]);
    t.clock.advance(1_000);
    expect(await burst(limited, 2)).toEqual([200, 429]);
  });

  it('applies a changed limit from the next request, on actions and on publish, and falls back when removed', async () => {
    const id = await createId({ rateLimit: { requests: 1, windowSeconds: 3600 } });
    expect(await burst(id, 2)).toEqual([200, 429]);
    expect((await call(id)).headers['retry-after']).toBe('3600');
    // Raised to 50 per second with a bucket of 50: the bucket is empty now and refills at the new rate.
    const raised = await patch(id, { rateLimit: { requests: 50, windowSeconds: 1, burst: 50 } });
    expect(raised.statusCode, raised.body).toBe(200);
    expect(raised.json().connection.rateLimit).toEqual({ requests: 50, windowSeconds: 1, burst: 50 });
    expect((await call(id)).headers['retry-after']).toBe('1');
    t.clock.advance(1_000);
    const after = await burst(id, 51);
    expect(count(after, 200)).toBe(50);
    expect(after[50]).toBe(429);
    // Removed: the process default (10/s, burst 20) applies again.
    const removed = await patch(id, { rateLimit: null });
    expect(removed.json().connection.rateLimit).toBeNull();
    t.clock.advance(10_000);
    expect(count(await burst(id, 25), 200)).toBe(20);

    // publish() reuses a connection row for up to 1 s: an update made here drops it, so the new limit applies at once.
    const hook = await t.inject({
      method: 'POST',
      url: base(),
      headers: bearer(owner.token),
      payload: { connector: 'webhook', name: 'hook', credentials: { secret: f.webhookSecret }, config: { url: `${f.base}/receiver` }, rateLimit: { requests: 1, windowSeconds: 60 } },
    });
    expect(hook.statusCode, hook.body).toBe(201);
    const hookId = hook.json().connection.id;
    const publish = (n: number) => hub().publish(ws, hookId, { text: `post ${n}` }, `rate-${n}`);
    expect((await publish(1)).externalId).toBeTruthy();
    const slow = await publish(2).catch((e: unknown) => e);
    expect(slow).toBeInstanceOf(AppError);
    expect((slow as AppError).code).toBe('egress_rate_limited');
    expect((slow as AppError).extra.retryAfterSeconds).toBe(60);
    expect((await patch(hookId, { rateLimit: { requests: 10, windowSeconds: 1, burst: 1 } })).statusCode).toBe(200);
    const faster = await publish(2).catch((e: unknown) => e);
    expect((faster as AppError).extra.retryAfterSeconds).toBe(0.1);
    t.clock.advance(100);
    expect((await publish(2)).externalId).toBeTruthy();
  });

  it('records the limit in the audit log with the connection change', async () => {
    const id = await createId({ rateLimit: { requests: 60, windowSeconds: 60, burst: 5 } });
    await patch(id, { rateLimit: { requests: 120, windowSeconds: 60 } });
    await patch(id, { name: 'renamed' });
    await patch(id, { rateLimit: null });
    const entries = (await t.platform.ctx.audit.list({ workspaceId: ws, action: 'integration.connection.*', limit: 200 })).filter((e) => e.targetId === id).reverse();
    expect(entries.map((e) => [e.action, e.data])).toEqual([
      ['integration.connection.created', { connector: 'http', name: 'rest', rateLimit: { requests: 60, windowSeconds: 60, burst: 5 } }],
      ['integration.connection.updated', { fields: ['rateLimit'], rateLimit: { requests: 120, windowSeconds: 60, burst: 2 } }],
      ['integration.connection.updated', { fields: ['name'] }],
      ['integration.connection.updated', { fields: ['rateLimit'], rateLimit: null }],
    ]);
  });

  it('keeps a limit within its workspace: another workspace can neither see nor change it', async () => {
    const id = await createId({ rateLimit: { requests: 5, windowSeconds: 1 } });
    const stranger = await signup(t, 'Rate Stranger');
    const other = await createWorkspace(t, stranger, 'Elsewhere');
    const foreign = await t.inject({ method: 'PATCH', url: `/v1/workspaces/${other}/connections/${id}`, headers: bearer(stranger.token), payload: { rateLimit: { requests: 100_000, windowSeconds: 1 } } });
    expect(foreign.statusCode).toBe(404);
    const direct = await t.inject({ method: 'PATCH', url: `${base()}/${id}`, headers: bearer(stranger.token), payload: { rateLimit: null } });
    // Not a member: the workspace is not disclosed either.
    expect(direct.statusCode).toBe(404);
    const got = await t.inject({ method: 'GET', url: `${base()}/${id}`, headers: bearer(owner.token) });
    expect(got.json().connection.rateLimit).toEqual({ requests: 5, windowSeconds: 1, burst: 5 });
  });
});

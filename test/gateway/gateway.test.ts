import { createHash, randomBytes, randomUUID } from 'node:crypto';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FORWARDED_PRINCIPAL_HEADER, PrincipalSigner } from '../../src/kernel/auth/forwarded-principal.js';
import { createTestPlatform, TEST_DB, type TestPlatform } from '../helpers/platform.js';
import { freePort } from '../helpers/ports.js';

/**
 * The public entry of the distributed shape (ADR 0055), over real ports: an orchestrator process
 * that forwards the routes of a workflow-engine and a content-scheduler in their own processes, a
 * gamification address nobody listens on and an analytics-engine that accepts and never answers.
 * On PostgreSQL the processes share one database as in production; on PGlite each has its own
 * (identity then comes only from the orchestrator, which is what the gateway must carry).
 */
const INTERNAL_TOKEN = randomBytes(24).toString('hex');
let orchestrator: TestPlatform;
let workflows: TestPlatform;
let content: TestPlatform;
let hanging: net.Server;
const sockets = new Set<net.Socket>();
let entry = '';
let direct = '';
let identityCalls: () => Promise<number>;

interface User {
  token: string;
  email: string;
  password: string;
}

async function call(base: string, method: string, path: string, opts: { token?: string; body?: unknown; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${base}${path}`, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    /* not JSON */
  }
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a black-box client reads the documented fields
  return { status: res.status, headers: res.headers, json: json as Record<string, any>, text };
}

async function signup(name: string): Promise<User> {
  const email = `${name}.${randomUUID().slice(0, 8)}@example.test`;
  const password = `pw-${randomUUID()}`;
  const res = await call(entry, 'POST', '/v1/auth/signup', { body: { email, password, name } });
  expect(res.status, res.text).toBe(201);
  return { token: res.json.token as string, email, password };
}

const pureWorkflow = { name: 'through the gateway', steps: [{ id: 't', type: 'transform', with: { expression: 'input.n * 2' } }] };

beforeAll(async () => {
  const [entryPort, wfPort, contentPort, deadPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  hanging = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => hanging.listen(0, '127.0.0.1', r));
  const hangingPort = (hanging.address() as net.AddressInfo).port;
  entry = `http://127.0.0.1:${entryPort}`;
  direct = `http://127.0.0.1:${wfPort}`;
  orchestrator = await createTestPlatform({
    V01T_SERVICES: 'orchestrator',
    V01T_INTERNAL_TOKEN: INTERNAL_TOKEN,
    HOST: '127.0.0.1',
    PORT: String(entryPort),
    V01T_WORKFLOW_ENGINE_URL: direct,
    V01T_CONTENT_SCHEDULER_URL: `http://127.0.0.1:${contentPort}`,
    V01T_GAMIFICATION_URL: `http://127.0.0.1:${deadPort}`,
    V01T_ANALYTICS_ENGINE_URL: `http://127.0.0.1:${hangingPort}`,
    GATEWAY_TIMEOUT_MS: '800',
  });
  await orchestrator.platform.listen();
  const shared: Record<string, string> = TEST_DB === 'postgres' ? { DATABASE_URL: orchestrator.platform.config.db.url! } : {};
  const peer = { V01T_INTERNAL_TOKEN: INTERNAL_TOKEN, V01T_ORCHESTRATOR_URL: entry, HOST: '127.0.0.1', ...shared };
  workflows = await createTestPlatform({ ...peer, V01T_SERVICES: 'workflow-engine', PORT: String(wfPort) });
  await workflows.platform.listen();
  content = await createTestPlatform({ ...peer, V01T_SERVICES: 'content-scheduler', PORT: String(contentPort) });
  await content.platform.listen();
  identityCalls = async () => {
    const text = await (await fetch(`${entry}/metrics`)).text();
    return text
      .split('\n')
      .filter((l) => l.startsWith('http_requests_total') && l.includes('route="/internal/identity/authenticate"'))
      .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
  };
}, 180_000);

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => hanging?.close(r));
  await content?.close();
  await workflows?.close();
  await orchestrator?.close();
});

describe('the public entry forwards every route to its owner', () => {
  let owner: User;
  let stranger: User;
  let ws = '';

  beforeAll(async () => {
    owner = await signup('owner');
    stranger = await signup('stranger');
    const created = await call(entry, 'POST', '/v1/workspaces', { token: owner.token, body: { name: 'Gateway' } });
    expect(created.status, created.text).toBe(201);
    ws = created.json.workspace.id as string;
  });

  it('a workflow is created, listed and run through the public URL, as on the service itself', async () => {
    const before = await identityCalls();
    const created = await call(entry, 'POST', `/v1/workspaces/${ws}/workflows`, { token: owner.token, body: pureWorkflow });
    expect(created.status, created.text).toBe(201);
    const id = created.json.workflow.id as string;
    const listed = await call(entry, 'GET', `/v1/workspaces/${ws}/workflows`, { token: owner.token });
    expect(listed.status).toBe(200);
    expect((listed.json.workflows as { id: string }[]).map((w) => w.id)).toContain(id);
    const types = await call(entry, 'GET', '/v1/workflow-step-types', { token: owner.token });
    expect(types.status).toBe(200);
    // The workflow-engine took the gateway's word for the caller: no identity lookups for these.
    expect(await identityCalls()).toBe(before);
    // The same request on the service's own port is answered alike (it asks the orchestrator then).
    const straight = await call(direct, 'GET', `/v1/workspaces/${ws}/workflows/${id}`, { token: owner.token });
    expect(straight.status, straight.text).toBe(200);
    expect(straight.json.workflow.id).toBe(id);
    expect(await identityCalls()).toBeGreaterThan(before);
  });

  it("problems come back as the owner sent them, with the client's request id", async () => {
    const requestId = `gw-${randomUUID()}`;
    const hidden = await call(entry, 'GET', `/v1/workspaces/${ws}/workflows`, { token: stranger.token, headers: { 'x-request-id': requestId } });
    expect(hidden.status).toBe(404);
    expect(hidden.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(hidden.json.code).toBe('workspace_not_found');
    expect(hidden.headers.get('x-request-id')).toBe(requestId);
    const invalid = await call(entry, 'POST', `/v1/workspaces/${ws}/workflows`, { token: owner.token, body: { name: '' } });
    expect(invalid.status).toBe(400);
    expect(invalid.json.code).toBe('validation_failed');
    const missing = await call(entry, 'GET', `/v1/workspaces/${ws}/runs/${randomUUID()}`, { token: owner.token });
    expect(missing.status).toBe(404);
    expect(missing.json.code).toMatch(/not_found/);
    const anonymous = await call(entry, 'GET', `/v1/workspaces/${ws}/workflows`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.json.code).toBe('unauthenticated');
    const badToken = await call(entry, 'GET', `/v1/workspaces/${ws}/workflows`, { token: 'v01t_s_not-a-real-token' });
    expect(badToken.status).toBe(401);
    expect(badToken.json.code).toBe('invalid_token');
  });

  it("a vouching header is worth nothing from outside: forged, or made for another caller's credential", async () => {
    const forged = new PrincipalSigner('not-the-installation-token-0123456789abcdef');
    const principal = { userId: randomUUID(), tokenId: randomUUID(), tokenKind: 'session' as const, scopes: ['*'], platformAdmin: true, mfaEnabled: true };
    const bogus = 'v01t_s_forged';
    const byForger = await call(direct, 'GET', `/v1/workspaces/${ws}/workflows`, { token: bogus, headers: { [FORWARDED_PRINCIPAL_HEADER]: forged.sign({ principal }, bogus) } });
    expect(byForger.status).toBe(401);
    // Signed with the real key (as the gateway would for the owner) but presented with the stranger's token.
    const real = new PrincipalSigner(INTERNAL_TOKEN);
    const access = { workspaceId: ws, access: { workspaceId: ws, role: 'owner' as const, requireMfa: false } };
    const replayed = await call(direct, 'GET', `/v1/workspaces/${ws}/workflows`, { token: stranger.token, headers: { [FORWARDED_PRINCIPAL_HEADER]: real.sign({ principal, workspace: access }, owner.token) } });
    expect(replayed.status).toBe(404);
    // And the gateway never passes on what a client sent under that name.
    const smuggled = await call(entry, 'GET', `/v1/workspaces/${ws}/workflows`, { token: stranger.token, headers: { [FORWARDED_PRINCIPAL_HEADER]: real.sign({ principal, workspace: access }, stranger.token) } });
    expect(smuggled.status).toBe(404);
  });

  it('a browser session works through the gateway, and CSRF is checked where the browser meets it', async () => {
    const login = await fetch(`${entry}/v1/auth/browser/login`, { method: 'POST', headers: { origin: entry, 'content-type': 'application/json' }, body: JSON.stringify({ email: owner.email, password: owner.password }) });
    expect(login.status).toBe(200);
    const cookies = Object.fromEntries(login.headers.getSetCookie().map((c) => c.split(';')[0]!.split('=') as [string, string]));
    const cookie = `v01t_session=${cookies.v01t_session}; v01t_csrf=${cookies.v01t_csrf}`;
    const ok = await call(entry, 'POST', `/v1/workspaces/${ws}/workflows`, { body: { ...pureWorkflow, name: 'from the browser' }, headers: { cookie, origin: entry, 'x-csrf-token': cookies.v01t_csrf! } });
    expect(ok.status, ok.text).toBe(201);
    const noToken = await call(entry, 'POST', `/v1/workspaces/${ws}/workflows`, { body: pureWorkflow, headers: { cookie, origin: entry } });
    expect(noToken.status).toBe(403);
    expect(noToken.json.code).toBe('csrf_failed');
    const crossSite = await call(entry, 'POST', `/v1/workspaces/${ws}/workflows`, { body: pureWorkflow, headers: { cookie, origin: 'http://evil.example', 'x-csrf-token': cookies.v01t_csrf! } });
    expect(crossSite.status).toBe(403);
    expect(crossSite.json.code).toBe('csrf_failed');
  });

  it('bodies stream both ways unparsed: a media file larger than the entry’s own body limit arrives byte for byte', async () => {
    // A PNG signature and 3 MB of noise: above the orchestrator's 1 MB JSON body limit.
    const bytes = Buffer.concat([Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489', 'hex'), randomBytes(3 * 1024 * 1024)]);
    const form = new FormData();
    form.append('altText', 'noise');
    form.append('file', new Blob([bytes], { type: 'image/png' }), 'noise.png');
    const up = await fetch(`${entry}/v1/workspaces/${ws}/media`, { method: 'POST', headers: { authorization: `Bearer ${owner.token}` }, body: form });
    const upBody = (await up.json()) as { media: { id: string; sha256?: string; bytes?: number } };
    expect(up.status, JSON.stringify(upBody)).toBe(201);
    const down = await fetch(`${entry}/v1/workspaces/${ws}/media/${upBody.media.id}/content`, { headers: { authorization: `Bearer ${owner.token}` } });
    expect(down.status).toBe(200);
    const got = Buffer.from(await down.arrayBuffer());
    expect(got.length).toBe(bytes.length);
    expect(createHash('sha256').update(got).digest('hex')).toBe(createHash('sha256').update(bytes).digest('hex'));
  });

  it('an owner that is down or silent is a problem naming it, not a hang or a 500', async () => {
    const down = await call(entry, 'GET', `/v1/workspaces/${ws}/gamification/me`, { token: owner.token });
    expect(down.status).toBe(503);
    expect(down.json.code).toBe('upstream_unavailable');
    expect(down.json.service).toBe('gamification');
    expect(down.headers.get('retry-after')).toBe('2');
    const started = performance.now();
    const silent = await call(entry, 'GET', `/v1/workspaces/${ws}/analytics/kpis`, { token: owner.token });
    expect(silent.status).toBe(504);
    expect(silent.json.code).toBe('upstream_timeout');
    expect(silent.json.service).toBe('analytics-engine');
    expect(performance.now() - started).toBeLessThan(10_000);
    // The entry itself stays up and keeps serving its own routes.
    expect((await call(entry, 'GET', '/v1/me', { token: owner.token })).status).toBe(200);
  });

  it('paths no service owns stay 404 at the entry; internal APIs are never forwarded', async () => {
    const none = await call(entry, 'GET', `/v1/workspaces/${ws}/nothing-here`, { token: owner.token });
    expect(none.status).toBe(404);
    const internal = await call(entry, 'POST', '/internal/integration-hub/connections/list', { body: { workspaceId: ws } });
    expect(internal.status).toBe(404);
  });
});

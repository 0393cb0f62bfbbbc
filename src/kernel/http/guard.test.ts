import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config/index.js';
import { createLogger } from '../telemetry/logger.js';
import { CoreMetrics } from '../telemetry/metrics.js';
import { PermissionRegistry } from '../auth/permissions.js';
import { KERNEL_SHARED_SECRETS, SharedSecretRegistry, type SharedSecretMap } from '../auth/shared-secrets.js';
import type { IdentityPort, Principal, WorkspaceAccess } from '../auth/principal.js';
import { sameSecret } from '../crypto/compare.js';
import { createHttpServer, type App } from './server.js';

/**
 * The kernel guard's two modes for routes outside /v1/workspaces/:workspaceId (ADR 0014): a
 * shared secret (`auth: 'secret:<name>'`) and a permission held through a fixed workspace's role,
 * with platform administrators passing or alone allowed. A fake identity, no database.
 */
const OPS_WS = '11111111-1111-4111-8111-111111111111';
const principal = (userId: string, extra: Partial<Principal> = {}): Principal => ({ userId, tokenId: `t-${userId}`, tokenKind: 'session', scopes: ['*'], platformAdmin: false, mfaEnabled: false, ...extra });
const users: Record<string, Principal> = {
  admin: principal('admin', { platformAdmin: true }),
  'admin-read-token': principal('admin', { platformAdmin: true, tokenKind: 'api', scopes: ['read'] }),
  developer: principal('developer'),
  viewer: principal('viewer'),
  outsider: principal('outsider'),
  mfa: principal('mfa'),
};
const roles: Record<string, WorkspaceAccess> = {
  developer: { workspaceId: OPS_WS, role: 'developer', requireMfa: false },
  viewer: { workspaceId: OPS_WS, role: 'viewer', requireMfa: false },
  mfa: { workspaceId: OPS_WS, role: 'developer', requireMfa: true },
};
const identity: IdentityPort = {
  authenticate: async (token) => users[token] ?? null,
  workspaceAccess: async (userId, workspaceId) => (workspaceId === OPS_WS ? (roles[userId] ?? null) : null),
};

const INTERNAL = 'i'.repeat(48);
const secrets: SharedSecretMap = {
  'test.receiver': {
    carrier: 'bearer',
    value: () => process.env.GUARD_TEST_RECEIVER_TOKEN,
    missing: 'Send the receiver token',
    unset: 'The receiver is off',
    wrong: { code: 'invalid_token', detail: 'Not the receiver token' },
  },
  'test.ci': { carrier: 'bearer', value: () => 'ci-secret', missing: 'Send the CI token or an admin token', orUser: true },
};

let app: App;
async function server(extra?: (app: App) => void): Promise<App> {
  const permissions = new PermissionRegistry({
    'ops.read': { description: 'read', roles: ['owner', 'admin', 'developer'] },
    'ops.manage': { description: 'manage', roles: ['owner', 'admin', 'developer'] },
  });
  const a = await createHttpServer({
    logger: createLogger('silent'),
    metrics: new CoreMetrics(),
    permissions,
    secrets: new SharedSecretRegistry(loadConfig({ V01T_INTERNAL_TOKEN: INTERNAL }), KERNEL_SHARED_SECRETS, secrets),
    identity: () => identity,
    bodyLimit: 1024,
    trustProxy: false,
    version: 'test',
  });
  const who = (req: { principal?: Principal; sharedSecret?: string }) => ({ user: req.principal?.userId ?? null, secret: req.sharedSecret ?? null });
  a.post('/internal/thing', { config: { auth: 'secret:internal' }, handler: async (req) => who(req) });
  a.post('/v1/receiver', { config: { auth: 'secret:test.receiver' }, handler: async (req) => who(req) });
  a.post('/v1/record', { config: { auth: 'secret:test.ci', permission: 'ops.manage', platformAdmins: 'only' }, handler: async (req) => who(req) });
  a.get('/v1/incidents', { config: { permission: 'ops.read', workspace: () => OPS_WS, platformAdmins: 'pass' }, handler: async (req) => ({ ...who(req), role: req.access?.role ?? null }) });
  a.get('/v1/unrouted', { config: { permission: 'ops.read', workspace: () => undefined, platformAdmins: 'pass' }, handler: async (req) => who(req) });
  extra?.(a);
  await a.ready();
  return a;
}

beforeAll(async () => {
  app = await server();
});
afterAll(() => app.close());

const call = async (method: 'GET' | 'POST', url: string, headers: Record<string, string> = {}) => {
  const res = await app.inject({ method, url, headers });
  return { status: res.statusCode, body: res.json() as Record<string, unknown> };
};
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

describe("auth: 'secret:<name>'", () => {
  it('takes the internal token from its header, in constant time, and nothing else', async () => {
    expect(await call('POST', '/internal/thing', { 'x-v01t-internal-token': INTERNAL })).toEqual({ status: 200, body: { user: null, secret: 'internal' } });
    for (const headers of [{} as Record<string, string>, { 'x-v01t-internal-token': INTERNAL.slice(1) }, { 'x-v01t-internal-token': `${INTERNAL}x` }, bearer(INTERNAL), bearer('admin')]) {
      const res = await call('POST', '/internal/thing', headers);
      expect(res.status, JSON.stringify(headers)).toBe(401);
      expect(res.body).toMatchObject({ code: 'unauthenticated', detail: 'Internal API' });
    }
  });

  it('answers a receiver that is off with 503, a missing bearer with 401 and a wrong one with its own code', async () => {
    delete process.env.GUARD_TEST_RECEIVER_TOKEN;
    expect((await call('POST', '/v1/receiver')).body).toMatchObject({ status: 401, code: 'unauthenticated', detail: 'Send the receiver token' });
    expect((await call('POST', '/v1/receiver', bearer('anything'))).body).toMatchObject({ status: 503, code: 'service_unavailable', detail: 'The receiver is off' });
    process.env.GUARD_TEST_RECEIVER_TOKEN = 'r'.repeat(40);
    try {
      expect((await call('POST', '/v1/receiver', bearer('r'.repeat(39)))).body).toMatchObject({ status: 401, code: 'invalid_token', detail: 'Not the receiver token' });
      // A user's token is not the secret: no fallback to users unless the secret says orUser.
      expect((await call('POST', '/v1/receiver', bearer('admin'))).body).toMatchObject({ status: 401, code: 'invalid_token' });
      expect(await call('POST', '/v1/receiver', bearer('r'.repeat(40)))).toEqual({ status: 200, body: { user: null, secret: 'test.receiver' } });
    } finally {
      delete process.env.GUARD_TEST_RECEIVER_TOKEN;
    }
  });

  it('with orUser, takes the secret or a user who then needs the permission (platform admins only here)', async () => {
    expect(await call('POST', '/v1/record', bearer('ci-secret'))).toEqual({ status: 200, body: { user: null, secret: 'test.ci' } });
    expect(await call('POST', '/v1/record', bearer('admin'))).toEqual({ status: 200, body: { user: 'admin', secret: null } });
    expect((await call('POST', '/v1/record', bearer('developer'))).body).toMatchObject({ status: 403, code: 'forbidden' });
    expect((await call('POST', '/v1/record', bearer('admin-read-token'))).body).toMatchObject({ status: 403, code: 'insufficient_scope' });
    expect((await call('POST', '/v1/record', bearer('nobody'))).body).toMatchObject({ status: 401, code: 'invalid_token' });
    expect((await call('POST', '/v1/record')).body).toMatchObject({ status: 401, code: 'unauthenticated', detail: 'Send the CI token or an admin token' });
  });
});

describe('a permission on a fixed workspace, platform admins passing', () => {
  it("grants by the caller's role in that workspace", async () => {
    expect(await call('GET', '/v1/incidents', bearer('developer'))).toEqual({ status: 200, body: { user: 'developer', secret: null, role: 'developer' } });
    expect((await call('GET', '/v1/incidents', bearer('viewer'))).body).toMatchObject({ status: 403, code: 'forbidden' });
    expect((await call('GET', '/v1/incidents', bearer('outsider'))).body).toMatchObject({ status: 403, code: 'forbidden' });
    expect((await call('GET', '/v1/incidents')).body).toMatchObject({ status: 401, code: 'unauthenticated' });
  });

  it('lets platform admins through without a role, but not past their token scope', async () => {
    expect(await call('GET', '/v1/incidents', bearer('admin'))).toEqual({ status: 200, body: { user: 'admin', secret: null, role: null } });
    expect(await call('GET', '/v1/unrouted', bearer('admin'))).toEqual({ status: 200, body: { user: 'admin', secret: null } });
    expect((await call('GET', '/v1/unrouted', bearer('developer'))).body).toMatchObject({ status: 403, code: 'forbidden' });
  });

  it("keeps the workspace's MFA requirement", async () => {
    expect((await call('GET', '/v1/incidents', bearer('mfa'))).body).toMatchObject({ status: 403, code: 'mfa_enrollment_required' });
  });

  it('refuses at start-up a permission with no workspace to check it against, or an undeclared secret', async () => {
    await expect(server((a) => a.get('/v1/loose', { config: { permission: 'ops.read' }, handler: async () => ({}) }))).rejects.toThrow(/outside a workspace/);
    await expect(server((a) => a.get('/v1/typo', { config: { auth: 'secret:nope' }, handler: async () => ({}) }))).rejects.toThrow(/undeclared shared secret nope/);
  });
});

describe('sameSecret', () => {
  it('is equal only for the same non-empty bytes', () => {
    expect(sameSecret('abc', 'abc')).toBe(true);
    expect(sameSecret(Buffer.from('abc'), 'abc')).toBe(true);
    for (const [a, b] of [['abc', 'abd'], ['abc', 'abcd'], ['', ''], [null, 'abc'], ['abc', undefined]] as const) expect(sameSecret(a, b)).toBe(false);
  });
});

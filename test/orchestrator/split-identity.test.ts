import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { createTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { createWorkspace, signup } from '../helpers/api.js';
import { IdentityHttpClient } from '../../src/services/orchestrator/remote.js';

/** The distributed shape: a service in another process authenticates through the orchestrator's internal API. */
const internalToken = randomBytes(24).toString('hex');
let t: TestPlatform;
let base: string;
beforeAll(async () => {
  t = await createTestPlatform({ V01T_SERVICES: 'orchestrator', V01T_INTERNAL_TOKEN: internalToken });
  base = await t.platform.app.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(async () => {
  await t?.close();
});

describe('identity over HTTP for split services', () => {
  it('resolves tokens and workspace access exactly as in process', async () => {
    const u = await signup(t, 'Remote');
    const ws = await createWorkspace(t, u);
    const client = new IdentityHttpClient(base, internalToken);
    const principal = await client.authenticate(u.token);
    expect(principal).toMatchObject({ userId: u.id, tokenKind: 'session', scopes: ['*'] });
    expect(await client.authenticate('v01t_s_forged')).toBeNull();
    expect(await client.workspaceAccess(u.id, ws)).toEqual({ workspaceId: ws, role: 'owner', requireMfa: false });
    const stranger = await signup(t, 'Stranger');
    expect(await client.workspaceAccess(stranger.id, ws)).toBeNull();
  });

  it('refuses callers without the internal token and hides the API from the OpenAPI document', async () => {
    await expect(new IdentityHttpClient(base, 'x'.repeat(48)).authenticate('v01t_s_abc')).rejects.toThrow(/401/);
    const res = await fetch(`${base}/internal/identity/authenticate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"token":"v01t_s_abc"}' });
    expect(res.status).toBe(401);
    const doc = (await t.inject({ method: 'GET', url: '/openapi.json' })).json();
    expect(Object.keys(doc.paths).filter((p) => p.startsWith('/internal'))).toEqual([]);
  });

  it('reports an unreachable orchestrator as service_unavailable (503 to callers), not as an unexpected error', async () => {
    const down = new IdentityHttpClient('http://127.0.0.1:9/', internalToken, 2000);
    await expect(down.authenticate('v01t_s_abc')).rejects.toMatchObject({ code: 'service_unavailable', status: 503, extra: { retryAfterSeconds: 2 } });
    await expect(down.workspaceAccess('u', 'w')).rejects.toMatchObject({ code: 'service_unavailable' });
  });

  it('refuses an internal token shorter than 32 characters at start-up', async () => {
    await expect(createTestPlatform({ V01T_SERVICES: 'orchestrator', V01T_INTERNAL_TOKEN: 'short' })).rejects.toThrow(/V01T_INTERNAL_TOKEN/);
  });
});

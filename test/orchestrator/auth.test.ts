import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { bearer, createWorkspace, problem, signup } from '../helpers/api.js';

let t: TestPlatform;
beforeAll(async () => {
  t = await createTestPlatform();
});
afterAll(async () => {
  await t?.close();
});

const login = (email: string, password: string, extra: Record<string, unknown> = {}, ip = '198.51.100.7') =>
  t.inject({ method: 'POST', url: '/v1/auth/login', payload: { email, password, ...extra }, remoteAddress: ip });

describe('sign-up, sign-in, sign-out', () => {
  it('signs up with 201 {user:{id,email,name}, token} and the token works on /v1/me', async () => {
    const res = await t.inject({ method: 'POST', url: '/v1/auth/signup', payload: { email: 'Ada@Example.test', password: 'a long enough password', name: 'Ada' } });
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body.user).toMatchObject({ email: 'Ada@Example.test', name: 'Ada' });
    expect(body.user.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(body.token).toMatch(/^v01t_s_/);
    const me = await t.inject({ method: 'GET', url: '/v1/me', headers: bearer(body.token) });
    expect(me.statusCode).toBe(200);
    expect(me.json().user.id).toBe(body.user.id);
  });

  it('makes no second account for the same email, whatever its case, and answers as for a new one', async () => {
    const res = await t.inject({ method: 'POST', url: '/v1/auth/signup', payload: { email: 'ada@example.TEST', password: 'another long password', name: 'Ada 2' } });
    // Alike for taken and free addresses (login-limits.test.ts compares them): nothing tells that Ada is registered.
    expect(res.statusCode).toBe(201);
    expect((await t.inject({ method: 'GET', url: '/v1/me', headers: bearer(res.json().token) })).statusCode).toBe(401);
    const rows = await t.platform.database.query<{ n: number }>("SELECT count(*)::int AS n FROM orchestrator.users WHERE email_normalized = 'ada@example.test'");
    expect(rows[0]!.n).toBe(1);
    expect((await login('ada@example.test', 'another long password')).statusCode).toBe(401);
    expect((await login('ada@example.test', 'a long enough password')).statusCode).toBe(200);
  });

  it('rejects weak passwords and bad emails with the field paths', async () => {
    const res = await t.inject({ method: 'POST', url: '/v1/auth/signup', payload: { email: 'x@example.test', password: 'short', name: 'X' } });
    expect(res.statusCode).toBe(400);
    expect(problem(res).errors?.map((e) => e.path)).toEqual(['body.password']);
    const bad = await t.inject({ method: 'POST', url: '/v1/auth/signup', payload: { email: 'not-an-email', password: 'long enough password', name: '' } });
    expect(bad.statusCode).toBe(400);
    expect(problem(bad).errors?.map((e) => e.path).sort()).toEqual(['body.email', 'body.name']);
  });

  it('logs in with {token, expiresAt}; wrong password and unknown email both answer invalid_credentials', async () => {
    const u = await signup(t, 'Login');
    const ok = await login(u.email, u.password);
    expect(ok.statusCode).toBe(200);
    expect(ok.json().token).toMatch(/^v01t_s_/);
    expect(new Date(ok.json().expiresAt).getTime()).toBeGreaterThan(t.clock.now().getTime());
    const wrong = await login(u.email, 'wrong password!!', {}, '198.51.100.8');
    expect(wrong.statusCode).toBe(401);
    expect(problem(wrong).code).toBe('invalid_credentials');
    const unknown = await login('nobody@example.test', 'whatever password', {}, '198.51.100.8');
    expect(unknown.statusCode).toBe(401);
    expect(problem(unknown).code).toBe('invalid_credentials');
  });

  it('logout revokes only the token used', async () => {
    const u = await signup(t, 'Logout');
    const second = (await login(u.email, u.password)).json().token as string;
    const out = await t.inject({ method: 'POST', url: '/v1/auth/logout', headers: bearer(u.token) });
    expect(out.statusCode).toBe(204);
    expect((await t.inject({ method: 'GET', url: '/v1/me', headers: bearer(u.token) })).statusCode).toBe(401);
    expect((await t.inject({ method: 'GET', url: '/v1/me', headers: bearer(second) })).statusCode).toBe(200);
  });

  it('session tokens expire after SESSION_TTL_HOURS (clock driven)', async () => {
    const u = await signup(t, 'Expiry');
    t.clock.advance(14 * 24 * 3600_000 + 1000);
    const res = await t.inject({ method: 'GET', url: '/v1/me', headers: bearer(u.token) });
    expect(res.statusCode).toBe(401);
    expect(problem(res).code).toBe('invalid_token');
  });

  it('answers 401 unauthenticated without a token and invalid_token for garbage', async () => {
    const none = await t.inject({ method: 'GET', url: '/v1/me' });
    expect(problem(none).code).toBe('unauthenticated');
    const junk = await t.inject({ method: 'GET', url: '/v1/me', headers: { authorization: 'Bearer v01t_s_nope' } });
    expect(junk.statusCode).toBe(401);
    expect(problem(junk).code).toBe('invalid_token');
    const basic = await t.inject({ method: 'GET', url: '/v1/me', headers: { authorization: 'Basic abc' } });
    expect(problem(basic).code).toBe('unauthenticated');
  });

  it('changing the password revokes every other session', async () => {
    const u = await signup(t, 'Password');
    const other = (await login(u.email, u.password)).json().token as string;
    const res = await t.inject({ method: 'POST', url: '/v1/me/password', headers: bearer(u.token), payload: { currentPassword: u.password, newPassword: 'a brand new password' } });
    expect(res.statusCode).toBe(204);
    expect((await t.inject({ method: 'GET', url: '/v1/me', headers: bearer(other) })).statusCode).toBe(401);
    expect((await t.inject({ method: 'GET', url: '/v1/me', headers: bearer(u.token) })).statusCode).toBe(200);
    expect((await login(u.email, 'a brand new password')).statusCode).toBe(200);
  });
});

describe('personal API tokens', () => {
  it('are shown once, carry scopes, and stop working when revoked', async () => {
    const u = await signup(t, 'Tokens');
    const ws = await createWorkspace(t, u);
    const created = await t.inject({ method: 'POST', url: '/v1/me/tokens', headers: bearer(u.token), payload: { name: 'ci', scopes: ['read'] } });
    expect(created.statusCode).toBe(201);
    const { token, apiToken } = created.json();
    expect(token).toMatch(/^v01t_pat_/);
    expect(apiToken).toMatchObject({ name: 'ci', scopes: ['read'], revoked: false });
    expect(JSON.stringify((await t.inject({ method: 'GET', url: '/v1/me/tokens', headers: bearer(u.token) })).json())).not.toContain(token);

    expect((await t.inject({ method: 'GET', url: `/v1/workspaces/${ws}/members`, headers: bearer(token) })).statusCode).toBe(200);
    const write = await t.inject({ method: 'PATCH', url: `/v1/workspaces/${ws}`, headers: bearer(token), payload: { name: 'renamed' } });
    expect(write.statusCode).toBe(403);
    expect(problem(write).code).toBe('insufficient_scope');
    const mint = await t.inject({ method: 'POST', url: '/v1/me/tokens', headers: bearer(token), payload: { name: 'x', scopes: ['*'] } });
    expect(mint.statusCode).toBe(403);

    const revoke = await t.inject({ method: 'DELETE', url: `/v1/me/tokens/${apiToken.id}`, headers: bearer(u.token) });
    expect(revoke.statusCode).toBe(204);
    expect((await t.inject({ method: 'GET', url: `/v1/workspaces/${ws}/members`, headers: bearer(token) })).statusCode).toBe(401);
  });

  it('rejects unknown scopes with a pointed error', async () => {
    const u = await signup(t, 'Scopes');
    const res = await t.inject({ method: 'POST', url: '/v1/me/tokens', headers: bearer(u.token), payload: { name: 'x', scopes: ['workspace.read', 'root.everything'] } });
    expect(res.statusCode).toBe(400);
    expect(problem(res).detail).toContain('root.everything');
  });

  it('expire after expiresInDays', async () => {
    const u = await signup(t, 'TokenExpiry');
    const { token } = (await t.inject({ method: 'POST', url: '/v1/me/tokens', headers: bearer(u.token), payload: { name: 'short', scopes: ['*'], expiresInDays: 1 } })).json();
    expect((await t.inject({ method: 'GET', url: '/v1/me', headers: bearer(token) })).statusCode).toBe(200);
    t.clock.advance(24 * 3600_000 + 61_000);
    expect((await t.inject({ method: 'GET', url: '/v1/me', headers: bearer(token) })).statusCode).toBe(401);
  });
});

describe('sign-up switch', () => {
  it('SIGNUP_ENABLED=false refuses sign-up with signup_disabled', async () => {
    const closed = await createTestPlatform({ SIGNUP_ENABLED: 'false' });
    try {
      const res = await closed.inject({ method: 'POST', url: '/v1/auth/signup', payload: { email: 'a@example.test', password: 'long enough password', name: 'A' } });
      expect(res.statusCode).toBe(403);
      expect(problem(res).code).toBe('signup_disabled');
    } finally {
      await closed.close();
    }
  });
});

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import Provider from 'oidc-provider';
import { createTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { bearer, createWorkspace, problem, signup, type TestUser } from '../helpers/api.js';

/**
 * OpenID Connect sign-in against a real OpenID Provider (oidc-provider, certified) on a loopback
 * port: the whole authorization-code flow through its HTTP endpoints without a browser (redirects
 * followed with a cookie jar, its login and consent forms submitted), and the checks that must
 * refuse a sign-in: wrong nonce, expired ID token, a token signed by another key, an unverified
 * email, JIT provisioning off.
 */
const PUBLIC = 'http://v01t.test';
const CLIENT_SECRET = `secret-${randomUUID()}`;
const SLUGS = ['kc', 'nojit', 'other'];

interface IdpAccount {
  email?: string;
  email_verified?: boolean;
  name?: string;
  groups?: string[];
}
const accounts = new Map<string, IdpAccount>();

function rsaJwk(kid: string) {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { priv: { ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' }, pub: { ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' } };
}

let idp: http.Server;
let issuer: string;
let swapJwks = false;
const signingKey = rsaJwk('k1');
const foreignKey = rsaJwk('k1'); // same kid, another key: what an attacker's token would be verified against
const ID_TOKEN_TTL_SECONDS = 60;

let t: TestPlatform;
let admin: TestUser;
let defaultWs: string;
let engWs: string;

async function startIdp(): Promise<void> {
  const ref: { handler?: ReturnType<Provider['callback']> } = {};
  idp = http.createServer((req, res) => {
    if (swapJwks && req.url === '/jwks') {
      res.setHeader('content-type', 'application/jwk-set+json');
      res.end(JSON.stringify({ keys: [foreignKey.pub] }));
      return;
    }
    ref.handler!(req, res);
  });
  await new Promise<void>((resolve) => idp.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(idp.address() as AddressInfo).port}`;
  const provider = new Provider(issuer, {
    clients: [{ client_id: 'v01t', client_secret: CLIENT_SECRET, redirect_uris: SLUGS.map((s) => `${PUBLIC}/v1/auth/sso/${s}/callback`), response_types: ['code'], grant_types: ['authorization_code'] }],
    findAccount: async (_ctx, id) => ({ accountId: id, claims: async () => ({ sub: id, ...(accounts.get(id) ?? {}) }) }),
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'], groups: ['groups'] },
    jwks: { keys: [signingKey.priv as never] },
    cookies: { keys: ['test-cookie-key'] },
    ttl: { IdToken: ID_TOKEN_TTL_SECONDS },
    pkce: { required: () => true },
  });
  ref.handler = provider.callback();
}

beforeAll(async () => {
  await startIdp();
  t = await createTestPlatform({ V01T_PUBLIC_URL: PUBLIC, V01T_EGRESS_ALLOW: new URL(issuer).host });
  const created = await t.platform.orchestrator!.services.auth.createUser({ email: `admin.${randomUUID().slice(0, 6)}@example.test`, name: 'Admin', password: `pw-${randomUUID()}`, platformAdmin: true }, null);
  const login = await t.platform.orchestrator!.services.auth.issueSession(created.id, null);
  admin = { id: created.id, email: created.email, token: login.token, password: '' };
  defaultWs = await createWorkspace(t, admin, 'SSO default');
  engWs = await createWorkspace(t, admin, 'Engineering');
  const add = async (body: Record<string, unknown>) => {
    const res = await t.inject({ method: 'POST', url: '/v1/admin/sso/providers', headers: bearer(admin.token), payload: { issuerUrl: issuer, clientId: 'v01t', clientSecret: CLIENT_SECRET, ...body } });
    expect(res.statusCode, res.body).toBe(201);
  };
  await add({ slug: 'kc', name: 'Keycloak', scopes: ['openid', 'email', 'profile', 'groups'], groupsClaim: 'groups', groupRoles: [{ group: 'eng', workspaceId: engWs, role: 'developer' }, { group: 'eng-leads', workspaceId: engWs, role: 'admin' }], jitEnabled: true, defaultWorkspaceId: defaultWs, defaultRole: 'analyst' });
  await add({ slug: 'nojit', name: 'No JIT', scopes: ['openid', 'email', 'profile'], jitEnabled: false });
}, 120_000);

afterAll(async () => {
  await t?.close();
  await new Promise((resolve) => idp?.close(resolve));
});

beforeEach(() => {
  // openid-client judges ID-token times on the platform's clock; keep it at the IdP's time unless a test moves it.
  t.clock.set(new Date());
  swapJwks = false;
});

function cookiesOf(res: { headers: Record<string, unknown> }): Record<string, { value: string; raw: string }> {
  const set = res.headers['set-cookie'];
  const list = Array.isArray(set) ? set : set ? [String(set)] : [];
  return Object.fromEntries(
    list.map((raw: string) => {
      const [pair] = raw.split(';');
      const i = pair!.indexOf('=');
      return [pair!.slice(0, i), { value: pair!.slice(i + 1), raw }];
    }),
  );
}

const decode = (s: string) => s.replace(/&amp;/g, '&').replace(/&#x2F;/g, '/').replace(/&#39;/g, "'").replace(/&quot;/g, '"');

/**
 * Runs the provider's side as a browser would: starts at v01t, follows redirects with a cookie jar,
 * signs in as `login` at the provider's login form and consents. Answers v01t's callback response.
 */
async function ssoSignIn(slug: string, login: string, opts: { client?: 'browser' | 'api'; tamper?: (authorizationUrl: URL) => void; beforeCallback?: () => void; withoutStateCookie?: boolean } = {}) {
  const start = await t.inject({ method: 'GET', url: `/v1/auth/sso/${slug}/start?client=${opts.client ?? 'browser'}&returnTo=/w/after` });
  expect(start.statusCode, start.body).toBe(opts.client === 'api' ? 200 : 302);
  const stateCookie = cookiesOf(start).v01t_sso_state!;
  expect(stateCookie.raw).toMatch(/HttpOnly/i);
  let url = new URL(opts.client === 'api' ? start.json().authorizationUrl : String(start.headers.location));
  expect(url.origin).toBe(issuer);
  expect(url.searchParams.get('code_challenge_method')).toBe('S256');
  expect(url.searchParams.get('nonce')).toBeTruthy();
  opts.tamper?.(url);
  const jar = new Map<string, string>();
  let method = 'GET';
  let body: string | undefined;
  for (let hop = 0; hop < 20 && !url.href.startsWith(PUBLIC); hop++) {
    const res = await fetch(url, {
      method,
      redirect: 'manual',
      headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; '), ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
      body,
    });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair!.indexOf('=');
      jar.set(pair!.slice(0, i), pair!.slice(i + 1));
    }
    if (res.status >= 300 && res.status < 400) {
      url = new URL(res.headers.get('location')!, url);
      method = 'GET';
      body = undefined;
      continue;
    }
    const html = await res.text();
    expect(res.status, html.slice(0, 500)).toBe(200);
    const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
    const prompt = /name="prompt" value="(\w+)"/.exec(html)?.[1];
    expect(action, html.slice(0, 500)).toBeTruthy();
    url = new URL(decode(action!), url);
    method = 'POST';
    body = new URLSearchParams(prompt === 'login' ? { prompt, login, password: 'any' } : { prompt: prompt ?? 'consent' }).toString();
  }
  expect(url.href.startsWith(`${PUBLIC}/v1/auth/sso/${slug}/callback`)).toBe(true);
  opts.beforeCallback?.();
  return t.inject({ method: 'GET', url: url.pathname + url.search, cookies: opts.withoutStateCookie ? {} : { v01t_sso_state: stateCookie.value } });
}

async function securityEvents(kind: string) {
  const res = await t.inject({ method: 'GET', url: `/v1/admin/security-events?kind=${kind}&limit=100`, headers: bearer(admin.token) });
  expect(res.statusCode).toBe(200);
  return res.json().events as { userId: string | null; email: string | null; detail: { provider: string; reason: string } }[];
}

async function roleIn(workspaceId: string, userId: string): Promise<string | undefined> {
  const res = await t.inject({ method: 'GET', url: `/v1/workspaces/${workspaceId}/members`, headers: bearer(admin.token) });
  expect(res.statusCode, res.body).toBe(200);
  return (res.json().members as { userId: string; role: string }[]).find((m) => m.userId === userId)?.role;
}

describe('OpenID Connect sign-in', () => {
  it('lists enabled providers publicly with name and start URL only', async () => {
    const res = await t.inject({ method: 'GET', url: '/v1/auth/sso/providers' });
    expect(res.statusCode).toBe(200);
    expect(res.json().providers).toEqual([
      { slug: 'kc', name: 'Keycloak', startUrl: '/v1/auth/sso/kc/start' },
      { slug: 'nojit', name: 'No JIT', startUrl: '/v1/auth/sso/nojit/start' },
    ]);
    expect(res.body).not.toContain(CLIENT_SECRET);
    const adminList = await t.inject({ method: 'GET', url: '/v1/admin/sso/providers', headers: bearer(admin.token) });
    expect(adminList.statusCode).toBe(200);
    expect(adminList.body).not.toContain(CLIENT_SECRET);
    expect(adminList.json().providers[0].issuerUrl).toBe(issuer);
  });

  it('refuses provider changes from anyone but a platform admin', async () => {
    const user = await signup(t, 'Not Admin');
    const res = await t.inject({ method: 'POST', url: '/v1/admin/sso/providers', headers: bearer(user.token), payload: { slug: 'evil', name: 'Evil', issuerUrl: issuer, clientId: 'x', clientSecret: 'y' } });
    expect(res.statusCode).toBe(403);
    const dup = await t.inject({ method: 'POST', url: '/v1/admin/sso/providers', headers: bearer(admin.token), payload: { slug: 'kc', name: 'Again', issuerUrl: issuer, clientId: 'x', clientSecret: 'y' } });
    expect(problem(dup).code).toBe('sso_provider_exists');
    const plain = await t.inject({ method: 'POST', url: '/v1/admin/sso/providers', headers: bearer(admin.token), payload: { slug: 'plain', name: 'Plain', issuerUrl: 'http://idp.example.com', clientId: 'x', clientSecret: 'y' } });
    expect(plain.statusCode).toBe(400);
    expect(problem(plain).errors?.[0]?.path).toBe('body.issuerUrl');
  });

  it('runs the full code flow in a browser: provisions the account (JIT), maps groups to roles, sets the HttpOnly session cookie; sign-out ends it', async () => {
    const sub = `alice-${randomUUID().slice(0, 8)}`;
    const email = `${sub}@sso.test`;
    accounts.set(sub, { email, email_verified: true, name: 'Alice Sso', groups: ['eng', 'unrelated'] });
    const res = await ssoSignIn('kc', sub);
    expect(res.statusCode, res.body).toBe(303);
    expect(res.headers.location).toBe('/w/after');
    const session = cookiesOf(res).v01t_session!;
    expect(session.raw).toMatch(/HttpOnly/i);
    expect(res.body).not.toContain(session.value);
    const me = await t.inject({ method: 'GET', url: '/v1/me', cookies: { v01t_session: session.value } });
    expect(me.statusCode).toBe(200);
    expect(me.json().user).toMatchObject({ email, name: 'Alice Sso' });
    const userId = me.json().user.id as string;
    expect(await roleIn(defaultWs, userId)).toBe('analyst');
    expect(await roleIn(engWs, userId)).toBe('developer');

    // The provider's groups decide the role at every sign-in: a promotion arrives with the next one.
    accounts.set(sub, { email, email_verified: true, name: 'Alice Sso', groups: ['eng', 'eng-leads'] });
    const again = await ssoSignIn('kc', sub, { client: 'api' });
    expect(again.statusCode, again.body).toBe(200);
    expect(await roleIn(engWs, userId)).toBe('admin');

    const csrf = cookiesOf(res).v01t_csrf!.value;
    const out = await t.inject({ method: 'POST', url: '/v1/auth/browser/logout', headers: { origin: PUBLIC, 'x-csrf-token': csrf }, cookies: { v01t_session: session.value, v01t_csrf: csrf } });
    expect(out.statusCode).toBe(204);
    expect((await t.inject({ method: 'GET', url: '/v1/me', cookies: { v01t_session: session.value } })).statusCode).toBe(401);
  });

  it('answers an API client as password sign-in does, and links an existing account by a verified email', async () => {
    const existing = await signup(t, 'Existing Person');
    const sub = `bob-${randomUUID().slice(0, 8)}`;
    accounts.set(sub, { email: existing.email.toUpperCase(), email_verified: true, name: 'Bob' });
    const res = await ssoSignIn('nojit', sub, { client: 'api' });
    expect(res.statusCode, res.body).toBe(200);
    const { token, expiresAt } = res.json();
    expect(token).toMatch(/^v01t_s_/);
    expect(new Date(expiresAt).getTime()).toBeGreaterThan(Date.now());
    const me = await t.inject({ method: 'GET', url: '/v1/me', headers: bearer(token) });
    expect(me.json().user.id).toBe(existing.id);
    expect(me.json().user.emailVerified).toBe(true);
    // Linked by subject now: the next sign-in finds the account even after the provider's address changes.
    accounts.set(sub, { email: `changed-${sub}@sso.test`, email_verified: false });
    const second = await ssoSignIn('nojit', sub, { client: 'api' });
    expect(second.statusCode, second.body).toBe(200);
    expect((await t.inject({ method: 'GET', url: '/v1/me', headers: bearer(second.json().token) })).json().user.id).toBe(existing.id);
    // The link is personal data: in the account's export.
    const exported = await t.platform.orchestrator!.services.account.exportUser(existing.id);
    expect((exported.orchestrator as { ssoLinks: unknown[] }).ssoLinks).toEqual([expect.objectContaining({ provider: 'nojit', subject: sub })]);
  });

  it('never links an existing account by an unverified email (and never provisions one)', async () => {
    const victim = await signup(t, 'Victim');
    const sub = `mallory-${randomUUID().slice(0, 8)}`;
    accounts.set(sub, { email: victim.email, email_verified: false, name: 'Mallory' });
    const res = await ssoSignIn('kc', sub, { client: 'api' });
    expect(res.statusCode).toBe(401);
    expect(problem(res)).toMatchObject({ code: 'sso_failed' });
    expect(cookiesOf(res).v01t_session).toBeUndefined();
    const events = await securityEvents('sso_failed');
    expect(events.some((e) => e.detail.reason === 'email_unverified' && e.email === victim.email.toLowerCase())).toBe(true);
    // Nothing was linked: the same subject with the address verified now links to the victim only through the verified path.
    const members = await t.inject({ method: 'GET', url: `/v1/workspaces/${defaultWs}/members`, headers: bearer(admin.token) });
    expect(members.body).not.toContain('Mallory');
  });

  it('refuses an unknown person when just-in-time provisioning is off', async () => {
    const sub = `carol-${randomUUID().slice(0, 8)}`;
    accounts.set(sub, { email: `${sub}@sso.test`, email_verified: true, name: 'Carol' });
    const res = await ssoSignIn('nojit', sub, { client: 'api' });
    expect(res.statusCode).toBe(403);
    expect(problem(res).code).toBe('sso_not_provisioned');
    expect((await securityEvents('sso_failed')).some((e) => e.detail.reason === 'not_provisioned' && e.detail.provider === 'nojit')).toBe(true);
  });

  it('refuses an ID token whose nonce is not the one this sign-in sent', async () => {
    const sub = `dave-${randomUUID().slice(0, 8)}`;
    accounts.set(sub, { email: `${sub}@sso.test`, email_verified: true });
    const res = await ssoSignIn('kc', sub, { client: 'api', tamper: (u) => u.searchParams.set('nonce', 'attacker-chosen-nonce') });
    expect(res.statusCode).toBe(401);
    expect(problem(res).code).toBe('sso_failed');
    expect(problem(res).detail).toMatch(/nonce/i);
    expect((await securityEvents('sso_failed')).some((e) => e.detail.reason === 'token_rejected')).toBe(true);
  });

  it('refuses an expired ID token (judged on the injected clock)', async () => {
    const sub = `erin-${randomUUID().slice(0, 8)}`;
    accounts.set(sub, { email: `${sub}@sso.test`, email_verified: true });
    const res = await ssoSignIn('kc', sub, { client: 'api', beforeCallback: () => t.clock.advance((ID_TOKEN_TTL_SECONDS + 120) * 1000) });
    expect(res.statusCode).toBe(401);
    expect(problem(res).detail).toMatch(/exp/i);
  });

  it('refuses an ID token signed by a key other than the issuer publishes', async () => {
    const sub = `frank-${randomUUID().slice(0, 8)}`;
    accounts.set(sub, { email: `${sub}@sso.test`, email_verified: true });
    const res = await ssoSignIn('kc', sub, { client: 'api', beforeCallback: () => (swapJwks = true) });
    expect(res.statusCode).toBe(401);
    expect(problem(res).code).toBe('sso_failed');
    expect(problem(res).detail).toMatch(/signature/i);
  });

  it('refuses a callback carried to another browser (no state cookie), sending a browser back to the sign-in page', async () => {
    const sub = `gina-${randomUUID().slice(0, 8)}`;
    accounts.set(sub, { email: `${sub}@sso.test`, email_verified: true });
    const res = await ssoSignIn('kc', sub, { withoutStateCookie: true });
    expect(res.statusCode).toBe(401);
    expect(problem(res).code).toBe('sso_failed');
    const html = await t.inject({ method: 'GET', url: '/v1/auth/sso/kc/callback?state=x&code=y', headers: { accept: 'text/html' } });
    expect(html.statusCode).toBe(303);
    expect(html.headers.location).toBe('/signin?sso_error=sso_failed');
  });

  it('removes a provider: it disappears from the sign-in page and its sign-in no longer starts', async () => {
    const add = await t.inject({ method: 'POST', url: '/v1/admin/sso/providers', headers: bearer(admin.token), payload: { slug: 'other', name: 'Other', issuerUrl: issuer, clientId: 'v01t', clientSecret: CLIENT_SECRET } });
    expect(add.statusCode).toBe(201);
    expect((await t.inject({ method: 'DELETE', url: '/v1/admin/sso/providers/other', headers: bearer(admin.token) })).statusCode).toBe(204);
    expect((await t.inject({ method: 'GET', url: '/v1/auth/sso/providers' })).body).not.toContain('"other"');
    expect((await t.inject({ method: 'GET', url: '/v1/auth/sso/other/start' })).statusCode).toBe(404);
  });
});

describe('V01T_SSO_ONLY', () => {
  let only: TestPlatform;
  afterAll(async () => only?.close());

  it('refuses password sign-in and sign-up with sso_only; a platform admin keeps a break-glass password sign-in', async () => {
    only = await createTestPlatform({ V01T_SSO_ONLY: 'true' });
    const auth = only.platform.orchestrator!.services.auth;
    const adminPw = `pw-${randomUUID()}-Zq!`;
    const userPw = `pw-${randomUUID()}-Zq!`;
    const a = await auth.createUser({ email: `root.${randomUUID().slice(0, 6)}@example.test`, name: 'Root', password: adminPw, platformAdmin: true }, null);
    const u = await auth.createUser({ email: `user.${randomUUID().slice(0, 6)}@example.test`, name: 'User', password: userPw, platformAdmin: false }, null);
    const login = (payload: Record<string, unknown>) => only.inject({ method: 'POST', url: '/v1/auth/login', payload });
    expect(problem(await login({ email: u.email, password: userPw })).code).toBe('sso_only');
    expect(problem(await login({ email: a.email, password: adminPw })).code).toBe('sso_only');
    // Break glass: only an admin's right password opens a session; a non-admin's right password looks like a wrong one.
    expect(problem(await login({ email: u.email, password: userPw, breakGlass: true })).code).toBe('invalid_credentials');
    expect(problem(await login({ email: a.email, password: 'wrong-password', breakGlass: true })).code).toBe('invalid_credentials');
    const ok = await login({ email: a.email, password: adminPw, breakGlass: true });
    expect(ok.statusCode, ok.body).toBe(200);
    const signupRes = await only.inject({ method: 'POST', url: '/v1/auth/signup', payload: { email: 'new@example.test', password: userPw, name: 'New' } });
    expect(problem(signupRes).code).toBe('sso_only');
    const providers = await only.inject({ method: 'GET', url: '/v1/auth/sso/providers' });
    expect(providers.json()).toEqual({ providers: [], ssoOnly: true });
  }, 60_000);
});

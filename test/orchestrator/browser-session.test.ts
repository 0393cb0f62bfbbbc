import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { bearer, problem, signup, type TestUser } from '../helpers/api.js';

/**
 * The web app's side of the HTTP layer without a browser: cookie sessions, the CSRF defence, the
 * security headers and the SPA fallback (the browser suite in test/browser drives the same in Chromium).
 */
let t: TestPlatform;
let user: TestUser;
let webDir: string;
const ORIGIN = 'http://localhost:80';

function cookiesOf(res: { headers: Record<string, unknown> }): Record<string, { value: string; raw: string }> {
  const set = res.headers['set-cookie'];
  const list = Array.isArray(set) ? set : set ? [String(set)] : [];
  return Object.fromEntries(list.map((raw: string) => {
    const [pair] = raw.split(';');
    const [name, value] = pair!.split('=');
    return [name!, { value: value!, raw }];
  }));
}

beforeAll(async () => {
  webDir = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-web-'));
  fs.mkdirSync(path.join(webDir, 'assets'));
  fs.writeFileSync(path.join(webDir, 'index.html'), '<!doctype html><div id="root"></div>');
  fs.writeFileSync(path.join(webDir, 'assets', 'app-abc123.js'), 'console.log(1)');
  t = await createTestPlatform({ V01T_WEB_DIR: webDir });
  user = await signup(t, 'Browser User');
});

afterAll(async () => {
  await t?.close();
  fs.rmSync(webDir, { recursive: true, force: true });
});

async function browserLogin() {
  const res = await t.inject({ method: 'POST', url: '/v1/auth/browser/login', headers: { origin: ORIGIN }, payload: { email: user.email, password: user.password } });
  expect(res.statusCode).toBe(200);
  const cookies = cookiesOf(res);
  return { res, session: cookies.v01t_session!, csrf: cookies.v01t_csrf! };
}

describe('browser sessions', () => {
  it('signs in with an HttpOnly cookie and never returns the token in the body', async () => {
    const { res, session, csrf } = await browserLogin();
    expect(session.raw).toMatch(/HttpOnly/i);
    expect(session.raw).toMatch(/SameSite=Lax/i);
    expect(csrf.raw).not.toMatch(/HttpOnly/i);
    expect(res.body).not.toContain(session.value);
    expect(res.json().user.email).toBe(user.email);
    const me = await t.inject({ method: 'GET', url: '/v1/me', cookies: { v01t_session: session.value } });
    expect(me.statusCode).toBe(200);
    expect(me.json().user.id).toBe(user.id);
  });

  it('refuses a sign-in posted from another origin', async () => {
    const res = await t.inject({ method: 'POST', url: '/v1/auth/browser/login', headers: { origin: 'http://evil.example' }, payload: { email: user.email, password: user.password } });
    expect(res.statusCode).toBe(403);
    expect(problem(res).code).toBe('csrf_failed');
    expect(res.headers['set-cookie']).toBeUndefined();
  });

  it('refuses cookie-authenticated changes without our Origin and the CSRF token, and accepts them with both', async () => {
    const { session, csrf } = await browserLogin();
    const cookies = { v01t_session: session.value, v01t_csrf: csrf.value };
    const post = (headers: Record<string, string>) => t.inject({ method: 'POST', url: '/v1/workspaces', cookies, headers, payload: { name: 'Cookie WS' } });
    const crossSite = await post({ origin: 'http://evil.example', 'x-csrf-token': csrf.value });
    expect(crossSite.statusCode).toBe(403);
    expect(problem(crossSite).code).toBe('csrf_failed');
    expect((await post({ 'x-csrf-token': csrf.value })).statusCode).toBe(403);
    expect((await post({ origin: ORIGIN })).statusCode).toBe(403);
    expect((await post({ origin: ORIGIN, 'x-csrf-token': 'wrong' })).statusCode).toBe(403);
    const ok = await post({ origin: ORIGIN, 'x-csrf-token': csrf.value });
    expect(ok.statusCode).toBe(201);
    // Bearer clients are not affected by the browser defence.
    expect((await t.inject({ method: 'POST', url: '/v1/workspaces', headers: bearer(user.token), payload: { name: 'Bearer WS' } })).statusCode).toBe(201);
  });

  it('signs out: the cookie session is revoked and the cookies cleared', async () => {
    const { session, csrf } = await browserLogin();
    const out = await t.inject({ method: 'POST', url: '/v1/auth/browser/logout', headers: { origin: ORIGIN, 'x-csrf-token': csrf.value }, cookies: { v01t_session: session.value, v01t_csrf: csrf.value } });
    expect(out.statusCode).toBe(204);
    expect(cookiesOf(out).v01t_session?.value ?? '').toBe('');
    const me = await t.inject({ method: 'GET', url: '/v1/me', cookies: { v01t_session: session.value } });
    expect(me.statusCode).toBe(401);
  });
});

describe('serving the web app', () => {
  it('serves index.html at / and for deep links, with the CSP and security headers', async () => {
    for (const url of ['/', '/w/123/members']) {
      const res = await t.inject({ method: 'GET', url, headers: { accept: 'text/html' } });
      expect(res.statusCode, url).toBe(200);
      expect(res.body).toContain('<div id="root">');
      expect(res.headers['cache-control']).toBe('no-cache');
      expect(String(res.headers['content-security-policy'])).toContain("script-src 'self'");
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['x-frame-options']).toBe('DENY');
    }
  });

  it('never shadows the API: misses under reserved prefixes stay problem+json 404s', async () => {
    for (const url of ['/v1/nothing', '/hooks/nothing', '/status/nothing', '/docs/nothing', '/ops/nothing']) {
      const res = await t.inject({ method: 'GET', url, headers: { accept: 'text/html' } });
      expect(res.statusCode, url).toBe(404);
      expect(String(res.headers['content-type'])).toContain('application/problem+json');
    }
    // A script's fetch (no text/html in Accept) gets the API's answer, not the page.
    expect((await t.inject({ method: 'GET', url: '/w/123' })).statusCode).toBe(404);
  });

  it('caches hashed assets for a year', async () => {
    const res = await t.inject({ method: 'GET', url: '/assets/app-abc123.js' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('public, max-age=31536000, immutable');
  });
});

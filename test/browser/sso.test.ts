import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Provider from 'oidc-provider';
import type { Browser } from 'playwright-core';
import { expectAccessible, launchBrowser, newContext, startServer, type Server } from './harness.js';

/**
 * "Sign in with <provider>" in Chromium against a real `v01t start` and a real OpenID Provider
 * (oidc-provider on a loopback port): the provider is added with `v01t sso add` over the running
 * server's admin socket, the button starts the flow, the provider's own login and consent pages are
 * filled in, and the browser comes back signed in with the HttpOnly session cookie.
 */
let server: Server;
let browser: Browser;
let idp: http.Server;
let issuer: string;
const CLIENT_SECRET = 'browser-sso-client-secret';

function v01t(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, ['bin/v01t.js', ...args], { env: { ...process.env, V01T_DATA_DIR: server.dataDir, LOG_LEVEL: 'warn' }, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    if (input !== undefined) child.stdin!.end(input);
  });
}

beforeAll(async () => {
  const ref: { handler?: ReturnType<Provider['callback']> } = {};
  idp = http.createServer((req, res) => ref.handler!(req, res));
  await new Promise<void>((resolve) => idp.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(idp.address() as AddressInfo).port}`;
  [server, browser] = await Promise.all([startServer({ V01T_EGRESS_ALLOW: new URL(issuer).host }), launchBrowser()]);
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const provider = new Provider(issuer, {
    clients: [{ client_id: 'v01t', client_secret: CLIENT_SECRET, redirect_uris: [`${server.url}/v1/auth/sso/kc/callback`], response_types: ['code'], grant_types: ['authorization_code'] }],
    findAccount: async (_ctx, id) => ({ accountId: id, claims: async () => ({ sub: id, email: `${id}@sso.test`, email_verified: true, name: 'Sso Person' }) }),
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    jwks: { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: 'k1', alg: 'RS256', use: 'sig' } as never] },
    cookies: { keys: ['browser-test-cookie-key'] },
    pkce: { required: () => true },
  });
  ref.handler = provider.callback();
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await new Promise((resolve) => idp?.close(resolve));
});

describe('web app: single sign-on', () => {
  it('adds a provider with v01t sso add (admin socket) and signs in with it from the sign-in page', async () => {
    const added = await v01t(['sso', 'add', '--slug', 'kc', '--name', 'Keycloak', '--issuer', issuer, '--client-id', 'v01t', '--client-secret-stdin', '--jit'], CLIENT_SECRET);
    expect(added.code, added.stderr).toBe(0);

    const context = await newContext(browser);
    const page = await context.newPage();
    await page.goto(`${server.url}/signin`);
    const button = page.getByRole('link', { name: 'Sign in with Keycloak' });
    await button.waitFor();
    await expectAccessible(page, 'sign-in with SSO');
    const narrow = await (await newContext(browser, { width: 375, dark: true })).newPage();
    await narrow.goto(`${server.url}/signin`);
    await narrow.getByRole('link', { name: 'Sign in with Keycloak' }).waitFor();
    await expectAccessible(narrow, 'sign-in with SSO, 375 px, dark');
    await button.click();

    // The provider's own pages (oidc-provider's development login and consent forms).
    await page.waitForURL((u) => u.href.startsWith(issuer), { waitUntil: 'domcontentloaded' });
    await page.locator('input[name="login"]').fill('sso-person');
    await page.locator('input[name="password"]').fill('anything');
    await page.locator('button[type="submit"]').click({ noWaitAfter: true });
    await page.locator('input[name="prompt"][value="consent"]').waitFor({ state: 'attached' });
    await page.locator('button[type="submit"]').click({ noWaitAfter: true });

    await page.waitForURL((u) => u.href.startsWith(server.url) && !u.pathname.startsWith('/signin') && !u.pathname.startsWith('/v1/'), { waitUntil: 'domcontentloaded' });
    await page.getByRole('link', { name: 'Sso Person' }).waitFor();
    const cookies = await context.cookies(server.url);
    const session = cookies.find((c) => c.name === 'v01t_session');
    expect(session?.httpOnly).toBe(true);
    await context.close();
  });

  it('brings a failed sign-in back to the sign-in page with a message', async () => {
    const page = await (await newContext(browser)).newPage();
    await page.goto(`${server.url}/v1/auth/sso/kc/callback?state=forged&code=forged`);
    await page.waitForURL(/\/signin\?sso_error=sso_failed/);
    await page.getByRole('alert').getByText('Single sign-on failed').waitFor();
  });
});

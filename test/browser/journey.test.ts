import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as OTPAuth from 'otpauth';
import type { Browser, Page } from 'playwright-core';
import { expectAccessible, launchBrowser, newContext, screenshot, startServer, type Server } from './harness.js';

/**
 * The web app as a person uses it, in Debian's Chromium against a real `v01t start`: sign up, a
 * workspace and personas, TOTP enrolment, sign out and in with the code, an invitation accepted in a
 * second browser, roles, the audit log, API tokens; axe on every screen; the CSRF and CSP defences.
 */
let server: Server;
let browser: Browser;

beforeAll(async () => {
  [server, browser] = await Promise.all([startServer(), launchBrowser()]);
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

function totp(secret: string, offsetSeconds = 0): string {
  return new OTPAuth.TOTP({ algorithm: 'SHA1', digits: 6, period: 30, secret: OTPAuth.Secret.fromBase32(secret) }).generate({ timestamp: Date.now() + offsetSeconds * 1000 });
}

async function signUp(page: Page, name: string, email: string, password: string) {
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Create account' }).click();
}

describe('web app: accounts and workspaces', () => {
  const owner = { name: 'Ada Owner', email: 'ada@example.test', password: 'correct horse battery staple 42' };
  const teammate = { name: 'Tom Mate', email: 'tom@example.test', password: 'another long passphrase 77' };
  let workspaceUrl = '';
  let totpSecret = '';
  let recoveryCodes: string[] = [];

  it('serves the app with a strict CSP and never shadows the API', async () => {
    const res = await fetch(`${server.url}/`);
    expect(res.status).toBe(200);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-eval');
    expect(csp).toContain("frame-ancestors 'none'");
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const api = await fetch(`${server.url}/v1/nothing-here`, { headers: { accept: 'text/html' } });
    expect(api.status).toBe(404);
    expect(api.headers.get('content-type')).toContain('application/problem+json');
    const deep = await fetch(`${server.url}/w/some/deep/link`, { headers: { accept: 'text/html' } });
    expect(deep.status).toBe(200);
    expect(await deep.text()).toContain('<div id="root">');
  });

  it('signs up, creates a workspace and picks personas', async () => {
    const page = await (await newContext(browser)).newPage();
    await page.goto(server.url);
    await page.waitForURL(/\/signin/);
    await page.getByRole('heading', { name: 'Sign in to v01t' }).waitFor();
    await expectAccessible(page, 'sign in');
    await screenshot(page, 'sign-in');
    await page.getByRole('link', { name: 'Create an account' }).click();
    await page.waitForURL(/\/signup/);
    await expectAccessible(page, 'sign up');
    // A clear error from the API lands on the page, not in a console.
    await signUp(page, owner.name, 'ada@localhost', owner.password);
    await page.getByRole('alert').waitFor();
    await page.getByLabel('Email').fill(owner.email);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.waitForURL(/\/workspaces\/new/);
    await expectAccessible(page, 'new workspace');
    await page.getByLabel('Workspace name').fill('Acme Studio');
    await page.getByRole('button', { name: 'Create workspace' }).click();
    await page.waitForURL(/\/w\/[0-9a-f-]+\/settings/);
    workspaceUrl = page.url().replace(/\/settings.*$/, '');
    await page.locator('label.checkbox', { hasText: 'Founder' }).click();
    await page.locator('label.checkbox', { hasText: 'vBuilder' }).click();
    await page.getByRole('button', { name: 'Save personas' }).click();
    await page.getByText('Saved.').waitFor();
    await expectAccessible(page, 'workspace settings');
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Home' }).click();
    await page.getByRole('tab', { name: 'vBuilder' }).click();
    await page.getByText('Automate the busywork').waitFor();
    await expectAccessible(page, 'home');
    await screenshot(page, 'home');
    await page.context().close();
  });

  it('enrols TOTP, then signs out and back in with a code', async () => {
    const context = await newContext(browser);
    const page = await context.newPage();
    await page.goto(`${server.url}/signin`);
    await page.getByLabel('Email').fill(owner.email);
    await page.getByLabel('Password').fill(owner.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/w\//);
    await page.getByRole('link', { name: owner.name }).click();
    await page.getByRole('button', { name: 'Set up an authenticator app' }).click();
    totpSecret = (await page.getByTestId('totp-secret').textContent()) ?? '';
    expect(totpSecret).toMatch(/^[A-Z2-7]+$/);
    await page.getByRole('img', { name: /QR code/ }).waitFor();
    await page.getByLabel('Code from the app').fill(totp(totpSecret));
    await page.getByRole('button', { name: 'Turn on' }).click();
    await page.getByText('Recovery codes', { exact: true }).waitFor();
    recoveryCodes = await page.locator('.codes code').allTextContents();
    expect(recoveryCodes.length).toBeGreaterThanOrEqual(8);
    await page.getByText('Status: on').waitFor();
    await expectAccessible(page, 'account');
    await screenshot(page, 'account');
    // The page never holds the session token: the cookie is HttpOnly.
    const cookies = await context.cookies();
    expect(cookies.find((c) => c.name === 'v01t_session')?.httpOnly).toBe(true);
    expect(await page.evaluate(() => (globalThis as unknown as { document: { cookie: string } }).document.cookie)).not.toContain('v01t_session');

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/signin/);
    await page.getByLabel('Email').fill(owner.email);
    await page.getByLabel('Password').fill(owner.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByLabel('One-time code').waitFor();
    await expectAccessible(page, 'MFA challenge');
    // The enrolment used this time step; a code is single-use, so sign in with the next step's.
    await page.getByLabel('One-time code').fill(totp(totpSecret, 30));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.waitForURL(/\/w\//);
    await context.close();
  });

  it('invites a teammate who accepts in another browser, and the audit log shows it', async () => {
    const ownerContext = await newContext(browser);
    const page = await ownerContext.newPage();
    await page.goto(`${server.url}/signin`);
    await page.getByLabel('Email').fill(owner.email);
    await page.getByLabel('Password').fill(owner.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    // Both current time steps are used up: a recovery code signs in instead (and works only once).
    await page.getByLabel('One-time code').fill(recoveryCodes[0]!);
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.waitForURL(/\/w\//);
    await page.goto(`${workspaceUrl}/members`);
    await page.getByLabel('Email').fill(teammate.email);
    await page.getByRole('button', { name: 'Invite', exact: true }).click();
    const link = (await page.locator('code.secret').textContent()) ?? '';
    expect(link).toContain('/invitations/accept?token=');
    await expectAccessible(page, 'members');
    await screenshot(page, 'members');

    const mate = await (await newContext(browser, { width: 375 })).newPage();
    await mate.goto(link);
    await mate.waitForURL(/\/signin\?next=/);
    await mate.getByRole('link', { name: 'Create an account' }).click();
    await signUp(mate, teammate.name, teammate.email, teammate.password);
    await mate.waitForURL(/\/invitations\/accept/);
    await mate.getByRole('button', { name: 'Accept the invitation' }).click();
    await mate.waitForURL(/\/w\/[0-9a-f-]+$/);
    await expectAccessible(mate, 'home at 375 px');
    // The layout holds at 375 px: nothing wider than the screen.
    expect(await mate.evaluate(() => (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
    await mate.context().close();

    await page.reload();
    await page.getByRole('cell', { name: teammate.email }).waitFor();
    await page.goto(`${workspaceUrl}/audit`);
    await page.getByRole('cell', { name: 'invitation.accepted' }).waitFor();
    const actions = await page.locator('tbody td:nth-child(2)').allTextContents();
    expect(actions.some((a) => a === 'workspace.created')).toBe(true);
    expect(actions.some((a) => a.includes('invit'))).toBe(true);
    await expectAccessible(page, 'audit log');
    await screenshot(page, 'audit-log');
    // Dark theme keeps contrast.
    await page.getByRole('button', { name: /Switch to dark theme/ }).click();
    await expectAccessible(page, 'audit log (dark)');
    await ownerContext.close();
  });

  it('refuses a cross-site form post that rides on the session cookie', async () => {
    const context = await newContext(browser);
    const page = await context.newPage();
    await page.goto(`${server.url}/signin`);
    await page.getByLabel('Email').fill(teammate.email);
    await page.getByLabel('Password').fill(teammate.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/w\//);
    // Same cookies, another origin: the API answers 403 csrf_failed.
    const forged = await context.request.post(`${server.url}/v1/workspaces`, { headers: { origin: 'http://evil.example' }, data: { name: 'Forged' } });
    expect(forged.status()).toBe(403);
    expect((await forged.json()).code).toBe('csrf_failed');
    const noToken = await context.request.post(`${server.url}/v1/workspaces`, { headers: { origin: server.url }, data: { name: 'Forged' } });
    expect(noToken.status()).toBe(403);
    // A real page on another origin auto-submitting a form at the API changes nothing.
    const evil = http.createServer((_req, res) => {
      res.setHeader('content-type', 'text/html');
      res.end(`<form id="f" method="POST" action="${server.url}/v1/workspaces" enctype="text/plain"><input name='{"name":"Evil","x":"' value='"}'></form><script>document.getElementById('f').submit()</script>`);
    });
    await new Promise<void>((r) => evil.listen(0, '127.0.0.2', r));
    const port = (evil.address() as { port: number }).port;
    await page.goto(`http://127.0.0.2:${port}/`);
    await page.waitForLoadState('networkidle');
    evil.close();
    const list = await context.request.get(`${server.url}/v1/workspaces`);
    const names = ((await list.json()) as { workspaces: { name: string }[] }).workspaces.map((w) => w.name);
    expect(names).not.toContain('Evil');
    expect(names).not.toContain('Forged');
    await context.close();
  });
});

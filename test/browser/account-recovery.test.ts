import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { expectAccessible, launchBrowser, newContext, startServer, type Server } from './harness.js';
import { linkIn, startTestSmtp, type TestSmtp } from '../helpers/smtp.js';

/**
 * Account recovery as a person goes through it (ADR 0040), in Debian's Chromium against a real
 * `v01t start` that mails through the test's SMTP server: "Forgot password?", the link from the
 * received mail, a new password, sign-in; then the verification banner and the mailed link.
 */
let server: Server;
let browser: Browser;
let smtp: TestSmtp;

beforeAll(async () => {
  smtp = await startTestSmtp();
  [server, browser] = await Promise.all([startServer({ SMTP_URL: smtp.url, MAIL_POLL_SECONDS: '1' }), launchBrowser()]);
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await smtp?.close();
});

/** The received link opened on the server the test started (the mail's origin is the server's own default). */
const onServer = (link: URL) => `${server.url}${link.pathname}${link.search}`;

describe('web app: forgot password, reset, verify', { timeout: 300_000 }, () => {
  const person = { name: 'Rita Reset', email: 'rita@example.test', password: 'the old forgotten passphrase 1', next: 'a fresh new passphrase for rita 2' };

  it('recovers an account from the sign-in page through the mailed link, then confirms the address', async () => {
    const signup = await fetch(`${server.url}/v1/auth/signup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: person.name, email: person.email, password: person.password }) });
    expect(signup.status).toBe(201);

    const page = await (await newContext(browser)).newPage();
    await page.goto(`${server.url}/signin`);
    await page.getByRole('link', { name: 'Forgot password?' }).click();
    await page.getByRole('heading', { name: 'Forgot your password?' }).waitFor({ timeout: 60_000 });
    await expectAccessible(page, 'forgot password');
    await page.getByLabel('Email').fill(person.email);
    await page.getByRole('button', { name: 'Mail me a link' }).click();
    await page.getByText('If an account uses this address').waitFor({ timeout: 60_000 });

    const mail = await smtp.waitFor(person.email, /reset-password\?token=/, 60_000);
    await page.goto(onServer(linkIn(mail, '/reset-password')));
    await page.getByRole('heading', { name: 'Choose a new password' }).waitFor({ timeout: 60_000 });
    await expectAccessible(page, 'reset password');
    // The policy's answer shows next to the field.
    await page.getByLabel('New password').fill('password');
    await page.getByRole('button', { name: 'Set the new password' }).click();
    await page.locator('.field-error').first().waitFor({ timeout: 60_000 });
    await page.getByLabel('New password').fill(person.next);
    await page.getByRole('button', { name: 'Set the new password' }).click();
    await page.getByText('Your password was changed').waitFor({ timeout: 60_000 });

    await page.getByRole('link', { name: 'Sign in with the new password' }).click();
    await page.getByLabel('Email').fill(person.email);
    await page.getByLabel('Password').fill(person.next);
    await page.getByRole('button', { name: 'Sign in' }).click();
    // Following the reset link proved the address: no banner.
    await page.getByRole('link', { name: person.name }).waitFor({ timeout: 60_000 });
    expect(await page.getByText('Please confirm your email address').count()).toBe(0);

    // The old password no longer works.
    const old = await fetch(`${server.url}/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: person.email, password: person.password }) });
    expect(old.status).toBe(401);
  });

  it('shows the banner to an unconfirmed account, and the mailed link confirms it', async () => {
    const who = { name: 'Vera Verify', email: 'vera@example.test', password: 'vera has a long passphrase 3' };
    const page = await (await newContext(browser, { dark: true })).newPage();
    await page.goto(`${server.url}/signup`);
    await page.getByLabel('Name').fill(who.name);
    await page.getByLabel('Email').fill(who.email);
    await page.getByLabel('Password').fill(who.password);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByText('Please confirm your email address').waitFor({ timeout: 60_000 });
    await expectAccessible(page, 'unverified banner (dark)');

    const mail = await smtp.waitFor(who.email, /verify-email\?token=/, 60_000);
    await page.goto(onServer(linkIn(mail, '/verify-email')));
    await page.getByText('this address is confirmed').waitFor({ timeout: 60_000 });
    await expectAccessible(page, 'email confirmed (dark)');
    await page.getByRole('link', { name: 'Continue to v01t' }).click();
    await page.getByRole('link', { name: who.name }).waitFor({ timeout: 60_000 });
    expect(await page.getByText('Please confirm your email address').count()).toBe(0);
  });

  it('mails an invitation; the members page resends it; an existing account accepts from the new link', async () => {
    const json = { 'content-type': 'application/json' };
    const owner = { name: 'Olga Owner', email: 'olga@example.test', password: 'olga owns the workspace 4' };
    const guest = { name: 'Ivy Invitee', email: 'ivy@example.test', password: 'ivy already has an account 5' };
    const o = (await (await fetch(`${server.url}/v1/auth/signup`, { method: 'POST', headers: json, body: JSON.stringify(owner) })).json()) as { token: string };
    expect((await fetch(`${server.url}/v1/auth/signup`, { method: 'POST', headers: json, body: JSON.stringify(guest) })).status).toBe(201);
    const ws = (await (await fetch(`${server.url}/v1/workspaces`, { method: 'POST', headers: { ...json, authorization: `Bearer ${o.token}` }, body: JSON.stringify({ name: 'Invited Team' }) })).json()) as { workspace: { id: string } };

    const page = await (await newContext(browser)).newPage();
    await page.goto(`${server.url}/signin?next=${encodeURIComponent(`/w/${ws.workspace.id}/members`)}`);
    await page.getByLabel('Email').fill(owner.email);
    await page.getByLabel('Password').fill(owner.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Invite a teammate' }).waitFor({ timeout: 60_000 });
    await page.getByLabel('Email').fill(guest.email);
    await page.getByRole('button', { name: 'Invite', exact: true }).click();
    const first = await smtp.waitFor(guest.email, /invitations\/accept\?token=/, 60_000);
    await page.getByRole('button', { name: `Resend the invitation of ${guest.email}` }).click();
    await page.getByText(`A new invitation link was mailed to ${guest.email}`).waitFor({ timeout: 60_000 });
    await expectAccessible(page, 'members with resend');
    const firstToken = linkIn(first, '/invitations/accept').searchParams.get('token');
    // The resent mail carries a new link (the first one stops working).
    const second = await smtp.waitFor(guest.email, new RegExp(`invitations/accept\\?token=(?!${firstToken})`), 60_000);

    const mate = await (await newContext(browser, { width: 375 })).newPage();
    await mate.goto(onServer(linkIn(second, '/invitations/accept')));
    await mate.waitForURL(/\/signin\?next=/, { timeout: 60_000 });
    await mate.getByLabel('Email').fill(guest.email);
    await mate.getByLabel('Password').fill(guest.password);
    await mate.getByRole('button', { name: 'Sign in' }).click();
    await mate.getByRole('button', { name: 'Accept the invitation' }).click();
    await mate.waitForURL(/\/w\/[0-9a-f-]+$/, { timeout: 60_000 });
    expect(mate.url()).toContain(ws.workspace.id);
  });
});

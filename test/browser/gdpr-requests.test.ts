import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { expectAccessible, launchBrowser, newContext, startServer, type Server } from './harness.js';

/**
 * The GDPR requests register in Debian's Chromium against a real `v01t start` (ADR 0064): a user
 * files an objection from the account page and sees it listed with its due date; a platform admin
 * finds it in the operations console beside a request recorded with the CLI 40 days ago (overdue,
 * highlighted), refuses the first with a reason and completes the overdue one; axe on both screens.
 */
const PASSWORD = 'gdpr test password 12345';
let server: Server;
let browser: Browser;
const contexts: BrowserContext[] = [];

function v01t(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, ['bin/v01t.js', ...args], { env: { ...process.env, V01T_DATA_DIR: server.dataDir, LOG_LEVEL: 'warn' }, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin!.end(input ?? '');
  });
}

async function signIn(email: string): Promise<Page> {
  const context = await newContext(browser);
  contexts.push(context);
  const page = await context.newPage();
  await page.goto(`${server.url}/signin`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/workspaces\/new/);
  return page;
}

beforeAll(async () => {
  [server, browser] = await Promise.all([startServer(), launchBrowser()]);
  for (const [email, admin] of [
    ['dpo@example.test', true],
    ['jane@example.test', false],
  ] as const) {
    const created = await v01t(['user', 'create', '--email', email, '--name', email.split('@')[0]!, ...(admin ? ['--admin'] : []), '--password-stdin'], PASSWORD);
    expect(created.code, created.stderr).toBe(0);
  }
  const received = new Date(Date.now() - 40 * 86_400_000).toISOString().slice(0, 10);
  const late = await v01t(['gdpr', 'request', 'add', '--kind', 'access', '--email', 'late@example.test', '--received', received, '--details', 'copy of my data, by email']);
  expect(late.code, late.stderr).toBe(0);
}, 300_000);

afterAll(async () => {
  for (const c of contexts) await c.close();
  await browser?.close();
  await server?.stop();
});

describe('web app: GDPR requests', () => {
  it('a user files an objection from the account page and sees it with its due date', async () => {
    const page = await signIn('jane@example.test');
    await page.goto(`${server.url}/account`);
    const form = page.getByRole('form', { name: 'Privacy request' });
    await form.getByText('Object to processing', { exact: true }).click();
    await form.getByLabel('What should we do?').fill('Stop using my activity for analytics');
    await form.getByRole('button', { name: 'Send request' }).click();
    await page.getByRole('status').filter({ hasText: 'Request sent' }).waitFor();
    const row = page.getByRole('table', { name: 'Your privacy requests' }).getByRole('row').filter({ hasText: 'Objection to processing' });
    await row.waitFor();
    await expect(row.textContent()).resolves.toContain('received');
    // A non-admin has no GDPR tab in the operations console (the API answers 403 anyway).
    await expectAccessible(page, 'account privacy requests');
  }, 120_000);

  it('a platform admin sees the overdue request highlighted, refuses the objection and completes the overdue one', async () => {
    const page = await signIn('dpo@example.test');
    await page.goto(`${server.url}/operations?tab=gdpr`);
    const table = page.getByRole('table', { name: 'GDPR requests' });
    await table.waitFor();
    const rows = page.getByTestId('gdpr-request');
    await expect(rows.count()).resolves.toBe(2);
    // Open requests by due date: the one received 40 days ago first, overdue by 10 days.
    const late = rows.nth(0);
    await expect(late.getAttribute('data-overdue')).resolves.toBe('true');
    await expect(late.textContent()).resolves.toMatch(/late@example\.test[\s\S]*overdue by 10 day\(s\)/);
    const objection = rows.filter({ hasText: 'jane@example.test' });
    await expect(objection.getAttribute('data-overdue')).resolves.toBe('false');
    await expect(objection.textContent()).resolves.toMatch(/due in (29|30) day\(s\)/);
    await expectAccessible(page, 'operations GDPR requests');

    await objection.getByRole('button', { name: 'Refuse…' }).click();
    await objection.getByLabel('Reason given to the requester').fill('The analytics are needed for the service you use');
    await objection.getByRole('button', { name: 'Refuse request' }).click();
    await page.getByTestId('gdpr-request').filter({ hasText: 'jane@example.test' }).waitFor({ state: 'detached' });

    await late.getByRole('button', { name: 'Complete' }).click();
    await page.getByText('No open GDPR request').waitFor();

    const listed = await v01t(['gdpr', 'request', 'list', '--status', 'all']);
    const byEmail = Object.fromEntries(listed.stdout.trim().split('\n').map((l) => JSON.parse(l) as { email: string; status: string; refusalReason?: string }).map((r) => [r.email, r]));
    expect(byEmail['late@example.test']).toMatchObject({ status: 'completed' });
    expect(byEmail['jane@example.test']).toMatchObject({ status: 'refused', refusalReason: 'The analytics are needed for the service you use' });
  }, 120_000);
});

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { expectAccessible, launchBrowser, newContext, screenshot, startServer, type Server } from './harness.js';

/**
 * The operations console in Debian's Chromium against a real `v01t start` (issue 16): a platform
 * admin (created with `v01t user create --admin` over the admin socket) sees the incident an
 * Alertmanager notification opened (posted as Alertmanager posts it, with the receiver's bearer),
 * watches the response-target countdown tick with the browser's clock (Playwright's fake clock moves
 * it), acknowledges and sees the countdown stop; takes the three roles, writes a note and a status
 * page update, sees it on the public status page preview, resolves, previews the post-mortem and
 * marks it done; the deployment history's success rate; axe on every screen, 375 px, dark theme.
 */
const AM_TOKEN = randomBytes(24).toString('hex');
const DEPLOY_TOKEN = randomBytes(24).toString('hex');
const PASSWORD = 'operator password 12345';
let server: Server;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let incidentId = '';

function v01t(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, ['bin/v01t.js', ...args], { env: { ...process.env, V01T_DATA_DIR: server.dataDir, LOG_LEVEL: 'warn' }, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    if (input !== undefined) child.stdin!.end(input);
  });
}

/** Alertmanager's webhook (payload version 4) for one firing alert group. */
function alertmanagerPayload(startsAt: string) {
  const labels = { alertname: 'ApiErrorBudgetBurn', severity: 'critical', service: 'orchestrator', team: 'engineering' };
  return {
    version: '4',
    groupKey: '{}:{alertname="ApiErrorBudgetBurn"}',
    truncatedAlerts: 0,
    status: 'firing',
    receiver: 'v01t-incidents',
    groupLabels: { alertname: 'ApiErrorBudgetBurn' },
    commonLabels: labels,
    commonAnnotations: { summary: 'The API burns its error budget 14x too fast' },
    externalURL: 'http://alertmanager.example:9093',
    alerts: [
      {
        status: 'firing',
        labels,
        annotations: { summary: 'The API burns its error budget 14x too fast' },
        startsAt,
        endsAt: '0001-01-01T00:00:00Z',
        generatorURL: 'http://prometheus.example:9090/graph?g0.expr=x',
        fingerprint: 'c0ffee0123456789',
      },
    ],
  };
}

beforeAll(async () => {
  [server, browser] = await Promise.all([startServer({ V01T_ALERTMANAGER_TOKEN: AM_TOKEN, V01T_DEPLOY_TOKEN: DEPLOY_TOKEN }), launchBrowser()]);
  const created = await v01t(['user', 'create', '--email', 'ops@example.test', '--name', 'Ola Ops', '--admin', '--password-stdin'], PASSWORD);
  expect(created.code, created.stderr).toBe(0);
  context = await newContext(browser);
  page = await context.newPage();
});

afterAll(async () => {
  await context?.close();
  await browser?.close();
  await server?.stop();
});

const countdown = () => page.getByTestId('countdown');
const remaining = async () => Number(await countdown().getAttribute('data-remaining-ms'));
const width = (p: Page) => p.evaluate(() => (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document.documentElement.scrollWidth);

describe('web app: operations console', () => {
  it('a platform admin signs in and finds the console empty', async () => {
    // The browser's clock is Playwright's: it flows, and the test moves it when it needs time to pass.
    await context.clock.install();
    await page.goto(`${server.url}/signin`);
    await page.getByLabel('Email').fill('ops@example.test');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/workspaces\/new/);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Operations' }).click();
    await page.getByRole('heading', { name: 'Operations', level: 1 }).waitFor();
    await page.getByText('No active incident').waitFor();
    await expectAccessible(page, 'operations (no incident)');
    // Without an ops workspace there is nothing to route: the console says what to set.
    await page.getByRole('tab', { name: 'Escalation routes' }).click();
    await page.getByText('No ops workspace').waitFor();
    await expectAccessible(page, 'escalation routes (no ops workspace)');
  });

  it('shows the incident an Alertmanager notification opened, with a countdown that ticks with the clock', async () => {
    const res = await fetch(`${server.url}/v1/ops/alertmanager`, {
      method: 'POST',
      headers: { authorization: `Bearer ${AM_TOKEN}`, 'content-type': 'application/json', 'user-agent': 'Alertmanager/0.27.0' },
      body: JSON.stringify(alertmanagerPayload(new Date().toISOString())),
    });
    expect(res.status).toBe(200);
    const opened = (await res.json()) as { action: string; incidentId: string; number: number };
    expect(opened.action).toBe('opened');
    incidentId = opened.incidentId;

    await page.getByRole('tab', { name: 'Incidents' }).click();
    await page.reload();
    const link = page.getByRole('link', { name: /#1 ApiErrorBudgetBurn/ });
    await link.waitFor();
    await page.getByText('Sev1 · critical').waitFor();
    await expectAccessible(page, 'incidents list');
    await link.click();
    await page.getByRole('heading', { name: /Incident #1: ApiErrorBudgetBurn/ }).waitFor();
    await expect.poll(() => countdown().getAttribute('data-state')).toBe('running');
    const before = await remaining();
    // Sev1: respond within 15 minutes.
    expect(before).toBeGreaterThan(14 * 60_000);
    expect(before).toBeLessThanOrEqual(15 * 60_000);
    expect(await countdown().textContent()).toMatch(/1[45]:\d\d left to respond/);

    await page.clock.fastForward('02:00');
    await expect.poll(remaining).toBeLessThanOrEqual(before - 120_000);
    expect(await remaining()).toBeGreaterThan(before - 130_000);
    expect(await countdown().textContent()).toMatch(/1[23]:\d\d left to respond/);
    await page.getByText('The API burns its error budget 14x too fast').first().waitFor();
    await expectAccessible(page, 'incident (open)');
    await screenshot(page, 'operations');
  });

  it('acknowledges it, and the countdown stops', async () => {
    await page.getByRole('button', { name: 'Acknowledge' }).click();
    await expect.poll(() => countdown().getAttribute('data-state')).toBe('stopped');
    await page.getByTestId('incident-status').getByText('acknowledged').waitFor();
    const detail = (await (await page.request.get(`${server.url}/v1/ops/incidents/${incidentId}`)).json()) as { incident: { respondBy: string; acknowledgedAt: string } };
    const stoppedAt = Date.parse(detail.incident.respondBy) - Date.parse(detail.incident.acknowledgedAt);
    expect(await remaining()).toBe(stoppedAt);
    const text = await countdown().textContent();
    expect(text).toMatch(/Acknowledged with 1[45]:\d\d to spare/);
    // Time goes on; the stopped countdown does not.
    await page.clock.fastForward('20:00');
    await page.clock.runFor(2000);
    expect(await remaining()).toBe(stoppedAt);
    expect(await countdown().textContent()).toBe(text);
    await expect.poll(() => page.getByRole('button', { name: 'Acknowledge' }).count()).toBe(0);
    await page.locator('.timeline-item', { hasText: 'acknowledged' }).first().waitFor();
    // The first minutes (ADR 0060): acknowledged in time; 22 minutes on, nobody assessed or formed the team.
    expect(await page.getByTestId('timer-acknowledge').textContent()).toMatch(/^Acknowledge \(< 5 min\)done /);
    expect(await page.getByTestId('timer-acknowledge').textContent()).not.toMatch(/late|breaching/);
    await expect.poll(() => page.getByTestId('timer-assess').textContent()).toMatch(/breaching$/);
    expect(await page.getByTestId('timer-assemble').textContent()).toMatch(/breaching$/);
    // The console's list says so too.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Operations' }).click();
    await expect.poll(() => page.getByTestId('breaching').textContent()).toBe('late: assess (10 min), assemble the team (15 min)');
    await page.getByRole('link', { name: /#1 ApiErrorBudgetBurn/ }).click();
    await page.getByRole('heading', { name: /Incident #1: ApiErrorBudgetBurn/ }).waitFor();
  });

  it('takes the three roles, writes a note and a status page update that the status page preview shows', async () => {
    await page.getByLabel('Incident commander').selectOption({ label: 'Ola Ops (you)' });
    await page.locator('.timeline-item', { hasText: 'Incident commander assigned' }).waitFor();
    await page.getByLabel('Technical lead').selectOption({ label: 'Ola Ops (you)' });
    await page.getByLabel('Communications lead').selectOption({ label: 'Ola Ops (you)' });
    await page.locator('.timeline-item', { hasText: 'Communications lead assigned' }).waitFor();
    await page.getByLabel('Note', { exact: true }).fill('Rolled back api to the previous image; error rate falling.');
    await page.getByRole('button', { name: 'Add note' }).click();
    await page.locator('.timeline-item', { hasText: 'Rolled back api to the previous image' }).waitFor();
    // Assessed (the note) and the team formed: no timer breaching any more.
    await expect.poll(() => page.getByTestId('timer-assemble').textContent()).toMatch(/done/);
    expect(await page.getByTestId('timer-assess').textContent()).toMatch(/done/);
    expect(await page.getByText('breaching').count()).toBe(0);

    // The first public update needs a public title: the API's error is shown beside the field.
    await page.getByLabel('Public message').fill('Some API requests fail; we are on it.');
    await page.getByRole('button', { name: 'Publish update' }).click();
    await page.getByRole('alert').filter({ hasText: /title/i }).waitFor();
    await page.getByLabel('Public title').fill('Elevated API errors');
    await page.getByRole('checkbox', { name: 'API and sign-in' }).check({ force: true });
    await page.getByRole('button', { name: 'Publish update' }).click();
    await page.getByRole('list', { name: 'Published updates' }).getByText('Some API requests fail; we are on it.').waitFor();
    await expectAccessible(page, 'incident (acknowledged, team assigned)');

    await page.goto(`${server.url}/operations?tab=status`);
    await page.getByText('Elevated API errors').waitFor();
    await page.getByText('Some API requests fail; we are on it.').waitFor();
    expect(await page.getByTestId('status-banner').textContent()).not.toMatch(/All systems operational/i);
    // Never the alert's internals.
    expect(await page.getByText('ApiErrorBudgetBurn').count()).toBe(0);
    await expectAccessible(page, 'status page preview');
  });

  it('resolves, previews the post-mortem draft and marks it done', async () => {
    await page.goto(`${server.url}/operations/incidents/${incidentId}`);
    await page.getByLabel('Resolution').fill('Rolled back');
    await page.getByRole('button', { name: 'Resolve' }).click();
    await page.getByTestId('incident-status').getByText('resolved').waitFor();
    await page.getByRole('button', { name: 'Preview the post-mortem draft' }).click();
    const draft = page.getByLabel('Post-mortem draft (Markdown)');
    await draft.waitFor();
    expect(await draft.textContent()).toContain('Ola Ops');
    await expectAccessible(page, 'incident (resolved, post-mortem draft)');
    await page.getByLabel('Post-mortem link').fill('https://wiki.example.test/pm/1');
    await page.getByRole('button', { name: 'Mark post-mortem done' }).click();
    await page.getByRole('status').filter({ hasText: 'Post-mortem done' }).waitFor();
    await page.getByRole('link', { name: 'https://wiki.example.test/pm/1' }).waitFor();
  });

  it('shows the deployment history with its success rate', async () => {
    for (const [version, result] of [
      ['1.4.0', 'success'],
      ['1.4.1', 'failed'],
      ['1.4.2', 'success'],
      ['1.4.3', 'success'],
    ] as const) {
      const res = await fetch(`${server.url}/v1/ops/deployments`, { method: 'POST', headers: { authorization: `Bearer ${DEPLOY_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ version, environment: 'production', result }) });
      expect(res.status).toBe(201);
    }
    await page.goto(`${server.url}/operations?tab=deployments`);
    const rate = page.getByRole('meter', { name: 'Success rate' });
    await rate.waitFor();
    expect(await rate.getAttribute('aria-valuetext')).toBe('75.0 %');
    await page.getByText('4 deployments: 3 succeeded, 1 failed, 0 rolled back').waitFor();
    await page.getByRole('cell', { name: '1.4.1' }).waitFor();
    await expectAccessible(page, 'deployments');
  });

  it('holds at 375 px in the dark theme', async () => {
    const narrow = await newContext(browser, { width: 375, dark: true });
    const p = await narrow.newPage();
    await p.goto(`${server.url}/signin`);
    await p.getByLabel('Email').fill('ops@example.test');
    await p.getByLabel('Password').fill(PASSWORD);
    await p.getByRole('button', { name: 'Sign in' }).click();
    await p.waitForURL(/\/workspaces\/new/);
    await p.goto(`${server.url}/operations?tab=deployments`);
    await p.getByRole('meter', { name: 'Success rate' }).waitFor();
    await expectAccessible(p, 'deployments, 375 px, dark');
    expect(await width(p)).toBeLessThanOrEqual(375);
    await p.goto(`${server.url}/operations/incidents/${incidentId}`);
    await p.getByTestId('countdown').waitFor();
    await expectAccessible(p, 'incident, 375 px, dark');
    expect(await width(p)).toBeLessThanOrEqual(375);
    await narrow.close();
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { expectAccessible, launchBrowser, newContext, screenshot, startServer, type Server, apiCallIn } from './harness.js';

/**
 * Gamification in Debian's Chromium against a real `v01t start` (issue 16): an owner sets a scoring
 * rule and a badge in the editors (the API's per-field errors shown beside the fields), a member
 * completes a workflow run, earns the points and the badge, and sees the leaderboard change; the
 * streak calendar, levels and locked badges with how to earn them; axe on every screen, 375 px and
 * the dark theme.
 */
let server: Server;
let browser: Browser;
let adminContext: BrowserContext;
let memberContext: BrowserContext;
let admin: Page;
let member: Page;
let workspaceId = '';
let workflowId = '';
const PASSWORD = 'a long and careful passphrase 31';

beforeAll(async () => {
  [server, browser] = await Promise.all([startServer({ WORKFLOW_POLL_SECONDS: '1' }), launchBrowser()]);
  adminContext = await newContext(browser);
  memberContext = await newContext(browser);
  admin = await adminContext.newPage();
  member = await memberContext.newPage();
});

afterAll(async () => {
  await adminContext?.close();
  await memberContext?.close();
  await browser?.close();
  await server?.stop();
});

const apiCall = apiCallIn;

async function signUp(page: Page, name: string, email: string) {
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
}

/** Starts a run of the workflow as the page's user and waits until it succeeded. */
async function completeRun(page: Page) {
  const started = await apiCall<{ run: { id: string } }>(page, 'POST', `/v1/workspaces/${workspaceId}/workflows/${workflowId}/runs`, { input: { n: 1 } });
  expect(started.status).toBe(202);
  await expect
    .poll(async () => (await apiCall<{ run: { status: string } }>(page, 'GET', `/v1/workspaces/${workspaceId}/runs/${started.body.run.id}`)).body.run.status, { timeout: 60_000, interval: 500 })
    .toBe('succeeded');
}

const field = (page: Page, label: string) => page.locator('.field', { has: page.getByLabel(label, { exact: true }) });

describe('web app: gamification', () => {
  it('an owner creates the workspace and invites a member who accepts', async () => {
    await admin.goto(`${server.url}/signup`);
    await signUp(admin, 'Gina Owner', 'gina@example.test');
    await admin.waitForURL(/\/workspaces\/new/);
    await admin.getByLabel('Workspace name').fill('Score Studio');
    await admin.getByRole('button', { name: 'Create workspace' }).click();
    await admin.waitForURL(/\/w\/[0-9a-f-]+\/settings/);
    workspaceId = /\/w\/([0-9a-f-]+)\//.exec(admin.url())![1]!;
    const invited = await apiCall<{ token: string }>(admin, 'POST', `/v1/workspaces/${workspaceId}/invitations`, { email: 'milo@example.test', role: 'developer' });
    expect(invited.status).toBe(201);
    const wf = await apiCall<{ workflow: { id: string } }>(admin, 'POST', `/v1/workspaces/${workspaceId}/workflows`, { name: 'Tally', steps: [{ id: 'count', type: 'transform', with: { expression: 'input.n + 1' } }] });
    expect(wf.status).toBe(201);
    workflowId = wf.body.workflow.id;

    await member.goto(`${server.url}/invitations/accept?token=${encodeURIComponent(invited.body.token)}`);
    await member.waitForURL(/\/signin\?next=/);
    await member.getByRole('link', { name: 'Create an account' }).click();
    await signUp(member, 'Milo Member', 'milo@example.test');
    await member.waitForURL(/\/invitations\/accept/);
    await member.getByRole('button', { name: 'Accept the invitation' }).click();
    await member.waitForURL(/\/w\/[0-9a-f-]+$/);
  });

  it('the owner adds a scoring rule in the editor, with the API\'s errors beside the fields', async () => {
    await admin.goto(`${server.url}/w/${workspaceId}`);
    await admin.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Progress' }).click();
    await admin.getByRole('tab', { name: 'Rules' }).click();
    // The seeded default rules of every persona.
    await admin.getByText('Workflow completed', { exact: true }).waitFor();
    await expectAccessible(admin, 'rules editor');
    await admin.getByRole('button', { name: 'New rule' }).click();
    await admin.getByLabel('Rule name').fill('Finished a run');
    await admin.getByLabel('Event', { exact: true }).fill('workflow run done');
    await admin.getByLabel('Persona').selectOption('vAutomator');
    await admin.getByLabel('Metric').fill('Automation XP');
    await admin.getByLabel('Points', { exact: true }).fill('0');
    await admin.getByRole('button', { name: 'Create rule' }).click();
    await field(admin, 'Points').locator('.field-error').waitFor();
    await field(admin, 'Event').locator('.field-error').getByText(/versioned event name/).waitFor();
    await expectAccessible(admin, 'rules editor (errors)');
    await admin.getByLabel('Event', { exact: true }).fill('workflow.run.succeeded.v1');
    await admin.getByLabel('Points', { exact: true }).fill('40');
    await admin.getByLabel('Filter (JSONata)').fill('payload.durationMs >= 0 and');
    await admin.getByRole('button', { name: 'Create rule' }).click();
    await field(admin, 'Filter (JSONata)').locator('.field-error').waitFor();
    await admin.getByLabel('Filter (JSONata)').fill('');
    // A streak bonus with a factor above the API's limit: refused beside that field.
    await admin.getByRole('button', { name: 'Add streak bonus' }).click();
    await admin.getByLabel('Bonus 1 streak activity').fill('automate');
    await admin.getByLabel('Bonus 1 factor').fill('12');
    await admin.getByRole('button', { name: 'Create rule' }).click();
    await field(admin, 'Bonus 1 factor').locator('.field-error').waitFor();
    await admin.getByRole('button', { name: 'Remove bonus 1' }).click();
    await admin.getByRole('button', { name: 'Create rule' }).click();
    await admin.getByRole('cell', { name: 'Finished a run', exact: true }).waitFor();
    await admin.getByRole('cell', { name: /40 Automation XP/ }).waitFor();
  });

  it('the owner adds a badge; a taken key is refused beside its field', async () => {
    await admin.getByRole('tab', { name: 'Badges' }).click();
    await admin.getByText('Rapid Builder').waitFor();
    await expectAccessible(admin, 'badges editor');
    await admin.getByRole('button', { name: 'New badge' }).click();
    await admin.getByLabel('Badge key').fill('first-automation');
    await admin.getByLabel('Badge name').fill('Run finisher');
    await admin.getByLabel('Counted event').fill('workflow.run.succeeded.v1');
    await admin.getByLabel('At least').fill('2');
    await admin.getByRole('button', { name: 'Create badge' }).click();
    await field(admin, 'Badge key').locator('.field-error').getByText('another badge has this key').waitFor();
    await admin.getByLabel('Badge key').fill('run-finisher');
    await admin.getByRole('button', { name: 'Create badge' }).click();
    await admin.getByRole('list', { name: 'Badge catalog' }).getByText('Run finisher').waitFor();
    await admin.getByText('Have “workflow run succeeded” happen 2 times.').waitFor();

    await admin.getByRole('tab', { name: 'Levels & rewards' }).click();
    await admin.getByLabel('vAutomator base').waitFor();
    await expectAccessible(admin, 'levels and rewards editor');
    await admin.getByLabel('vAutomator exponent').fill('9');
    await admin.getByRole('button', { name: 'Save levels and rewards' }).click();
    await field(admin, 'vAutomator exponent').locator('.field-error').waitFor();
    await admin.getByLabel('vAutomator exponent').fill('1');
    await admin.getByRole('button', { name: 'Save levels and rewards' }).click();
    await admin.getByText('Levels, freezes and rewards saved.').waitFor();
  });

  it('the owner scores first and leads the board', async () => {
    await completeRun(admin);
    await expect
      .poll(async () => (await apiCall<{ standings: { score: number }[] }>(admin, 'GET', `/v1/workspaces/${workspaceId}/gamification/leaderboards`)).body.standings.map((s) => s.score), { timeout: 30_000, interval: 500 })
      .toEqual([50]);
    await admin.getByRole('tab', { name: 'Leaderboards' }).click();
    const top = admin.getByRole('table', { name: 'Top 1, Everyone, All-time' });
    await top.waitFor();
    expect(await top.locator('tbody tr').allTextContents()).toEqual([expect.stringMatching(/Gina Owner.*50/)]);
    await admin.getByTestId('around-me-rank').getByText('#1').waitFor();
  });

  it('a member sees locked badges with how to earn them, completes runs, earns points and the badge, and overtakes on the leaderboard', async () => {
    await member.goto(`${server.url}/w/${workspaceId}/progress`);
    await member.getByRole('heading', { name: 'Progress', level: 1 }).waitFor();
    const locked = member.getByRole('list', { name: 'Locked badges' });
    await locked.getByText('Run finisher', { exact: true }).waitFor();
    await locked.getByText('How to earn: Have “workflow run succeeded” happen 2 times.').waitFor();
    await member.getByText('No badge yet').waitFor();
    await member.getByText('No streak yet').waitFor();
    await expectAccessible(member, 'my progress (nothing yet)');
    // Members do not get the editors.
    expect(await member.getByRole('tab', { name: 'Rules' }).count()).toBe(0);

    await completeRun(member);
    await completeRun(member);
    // The default rule (10) and the owner's rule (40), twice: 100 Automation XP.
    await expect.poll(async () => {
      await member.reload();
      return (await member.getByTestId('level-vAutomator').textContent()) ?? '';
    }, { timeout: 30_000, interval: 1000 }).toContain('100 points');
    const level = member.getByTestId('level-vAutomator');
    await level.getByText('Automation XP: 100').waitFor();
    // base 100, exponent 1 (set in the editor): level 2 at 100 XP, level 3 at 200.
    await level.getByLabel('Level 2').waitFor();
    expect(await level.getByRole('progressbar').getAttribute('aria-valuetext')).toBe('100 to go');
    const earned = member.getByRole('list', { name: 'Earned badges' });
    await earned.getByText('Run finisher', { exact: true }).waitFor();
    await earned.getByText('First Automation').waitFor();
    // The streak calendar marks today as active.
    const streak = member.getByTestId('streak-automate');
    await streak.locator('td[data-state="active"]').first().waitFor();
    expect(await streak.locator('td[data-state="active"]').count()).toBe(1);
    await expectAccessible(member, 'my progress');
    await member.getByRole('heading', { name: 'Progress', level: 1 }).scrollIntoViewIfNeeded();
    await member.evaluate(() => (globalThis as unknown as { scrollTo: (x: number, y: number) => void }).scrollTo(0, 150));
    await screenshot(member, 'gamification');

    await member.getByRole('tab', { name: 'Leaderboards' }).click();
    const top = member.getByRole('table', { name: /Top 2, Everyone, All-time/ });
    await top.waitFor();
    const rows = await top.locator('tbody tr').allTextContents();
    expect(rows[0]).toContain('Milo Member');
    expect(rows[0]).toContain('100');
    expect(rows[1]).toContain('Gina Owner');
    expect(rows[1]).toContain('50');
    await member.getByTestId('around-me-rank').getByText('#1').waitFor();
    await member.locator('.g-segment', { hasText: 'This week' }).click();
    expect(await member.getByRole('radio', { name: 'This week' }).isChecked()).toBe(true);
    await member.getByRole('table', { name: /Top 2, Everyone, This week/ }).waitFor();
    await member.getByLabel('Board', { exact: true }).selectOption('vCreator');
    await member.getByText('Nobody has scored yet').waitFor();
    await expectAccessible(member, 'leaderboards');

    // The owner's board changed too.
    await admin.reload();
    const ownerTop = admin.getByRole('table', { name: /Top 2/ });
    await ownerTop.waitFor();
    expect((await ownerTop.locator('tbody tr').first().textContent()) ?? '').toContain('Milo Member');
    await admin.getByTestId('around-me-rank').getByText('#2').waitFor();
  });

  it('holds at 375 px in the dark theme', async () => {
    const narrow = await newContext(browser, { width: 375, dark: true });
    const page = await narrow.newPage();
    await page.goto(`${server.url}/signin`);
    await page.getByLabel('Email').fill('milo@example.test');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/w\//);
    await page.goto(`${server.url}/w/${workspaceId}/progress`);
    await page.getByRole('list', { name: 'Earned badges' }).waitFor();
    expect(await page.evaluate(() => (globalThis as unknown as { document: { documentElement: { dataset: { theme?: string } } } }).document.documentElement.dataset.theme)).toBe('dark');
    await expectAccessible(page, 'my progress, 375 px, dark');
    const width = () => page.evaluate(() => (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document.documentElement.scrollWidth);
    expect(await width()).toBeLessThanOrEqual(375);
    await page.getByRole('tab', { name: 'Leaderboards' }).click();
    await page.getByRole('table', { name: /Top 2/ }).waitFor();
    await expectAccessible(page, 'leaderboards, 375 px, dark');
    expect(await width()).toBeLessThanOrEqual(375);
    await narrow.close();
  });
});
